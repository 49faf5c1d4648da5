"""What a user sees, and what is left behind, when storage or the database fails."""

import logging
import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import requests
import time_machine
from botocore.client import BaseClient, Config
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from shares.models import EndReason, Share

from .helpers import (
    database_url,
    jpeg_bytes,
    s3_storage_settings,
    stored_keys,
    stored_photo,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)

BASE_DIR = Path(settings.BASE_DIR)
JSON = {"Accept": "application/json"}


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def purge(*args) -> str:
    out = StringIO()
    call_command("purge", *args, stdout=out)
    return out.getvalue()


class StorageFaults:
    """S3 operations that fail, in every thread (the live server's too), as a broken or
    refusing store would answer them."""

    def __init__(self):
        self.failing: set[str] = set()  # operation names, e.g. "DeleteObject"
        self.refused_keys: set[str] = set()  # keys DeleteObjects reports as AccessDenied

    def heal(self) -> None:
        self.failing.clear()
        self.refused_keys.clear()


@pytest.fixture
def faults(monkeypatch):
    faults = StorageFaults()
    original = BaseClient._make_api_call

    def make_api_call(client, operation_name, api_params):
        if operation_name in faults.failing:
            raise ClientError(
                {
                    "Error": {
                        "Code": "InternalError",
                        "Message": "We encountered an internal error.",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 500},
                },
                operation_name,
            )
        if operation_name == "DeleteObjects" and faults.refused_keys:
            objects = api_params["Delete"]["Objects"]
            refused = [obj for obj in objects if obj["Key"] in faults.refused_keys]
            allowed = [obj for obj in objects if obj["Key"] not in faults.refused_keys]
            response = {}
            if allowed:
                params = {**api_params, "Delete": {**api_params["Delete"], "Objects": allowed}}
                response = original(client, operation_name, params)
            response.setdefault("Errors", []).extend(
                {"Key": obj["Key"], "Code": "AccessDenied", "Message": "Access Denied"}
                for obj in refused
            )
            return response
        return original(client, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return faults


def csrf_session(base_url: str) -> tuple[requests.Session, str]:
    session = requests.Session()
    page = session.get(base_url + "/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session, token


# --- storage unreachable during upload ------------------------------------------------------


@pytest.fixture
def unreachable_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": s3_storage_settings(
            endpoint_url=f"http://127.0.0.1:{closed_port()}",
            client_config=Config(connect_timeout=2, retries={"max_attempts": 1}),
        ),
    }


def test_an_upload_while_storage_is_unreachable_answers_503_json_and_leaves_no_row(
    live_server, unreachable_storage
):
    response = requests.post(
        live_server.url + "/api/shares",
        files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
        data={"views": "1"},
    )

    assert response.status_code == 503
    assert response.headers["Content-Type"] == "application/json"
    assert "storage is unavailable" in response.json()["error"]
    assert "nothing was saved" in response.json()["error"]
    assert Share.objects.count() == 0


def test_an_upload_while_storage_is_unreachable_answers_a_503_page(
    live_server, unreachable_storage
):
    session, csrf = csrf_session(live_server.url)

    response = session.post(
        live_server.url + "/",
        files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
        data={"views": "1", "expires_in": "86400", "csrfmiddlewaretoken": csrf},
    )

    assert response.status_code == 503
    assert response.headers["Content-Type"].startswith("text/html")
    assert "storage is unavailable right now, so nothing was saved" in response.text
    assert "Traceback" not in response.text
    assert Share.objects.count() == 0


# --- storage delete fails after the last view -----------------------------------------------


def test_a_failed_delete_after_the_last_view_still_serves_the_photo_and_purge_retries_it(
    live_server, make_share, faults, caplog
):
    created = make_share(views=1)
    key = created.share.photos.get().key
    photo = stored_photo(created.share, created.token)
    faults.failing.add("DeleteObjects")  # the last view deletes with DeleteObjects too

    response = requests.post(f"{live_server.url}/s/{created.token}")

    assert response.status_code == 200
    assert response.content == photo
    assert response.headers["Seen-Views-Remaining"] == "0"
    assert wait_for(lambda: Share.objects.get().delete_failures == 1)
    share = Share.objects.get()
    assert share.end_reason == EndReason.VIEWED
    assert share.photo_deleted_at is None
    assert "InternalError" in share.last_delete_error
    assert stored_keys() == [key]

    # The store is still failing at the next purge: the row stays and the exit code says so.
    out = StringIO()
    with (
        caplog.at_level(logging.WARNING, logger="shares.services"),
        pytest.raises(CommandError) as failed,
    ):
        call_command("purge", stdout=out)
    assert failed.value.returncode == 1
    assert "1 photo(s) could not be deleted" in str(failed.value)
    assert out.getvalue().startswith("purged 0 shares, 0 objects, 1 failed")
    assert f"could not delete a photo of share {share.pk} ({key})" in caplog.text
    assert Share.objects.get().delete_failures == 2
    assert stored_keys() == [key]

    faults.heal()
    assert purge().startswith("purged 1 shares, 1 objects, 0 failed")
    assert stored_keys() == []
    assert Share.objects.count() == 0


