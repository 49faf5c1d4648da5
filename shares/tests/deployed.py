"""gunicorn as the Dockerfile runs it (seen/gunicorn.py), for tests that need the real
server: its logs, its handling of raw bytes and lying lengths; and nginx in front of it as
deploy/nginx.conf.template ships it."""

import contextlib
import grp
import os
import pwd
import re
import shutil
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
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    stdout, stderr = tmp_path / "gunicorn-stdout.log", tmp_path / "gunicorn-stderr.log"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "python:seen.gunicorn", "seen.wsgi"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=err,
        )
    deployed = Deployed(f"http://127.0.0.1:{port}", port, stdout, stderr)
    try:
        _wait_until_healthy(
            deployed.url, server, 60, lambda: "gunicorn did not start:\n" + stderr.read_text()
        )
        yield deployed
    finally:
        _stop(server)


def _wait_until_healthy(url: str, server: subprocess.Popen, timeout: float, failure) -> None:
    """Poll /healthz until it answers 200; raise with failure() if the process exits or
    the time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if requests.get(f"{url}/healthz", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass  # not listening yet, or its workers are still starting
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(failure())
        time.sleep(0.1)


def _stop(server: subprocess.Popen) -> None:
    server.terminate()  # SIGTERM: a graceful stop for gunicorn, a fast one for nginx
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# --- nginx in front, as deploy/nginx.conf.template ships it --------------------------------

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
NGINX_DEFAULT_CONN_PER_ADDRESS = "20"  # what README tells a deployment to set


def nginx_binary() -> str | None:
    """Debian's nginx (.ci/run installs it); /usr/sbin is not on every user's PATH."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def render_nginx_template(values: dict[str, str]) -> str:
    """What `envsubst '${SEEN_NGINX_...}'` writes: the shipped file with only its own
    variables replaced (nginx's $uri, $remote_addr... stay as they are)."""
    text = NGINX_TEMPLATE.read_text()
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
    missing = sorted(set(re.findall(r"\$\{(SEEN_[A-Z_]+)\}", text)))
    if missing:
        raise ValueError(f"deploy/nginx.conf.template also needs {', '.join(missing)}")
    return text


@dataclass
class Front:
    url: str
    port: int
    access_log: Path
    error_log: Path

    def logs(self) -> str:
        return self.access_log.read_text() + self.error_log.read_text()


@contextlib.contextmanager
def nginx(
    tmp_path: Path, *, upstream_port: int, conn_per_address: str = NGINX_DEFAULT_CONN_PER_ADDRESS
) -> Iterator[Front]:
    """Debian's nginx on a free 127.0.0.1 port, running the shipped template rendered for
    this test, inside a minimal main file such as Debian's or the nginx image's; stopped,
    by its PID, when the block ends."""
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    root = tmp_path / "nginx"
    (root / "temp").mkdir(parents=True)
    port = free_port()
    access_log, error_log = root / "access.log", root / "error.log"
    (root / "seen.conf").write_text(
        render_nginx_template(
            {
                "SEEN_NGINX_LISTEN": f"127.0.0.1:{port}",
                "SEEN_NGINX_UPSTREAM": f"127.0.0.1:{upstream_port}",
                "SEEN_NGINX_CONN_PER_ADDRESS": conn_per_address,
                "SEEN_NGINX_TEMP": str(root / "temp"),
                "SEEN_NGINX_ACCESS_LOG": str(access_log),
            }
        )
    )
    # Workers run as the user running the tests: pytest's temporary folders are private.
    user = f"{pwd.getpwuid(os.geteuid()).pw_name} {grp.getgrgid(os.getegid()).gr_name}"
    (root / "nginx.conf").write_text(
        f"daemon off;\n"
        f"worker_processes 1;\n"
        f"user {user};\n"
        f"pid {root / 'nginx.pid'};\n"
        f"error_log {error_log} warn;\n"
        f"events {{ worker_connections 1024; }}\n"
        f"http {{\n"
        f"    sendfile on;\n"
        f"    fastcgi_temp_path {root / 'temp' / 'fastcgi'};\n"
        f"    uwsgi_temp_path {root / 'temp' / 'uwsgi'};\n"
        f"    scgi_temp_path {root / 'temp' / 'scgi'};\n"
        f"    include {root / 'seen.conf'};\n"
        f"}}\n"
    )
    output = root / "nginx-output.log"
    with output.open("wb") as out:
        server = subprocess.Popen(
            [binary, "-p", f"{root}/", "-c", str(root / "nginx.conf")],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    front = Front(f"http://127.0.0.1:{port}", port, access_log, error_log)
    try:
        _wait_until_healthy(
            front.url,
            server,
            30,
            lambda: "nginx did not start:\n" + output.read_text() + error_log.read_text(),
        )
        yield front
    finally:
        _stop(server)
