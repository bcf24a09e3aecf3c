"""The one place that reads configuration. Every environment variable name lives here."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "IMPACTLENS_"
# Names, for documentation and for the few places (tests, CI) that set them explicitly.
ENV_MODEL_DIR = f"{ENV_PREFIX}MODEL_DIR"
ENV_VARIANT = f"{ENV_PREFIX}VARIANT"
ENV_MEMORABILITY_MODEL = f"{ENV_PREFIX}MEMORABILITY_MODEL"
ENV_MAX_IMAGE_PIXELS = f"{ENV_PREFIX}MAX_IMAGE_PIXELS"
ENV_THREADS = f"{ENV_PREFIX}THREADS"
ENV_WORKERS = f"{ENV_PREFIX}WORKERS"
ENV_VIDEO_SAMPLE_FPS = f"{ENV_PREFIX}VIDEO_SAMPLE_FPS"
ENV_VIDEO_CHUNK_SECONDS = f"{ENV_PREFIX}VIDEO_CHUNK_SECONDS"
ENV_MAX_VIDEO_SECONDS = f"{ENV_PREFIX}MAX_VIDEO_SECONDS"
ENV_SETTINGS_FILE = f"{ENV_PREFIX}SETTINGS_FILE"
ENV_DATA_DIR = f"{ENV_PREFIX}DATA_DIR"
ENV_BACKEND = f"{ENV_PREFIX}BACKEND"
ENV_TABLE_NAME = f"{ENV_PREFIX}TABLE_NAME"
ENV_BUCKET = f"{ENV_PREFIX}BUCKET"
ENV_AWS_ENDPOINT_URL = f"{ENV_PREFIX}AWS_ENDPOINT_URL"
ENV_CORS_ORIGINS = f"{ENV_PREFIX}CORS_ORIGINS"
ENV_TRUSTED_PROXIES = f"{ENV_PREFIX}TRUSTED_PROXIES"
ENV_PUBLIC_URL = f"{ENV_PREFIX}PUBLIC_URL"
ENV_JOB_WORKERS = f"{ENV_PREFIX}JOB_WORKERS"
ENV_LOGIN_DEVICE_SECRET = f"{ENV_PREFIX}LOGIN_DEVICE_SECRET"
# Read by the CLI only, not Settings fields: `admin create-user` takes the password from here
# (scripts) before asking at a prompt.
ENV_NEW_PASSWORD = f"{ENV_PREFIX}NEW_PASSWORD"  # noqa: S105 - a variable's name, not a password

Variant = Literal["fp32", "int8"]


def _default_model_dir() -> Path:
    return Path.home() / ".cache" / "impactlens" / "models"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    model_dir: Path = Field(default_factory=_default_model_dir)
    variant: Variant = "int8"
    memorability_model: str = "resmem"
    saliency_model: str = "lite1-readout"
    # Face and text detection (automatic AOIs) in every analysis; off saves ~30-60 ms an image.
    detect_elements: bool = True
    # Decoded-pixel budget: larger images are refused before decoding (decompression bombs).
    max_image_pixels: int = 100_000_000
    # Threads per ONNX Runtime session; 0 lets ONNX Runtime decide (all cores).
    threads: int = 0
    # Video: sampled instants per second, seconds per chunk (the unit of fan-out), the long
    # side frames are downscaled to before analysis, and the limits checked at probe time.
    video_sample_fps: float = Field(default=2.0, gt=0, le=30)
    video_chunk_seconds: float = Field(default=10.0, gt=0)
    video_long_side: int = Field(default=640, ge=64, le=1920)
    video_smoothing_s: float = Field(default=1.0, ge=0)
    max_video_seconds: float = Field(default=600.0, gt=0)
    max_video_pixels: int = 7680 * 4320  # 8K
    # Local fan-out: processes analysing chunks (one ONNX Runtime thread each); 0 = in process.
    workers: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=0)

    # Server (impactlens serve / the Lambda app).
    backend: Literal["embedded", "aws"] = "embedded"
    data_dir: Path = Path("impactlens-data")  # embedded: SQLite file, blobs, signing secret
    table_name: str = "impactlens"  # aws: DynamoDB table
    bucket: str = "impactlens-assets"  # aws: S3 bucket
    aws_endpoint_url: str | None = None  # aws: an emulator (tests) instead of AWS
    public_url: str = "http://127.0.0.1:8000"  # where clients reach the API (upload URLs)
    cors_origins: list[str] = []
    # Addresses of reverse proxies whose X-Forwarded-For is believed (default: none, so a
    # client cannot pick the address its login and key throttling is counted against).
    trusted_proxies: list[str] = []
    # Uploads checked (decoded / probed) at once per API process; more wait their turn.
    max_concurrent_validations: int = Field(default=2, ge=1)
    session_ttl_s: int = 12 * 3600
    # Sign-in lockout per account (OWASP device cookies, accounts/lockout.py): failed sign-ins
    # an account takes from browsers without its device cookie per sliding window; each device
    # cookie (given at a successful sign-in) has its own smaller budget, so a guesser on many
    # addresses is stopped without locking the real user out of the browsers they use.
    login_window_s: float = Field(default=900.0, ge=1)
    login_account_failures: int = Field(default=10, ge=1)
    login_device_failures: int = Field(default=5, ge=1)
    login_device_ttl_days: float = Field(default=90.0, gt=0)
    # Key that signs device cookies; unset, a random key is made once and kept in the table.
    login_device_secret: SecretStr | None = None
    # Dashboard pages without a session (sign-in page and form, signed-out redirects), per
    # client address; signed-in pages count per organisation by plan (web/deps.py).
    page_anon_rate_per_s: float = Field(default=2.0, gt=0)
    page_anon_burst: int = Field(default=30, ge=1)
    job_workers: int = Field(default=1, ge=0)  # threads running analysis jobs; 0 = none
    job_lease_s: float = Field(default=15.0, gt=0)  # renewed every second while a job runs
    job_max_attempts: int = Field(default=3, ge=1)
    job_retry_base_s: float = Field(default=2.0, ge=0)
    # Embedded table: seconds between sweeps deleting items whose ttl has passed (sessions,
    # request counters, idempotency markers), DynamoDB's TTL on SQLite; 0 = never.
    expiry_sweep_interval_s: float = Field(default=60.0, ge=0)
    # AWS: videos at least this long run as a Step Functions execution (chunks analysed by
    # parallel functions) when a state machine is configured; shorter ones in the job runner.
    state_machine_arn: str | None = None
    sfn_min_video_seconds: float = Field(default=120.0, ge=0)
    # Chunk length under the state machine: each chunk costs Standard state transitions (at
    # 10-s chunks about half as much as the compute, bench/cloud_cost.py), so chunks are longer.
    sfn_chunk_seconds: float = Field(default=30.0, gt=0)
    # GET /metrics (Prometheus, embedded shape) answers loopback clients only unless this is set.
    metrics_public: bool = False
    webhook_timeout_s: float = Field(default=5.0, gt=0)  # per delivery attempt, connect to last byte
    # Deliveries run on their own threads from a queue in the table, so a slow receiver never
    # holds up analyses; failed ones are retried with exponential backoff.
    webhook_threads: int = Field(default=2, ge=0)
    webhook_max_attempts: int = Field(default=6, ge=1)
    webhook_retry_base_s: float = Field(default=5.0, ge=0)
    # Development and tests only: let webhooks reach loopback, private and link-local hosts.
    webhook_allow_private: bool = False


def _file_values(path: Path) -> dict[str, object]:
    """A TOML settings file: the same names as the fields (lower case, no prefix)."""
    import tomllib

    with open(path, "rb") as f:
        data = tomllib.load(f)
    known = set(Settings.model_fields)
    unknown = sorted(set(data) - known)
    if unknown:
        raise ValueError(f"{path}: unknown settings {', '.join(unknown)}")
    return data


def load_settings(file: Path | None = None, **overrides: object) -> Settings:
    """Flags (``overrides``) beat environment variables, which beat the file, then defaults."""
    path = file or (Path(os.environ[ENV_SETTINGS_FILE]) if os.environ.get(ENV_SETTINGS_FILE) else None)
    from_file = _file_values(path) if path else {}
    base = {k: v for k, v in from_file.items() if f"{ENV_PREFIX}{k.upper()}" not in os.environ}
    return Settings(**base, **{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
