"""Holes found by attacking the product on 2026-12-02, one test per behaviour."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.api_support import World, make_world
from tests.media_cases import jpeg

JSON = {"Content-Type": "application/json"}
PEAK = """
hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
print("peak_mb=%.0f" % (int(hwm.split()[1]) / 1024))
"""


def _peak(script: str, *args: str) -> tuple[float, str]:
    """Runs `script` in a fresh interpreter: (its peak resident memory in MB, what it printed)."""
    import subprocess
    import sys
    import textwrap

    cmd = [sys.executable, "-c", textwrap.dedent(script) + "\n" + PEAK, *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    return float(lines[-1].removeprefix("peak_mb=")), "\n".join(lines[:-1])


@pytest.fixture
def world(tmp_path: Path) -> World:
    w = make_world(tmp_path)
    w.campaign(w.add_org("acme"))
    return w


def _big_login(size: int) -> bytes:
    return b'{"email": "a@b.test", "password": "' + b"x" * size + b'"}'


def test_an_oversized_json_body_is_refused_before_authentication(world: World) -> None:
    r = world.client.post("/v1/auth/login", content=_big_login(2 << 20), headers=JSON)
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text


def test_an_oversized_body_without_content_length_is_refused(world: World) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"brand": "b2", "name": "'
        for _ in range(3):
            yield b"n" * (1 << 19)
        yield b'"}'

    o = world.orgs["acme"]
    r = world.client.post("/v1/brands", content=chunks(), headers={**o.headers, **JSON})
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large", r.text
    assert world.services.repo.get_brand("acme", "b2") is None


def test_an_oversized_page_form_is_refused(world: World) -> None:
    body = b"email=a%40b.test&password=" + b"x" * (2 << 20)
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://testserver"}
    r = world.client.post("/login", content=body, headers=headers)
    assert r.status_code == 413, r.text


def test_uploads_larger_than_the_body_cap_still_go_through(world: World) -> None:
    from tests.media_cases import photo

    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    big = jpeg(photo(2400, 1800))
    assert len(big) > 1 << 20
    r = world.upload(o, asset, big)
    assert r.status_code == 202, r.text


def _one_conv_model(path: Path) -> None:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).normal(size=(4, 3, 3, 3)).astype(np.float32), "w")
    node = helper.make_node("Conv", ["image", "w"], ["y"], name="conv", pads=[1, 1, 1, 1])
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [None, 3, None, None])
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 4, None, None])
    graph = helper.make_graph([node], "g", [image], [out], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))


@pytest.fixture
def other_filesystem_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The temporary folder on another filesystem than the model folder (a tmpfs /tmp)."""
    import os
    import tempfile

    shm = Path("/dev/shm")
    if not shm.is_dir() or os.stat(shm).st_dev == os.stat(tmp_path).st_dev:
        pytest.skip("needs /dev/shm on another filesystem than the test's folder")
    other = Path(tempfile.mkdtemp(dir=shm, prefix="impactlens-test-"))
    monkeypatch.setattr(tempfile, "tempdir", str(other))
    yield other
    import shutil

    shutil.rmtree(other, ignore_errors=True)


