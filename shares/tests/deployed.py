"""gunicorn as the Dockerfile runs it (seen/gunicorn.py), for tests that need the real
server: its logs, its handling of raw bytes and lying lengths."""

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Deployed:
    url: str
    port: int
    stdout: Path
    stderr: Path

    def logs(self) -> str:
        return self.stdout.read_text() + self.stderr.read_text()


def _database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"] == "django.db.backends.postgresql":
        host, port = db["HOST"] or "127.0.0.1", db["PORT"] or 5432
        return f"postgres://{db['USER']}:{db['PASSWORD']}@{host}:{port}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@contextlib.contextmanager
def gunicorn(tmp_path: Path, **extra_env: str) -> Iterator[Deployed]:
    """Serve the test database (the caller needs transactional_db) with photos in a local
    folder under tmp_path; stopped, by its PID, when the block ends."""
    # Without REDIS_URL the rate-limit counters are in the database (shares_ratecounter).
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_STORAGE", "AWS_S3", "REDIS", "SEEN_", "GUNICORN_"))
    }
    env.update(
        DEBUG="false",
        SECRET_KEY="deployed-test-secret-key-0123456789-abcdefghijklmnopqrstuv",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=_database_url(),
        SEEN_DATA_DIR=str(tmp_path),
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
        **extra_env,
    )
    # As the Dockerfile does: the manifest that the templates' {% static %} needs.
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"],
        cwd=ROOT, env=env, check=True, timeout=120,
    )
    stdout, stderr = tmp_path / "gunicorn-stdout.log", tmp_path / "gunicorn-stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:seen.gunicorn", "seen.wsgi"],
            cwd=ROOT, env=env, stdout=out, stderr=err,
        )
    deployed = Deployed(f"http://127.0.0.1:{port}", port, stdout, stderr)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{deployed.url}/healthz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass  # not listening yet, or its workers are still starting
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start:\n" + stderr.read_text())
            time.sleep(0.2)
        yield deployed
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
