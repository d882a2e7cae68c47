"""Configuration from the environment, and the key kept out of logs."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from heygen_video_mcp.server.config import ConfigError, Settings, settings_from_env
from heygen_video_mcp.server.logs import RedactKey


def test_defaults_need_nothing() -> None:
    settings = settings_from_env({})
    assert settings.api_key is None
    assert settings.api_base_url == "https://api.heygen.com"
    assert settings.wait_seconds == 25 and settings.poll_interval == 10
    assert settings.download is True and settings.duplicate_window == 600
    assert settings.output_dir.name == "HeyGen"
    assert settings.library_file == settings.output_dir / "heygen-library.sqlite3"


@pytest.mark.parametrize(
    ("env", "field", "value"),
    [
        ({"HEYGEN_API_BASE_URL": "http://127.0.0.1:9"}, "api_base_url", "http://127.0.0.1:9"),
        ({"HEYGEN_WAIT_SECONDS": "40"}, "wait_seconds", 40.0),
        ({"HEYGEN_POLL_INTERVAL": "2.5"}, "poll_interval", 2.5),
        ({"HEYGEN_DOWNLOAD": "false"}, "download", False),
        ({"HEYGEN_DOWNLOAD": "0"}, "download", False),
        ({"HEYGEN_DUPLICATE_WINDOW_SECONDS": "0"}, "duplicate_window", 0.0),
        ({"HEYGEN_OUTPUT_DIR": "/data/videos"}, "output_dir", Path("/data/videos")),
        ({"HEYGEN_LIBRARY_PATH": "/data/lib.db"}, "library_file", Path("/data/lib.db")),
        ({"HEYGEN_MAX_RETRIES": "0"}, "max_retries", 0),
        ({"HEYGEN_LOG_LEVEL": "WARNING"}, "log_level", "WARNING"),
        ({"HEYGEN_API_KEY": "   "}, "api_key", None),  # blank means unset
        ({"HEYGEN_API_BASE_URL": "https://api.heygen.com/"}, "api_base_url", "https://api.heygen.com"),
        ({"HEYGEN_CALL_SECONDS": "12"}, "call_seconds", 12.0),
        ({"HEYGEN_NOT_FOUND_GRACE_SECONDS": "30"}, "not_found_grace", 30.0),
        ({"HEYGEN_MAX_VIDEO_BYTES": "1000000"}, "max_video_bytes", 1_000_000),
    ],
)
def test_environment_values(env: dict[str, str], field: str, value: object) -> None:
    assert getattr(settings_from_env(env), field) == value


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HEYGEN_WAIT_SECONDS": "abc"}, "HEYGEN_WAIT_SECONDS"),
        ({"HEYGEN_WAIT_SECONDS": "120"}, "HEYGEN_WAIT_SECONDS"),  # past what clients allow
        ({"HEYGEN_POLL_INTERVAL": "0"}, "HEYGEN_POLL_INTERVAL"),
        ({"HEYGEN_DOWNLOAD": "maybe"}, "HEYGEN_DOWNLOAD"),
        ({"HEYGEN_MAX_RETRIES": "-1"}, "HEYGEN_MAX_RETRIES"),
        ({"HEYGEN_LOG_LEVEL": "LOUD"}, "HEYGEN_LOG_LEVEL"),
        ({"HEYGEN_API_BASE_URL": "api.heygen.com"}, "HEYGEN_API_BASE_URL"),
        ({"HEYGEN_API_BASE_URL": "file:///etc"}, "HEYGEN_API_BASE_URL"),
        ({"HEYGEN_API_KEY": "sk-live-abc\ndef"}, "HEYGEN_API_KEY"),
        ({"HEYGEN_CALL_SECONDS": "90"}, "HEYGEN_CALL_SECONDS"),
        ({"HEYGEN_MAX_VIDEO_BYTES": "0"}, "HEYGEN_MAX_VIDEO_BYTES"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_from_env(env)


def test_key_is_hidden_in_settings_repr() -> None:
    settings = settings_from_env({"HEYGEN_API_KEY": "sk-live-abcdef123456"})
    assert "sk-live-abcdef123456" not in repr(settings) and "sk-live-abcdef123456" not in str(settings)
    assert isinstance(settings, Settings)


def test_log_records_are_scrubbed_of_the_key() -> None:
    key = "sk-live-abcdef123456"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "sent %s to %s", (key, "HeyGen"), None)
    assert RedactKey(key).filter(record)
    assert record.getMessage() == "sent <redacted> to HeyGen"