@pytest.mark.parametrize("which", ["saliency", "resmem"])
def test_the_int8_build_works_when_the_temporary_folder_is_another_filesystem(
    tmp_path: Path, other_filesystem_tmp: Path, which: str
) -> None:
    from impactlens.models import build

    fp32, dest = tmp_path / "m.onnx", tmp_path / "m.int8.onnx"
    _one_conv_model(fp32)
    images = build.calibration_images()[:2]
    (build.quantise_saliency if which == "saliency" else build.quantise_resmem)(fp32, dest, images)
    assert dest.stat().st_size > 0
    assert not list(other_filesystem_tmp.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.int8.onnx", "m.onnx"]


def test_a_16_bit_image_thumbnail_shows_the_picture_not_a_white_card() -> None:
    import io

    import numpy as np
    from PIL import Image

    from impactlens.media.thumbnail import image_thumbnail
    from tests.media_cases import png16

    with Image.open(io.BytesIO(image_thumbnail(png16()))) as im:
        grey = np.asarray(im.convert("L"), np.float64)
    # png16() is a ramp over the whole 16-bit range: its thumbnail goes from black to white.
    assert (grey >= 250).mean() < 0.1
    assert grey[-5:].mean() > grey[:5].mean() + 150


def test_the_thumbnail_of_a_huge_16_bit_png_stays_under_400_mb(tmp_path: Path) -> None:
    import numpy as np
    from PIL import Image

    side, limit_mb = 9400, 400  # tests/abuse/test_memory_image.py's picture and validation bound
    path = tmp_path / "ramp16.png"
    row = np.linspace(0, 65535, side).astype(np.uint16)
    Image.fromarray(np.ascontiguousarray(np.broadcast_to(row, (side, side)))).save(path)
    peak, out = _peak(
        """
        import io, sys
        from pathlib import Path
        from PIL import Image
        from impactlens.media.thumbnail import image_thumbnail
        with Image.open(io.BytesIO(image_thumbnail(Path(sys.argv[1]).read_bytes()))) as im:
            print(im.size)
        """,
        str(path),
    )
    assert out == "(320, 320)"
    assert peak <= limit_mb, f"peak resident memory {peak:.0f} MB"


def test_an_image_within_the_documented_100_mp_limit_is_not_refused_as_a_bomb() -> None:
    import io

    from PIL import Image

    from impactlens.media.image_io import decode_image

    buf = io.BytesIO()
    Image.new("L", (10000, 9500), 7).save(buf, "PNG")  # 95 M pixels: over Pillow's 89.5 M warning
    decoded = decode_image(buf.getvalue(), 100_000_000)
    assert (decoded.width, decoded.height) == (10000, 9500)


def _record_many(model_dir: str, filename: str, rounds: int) -> None:
    from impactlens.models.registry import record_build

    for i in range(rounds):
        record_build(Path(model_dir), filename, round=i)


def test_builds_recording_at_once_keep_every_entry_and_a_readable_manifest(tmp_path: Path) -> None:
    import multiprocessing

    from impactlens.models.registry import read_manifest

    names = [f"model{i}.onnx" for i in range(4)]
    for name in names:
        (tmp_path / name).write_bytes(name.encode())
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_record_many, args=(str(tmp_path), name, 60)) for name in names]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0, 0, 0]
    manifest = read_manifest(tmp_path)  # valid JSON, not two writers' bytes interleaved
    assert sorted(manifest) == names
    assert all(manifest[name]["round"] == 59 for name in names)


def test_a_new_data_dir_is_private_to_the_server_user(tmp_path: Path) -> None:
    """It holds every organisation's unpublished creatives, results and webhook secrets."""
    import os
    import stat

    from impactlens.services import embedded_services
    from tests.api_support import api_settings

    services = embedded_services(api_settings(tmp_path))
    try:
        data = Path(services.settings.data_dir)
        assert stat.S_IMODE(os.stat(data).st_mode) & 0o077 == 0, oct(os.stat(data).st_mode)
    finally:
        services.close()


def _png_with_compressed_text(decompressed: int) -> bytes:
    """A valid small PNG carrying a zTXt chunk that inflates to `decompressed` bytes (a text
    bomb: Pillow refuses text chunks over 1 MB when it reads the header)."""
    import struct
    import zlib

    from tests.media_cases import _encode, photo

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    png = _encode(photo(64, 48), "PNG")
    after_ihdr = 8 + 25
    text = chunk(b"zTXt", b"comment\x00\x00" + zlib.compress(b"\x00" * decompressed, 9))
    return png[:after_ihdr] + text + png[after_ihdr:]


def test_a_png_whose_header_pillow_refuses_is_a_corrupt_image_not_a_video(world: World) -> None:
    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    r = world.upload(o, asset, _png_with_compressed_text(64 << 20), filename="ad.png")
    assert r.status_code == 422 and r.json()["error"]["code"] == "corrupt_image", r.text
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["status"] == "awaiting_upload"
    assert not [b.key for b in world.services.blobs.list(f"orgs/acme/assets/{asset}/")]


def test_the_cli_names_a_png_whose_header_pillow_refuses_a_corrupt_image(tmp_path: Path) -> None:
    from impactlens.errors import MediaError
    from impactlens.media.image_io import decode_image

    with pytest.raises(MediaError) as err:
        decode_image(_png_with_compressed_text(64 << 20), 100_000_000)
    assert err.value.code == "corrupt_image"


def _names(world: World, asset: str) -> tuple[list[str], list[str]]:
    """(the asset's AOI names, the names its results' attention shares are for)."""
    o = world.orgs["acme"]
    aois = [a["name"] for a in world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["aois"]]
    results = world.client.get(f"/v1/assets/{asset}/results", headers=o.headers).json()
    return aois, [a["name"] for a in results["analysis"]["attention"]]


