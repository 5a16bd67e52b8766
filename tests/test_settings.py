"""Settings: every variable is documented, and bad values stop start-up by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.settings import VARIABLES, Settings, SettingsError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_configuration_table_lists_every_variable():
    text = README.read_text()
    missing = [var.name for var in VARIABLES if f"| `{var.name}` |" not in text]
    assert missing == []


def test_defaults_build_settings_once_redis_is_given():
    settings = Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    assert settings.fine_tune_every == 50 and settings.rate_limits_enabled is True
    assert settings.batch_max_size == 32 and settings.batch_max_wait_ms == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [("BATCH_MAX_SIZE", "0"), ("BATCH_MAX_WAIT_MS", "-1"), ("RATE_LIMITS_ENABLED", "maybe")],
)
def test_malformed_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0", name: value})
