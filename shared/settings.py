"""One typed, frozen settings object built from the environment, failing fast.

Nothing else in the project reads ``os.environ``. A malformed value stops start-up
with a message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration variable is missing or malformed."""


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("expected a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("expected a positive number")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError("expected a number >= 0")
    return value


def _log_level(text: str) -> str:
    level = text.strip().upper()
    if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ValueError("expected DEBUG, INFO, WARNING, ERROR or CRITICAL")
    return level


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a redis://, rediss:// or unix:// URL")
    return text


def _storage_url(text: str) -> str:
    if text.startswith("s3://"):
        if not text[len("s3://") :].split("/", 1)[0]:
            raise ValueError("s3:// URL needs a bucket name: s3://bucket/prefix")
        return text
    if "://" in text and not text.startswith("file://"):
        raise ValueError("expected s3://bucket/prefix, file:///path or a directory path")
    return text


@dataclass(frozen=True)
class Variable:
    """How one environment variable becomes a setting: its default and its parser."""

    name: str
    default: str | None
    parse: Callable[[str], Any]
    help: str


#: Every variable the project reads, in the order the README documents them.
VARIABLES: tuple[Variable, ...] = (
    Variable(
        "REDIS_URL",
        None,
        _redis_url,
        "Celery broker and result backend; `make run` starts an embedded valkey-server when unset",
    ),
    Variable(
        "STORAGE_URL",
        "var/store",
        _storage_url,
        "object store: `s3://bucket/prefix` or a local directory",
    ),
    Variable("S3_ENDPOINT_URL", "", str, "S3 endpoint for MinIO or SeaweedFS; empty means AWS"),
    Variable("ADMIN_TOKEN", "", str, "bearer token for admin calls; empty refuses them all (401)"),
    Variable("RATE_LIMITS_ENABLED", "true", _bool, "per-client rate limits on the write endpoints"),
    Variable(
        "RATE_LIMIT", "60 per minute", str, "limit per client on predictions, feedback and samples"
    ),
    Variable(
        "FINE_TUNE_EVERY", "50", _positive_int, "new samples that trigger an automatic fine-tune"
    ),
    Variable("MAX_IMAGE_BYTES", "1000000", _positive_int, "largest PNG accepted, in bytes"),
    Variable(
        "MAX_IMAGE_SIDE", "2048", _positive_int, "largest image width or height accepted, in pixels"
    ),
    Variable(
        "PREDICT_EXPIRES",
        "30",
        _positive_float,
        "seconds a prediction job may wait in the queue before it is dropped",
    ),
    Variable(
        "RESULT_TTL", "86400", _positive_int, "seconds prediction records and results are kept"
    ),
    Variable(
        "MODEL_CHECK_INTERVAL",
        "2",
        _positive_float,
        "seconds between a worker's checks for a newly promoted model",
    ),
    Variable(
        "BATCH_MAX_SIZE",
        "32",
        _positive_int,
        "most predict jobs one worker process runs as one model call",
    ),
    Variable(
        "BATCH_MAX_WAIT_MS",
        "0",
        _non_negative_float,
        "how long a batch waits for more jobs; 0 batches only jobs already waiting",
    ),
    Variable(
        "WEIGHTS_DIR", "models", str, "directory of the shipped weights published as version 1"
    ),
    Variable(
        "MNIST_PATH", "", str, "path to mnist.npz for training; empty uses keras.datasets.mnist"
    ),
    Variable("LOG_LEVEL", "INFO", _log_level, "log level of every process"),
    Variable(
        "BROKER_VISIBILITY_TIMEOUT",
        "3600",
        _positive_int,
        "seconds before an unacknowledged job of a lost worker is redelivered; keep it above the fine-tune time limit (1800)",
    ),
)


@dataclass(frozen=True)
class Settings:
    redis_url: str
    storage_url: str
    s3_endpoint_url: str
    admin_token: str
    rate_limits_enabled: bool
    rate_limit: str
    fine_tune_every: int
    max_image_bytes: int
    max_image_side: int
    predict_expires: float
    result_ttl: int
    model_check_interval: float
    batch_max_size: int
    batch_max_wait_ms: float
    weights_dir: str
    mnist_path: str
    log_level: str
    broker_visibility_timeout: int

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_redis: bool = True
    ) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``), or raise SettingsError."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.name)
            if raw is None or (raw == "" and var.default is not None):
                raw = var.default
            if raw is None:
                if require_redis or var.name != "REDIS_URL":
                    raise SettingsError(f"{var.name} is required: {var.help}")
                values[var.name.lower()] = ""
                continue
            try:
                values[var.name.lower()] = var.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{var.name}={raw!r} is malformed: {exc}") from None
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with some fields changed (tests use this)."""
        current = {f.name: getattr(self, f.name) for f in fields(self)}
        current.update(changes)
        return Settings(**current)