class _EditsAoisMidway:
    """The real engine, except that the asset's AOIs are replaced (through the API) while the
    analysis runs: what a client doing PUT /aois right after its upload does."""

    def __init__(self, real: Any, edit: Any) -> None:
        self.real, self.edit = real, edit

    def analyse(self, *args: Any, **kw: Any) -> Any:
        self.edit()
        return self.real.analyse(*args, **kw)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_aois_replaced_while_the_analysis_runs_are_the_ones_its_results_count(world: World) -> None:
    from impactlens.engine import ImageEngine

    o = world.orgs["acme"]
    asset = world.asset(o, aois=[{"name": "old", "x": 0, "y": 0, "w": 50, "h": 50}])["asset"]
    assert world.upload(o, asset, jpeg()).status_code == 202
    new = {"aois": [{"name": "new", "x": 100, "y": 100, "w": 80, "h": 60}]}

    def edit() -> None:
        assert world.client.put(f"/v1/assets/{asset}/aois", json=new, headers=o.headers).status_code == 200

    real = ImageEngine.from_settings(world.services.settings)
    world.worker._engine = _EditsAoisMidway(real, edit)  # type: ignore[assignment]
    assert world.run_jobs() == 1
    assert _names(world, asset) == (["new"], ["new"])


def test_concurrent_aoi_edits_leave_the_asset_and_its_shares_agreeing(world: World) -> None:
    import concurrent.futures

    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    assert world.upload(o, asset, jpeg()).status_code == 202
    world.run_jobs()

    def put(name: str) -> int:
        body = {"aois": [{"name": name, "x": 10, "y": 10, "w": 100, "h": 100}]}
        return int(world.client.put(f"/v1/assets/{asset}/aois", json=body, headers=o.headers).status_code)

    torn = []
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for i in range(40):
            assert list(pool.map(put, [f"a{i}", f"b{i}"])) == [200, 200]
            aois, shares = _names(world, asset)
            if aois != shares:
                torn.append((aois, shares))
    assert torn == []


@pytest.mark.parametrize("poison", ["nan", "inf"])
def test_a_float_image_with_non_finite_pixels_keeps_the_rest_of_its_picture(poison: str) -> None:
    import io

    import numpy as np
    from PIL import Image

    from impactlens.media.image_io import decode_image

    ramp = np.tile(np.linspace(0.0, 1.0, 64, dtype=np.float32), (48, 1))
    ramp[0, 0] = np.float32(poison)  # one bad pixel (no-data, an overflow) in a float TIFF
    buf = io.BytesIO()
    Image.fromarray(ramp, "F").save(buf, "TIFF")
    grey = np.asarray(decode_image(buf.getvalue(), 100_000_000).image.convert("L"), np.float64)
    assert grey[1:, -4:].mean() > 240 and grey[1:, :4].mean() < 15, (grey[1:, -4:].mean(), grey[1:, :4].mean())


