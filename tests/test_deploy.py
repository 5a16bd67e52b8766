"""The deploy files (Procfile, app.json, docker-compose.yml, ...) agree with the code."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import runpy
import shlex
import ssl
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared import names
from shared.celery_config import make_celery, ssl_options
from shared.settings import VARIABLES, Settings
from tests.helpers import ROOT, procfile

PROCESSES = {"web", "worker", "trainer"}
SETTINGS_NAMES = {var.name for var in VARIABLES}
#: Variables the deploy files may use that are not Digits settings, each with its reader.
PLATFORM_VARIABLES = {
    "WORKER_CONCURRENCY": "the Procfile's worker line",
    "DYNO": "Heroku sets it (web.1, worker.2); the Celery node name",
    "REMAP_SIGTERM": "Celery/billiard: SIGTERM starts the soft shutdown",
    "AWS_ACCESS_KEY_ID": "boto3",
    "AWS_SECRET_ACCESS_KEY": "boto3",
    "AWS_DEFAULT_REGION": "boto3",
    "MINIO_ROOT_USER": "MinIO (compose)",
    "MINIO_ROOT_PASSWORD": "MinIO (compose)",
    "HOSTNAME": "the container's hostname (compose health checks)",
}
#: Heroku dyno sizes with 512 MB, and those with more.
SMALL_DYNOS = {"basic", "standard-1x"}
LARGE_DYNOS = {"standard-2x", "performance-m", "performance-l"}
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")
REFERENCE = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)")


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """A shell line's leading ``VAR=value`` assignments, and the argument list after them."""
    words = shlex.split(command)
    env = {}
    while words and ASSIGNMENT.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def option(args: list[str], *flags: str) -> str:
    for index, arg in enumerate(args):
        if arg in flags:
            return args[index + 1]
    raise AssertionError(f"none of {flags} in {args}")


def app_json() -> dict[str, Any]:
    return json.loads((ROOT / "app.json").read_text())


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_file() -> dict[str, str]:
    pairs = {}
    for line in (ROOT / ".env.compose").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def test_procfile_runs_web_worker_and_trainer() -> None:
    assert set(procfile()) == PROCESSES


def test_procfile_web_serves_the_app_factory_through_the_gunicorn_config() -> None:
    env, args = split_command(procfile()["web"])
    assert args[0] == "gunicorn"
    config = option(args, "--config", "-c")
    # A path, not python:web.gunicorn_conf: importing the web package in gunicorn's master
    # would import redis (and ssl) before the gevent worker patches them.
    assert (ROOT / config).is_file() and not config.startswith("python:")
    module, _, call = args[-1].partition(":")
    assert call == "create_app()"
    assert callable(importlib.import_module(module).create_app)


@pytest.mark.parametrize(
    ("process", "queues"),
    [("worker", {names.QUEUE_PREDICT, names.QUEUE_SAMPLES}), ("trainer", {names.QUEUE_TRAIN})],
)
def test_procfile_celery_lines_consume_declared_queues(process: str, queues: set[str]) -> None:
    env, args = split_command(procfile()[process])
    assert args[:2] == ["celery", "-A"]
    assert importlib.util.find_spec(args[2]) is not None
    assert "worker" in args
    consumed = set(option(args, "-Q", "--queues").split(","))
    assert consumed == queues
    assert consumed <= set(names.QUEUES)
    # Dynos report 8 CPUs: the concurrency is always explicit.
    assert option(args, "--concurrency", "-c")
    # SIGTERM requeues unfinished work within Heroku's 30 s instead of waiting for it.
    assert env.get("REMAP_SIGTERM") == "SIGQUIT"


def test_every_queue_has_a_procfile_process() -> None:
    consumed = set()
    for process in ("worker", "trainer"):
        consumed |= set(option(split_command(procfile()[process])[1], "-Q").split(","))
    assert consumed == set(names.QUEUES)


def test_trainer_runs_one_fine_tune_at_a_time() -> None:
    assert option(split_command(procfile()["trainer"])[1], "--concurrency") == "1"


def test_gunicorn_config_binds_port_and_stops_within_heroku_limits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("REDIS_URL", "rediss://:secret@redis.example:6380")
    monkeypatch.setenv("PORT", "5123")
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    monkeypatch.setenv("WEB_CONNECTIONS", "400")
    monkeypatch.delenv("BIND_HOST", raising=False)
    config = runpy.run_path(str(ROOT / "web" / "gunicorn_conf.py"))
    assert config["bind"] == ["0.0.0.0:5123"]
    assert (config["workers"], config["worker_connections"]) == (3, 400)
    assert config["worker_class"] == "gevent"
    # Heroku: SIGKILL 30 s after SIGTERM, router timeout 30 s.
    assert config["graceful_timeout"] < 30
    assert config["timeout"] < 30
    assert config["accesslog"] == "-"
    handlers = config["logconfig_dict"]["handlers"].values()
    assert {handler["stream"] for handler in handlers} == {"ext://sys.stdout"}


def test_gunicorn_runs_numpy_blas_in_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # OpenBLAS's idle threads spin: the group counter's small products cost twice the CPU.
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    config = runpy.run_path(str(ROOT / "web" / "gunicorn_conf.py"))
    assert "OPENBLAS_NUM_THREADS=1" in config["raw_env"]


def test_app_json_formation_matches_the_procfile_with_stated_sizes() -> None:
    formation = app_json()["formation"]
    assert set(formation) == set(procfile())
    assert formation["web"]["size"].lower() in SMALL_DYNOS
    assert formation["worker"]["size"].lower() in SMALL_DYNOS
    # TensorFlow alone is about 530 MB resident: the trainer needs a larger dyno.
    assert formation["trainer"]["size"].lower() in LARGE_DYNOS


