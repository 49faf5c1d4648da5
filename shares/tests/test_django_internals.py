"""What Seen relies on in Django's private internals, pinned, so that an upgrade that
changes them fails here, by name, rather than quietly letting a bad request through.

`request._stream` (shares/middleware.py, UploadSizeLimitMiddleware): a WSGIRequest reads
its body, for request.body, request.POST and request.FILES alike, through `_stream`,
which nothing has read yet when middleware runs; a stream put in its place is what they
read, and an OSError it raises reaches the caller as UnreadablePostError.
"""

import io

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.http import HttpResponse, UnreadablePostError

from shares.middleware import UploadSizeLimitMiddleware, _WholeBody

FORM = b"views=3&pin=4821"
BOUNDARY = "seenboundary"
MULTIPART = (
    (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="views"\r\n\r\n3\r\n'
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="photo"; filename="p.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    + b"\xff\xd8"
    + b"x" * 4000
    + f"\r\n--{BOUNDARY}--\r\n".encode()
)
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
URLENCODED = "application/x-www-form-urlencoded"


def wsgi_request(body: bytes, *, content_type: str, content_length: int | None = None):
    """A request as a WSGI server hands it over: wsgi.input holds what arrived, which may
    be less than the Content-Length the client announced."""
    length = len(body) if content_length is None else content_length
    return WSGIRequest(
        {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/api/shares",
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(length),
        }
    )


def test_a_wsgi_request_has_an_unread_stream_of_its_body():
    request = wsgi_request(FORM, content_type=URLENCODED)
    assert hasattr(request, "_stream")
    assert not request._read_started
    assert request._stream.read() == FORM


@pytest.mark.parametrize(
    ("body", "content_type", "read", "expected"),
    [
        (FORM, URLENCODED, lambda request: request.body, FORM),
        (FORM, URLENCODED, lambda request: request.POST["pin"], "4821"),
        (MULTIPART, MULTIPART_TYPE, lambda request: request.POST["views"], "3"),
        (
            MULTIPART,
            MULTIPART_TYPE,
            lambda request: request.FILES["photo"].read(),
            b"\xff\xd8" + b"x" * 4000,
        ),
    ],
    ids=["body", "POST urlencoded", "POST multipart", "FILES multipart"],
)
def test_body_post_and_files_read_through_the_stream_put_in_its_place(
    body, content_type, read, expected
):
    # wsgi.input holds only zeros: whatever is parsed came from the replacement.
    request = wsgi_request(b"\0" * len(body), content_type=content_type)
    request._stream = io.BytesIO(body)
    assert read(request) == expected


@pytest.mark.parametrize(
    ("body", "content_type", "read"),
    [
        (FORM, URLENCODED, lambda request: request.body),
        (FORM, URLENCODED, lambda request: request.POST),
        (MULTIPART, MULTIPART_TYPE, lambda request: request.POST),
        (MULTIPART, MULTIPART_TYPE, lambda request: request.FILES),
    ],
    ids=["body", "POST urlencoded", "POST multipart", "FILES multipart"],
)
def test_an_oserror_from_the_stream_reaches_the_reader_as_unreadable_post_error(
    body, content_type, read
):
    # The client announced the whole body and sent half of it.
    request = wsgi_request(
        body[: len(body) // 2], content_type=content_type, content_length=len(body)
    )
    request._stream = _WholeBody(request._stream, len(body))
    with pytest.raises(UnreadablePostError, match=f"of {len(body)} bytes"):
        read(request)


def test_without_the_replacement_a_short_body_reads_as_if_complete():
    # Why the middleware replaces _stream at all: Django's own stream stops quietly at
    # what arrived. If this starts failing, Django checks it itself and _WholeBody can go.
    body = FORM + b"&more=1"
    request = wsgi_request(FORM, content_type=URLENCODED, content_length=len(body))
    assert request.body == FORM


@pytest.mark.parametrize(
    ("body", "content_type"), [(FORM, URLENCODED), (MULTIPART, MULTIPART_TYPE)]
)
def test_the_middleware_makes_a_short_body_an_error_for_what_reads_it_next(body, content_type):
    seen = {}

    def view(request):
        try:
            seen["post"] = request.POST
        except UnreadablePostError as exc:
            seen["error"] = exc
        return HttpResponse()

    middleware = UploadSizeLimitMiddleware(view)
    middleware(wsgi_request(body[:10], content_type=content_type, content_length=len(body)))
    assert "post" not in seen
    assert f"ended after 10 of {len(body)} bytes" in str(seen["error"])

    seen.clear()
    middleware(wsgi_request(body, content_type=content_type))
    assert seen["post"]["views"] == "3"
