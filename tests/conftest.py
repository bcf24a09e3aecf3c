from __future__ import annotations

from pathlib import Path

import pytest

from impactlens.engine import ImageEngine
from impactlens.settings import get_settings

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = sorted((ROOT / "impactlens" / "data" / "samples").glob("*.jpg"))


@pytest.fixture(scope="session")
def engine() -> ImageEngine:
    """The real engine on the built models (`make test` builds them first)."""
    return ImageEngine.from_settings(get_settings(), "int8")


@pytest.fixture(scope="session")
def engine_fp32() -> ImageEngine:
    return ImageEngine.from_settings(get_settings(), "fp32")


@pytest.fixture(scope="session")
def aws_endpoint():
    from tests.aws import moto_server

    with moto_server() as endpoint:
        yield endpoint


@pytest.fixture(params=["sqlite", "dynamodb"])
def table(request, tmp_path):
    from tests.backends import make_table

    endpoint = request.getfixturevalue("aws_endpoint") if request.param == "dynamodb" else None
    return make_table(request.param, tmp_path, endpoint)