def test_app_json_provisions_redis_python_and_the_variables_it_needs() -> None:
    spec = app_json()
    assert [pack["url"] for pack in spec["buildpacks"]] == ["heroku/python"]
    assert any(addon["plan"].startswith("heroku-redis") for addon in spec["addons"])
    env = spec["env"]
    assert env["ADMIN_TOKEN"]["generator"] == "secret"
    for required in ("STORAGE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[required]["required"] is True
        assert "value" not in env[required]
    assert env["WORKER_CONCURRENCY"]["value"] == "8"
    assert env["WEB_CONCURRENCY"]["value"] == "2"
    assert "S3_ENDPOINT_URL" in env


def test_heroku_build_files_pin_python_and_install_the_trainer() -> None:
    version = (ROOT / ".python-version").read_text().strip()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    assert version == "3.11" and requires == ">=3.11"
    assert f"FROM python:{version}-slim" in (ROOT / "Dockerfile").read_text()
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert ".[train]" in lines


def test_compose_runs_every_service_with_a_health_check() -> None:
    services = compose()["services"]
    assert {"redis", "minio", "minio-bucket", "web", "worker", "trainer", "flower"} <= set(services)
    for name, service in services.items():
        if name != "minio-bucket":  # a one-shot job: its exit status is its health
            assert "healthcheck" in service, name


def test_compose_worker_scales() -> None:
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker


def test_compose_commands_are_the_procfile_lines() -> None:
    services = compose()["services"]
    for process, line in procfile().items():
        env, args = split_command(line)
        assert services[process]["command"] == args, process
        assert services[process].get("environment", {}) == env, process


def test_compose_app_services_share_configuration_and_stop_gracefully() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "trainer", "flower"):
        service = services[name]
        assert service["env_file"] == ".env.compose", name
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["depends_on"]["minio-bucket"]["condition"] == (
            "service_completed_successfully"
        )
        assert service["stop_grace_period"] == "30s"
    assert services["trainer"]["build"]["args"]["EXTRAS"] == "train"
    assert "args" not in str(services["web"]["build"])


def test_compose_creates_the_private_bucket_of_storage_url() -> None:
    bucket = env_file()["STORAGE_URL"][len("s3://") :].split("/", 1)[0]
    script = " ".join(compose()["services"]["minio-bucket"]["command"])
    assert f"mc mb --ignore-existing local/{bucket}" in script
    assert f"mc anonymous set none local/{bucket}" in script
    Settings.from_env(env_file())  # the compose configuration itself is valid


def referenced_variables() -> dict[str, set[str]]:
    """Every variable the deploy files set or read, by file."""
    spec = compose()
    found = {
        "app.json": set(app_json()["env"]),
        ".env.compose": set(env_file()),
        "Procfile": set(REFERENCE.findall((ROOT / "Procfile").read_text())),
        "docker-compose.yml": set(
            REFERENCE.findall((ROOT / "docker-compose.yml").read_text().replace("$$", "$"))
        ),
    }
    for line in procfile().values():
        found["Procfile"] |= set(split_command(line)[0])
    for service in spec["services"].values():
        found["docker-compose.yml"] |= set(service.get("environment") or {})
    return found


def test_every_variable_in_the_deploy_files_is_known() -> None:
    known = SETTINGS_NAMES | set(PLATFORM_VARIABLES)
    unknown = {path: sorted(used - known) for path, used in referenced_variables().items()}
    assert not any(unknown.values()), unknown


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    patterns = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for path in (".venv", "var", "tests/artifacts", "bench/results", ".git"):
        parts = path.split("/")
        covered = any("/".join(parts[:depth]) in patterns for depth in range(1, len(parts) + 1))
        assert covered, path


def test_web_and_worker_image_installs_no_tensorflow() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = " ".join(project["dependencies"]).lower()
    assert "tensorflow" not in base and "keras" not in base
    assert 'ARG EXTRAS=""' in (ROOT / "Dockerfile").read_text()


def test_tls_redis_url_is_accepted_with_heroku_self_signed_certificate() -> None:
    url = "rediss://:secret@ec2-1-2-3-4.compute-1.amazonaws.com:6380"
    settings = Settings.from_env({"REDIS_URL": url})
    assert ssl_options(settings.redis_url) == {"ssl_cert_reqs": ssl.CERT_NONE}
    app = make_celery(settings)
    try:
        assert app.conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_NONE}
        assert app.conf.redis_backend_use_ssl == {"ssl_cert_reqs": ssl.CERT_NONE}
    finally:
        app.close()


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any Digits setting, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_NAMES}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    return {**env, **extra}


@pytest.mark.parametrize(
    ("process", "extra", "message"),
    [
        ("web", {}, "REDIS_URL is required"),
        ("worker", {}, "REDIS_URL is required"),
        (
            "web",
            {"REDIS_URL": "redis://127.0.0.1:1/0", "WEB_CONNECTIONS": "abc"},
            "WEB_CONNECTIONS='abc'",
        ),
    ],
)
def test_process_with_a_missing_or_malformed_variable_refuses_to_start_naming_it(
    process: str, extra: dict[str, str], message: str
) -> None:
    answer = subprocess.run(
        ["/bin/sh", "-c", procfile()[process]],
        cwd=ROOT,
        env=clean_env(PORT="0", BIND_HOST="127.0.0.1", **extra),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert answer.returncode != 0
    assert message in answer.stdout + answer.stderr
