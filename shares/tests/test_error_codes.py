"""Every JSON error carries a stable `code` (shares.responses.ERROR_CODES, README's "Error
codes"): each documented code is produced here by its own case, with its status."""

import json
import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import OperationalError
from django.test import Client

from shares import images, services
from shares.responses import ERROR_CODES, permission_denied, server_error

from . import photos
from .helpers import jpeg_bytes

JSON = "application/json"


def upload(client, photo: bytes | None = None, name="a.jpg", **fields):
    data = dict(fields)
    if photo is not None:
        data["photo"] = SimpleUploadedFile(name, photo, "image/jpeg")
    return client.post("/api/shares", data)


def view(client, token, **fields):
    return client.post(f"/s/{token}", fields, HTTP_ACCEPT=JSON)


def truncated_jpeg() -> bytes:
    data = photos.jpeg_photo((200, 150))
    return data[: len(data) // 2]


def short_body(live_server) -> tuple[int, dict]:
    """A body that ends before its Content-Length: only a real server can be sent one."""
    address = urlsplit(live_server.url)
    with socket.create_connection((address.hostname, address.port), timeout=10) as conn:
        conn.sendall(
            b"POST /api/shares HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
            b"multipart/form-data; boundary=XyZ\r\nContent-Length: 1000\r\n\r\n"
            b'--XyZ\r\nContent-Disposition: form-data; name="views"\r\n\r\n1\r\n'
        )
        conn.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def produce(code, *, client, make_share, settings, monkeypatch, rf, live_server):
    """Send the request that gets `code`; returns (status, JSON body)."""
    if code == "body_incomplete":
        return short_body(live_server)
    if code == "bad_request":
        answer = client.generic("POST", "/api/shares", b"", CONTENT_LENGTH="many")
    elif code == "field_repeated":
        answer = client.post("/api/shares", {"views": ["1", "10"]})
    elif code == "invalid_photo":
        answer = upload(client)
    elif code == "invalid_views":
        answer = upload(client, jpeg_bytes(), views="2")
    elif code == "invalid_expires_in":
        answer = upload(client, jpeg_bytes(), expires_in="5")
    elif code == "invalid_pin":
        answer = upload(client, jpeg_bytes(), pin="12")
    elif code == "invalid_prevent_download":
        answer = upload(client, jpeg_bytes(), prevent_download="maybe")
    elif code in ("invalid_reason", "invalid_details"):
        fields = {"reason": "boredom"} if code == "invalid_reason" else {"reason": "other"}
        if code == "invalid_details":
            fields["details"] = "x" * 2001
        answer = client.post(f"/s/{make_share().token}/report", fields, HTTP_ACCEPT=JSON)
    elif code == "photo_not_supported":
        answer = upload(client, b"just some words, not a photo", name="a.jpg")
    elif code == "photo_damaged":
        answer = upload(client, truncated_jpeg())
    elif code == "photo_too_large":
        settings.SEEN_MAX_PIXELS = 100
        answer = upload(client, jpeg_bytes())
    elif code == "photo_too_large_to_decode":
        settings.SEEN_MAX_DECODE_BYTES = 1024 * 1024
        answer = upload(client, photos.gif_of_frames(4, size=(700, 700)), name="a.gif")
    elif code == "photo_too_many_frames":
        answer = upload(client, photos.gif_of_frames(images.MAX_FRAMES + 1), name="a.gif")
    elif code == "photo_too_many_scans":
        answer = upload(client, photos.scan_bomb(repeats=images.MAX_JPEG_SCANS))
    elif code == "pin_required":
        answer = view(client, make_share(pin="4821").token)
    elif code == "pin_invalid":
        answer = view(client, make_share(pin="4821").token, pin="12")
    elif code == "prefetch_refused":
        answer = client.post(
            f"/s/{make_share().token}", HTTP_ACCEPT=JSON, HTTP_SEC_PURPOSE="prefetch"
        )
    elif code == "link_preview":
        answer = client.post(
            f"/s/{make_share().token}", HTTP_ACCEPT=JSON, HTTP_USER_AGENT="Slackbot"
        )
    elif code == "pin_wrong":
        answer = view(client, make_share(pin="4821").token, pin="0000")
        assert answer.json()["attempts_left"] == settings.SEEN_MAX_PIN_FAILURES - 1
    elif code == "suspended":
        created = make_share()
        for address in ("192.0.2.1", "192.0.2.2"):
            services.report_create(
                token=created.token, reason="illegal", details="", reporter_address=address
            )
        answer = view(client, created.token)
        assert answer.json()["reason"] == "suspended"
    elif code == "foreign_origin":
        answer = client.post("/api/shares", {}, HTTP_ORIGIN="https://elsewhere.example")
    elif code == "forbidden":
        answer = permission_denied(rf.get("/api/shares"))
    elif code == "csrf_failed":
        answer = Client(enforce_csrf_checks=True).post("/", {}, HTTP_ACCEPT=JSON)
    elif code == "not_found":
        answer = view(client, "x" * 32)
    elif code == "method_not_allowed":
        answer = client.get("/api/shares")
        assert answer["Allow"] == "POST"
    elif code == "gone":
        created = make_share()
        services.share_revoke(manage_token=created.manage_token)
        answer = view(client, created.token)
        assert answer.json()["reason"] == "revoked"
    elif code == "too_large":
        settings.SEEN_MAX_UPLOAD_BYTES = 2048
        answer = upload(client, jpeg_bytes(size=(300, 300)) + b"\0" * 3000)
    elif code == "share_too_large":
        settings.SEEN_MAX_SHARE_BYTES = 2048
        answer = client.generic("POST", "/api/shares", b"x" * 100_000, content_type=JSON)
    elif code == "too_many_photos":
        settings.SEEN_MAX_PHOTOS = settings.DATA_UPLOAD_MAX_NUMBER_FILES = 1
        two = [SimpleUploadedFile(f"{n}.jpg", jpeg_bytes(), "image/jpeg") for n in (1, 2)]
        answer = client.post("/api/shares", {"photo": two})
    elif code == "invalid_note":
        answer = upload(client, jpeg_bytes(), note="x" * 1001)
    elif code == "invalid_viewer_can_end":
        answer = upload(client, jpeg_bytes(), viewer_can_end="perhaps")
    elif code in ("confirm_required", "end_not_allowed", "photo_fetched"):
        created = make_share(views=0 if code == "end_not_allowed" else 3, photos=[jpeg_bytes()] * 2)
        url = (
            view(client, created.token).json()["photos"][0]["url"].removeprefix("http://testserver")
        )
        if code == "photo_fetched":
            b"".join(client.get(url).streaming_content)
            answer = client.get(url, HTTP_ACCEPT=JSON)
        else:
            done = url.rsplit("/", 1)[0] + "/done"
            fields = {"confirm": "true"} if code == "end_not_allowed" else {}
            answer = client.post(done, fields, HTTP_ACCEPT=JSON)
    elif code == "rate_limited":
        settings.SEEN_RATE_LIMITS = {**settings.SEEN_RATE_LIMITS, "views": "1/h"}
        view(client, "x" * 32)
        answer = view(client, "x" * 32)
        assert answer.json()["limit"] == "views" and answer.json()["retry_after"] >= 1
    elif code == "server_error":
        answer = server_error(rf.get("/api/shares"))
    elif code == "storage_unavailable":

        def storage_down(**kwargs):
            raise services.StorageUnavailable("the bucket did not answer")

        monkeypatch.setattr(services, "share_view", storage_down)
        answer = view(client, make_share().token)
    elif code == "service_unavailable":

        def database_down(**kwargs):
            raise OperationalError("could not connect to server")

        monkeypatch.setattr(services, "share_get", database_down)
        answer = client.get(f"/s/{make_share().token}", HTTP_ACCEPT=JSON)
    else:
        raise AssertionError(f"no case for {code}")
    return answer.status_code, json.loads(answer.content)


@pytest.fixture
def no_limits(settings):
    settings.SEEN_RATE_LIMITS = dict.fromkeys(settings.SEEN_RATE_LIMITS)


@pytest.mark.parametrize("code", list(ERROR_CODES))
def test_each_documented_code_is_produced_by_its_case(
    code, client, make_share, settings, monkeypatch, rf, live_server, no_limits
):
    status, body = produce(
        code,
        client=client,
        make_share=make_share,
        settings=settings,
        monkeypatch=monkeypatch,
        rf=rf,
        live_server=live_server,
    )
    assert body["code"] == code
    assert status == ERROR_CODES[code][0]
    # English for programs and their logs, whatever language a page would be in.
    assert body["error"] and body["error"].isascii()


def test_readme_lists_every_code():
    readme = (Path(django_settings.BASE_DIR) / "README.md").read_text()
    section = readme.split("### Error codes", 1)[1].split("\n## ", 1)[0]
    for code, (status, _meaning) in ERROR_CODES.items():
        assert f"| `{code}` | {status} |" in section, code
