"""Settings: flags beat environment variables, which beat the settings file."""

from __future__ import annotations

from pathlib import Path

import pytest

from impactlens.settings import load_settings


def test_flags_beat_environment_which_beats_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "impactlens.toml"
    f.write_text('data_dir = "/srv/from-file"\nvideo_sample_fps = 4.0\ncors_origins = ["https://a.example"]\n')
    s = load_settings(f)
    assert (str(s.data_dir), s.video_sample_fps, s.cors_origins) == ("/srv/from-file", 4.0, ["https://a.example"])
    monkeypatch.setenv("IMPACTLENS_VIDEO_SAMPLE_FPS", "3")
    assert load_settings(f).video_sample_fps == 3.0
    assert load_settings(f, video_sample_fps=1.0, data_dir=None).video_sample_fps == 1.0
    monkeypatch.setenv("IMPACTLENS_SETTINGS_FILE", str(f))
    assert str(load_settings().data_dir) == "/srv/from-file"


def test_unknown_or_invalid_settings_are_refused(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("no_such_setting = 1\n")
    with pytest.raises(ValueError, match="no_such_setting"):
        load_settings(f)
    f.write_text("video_sample_fps = -1\n")
    with pytest.raises(ValueError):
        load_settings(f)


def test_the_readme_settings_table_names_every_setting_and_nothing_else() -> None:
    """README's Settings table is the users' reference: a field added (or renamed) without its
    row, or a row left behind, fails here instead of drifting."""
    import re
    from pathlib import Path

    from impactlens.settings import Settings

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \|", section, re.MULTILINE)
    assert len(rows) == len(set(rows)), "a setting has two rows"
    assert sorted(rows) == sorted(name.upper() for name in Settings.model_fields)
