"""Start-up refuses malformed configuration and names the variable."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def start(**env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SECRET_KEY", "DEBUG"}
    }
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from django.conf import settings;"
            " print(settings.DATABASES['default']['ENGINE'])",
        ],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "seen.settings", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "name, value",
    [
        ("DEBUG", "maybe"),
        ("SEEN_MAX_UPLOAD_BYTES", "ten megabytes"),
        ("SEEN_EXPIRY_CHOICES", "1h,24h"),
        ("SEEN_DEFAULT_EXPIRY", "7"),
        ("DATABASE_URL", "not-a-database://x"),
        ("AWS_S3_ENDPOINT_URL", "localhost:9000"),
        ("AWS_S3_ADDRESSING_STYLE", "sideways"),
    ],
)
def test_a_malformed_value_stops_start_up_naming_the_variable(name, value, tmp_path):
    result = start(**{"DEBUG": "true", "SEEN_DATA_DIR": str(tmp_path), name: value})
    assert result.returncode != 0
    assert name in result.stderr


def test_a_malformed_connection_age_stops_start_up(tmp_path):
    result = start(
        DEBUG="true", DATABASE_URL="postgres://u:p@127.0.0.1:5432/x", DATABASE_CONN_MAX_AGE="-5"
    )
    assert result.returncode != 0
    assert "DATABASE_CONN_MAX_AGE" in result.stderr


def test_secret_key_is_required_when_debug_is_off(tmp_path):
    result = start(DEBUG="false", SEEN_DATA_DIR=str(tmp_path))
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_the_embedded_defaults_are_sqlite_and_a_local_folder(tmp_path):
    result = start(DEBUG="true", SEEN_DATA_DIR=str(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"
    assert (tmp_path).is_dir()
