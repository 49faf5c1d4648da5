"""Invariant 1 across processes: two gunicorn instances, one PostgreSQL, one S3 endpoint.

200 concurrent viewers split between the two servers race for a 5-view share: exactly 5
get the photo, 195 get 410, none fails.
"""

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

from shares import services
from shares.models import Share

from .helpers import database_url, jpeg_bytes, s3_storage_settings

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db(transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def s3(settings):
    """A moto server on 127.0.0.1 instead of the in-process mock: other processes use it."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="seen-scaleout")
    settings.STORAGES = {
        "default": s3_storage_settings(
            "seen-scaleout", endpoint_url=endpoint, addressing_style="path"
        ),
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    yield client, endpoint
    server.stop()


def gunicorn(port: int, endpoint: str, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "SECRET_KEY": "scaleout-test-secret-key-0123456789",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "AWS_STORAGE_BUCKET_NAME": "seen-scaleout",
        "AWS_S3_ENDPOINT_URL": endpoint,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": "2",
        "GUNICORN_THREADS": "8",
        # 200 viewers share one address here; limits per client are not what is tested.
        "SEEN_RATE_LIMIT_VIEWS": "off",
        "SEEN_RATE_LIMIT_PIN_FAILURES": "off",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:seen.gunicorn",
            "--no-control-socket",
            "--access-logfile",
            "/dev/null",
            "seen.wsgi",
        ],
        # A file, not a pipe: a full pipe would block the server mid-request.
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_until_up(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(log.read_text()[-2000:])
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise AssertionError(f"gunicorn on {port} did not start")


@pytest.mark.skipif(
    os.environ.get("DATABASE_URL", "").startswith("sqlite"),
    reason="two processes need a server database",
)
def test_two_servers_serve_exactly_n_views_between_them(s3, tmp_path, collected_static):
    client, endpoint = s3
    created = services.share_create(photos=[io.BytesIO(jpeg_bytes())], views=5, expires_in=3600)
    ports = [free_port(), free_port()]
    logs = [tmp_path / f"gunicorn-{port}.log" for port in ports]
    servers = [gunicorn(port, endpoint, log) for port, log in zip(ports, logs, strict=True)]
    try:
        for port, server, log in zip(ports, servers, logs, strict=True):
            wait_until_up(port, server, log)
        barrier = threading.Barrier(200)
        outcomes: list[int] = []
        lock = threading.Lock()

        def viewer(index: int) -> None:
            url = f"http://127.0.0.1:{ports[index % 2]}/s/{created.token}"
            barrier.wait()
            try:
                response = requests.post(url, timeout=60)
                status = response.status_code
                if status == 200 and response.content[:2] != b"\xff\xd8":
                    status = -2  # a 200 without the photo would be a bug of its own
            except requests.RequestException:
                status = -1
            with lock:
                outcomes.append(status)

        threads = [threading.Thread(target=viewer, args=(i,)) for i in range(200)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for server in servers:
            os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=20)

    assert Counter(outcomes) == {200: 5, 410: 195}
    share = Share.objects.get()
    assert share.views_used == 5
    assert client.list_objects_v2(Bucket="seen-scaleout").get("KeyCount", 0) == 0
