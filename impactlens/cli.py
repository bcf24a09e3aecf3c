"""impactlens command line: analyze, models build / list."""

from __future__ import annotations

import argparse
import json
import math
import sys
from importlib import resources
from pathlib import Path

from .errors import ImpactLensError
from .settings import ENV_NEW_PASSWORD


def _cmd_analyze(args: argparse.Namespace) -> int:
    from .batch import analyze_paths
    from .engine import AOI, VideoAnalysis
    from .settings import get_settings

    try:
        aois = [AOI.parse(a) for a in args.aoi]
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    settings = get_settings()
    if args.model_dir:
        settings = settings.model_copy(update={"model_dir": Path(args.model_dir)})
    batch = analyze_paths(args.paths, args.out, aois, variant=args.variant, settings=settings)
    for r in batch.results:
        if isinstance(r, VideoAnalysis):
            shares = ", ".join(f"{a.name}={a.first_3s:.1%}/{a.first_5s:.1%}/{a.whole:.1%}" for a in r.attention)
            print(
                f"{r.source}: video {r.duration_s:.1f} s, memorability {r.memorability:.3f} "
                f"(peak {r.memorability_peak.memorability:.3f} at {r.memorability_peak.t:.1f} s)"
                + (f"; attention first 3 s/5 s/whole {shares}" if shares else "")
            )
            continue
        shares = ", ".join(f"{a.name}={a.share:.1%}" for a in r.attention)
        print(
            f"{r.source}: memorability {r.memorability:.3f} (percentile {math.floor(r.memorability_percentile)})"
            + (f"; attention {shares}" if shares else "")
        )
    for e in batch.errors:
        print(f"{e.source}: FAILED [{e.code}] {e.message}", file=sys.stderr)
    print(f"results in {Path(args.out).resolve()} ({len(batch.results)} ok, {len(batch.errors)} failed)")
    return 0 if batch.ok else 1


def _cmd_models_build(args: argparse.Namespace) -> int:
    from .models.build import build_all
    from .settings import get_settings

    model_dir = Path(args.model_dir) if args.model_dir else get_settings().model_dir
    hashes = build_all(model_dir, force=args.force)
    for name, digest in sorted(hashes.items()):
        print(f"{digest}  {model_dir / name}")
    return 0


def _cmd_models_list(args: argparse.Namespace) -> int:
    from .models.registry import SPECS
    from .settings import get_settings

    model_dir = Path(args.model_dir) if args.model_dir else get_settings().model_dir
    print(json.dumps([s.describe(model_dir) for s in SPECS.values()], indent=2))
    return 0


def _samples() -> list[str]:
    folder = resources.files("impactlens") / "data" / "samples"
    return sorted(str(p) for p in folder.iterdir() if str(p).endswith((".jpg", ".mp4")))


def _cmd_demo(args: argparse.Namespace) -> int:
    args.paths, args.aoi, args.variant = _samples(), [], None
    return _cmd_analyze(args)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="impactlens", description="Predict memorability and attention of images.")
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("analyze", help="analyse images and videos; writes JSON, saliency maps, heatmaps (PNG or MP4)")
    a.add_argument("paths", nargs="+", help="image or video files (mixed)")
    a.add_argument("--out", required=True, help="output folder (created if missing)")
    a.add_argument(
        "--aoi",
        action="append",
        default=[],
        metavar="NAME=x,y,w,h[@start-end]",
        help="area of interest in pixels (for videos, optionally only from start to end seconds); repeatable",
    )
    a.add_argument("--variant", choices=["fp32", "int8"], default=None, help="model variant (default: settings)")
    a.add_argument("--model-dir", default=None, help="converted-model cache (default: settings)")
    a.set_defaults(func=_cmd_analyze)
    d = sub.add_parser("demo", help="analyse the bundled sample images")
    d.add_argument("--out", default="impactlens-results")
    d.add_argument("--model-dir", default=None)
    d.set_defaults(func=_cmd_demo)
    m = sub.add_parser("models", help="build or list the converted models")
    msub = m.add_subparsers(dest="models_command", required=True)
    b = msub.add_parser("build", help="convert + quantise the models into the cache (idempotent)")
    b.add_argument("--model-dir", default=None)
    b.add_argument("--force", action="store_true")
    b.set_defaults(func=_cmd_models_build)
    ls = msub.add_parser("list", help="the registry, with hashes of the built files")
    ls.add_argument("--model-dir", default=None)
    ls.set_defaults(func=_cmd_models_list)
    from .cli_server import add_parsers

    add_parsers(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except ImpactLensError as exc:
        print(f"error [{exc.code}]: {exc.message}", file=sys.stderr)
        return 2
    except (LookupError, ValueError) as exc:  # admin commands: unknown org, conflicts, bad input
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except EOFError:  # a prompt (the new user's password) with nothing to read: no tty, no input
        print(f"error: no input to read (set {ENV_NEW_PASSWORD} to run without a terminal)", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
