"""Uploaded videos are read only by the demuxers of the containers we document: a playlist
or a concat list naming other files is refused before any demuxer reads it, and every
documented container still analyses."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

import av
import pytest

from impactlens.errors import MediaError
from impactlens.media.video_io import iter_samples
from impactlens.media.video_probe import probe
from tests.api_support import make_world
from tests.video_cases import write_video

CONCAT = "ffconcat version 1.0\nfile sib.mp4\n"
HLS = "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXTINF:1.0,\nsib.ts\n#EXT-X-ENDLIST\n"


class Watched:
    """A FIFO that hands a working video to whoever opens it for reading, and says whether
    anyone did: proof that a file named by the upload was (not) opened."""

    def __init__(self, path: Path, data: bytes) -> None:
        os.mkfifo(path)
        self.path, self.data = path, data
        self.opened = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:  # each open gets the video (a reader may open it several times)
            fd = os.open(self.path, os.O_WRONLY)  # returns once a reader opens the FIFO
            try:
                if self._closing:
                    return
                self.opened.set()
                os.write(fd, self.data)
            except BrokenPipeError:
                pass
            finally:
                os.close(fd)

    def close(self) -> bool:
        """True when something other than this close opened the FIFO."""
        self._closing = True
        fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)  # releases the waiting writer
        self._thread.join(5)
        os.close(fd)
        return self.opened.is_set()


def _sibling(tmp_path: Path, fmt: str) -> bytes:
    """A working video (an MP4's moov first, so it also plays from a pipe)."""
    path = tmp_path / f"real.{fmt}"
    return write_video(path, seconds=1.0, fps=10, size=(96, 64), faststart=fmt == "mp4").read_bytes()


# (list, its name, the file it names, that file's container). FFmpeg probes HLS only under a
# playlist's name; an upload is spooled without one, so HLS is refused via the API anyway.
LISTS = [(CONCAT, "list.mp4", "sib.mp4", "mp4"), (HLS, "list.m3u8", "sib.ts", "ts")]


@pytest.mark.parametrize(("text", "name", "sibling", "fmt"), LISTS)
def test_left_to_probe_ffmpeg_follows_the_list_to_the_sibling(
    tmp_path: Path, text: str, name: str, sibling: str, fmt: str
) -> None:
    """The fixture is a real attack: FFmpeg's own probing opens the named file and decodes it."""
    watched = Watched(tmp_path / sibling, _sibling(tmp_path, fmt))
    (tmp_path / name).write_text(text)
    try:
        with av.open(str(tmp_path / name)) as c:
            frames = len(list(c.decode(video=0)))
    finally:
        followed = watched.close()
    assert followed and frames >= 10  # (HLS reads the FIFO again and again)


@pytest.mark.parametrize(("text", "name", "sibling", "fmt"), LISTS)
def test_a_list_naming_a_working_video_is_refused_and_the_video_never_opened(
    tmp_path: Path, text: str, name: str, sibling: str, fmt: str
) -> None:
    watched = Watched(tmp_path / sibling, _sibling(tmp_path, fmt))
    (tmp_path / name).write_text(text)
    try:
        with pytest.raises(MediaError) as err:
            probe(tmp_path / name, 60, 10**8)
    finally:
        followed = watched.close()
    assert err.value.code == "unsupported_media" and "MP4" in err.value.message
    assert not followed


@pytest.mark.parametrize(("text", "name", "sibling", "fmt"), LISTS)
def test_an_uploaded_list_is_415_with_nothing_stored_and_its_sibling_never_opened(
    tmp_path: Path, text: str, name: str, sibling: str, fmt: str
) -> None:
    """Uploads are spooled to <data>/tmp/upload-*: the sibling sits next to the spool file,
    where a relative name in the list (allowed by concat's safe mode) points."""
    world = make_world(tmp_path)
    o = world.add_org("acme")
    world.campaign(o)
    spool = Path(world.services.settings.data_dir) / "tmp"
    spool.mkdir(parents=True, exist_ok=True)
    watched = Watched(spool / sibling, _sibling(tmp_path, fmt))
    asset = world.asset(o)["asset"]
    try:
        r = world.upload(o, asset, text.encode(), filename=name)
    finally:
        followed = watched.close()
    assert (r.status_code, r.json()["error"]["code"]) == (415, "unsupported_media"), r.text
    assert not followed
    assert list(world.services.blobs.list("orgs/")) == []
    assert world.services.table.query("JOBQ#queued", index="GSI1").items == []


@pytest.mark.parametrize(("name", "codec", "fmt"), [("a.flv", "flv", "flv"), ("a.nut", "ffv1", "nut")])
def test_a_container_ffmpeg_reads_but_we_do_not_document_is_refused(
    tmp_path: Path, name: str, codec: str, fmt: str
) -> None:
    path = write_video(tmp_path / name, seconds=1.0, fps=10, size=(96, 64), codec=codec, fmt=fmt)
    with av.open(str(path)) as c:  # FFmpeg itself would decode it
        assert len(list(c.decode(video=0))) == 10
    with pytest.raises(MediaError) as err:
        probe(path, 60, 10**8)
    assert err.value.code == "unsupported_media"


SUPPORTED: list[tuple[str, str, str | None, str]] = [
    ("a.mp4", "libx264", None, "mov"),
    ("a.mov", "libx264", None, "mov"),
    ("a.3gp", "libx264", None, "mov"),
    ("a.mkv", "ffv1", None, "matroska"),
    ("a.webm", "libvpx-vp9", None, "matroska"),
    ("a.avi", "mpeg4", None, "avi"),
    ("a.ts", "libx264", None, "mpegts"),
    ("a.m2ts", "libx264", None, "mpegts"),
    ("a.mpg", "mpeg2video", None, "mpeg"),
    ("a.wmv", "wmv2", "asf", "asf"),
]


@pytest.mark.parametrize(("name", "codec", "fmt", "demuxer"), SUPPORTED)
def test_every_documented_container_is_probed_and_sampled(
    tmp_path: Path, name: str, codec: str, fmt: str | None, demuxer: str
) -> None:
    path = write_video(tmp_path / name, seconds=1.0, fps=10, size=(96, 64), codec=codec, fmt=fmt)
    info = probe(path, 60, 10**8)
    assert info.container.split(",")[0] == demuxer and (info.width, info.height) == (96, 64)
    assert len(list(iter_samples(path, info, 2.0, 640, 60))) == 2


def test_a_documented_container_uploads_through_the_api(tmp_path: Path) -> None:
    world = make_world(tmp_path)
    o = world.add_org("acme")
    world.campaign(o)
    asset = world.asset(o)["asset"]
    data = write_video(tmp_path / "a.wmv", seconds=1.0, fps=10, size=(96, 64), codec="wmv2", fmt="asf").read_bytes()
    r: Any = world.upload(o, asset, data, filename="spot.wmv")
    assert r.status_code == 202, r.text