@pytest.mark.django_db  # one connection, no on_commit: no need for real commits
def test_objects_s3_refuses_to_delete_keep_their_rows_and_are_retried(make_share, faults, caplog):
    refused = make_share(expires_in=3600)
    deleted = make_share(expires_in=3600)
    refused_key, deleted_key = refused.share.photos.get().key, deleted.share.photos.get().key
    faults.refused_keys.add(refused_key)

    with time_machine.travel(timezone.now() + timedelta(hours=2)):
        out = StringIO()
        with (
            caplog.at_level(logging.WARNING, logger="shares.services"),
            pytest.raises(CommandError) as failed,
        ):
            call_command("purge", stdout=out)
        assert failed.value.returncode == 1
        assert out.getvalue().startswith("purged 1 shares, 1 objects, 1 failed")
        assert (
            f"could not delete a photo of share {refused.share.pk} "
            f"({refused_key}): "
            "AccessDenied: Access Denied"
        ) in caplog.text
        kept = Share.objects.get()
        assert kept.pk == refused.share.pk
        assert kept.delete_failures == 1
        assert kept.last_delete_error == "AccessDenied: Access Denied"
        assert kept.purge_claimed_until is None  # the next run may take it at once
        assert stored_keys() == [refused_key]
        assert deleted_key not in stored_keys()

        faults.heal()
        assert purge().startswith("purged 1 shares, 1 objects, 0 failed")
    assert Share.objects.count() == 0
    assert stored_keys() == []


# --- a share whose object is missing --------------------------------------------------------


def test_a_share_whose_photo_is_missing_ends_with_410_not_500(live_server, make_share, any_storage):
    created = make_share(views=3)
    default_storage.delete(created.share.photos.get().key)

    response = requests.post(f"{live_server.url}/s/{created.token}")

    assert response.status_code == 410
    assert "no longer available" in response.text
    share = Share.objects.get()
    assert share.end_reason == EndReason.MISSING
    again = requests.get(f"{live_server.url}/s/{created.token}", headers=JSON)
    assert again.status_code == 410
    assert again.json()["reason"] == "missing"
    assert purge().startswith("purged 1 shares, ")
    assert Share.objects.count() == 0


# --- the database unavailable ---------------------------------------------------------------


@pytest.mark.skipif(
    "postgres" not in settings.DATABASES["default"]["ENGINE"],
    reason="simulates a PostgreSQL outage",
)
def test_the_database_unavailable_answers_503_without_a_traceback(
    live_server, make_share, monkeypatch
):
    from django.db.backends.postgresql.base import DatabaseWrapper

    created = make_share(views=3)
    connection.ensure_connection()  # this test's own connection stays up
    dead_port = closed_port()
    original = DatabaseWrapper.get_new_connection

    def refuse(self, conn_params):
        # Every new connection (each live-server request opens one) finds no server.
        return original(self, {**conn_params, "port": dead_port})

    monkeypatch.setattr(DatabaseWrapper, "get_new_connection", refuse)

    page = requests.get(f"{live_server.url}/s/{created.token}")
    assert page.status_code == 503
    assert page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Retry-After"] == "30"
    assert "briefly unavailable" in page.text
    assert "Traceback" not in page.text and "OperationalError" not in page.text

    view = requests.post(f"{live_server.url}/s/{created.token}", headers=JSON)
    assert view.status_code == 503
    assert view.json() == {
        "error": "The service is briefly unavailable. Please try again in a minute.",
        "code": "service_unavailable",
    }

    upload = requests.post(
        live_server.url + "/api/shares",
        files={"photo": ("cat.jpg", jpeg_bytes(), "image/jpeg")},
        data={"views": "1"},
    )
    assert upload.status_code == 503
    assert "briefly unavailable" in upload.json()["error"]

    monkeypatch.undo()
    # Nothing was spent, and the upload that could not be recorded left no object.
    assert Share.objects.get().views_used == 0
    assert stored_keys() == [created.share.photos.get().key]


# --- a crash between upload and insert ------------------------------------------------------

CRASH_BETWEEN_UPLOAD_AND_INSERT = """
import os, sys, django
django.setup()
from shares import services
from shares.models import Photo

def die(*args, **kwargs):
    os._exit(9)  # killed: no except, no finally, no cleanup

Photo.objects.bulk_create = die
services.share_create(photos=[sys.stdin.buffer], views=1, expires_in=86400)
"""


