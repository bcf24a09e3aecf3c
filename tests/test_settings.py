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
