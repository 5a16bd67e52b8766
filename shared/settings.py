"""One typed, frozen settings object built from the environment, failing fast.

Nothing else in the project reads ``os.environ``. Each setting is declared once, as a
field of ``Settings``: its variable is the field name in capitals, and the field's
metadata holds the parser and the help text. A malformed value stops start-up with a
message that names the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypeVar

from shared import setting_parsers as parsers

T = TypeVar("T")


class SettingsError(ValueError):
    """A configuration variable is missing or malformed."""


def _setting(default: T, parse: Callable[[str], T], help: str, *, required: bool = False) -> T:
    """Declare a setting: a dataclass field whose metadata says how to read its variable.

    Typed as ``T`` so that mypy checks the default and the parser against the field.
    """
    metadata = {"parse": parse, "help": help, "required": required}
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class Settings:
    """Every setting of every process; docs/configuration.md documents each."""

    redis_url: str = _setting(
        "",
        parsers.redis_url,
        "Celery broker, prediction records, training job records and the sample index; `make run` starts an embedded valkey-server when unset",
        required=True,
    )
    storage_url: str = _setting(
        "var/store", parsers.storage_url, "object store: `s3://bucket/prefix` or a local directory"
    )
    s3_endpoint_url: str = _setting("", str, "S3 endpoint for MinIO or SeaweedFS; empty means AWS")
    admin_token: str = _setting(
        "", str, "bearer token for admin calls; empty refuses them all (401)"
    )
    rate_limits_enabled: bool = _setting(
        True, parsers.boolean, "per-client rate limits on the write endpoints"
    )
    rate_limit: str = _setting(
        "60 per minute", str, "limit per client on predictions, feedback and samples"
    )
    read_rate_limit: str = _setting(
        "300 per minute",
        str,
        "limit per client on the reads that cost the most (stats, health, models, samples, exports, metrics)",
    )
    admin_failure_limit: str = _setting(
        "10 per 15 minutes", str, "failed admin logins a client may make before it gets 429"
    )
    trusted_proxy_hops: int = _setting(
        0,
        lambda text: parsers.int_in(text, 0, 5, "an integer from 0 to 5"),
        "proxies in front of web whose X-Forwarded-For is believed: 0 when clients reach "
        "gunicorn directly (`make run`, compose), 1 behind Heroku's router",
    )
    client_id_secret: str = _setting(
        "",
        str,
        "secret of the HMAC that turns a client's address into its id (rate limits, caps); "
        "empty: one random secret made once and kept in Redis",
    )
    public_gallery: bool = _setting(
        False,
        parsers.boolean,
        "show the stored samples to everyone; otherwise only admins list them",
    )
    metrics_public: bool = _setting(
        False,
        parsers.boolean,
        "serve `GET /metrics` (Prometheus) to everyone; otherwise it needs the admin token",
    )
    fine_tune_every: int = _setting(
        50, parsers.positive_int, "new samples that trigger an automatic fine-tune"
    )
    fine_tune_min_interval: float = _setting(
        600.0,
        parsers.non_negative_float,
        "seconds that must pass between two automatic fine-tunes (an admin may start one any time)",
    )
    challenger_pairs: int = _setting(
        200,
        parsers.non_negative_int,
        "labelled pairs after which a live challenger is decided (promoted if it was right at "
        "least as often as the champion); 0 turns the challenger stage off",
    )
    challenger_max_days: float = _setting(
        14.0,
        parsers.positive_float,
        "days a challenger may run without a decision before it is retired",
    )
    keep_versions: int = _setting(
        10,
        parsers.positive_int,
        "newest versions of each model kept whatever became of them; older ones that never "
        "served (rejected, retired) are removed with their files after each fine-tune",
    )
    max_image_bytes: int = _setting(
        1_000_000, parsers.positive_int, "largest PNG accepted, in bytes"
    )
    max_image_side: int = _setting(
        1680,
        parsers.positive_int,
        "largest image width or height accepted, in pixels: twice the draw page's widest "
        "export (840 px), for API clients that send a 2x canvas",
    )
    max_image_pixels: int = _setting(
        1_048_576, parsers.positive_int, "largest width × height decoded, checked before decoding"
    )
    max_decodes: int = _setting(
        4,
        parsers.positive_int,
        "images one web process decodes at once; more answer 503 with Retry-After",
    )
    decode_wait: float = _setting(
        2.0,
        parsers.non_negative_float,
        "seconds a request waits for a free decode slot before its 503: a burst queues, a "
        "sustained flood is turned away",
    )
    predict_expires: float = _setting(
        30.0,
        parsers.positive_float,
        "seconds a prediction job may wait in the queue before it is dropped",
    )
    result_ttl: int = _setting(
        900,
        parsers.positive_int,
        "seconds a prediction's record (drawing and outcome, needed for feedback) is kept",
    )
    model_check_interval: float = _setting(
        2.0, parsers.positive_float, "seconds between a worker's checks for a newly promoted model"
    )
    batch_max_size: int = _setting(
        32,
        parsers.positive_int,
        "most predictions one web process sends as one message, and a worker runs as one model call",
    )
    batch_max_wait_ms: float = _setting(
        5.0,
        parsers.non_negative_float,
        "how long a web process's batch waits for more predictions while others are in flight; "
        "never when idle",
    )
    weights_dir: str = _setting(
        "models", str, "directory of the shipped weights published as version 1"
    )
    mnist_path: str = _setting(
        "", str, "path to mnist.npz for training; empty uses keras.datasets.mnist"
    )
    unipen_path: str = _setting(
        "",
        str,
        "UNIPEN train_r01_v07 checkout for make evaluate's real-pen figures; empty skips them",
    )
    log_level: str = _setting("INFO", parsers.log_level, "log level of every process")
    broker_visibility_timeout: int = _setting(
        3600,
        parsers.positive_int,
        "seconds before a training job held by a lost trainer is redelivered; keep it above the fine-tune time limit (1800)",
    )
    worker_visibility_timeout: int = _setting(
        300,
        parsers.positive_int,
        "seconds before a prediction, sample or export job held by a lost predict worker is "
        "redelivered; keep it above the longest such job",
    )
    port: int = _setting(
        8000, parsers.port, "port the web process listens on; Heroku sets it; 0 picks a free one"
    )
    bind_host: str = _setting(
        "0.0.0.0", parsers.host, "address the web process listens on; IPv6 in brackets, e.g. [::]"
    )
    web_concurrency: int = _setting(
        2, parsers.positive_int, "gunicorn processes per web dyno (the Heroku convention)"
    )
    web_redis_connections: int = _setting(
        2,
        # One of them is the process's reply subscription: one alone would leave none.
        lambda text: parsers.int_in(text, 2, 2**63 - 1, "an integer of 2 or more"),
        "Redis connections of one web process's pool (records, replies, rate limits; the "
        "Celery broker adds 2); more requests wait up to 2 s for one",
    )
    web_connections: int = _setting(
        1000,
        parsers.positive_int,
        "requests one gunicorn process holds at once (gevent greenlets, not OS threads)",
    )
    web_connections_per_address: int = _setting(
        100,
        parsers.non_negative_int,
        "connections one client address (IPv6: its /64) may hold open in one web process; "
        "more are answered 503 at once; 0: no cap. Off behind a proxy (TRUSTED_PROXY_HOPS > "
        "0), whose front must limit connections itself (docs/security.md)",
    )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, require_redis: bool = True
    ) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``), or raise SettingsError.

        An unset or empty variable takes its default. ``require_redis=False`` lets the
        command-line tools that never touch the broker run without ``REDIS_URL``.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for var in VARIABLES:
            raw = env.get(var.name, "")
            if raw == "":
                if var.required and (require_redis or var.name != "REDIS_URL"):
                    raise SettingsError(f"{var.name} is required: {var.help}")
                continue
            try:
                values[var.attribute] = var.parse(raw)
            except ValueError as exc:
                raise SettingsError(f"{var.name}={raw!r} is malformed: {exc}") from None
        return cls(**values)


@dataclass(frozen=True)
class Variable:
    """One environment variable, derived from its ``Settings`` field (docs, deploy tests)."""

    attribute: str
    default: Any
    parse: Callable[[str], Any]
    help: str
    required: bool

    @property
    def name(self) -> str:
        """The variable's name: the attribute's, in capitals."""
        return self.attribute.upper()

    @classmethod
    def of(cls, spec: Field[Any]) -> Variable:
        meta = spec.metadata
        return cls(spec.name, spec.default, meta["parse"], meta["help"], meta["required"])


#: Every variable the project reads (docs/configuration.md documents each).
VARIABLES: tuple[Variable, ...] = tuple(Variable.of(spec) for spec in fields(Settings))
