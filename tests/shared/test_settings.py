"""Settings: every variable is documented, and bad values stop start-up by name."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from shared.settings import VARIABLES, Settings, SettingsError

ROOT = Path(__file__).resolve().parents[2]
CONFIGURATION = ROOT / "docs" / "configuration.md"
REDIS = {"REDIS_URL": "redis://127.0.0.1:6379/0"}


def test_configuration_page_lists_every_variable():
    text = CONFIGURATION.read_text()
    missing = [var.name for var in VARIABLES if f"| `{var.name}` |" not in text]
    assert missing == []


def test_defaults_build_settings_once_redis_is_given():
    settings = Settings.from_env(REDIS)
    assert settings.fine_tune_every == 50 and settings.rate_limits_enabled is True
    assert settings.batch_max_size == 32 and settings.batch_max_wait_ms == 5.0


def test_web_server_address_and_size_default_to_the_platform_conventions():
    settings = Settings.from_env(REDIS)
    assert (settings.bind_host, settings.port) == ("0.0.0.0", 8000)
    assert (settings.web_concurrency, settings.web_connections) == (2, 1000)


def test_web_server_address_and_size_are_read_from_the_environment():
    env = {
        **REDIS,
        "BIND_HOST": "[::]",
        "PORT": "0",
        "WEB_CONCURRENCY": "3",
        "WEB_CONNECTIONS": "4",
    }
    settings = Settings.from_env(env)
    assert (settings.bind_host, settings.port) == ("[::]", 0)
    assert (settings.web_concurrency, settings.web_connections) == (3, 4)


@pytest.mark.parametrize(
    "var", [var for var in VARIABLES if not var.required], ids=lambda var: var.name
)
def test_each_default_is_a_value_its_parser_accepts(var):
    assert var.parse(str(var.default)) == var.default


def test_an_empty_variable_takes_its_default():
    assert Settings.from_env({**REDIS, "WEB_CONNECTIONS": ""}).web_connections == 1000


@pytest.mark.parametrize("env", [{}, {"REDIS_URL": ""}])
def test_missing_redis_url_stops_start_up_naming_it(env):
    with pytest.raises(SettingsError, match="REDIS_URL is required"):
        Settings.from_env(env)


def test_redis_url_may_be_unset_for_tools_that_never_use_the_broker():
    assert Settings.from_env({}, require_redis=False).redis_url == ""


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("REDIS_URL", "http://redis:6379"),
        ("STORAGE_URL", "ftp://bucket"),
        ("STORAGE_URL", "s3:///prefix"),
        ("MAX_IMAGE_BYTES", "-1"),
        ("PREDICT_EXPIRES", "soon"),
        ("LOG_LEVEL", "LOUD"),
        ("BATCH_MAX_SIZE", "0"),
        ("BATCH_MAX_WAIT_MS", "-1"),
        ("RATE_LIMITS_ENABLED", "maybe"),
        ("PREDICT_EXPIRES", "inf"),
        ("WEB_CONNECTIONS", "abc"),
        ("WEB_CONCURRENCY", "1.5"),
        ("PORT", "70000"),
        ("BIND_HOST", "::"),
    ],
)
def test_malformed_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=re.escape(f"{name}={value!r} is malformed")):
        Settings.from_env({**REDIS, name: value})


def reads_environment(tree: ast.AST) -> bool:
    """Whether a module touches ``os.environ``/``os.getenv`` or imports them from os."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in {"environ", "environb", "getenv"}
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"  # not a WSGI request's environ
        ):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            if {alias.name for alias in node.names} & {"environ", "environb", "getenv"}:
                return True
    return False


def test_nothing_but_the_settings_module_reads_the_environment():
    modules = [
        path for package in ("web", "worker", "shared") for path in ROOT.glob(f"{package}/**/*.py")
    ]
    readers = [
        str(path.relative_to(ROOT))
        for path in modules
        if path != ROOT / "shared" / "settings.py"
        and reads_environment(ast.parse(path.read_text()))
    ]
    assert readers == []
