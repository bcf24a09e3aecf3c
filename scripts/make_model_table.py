"""Writes the README's models table from the registry, so the two cannot drift.

    .venv/bin/python scripts/make_model_table.py          # rewrite README.md between the markers
    .venv/bin/python scripts/make_model_table.py --check  # exit 1 if README.md is out of date

The table sits between `<!-- models-table:start -->` and `<!-- models-table:end -->`;
tests/test_model_cards.py fails when it differs from what this script generates.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from impactlens.models.registry import SPECS, ModelSpec, card_path  # noqa: E402
from impactlens.settings import Settings  # noqa: E402

START = "<!-- models-table:start -->"
END = "<!-- models-table:end -->"
README = ROOT / "README.md"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _defaults() -> set[str]:
    fields = Settings.model_fields
    return {str(fields["memorability_model"].default), str(fields["saliency_model"].default)}


def render_table() -> str:
    by_name: dict[str, list[ModelSpec]] = {}
    for spec in SPECS.values():
        by_name.setdefault(spec.name, []).append(spec)
    defaults = _defaults()
    rows = [
        "| model | task | version (variants) | source | licence | card |",
        "|---|---|---|---|---|---|",
    ]
    for name, specs in by_name.items():
        first = specs[0]
        task = first.task.replace("_", " ") + (", default" if name in defaults else "")
        variants = ", ".join(s.variant for s in specs)
        card = card_path(first).relative_to(ROOT).as_posix()
        rows.append(
            f"| `{name}` | {task} | `{first.version}` ({variants}) | `{_cell(first.source)}` "
            f"| {_cell(first.licence)} | [{first.card}]({card}) (API: `{first.card_url}`) |"
        )
    return "\n".join(rows)


def update_readme(text: str) -> str:
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README has no {START} ... {END} block")
    return f"{head}{START}\n{render_table()}\n{END}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if README.md is out of date")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = update_readme(text)
    if args.check:
        if new != text:
            print("README.md models table is out of date: run scripts/make_model_table.py", file=sys.stderr)
            return 1
        return 0
    if new != text:
        README.write_text(new, encoding="utf-8")
        print("README.md models table rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