def test_purge_orphans_removes_what_a_crash_between_upload_and_insert_left(local_storage, tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "seen.settings",
        "DATABASE_URL": database_url(),
        "SEEN_DATA_DIR": str(tmp_path),  # its photos folder is local_storage
        "AWS_STORAGE_BUCKET_NAME": "",
        "SECRET_KEY": "test-only",
        "DEBUG": "false",
    }
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_BETWEEN_UPLOAD_AND_INSERT],
        input=jpeg_bytes(),
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        timeout=60,
    )
    assert crashed.returncode == 9, crashed.stderr.decode()
    [orphan] = stored_keys()
    assert re.fullmatch(r"photos/[0-9a-f]{32}\.jpg", orphan)
    assert Share.objects.count() == 0

    # Within the hour it may still be an upload in progress: left alone.
    assert ", 0 orphans in " in purge("--orphans")
    assert stored_keys() == [orphan]

    with time_machine.travel(timezone.now() + timedelta(minutes=61)):
        assert ", 1 orphans in " in purge("--orphans", "--dry-run")
        assert stored_keys() == [orphan]
        assert ", 1 orphans in " in purge("--orphans")
    assert stored_keys() == []


@pytest.mark.django_db  # one connection, no on_commit: no need for real commits
def test_purge_orphans_with_storage_unreachable_says_so_without_a_traceback(unreachable_storage):
    with pytest.raises(CommandError, match=r"purge stopped: EndpointConnectionError"):
        purge("--orphans")


# --- the store fails when a view opens the photo: nothing is spent (#12) --------------------


class FailingS3:
    """A real HTTP server on 127.0.0.1 that answers every S3 request with one error, as a
    broken or refusing store does."""

    def __init__(self, status: int, code: str):
        import http.server
        import threading

        body = (
            f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
            f"<Message>{code} from the test's store</Message></Error>"
        ).encode()
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def answer(self):
                outer.requests += 1
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = answer

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def view_through(
    store_url: str | None, live_server, token: str, settings, **request
) -> requests.Response:
    if store_url is not None:
        settings.STORAGES = {
            **settings.STORAGES,
            "default": s3_storage_settings(
                endpoint_url=store_url, client_config=Config(retries={"max_attempts": 2})
            ),
        }
    return requests.post(f"{live_server.url}/s/{token}", timeout=60, **request)


def assert_nothing_spent(response: requests.Response, *, as_json: bool) -> None:
    assert response.status_code == 503, response.text[:300]
    assert response.headers["Retry-After"] == "30"
    if as_json:
        assert response.headers["Content-Type"] == "application/json"
        assert "No view was used" in response.json()["error"]
    else:
        assert response.headers["Content-Type"].startswith("text/html")
        assert "No view was used" in response.text
        assert "Traceback" not in response.text
    share = Share.objects.get()
    assert (share.views_used, share.streams_open, share.ended_at) == (0, 0, None)
    assert not share.views.exists()


@pytest.mark.parametrize("as_json", [False, True], ids=["page", "json"])
@pytest.mark.parametrize(
    "status, code", [(500, "InternalError"), (403, "AccessDenied")], ids=["500", "denied"]
)
def test_a_store_that_fails_as_the_photo_opens_answers_503_and_spends_nothing(
    live_server, make_share, settings, status, code, as_json
):
    created = make_share(views=1)
    with FailingS3(status, code) as store:
        response = view_through(
            store.url, live_server, created.token, settings, headers=JSON if as_json else {}
        )
        assert store.requests >= 1  # the failure really came over HTTP
    assert_nothing_spent(response, as_json=as_json)


def test_an_unreachable_store_at_view_time_answers_503_and_spends_nothing(
    live_server, make_share, settings
):
    created = make_share(views=1)
    response = view_through(
        f"http://127.0.0.1:{closed_port()}", live_server, created.token, settings, headers=JSON
    )
    assert_nothing_spent(response, as_json=True)


@pytest.mark.parametrize("as_json", [False, True], ids=["page", "json"])
def test_a_photo_folder_we_may_not_read_answers_503_and_spends_nothing(
    live_server, make_share, local_storage, monkeypatch, as_json
):
    created = make_share(views=1)

    def refused(self, name, mode="rb"):
        # As root the suite cannot be refused by the file system itself; this is the
        # error open() raises for a folder the server's user may not read.
        raise PermissionError(13, "Permission denied", str(local_storage / name))

    monkeypatch.setattr("django.core.files.storage.FileSystemStorage._open", refused)
    response = view_through(None, live_server, created.token, None, headers=JSON if as_json else {})
    assert_nothing_spent(response, as_json=as_json)
    # Once the folder can be read again, the view that was not spent is still there.
    monkeypatch.undo()
    ok = requests.post(f"{live_server.url}/s/{created.token}", timeout=30)
    assert ok.status_code == 200 and ok.content[:2] == b"\xff\xd8"