def test_a_client_leaving_mid_upload_is_no_server_error(world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A phone losing its network halfway through an upload: the spool goes, nothing is
    stored, and it is not logged (or alarmed on) as an unhandled server error."""
    import asyncio
    import logging
    import threading

    o = world.orgs["acme"]
    asset = world.asset(o)["asset"]
    head = b'--BB\r\nContent-Disposition: form-data; name="file"; filename="ad.jpg"\r\n\r\n' + jpeg()[:5000]
    incoming: list[dict[str, Any]] = [
        {"type": "http.request", "body": head, "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        pass

    async def call() -> None:
        await world.client.app(scope, receive, send)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": f"/v1/assets/{asset}/upload",
        "raw_path": f"/v1/assets/{asset}/upload".encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", o.headers["Authorization"].encode()),
            (b"content-type", b"multipart/form-data; boundary=BB"),
            (b"content-length", b"10000000"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    # In a thread of its own: after the browser tests, Playwright's sync API leaves an event
    # loop running in the main thread, where asyncio.run refuses to start.
    runner = threading.Thread(target=asyncio.run, args=(call(),))
    with caplog.at_level(logging.INFO):
        runner.start()
        runner.join(timeout=60)
    assert not runner.is_alive()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], [r.getMessage() for r in caplog.records]
    assert world.client.get(f"/v1/assets/{asset}", headers=o.headers).json()["status"] == "awaiting_upload"
    assert not [b.key for b in world.services.blobs.list(f"orgs/acme/assets/{asset}/")]
    spool = Path(world.services.settings.data_dir) / "tmp"
    assert not spool.exists() or not list(spool.iterdir())


def test_rotating_ipv6_addresses_within_one_64_share_the_login_throttle(world: World) -> None:
    """An IPv6 host holds a whole /64 (2^64 addresses): counted per address, one attacker
    could guess passwords at any rate by changing its last bits."""
    from fastapi.testclient import TestClient

    codes = []
    for n in range(1, 25):
        client = TestClient(world.client.app, client=(f"2001:db8:5:7::{n:x}", 40000 + n))
        r = client.post("/v1/auth/login", json={"email": "admin@acme.test", "password": f"guess {n}"})
        codes.append(r.status_code)
    assert 429 in codes and codes[:10] == [401] * 10, codes


def test_rotating_ipv6_addresses_within_one_64_share_the_failed_key_throttle(world: World) -> None:
    from fastapi.testclient import TestClient

    codes = []
    for n in range(1, 80):
        client = TestClient(world.client.app, client=(f"2001:db8:5:7::{n:x}", 40000 + n))
        r = client.get("/v1/me", headers={"Authorization": "Bearer il_0123456789abcdef_not-a-real-key"})
        codes.append(r.status_code)
    assert 429 in codes, codes


def test_password_checks_beyond_the_slots_are_refused_busy_not_queued(world: World) -> None:
    """Each argon2id check holds 64 MiB and a core for ~0.1-0.25 s: 80 anonymous logins at
    once from 8 addresses took the server from 0.1 to 1.9 GB and stalled /healthz 24 s."""
    from impactlens.accounts.security import PASSWORD_SLOTS, password_slot

    login = {"email": "admin@acme.test", "password": "not the password"}
    with contextlib.ExitStack() as held:
        for _ in range(PASSWORD_SLOTS):
            held.enter_context(password_slot())  # every slot taken by logins in progress
        r = world.client.post("/v1/auth/login", json=login)
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy", r.text
        assert int(r.headers["Retry-After"]) >= 1
        page = world.client.post("/login", data=login, headers={"Origin": "http://testserver"})
        assert page.status_code == 503 and "wait a few seconds" in page.text
        o = world.orgs["acme"]
        user = {"email": "new@acme.test", "name": "New", "password": "long enough pw"}
        r = world.client.post("/v1/users", json=user, headers=o.headers)
        assert r.status_code == 503 and r.json()["error"]["code"] == "busy", r.text
    assert world.client.post("/v1/auth/login", json=login).status_code == 401


def _eps() -> bytes:
    from tests.media_cases import _encode, photo

    return _encode(photo(64, 48), "EPS")


def test_postscript_and_other_exotic_formats_are_refused_before_any_decoder_runs(world: World) -> None:
    """EPS is rendered by Ghostscript wherever it is installed (a long line of sandbox
    escapes), and Pillow opens ~40 formats no ad comes in; only common raster formats are
    decoded."""
    o = world.orgs["acme"]
    for name, data in {"eps": _eps(), "sgi": _sgi(), "pcx": _pcx()}.items():
        asset = world.asset(o, name)["asset"]
        r = world.upload(o, asset, data, filename=f"ad.{name}")
        assert r.status_code == 415 and r.json()["error"]["code"] == "unsupported_media", (name, r.text)
        assert not [b.key for b in world.services.blobs.list(f"orgs/acme/assets/{asset}/")]


def _sgi() -> bytes:
    from tests.media_cases import _encode, photo

    return _encode(photo(64, 48), "SGI")


def _pcx() -> bytes:
    from tests.media_cases import _encode, photo

    return _encode(photo(64, 48), "PCX")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_common_raster_formats_still_decode(fmt: str) -> None:
    from impactlens.media.image_io import decode_image
    from tests.media_cases import _encode, photo

    decoded = decode_image(_encode(photo(64, 48), fmt), 100_000_000)
    assert (decoded.width, decoded.height, decoded.format) == (64, 48, fmt)


def test_api_answers_holding_secrets_are_never_stored_by_a_cache(world: World) -> None:
    """A new API key, the webhook's signing secret, an Admin's full webhook URL (credentials),
    results with presigned links: JSON a browser or a proxy must not keep on disk."""
    o = world.orgs["acme"]
    answers = [
        world.client.post("/v1/api-keys", json={"label": "ci"}, headers=o.headers),
        world.client.put("/v1/org/webhook", json={"url": "https://user:pw@example.com/hook"}, headers=o.headers),
        world.client.get("/v1/org", headers=o.headers),
        world.client.get("/v1/assets", headers=o.headers),
        world.client.get("/v1/me"),  # errors too
    ]
    for r in answers:
        assert r.headers.get("cache-control") == "no-store", (r.request.url, r.status_code, r.headers)
    # The public model registry is the same for everyone: it may be cached.
    assert world.client.get("/v1/models").headers.get("cache-control") != "no-store"
