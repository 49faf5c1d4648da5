"""The OpenAPI document at /api/openapi.json stays true: the running app gives every answer
it describes, in the content type, with the headers and the JSON shape it says, and every
address of the API is in it."""

import io
import json
import re

import jsonschema
import pytest
import requests
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from django.conf import settings
from django.db import connection
from django.urls import URLPattern
from openapi_spec_validator import validate as validate_openapi
from PIL import Image
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from shares import openapi
from shares.models import Share

from .helpers import jpeg_bytes, stored_keys
from .test_storage_faults import closed_port

pytestmark = pytest.mark.django_db(transaction=True)

DOCUMENT = openapi.document()
JSON, HTML = "application/json", "text/html"
UNKNOWN = "A" * 32  # the shape of a token, of no share
DOCUMENT_URI = "urn:seen:openapi"


def documented_answers():
    """(path, method, status, media type) for every answer the document describes."""
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            for status, answer in operation["responses"].items():
                for media in answer.get("content") or [None]:
                    yield path, method, status, media


def image_bytes(content_type: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (24, 16), (30, 90, 200)).save(out, format=content_type.split("/")[1])
    return out.getvalue()


class App:
    """The live server, as a client of the documented API would call it."""

    def __init__(self, live_server, make_share, settings, monkeypatch, media):
        self.url = live_server.url
        self.make_share = make_share
        self.settings = settings
        self.monkeypatch = monkeypatch
        self.media = media
        self.accept = {"Accept": media} if media else {"Accept": HTML}
        self.default_limits = dict(settings.SEEN_RATE_LIMITS)

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {**self.accept, **kwargs.pop("headers", {})}
        return requests.request(
            method, self.url + path, headers=headers, allow_redirects=False, timeout=20, **kwargs
        )

    def upload(self, *, photo=b"", headers=None, **fields) -> requests.Response:
        photo = photo if photo != b"" else jpeg_bytes()
        files = {"photo": ("cat.jpg", photo, "image/jpeg")} if photo is not None else None
        return self.call("POST", "/api/shares", files=files, data=fields, headers=headers or {})

    def share(self, **options):
        return self.make_share(**options)

    def ended(self):
        """A share whose one view has been used."""
        created = self.share(views=1)
        assert self.call("POST", f"/s/{created.token}").status_code == 200
        return created

    def suspended(self):
        """A share reported once, with one report enough to suspend it."""
        self.settings.SEEN_REPORTS_TO_SUSPEND = 1
        created = self.share(views=3)
        sent = self.call("POST", f"/s/{created.token}/report", data={"reason": "illegal"})
        assert sent.status_code == 201
        return created

    def limited(self, limit: str, method: str, path: str, **kwargs) -> requests.Response:
        """The second request of a client allowed one (the other limits as they were)."""
        self.settings.SEEN_RATE_LIMITS = {**self.default_limits, limit: "1/h"}
        self.call(method, path, **kwargs)
        return self.call(method, path, **kwargs)

    def database_down(self) -> None:
        """Every new database connection (each live-server request opens one) finds no
        server; this test's own connection stays up."""
        from django.db.backends.postgresql.base import DatabaseWrapper

        if connection.vendor != "postgresql":
            pytest.skip("simulates a PostgreSQL outage")
        connection.ensure_connection()
        dead_port = closed_port()
        original = DatabaseWrapper.get_new_connection

        def refuse(wrapper, conn_params):
            return original(wrapper, {**conn_params, "port": dead_port})

        self.monkeypatch.setattr(DatabaseWrapper, "get_new_connection", refuse)

    def storage_down(self) -> None:
        """Every S3 call fails as a broken store answers (test_storage_faults does so too)."""

        def fail(client, operation_name, api_params):
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

        self.monkeypatch.setattr(BaseClient, "_make_api_call", fail)

    def down(self, method: str, path: str, **kwargs) -> requests.Response:
        self.database_down()
        return self.call(method, path, **kwargs)


def _report(app, token):
    return app.call("POST", f"/s/{token}/report", data={"reason": "other", "details": "spam"})


def _album(app, views=3) -> dict:
    """An album's view, taken as JSON (whatever this answer's media is)."""
    kind = app.media if app.media in openapi.PHOTO_TYPES else "image/jpeg"
    created = app.share(views=views, photos=[image_bytes(kind), image_bytes(kind)])
    answer = app.call("POST", f"/s/{created.token}", headers={"Accept": JSON})
    assert answer.status_code == 200, answer.text
    return answer.json()


def _photo_path(app, views=3) -> str:
    return _album(app, views)["photos"][0]["url"].removeprefix(app.url)


def _view_200(app):
    if app.media in (HTML, JSON):  # an album: its page, or its JSON
        return app.call("POST", f"/s/{app.share(views=3, photos=[jpeg_bytes()] * 2).token}")
    return [
        app.call("POST", f"/s/{app.share(views=3, photo=image_bytes(app.media)).token}"),
        app.call(
            "POST",
            f"/s/{app.share(views=0, pin='1234', photo=image_bytes(app.media)).token}",
            data={"pin": "1234"},
        ),
    ]


def _fetched_twice(app):
    path = _photo_path(app)
    assert app.call("GET", path, headers={"Accept": "image/*"}).status_code == 200
    return app.call("GET", path)


# How to make the app give each documented answer. A request that returns a list is
# checked answer by answer.
PRODUCERS = {
    ("/api/shares", "post", "201"): lambda app: app.upload(views="3", pin="1234"),
    ("/api/shares", "post", "400"): lambda app: [
        app.upload(photo=None),
        app.upload(photo=b"not a photo at all\n" * 10),
        app.upload(views="2"),
    ],
    ("/api/shares", "post", "403"): lambda app: [
        app.upload(headers={"Origin": "https://elsewhere.example"}),
        app.upload(headers={"Origin": "null"}),
    ],
    ("/api/shares", "post", "413"): lambda app: (
        setattr(app.settings, "SEEN_MAX_UPLOAD_BYTES", 2048),
        app.upload(photo=jpeg_bytes(size=(300, 300)) + b"\0" * 3000),
    )[1],
    ("/api/shares", "post", "429"): lambda app: (
        setattr(app.settings, "SEEN_RATE_LIMITS", {**settings.SEEN_RATE_LIMITS, "uploads": "1/h"}),
        app.upload(),
        app.upload(),
    )[2],
    ("/api/shares", "post", "503"): lambda app: [
        (app.storage_down(), app.upload())[1],
        app.down("POST", "/api/shares", files={"photo": ("a.jpg", jpeg_bytes(), "image/jpeg")}),
    ],
    ("/s/{token}", "get", "200"): lambda app: app.call("GET", f"/s/{app.share().token}"),
    ("/s/{token}", "get", "403"): lambda app: app.call("GET", f"/s/{app.suspended().token}"),
    ("/s/{token}", "get", "404"): lambda app: app.call("GET", f"/s/{UNKNOWN}"),
    ("/s/{token}", "get", "410"): lambda app: app.call("GET", f"/s/{app.ended().token}"),
    ("/s/{token}", "get", "503"): lambda app: app.down("GET", f"/s/{app.share().token}"),
    ("/s/{token}", "post", "200"): _view_200,
    ("/s/{token}", "post", "400"): lambda app: [
        app.call("POST", f"/s/{app.share().token}", data={"pin": "12ab"}),
        # No PIN, and an empty one, for a share that has one: PinRequired.
        app.call("POST", f"/s/{(created := app.share(pin='1234')).token}"),
        app.call("POST", f"/s/{created.token}", data={"pin": ""}),
    ],
    ("/s/{token}", "post", "403"): lambda app: [
        app.call("POST", f"/s/{app.share(pin='1234').token}", data={"pin": "9999"}),
        app.call("POST", f"/s/{app.suspended().token}"),
    ],
    ("/s/{token}", "post", "404"): lambda app: app.call("POST", f"/s/{UNKNOWN}"),
    ("/s/{token}", "post", "410"): lambda app: app.call("POST", f"/s/{app.ended().token}"),
    ("/s/{token}", "post", "429"): lambda app: [
        app.limited("views", "POST", f"/s/{app.share(views=0).token}"),
        app.limited(
            "pin_failures", "POST", f"/s/{app.share(pin='1234').token}", data={"pin": "9999"}
        ),
    ],
    ("/s/{token}", "post", "503"): lambda app: app.down("POST", f"/s/{app.share().token}"),
    ("/v/{secret}/{position}", "get", "200"): lambda app: app.call("GET", _photo_path(app)),
    ("/v/{secret}/{position}", "get", "404"): lambda app: app.call("GET", f"/v/{UNKNOWN}/1"),
    ("/v/{secret}/{position}", "get", "410"): _fetched_twice,
    ("/v/{secret}/{position}", "get", "503"): lambda app: (
        path := _photo_path(app),
        app.storage_down(),
        app.call("GET", path),
    )[2],
    ("/v/{secret}/done", "post", "200"): lambda app: app.call(
        "POST", _album(app)["end_url"], data={"confirm": "true"}
    ),
    ("/v/{secret}/done", "post", "400"): lambda app: app.call("POST", _album(app)["end_url"]),
    ("/v/{secret}/done", "post", "403"): lambda app: app.call(
        "POST",
        _photo_path(app, views=0).rsplit("/", 1)[0] + "/done",
        data={"confirm": "true"},
    ),
    ("/v/{secret}/done", "post", "404"): lambda app: app.call(
        "POST", f"/v/{UNKNOWN}/done", data={"confirm": "true"}
    ),
    ("/v/{secret}/done", "post", "429"): lambda app: app.limited(
        "manage", "POST", _album(app)["end_url"], data={"confirm": "true"}
    ),
    ("/v/{secret}/done", "post", "503"): lambda app: (
        url := _album(app)["end_url"],
        app.down("POST", url, data={"confirm": "true"}),
    )[1],
    ("/s/{token}/report", "get", "200"): lambda app: app.call(
        "GET", f"/s/{app.share().token}/report"
    ),
    ("/s/{token}/report", "get", "404"): lambda app: app.call("GET", f"/s/{UNKNOWN}/report"),
    ("/s/{token}/report", "get", "503"): lambda app: app.down(
        "GET", f"/s/{app.share().token}/report"
    ),
    ("/s/{token}/report", "post", "201"): lambda app: _report(app, app.share(views=3).token),
    ("/s/{token}/report", "post", "400"): lambda app: app.call(
        "POST", f"/s/{app.share().token}/report", data={"reason": "boring"}
    ),
    ("/s/{token}/report", "post", "403"): lambda app: app.call(
        "POST",
        f"/s/{app.share(pin='1234').token}/report",
        data={"reason": "other", "pin": "9999"},
    ),
    # The wrong PIN that uses up a PIN share's last attempt, sent with a report.
    ("/s/{token}/report", "post", "410"): lambda app: (
        setattr(app.settings, "SEEN_MAX_PIN_FAILURES", 1),
        app.call(
            "POST",
            f"/s/{app.share(pin='1234').token}/report",
            data={"reason": "other", "pin": "9999"},
        ),
    )[1],
    ("/s/{token}/report", "post", "404"): lambda app: _report(app, UNKNOWN),
    ("/s/{token}/report", "post", "429"): lambda app: app.limited(
        "reports", "POST", f"/s/{app.share(views=10).token}/report", data={"reason": "other"}
    ),
    ("/s/{token}/report", "post", "503"): lambda app: app.down(
        "POST", f"/s/{app.share().token}/report", data={"reason": "other"}
    ),
    ("/m/{token}", "get", "200"): lambda app: app.call("GET", f"/m/{app.share().manage_token}"),
    ("/m/{token}", "get", "404"): lambda app: app.call("GET", f"/m/{UNKNOWN}"),
    ("/m/{token}", "get", "503"): lambda app: app.down("GET", f"/m/{app.share().manage_token}"),
    ("/m/{token}", "post", "200"): lambda app: app.call(
        "POST", f"/m/{app.share().manage_token}", headers={"Accept": JSON}
    ),
    ("/m/{token}", "post", "302"): lambda app: app.call(
        "POST", f"/m/{app.share().manage_token}", headers={"Accept": HTML}
    ),
    ("/m/{token}", "post", "400"): lambda app: app.call(
        "POST", f"/m/{app.share().manage_token}", data={"confirm": ["yes", "no"]}
    ),
    ("/m/{token}", "post", "404"): lambda app: app.call("POST", f"/m/{UNKNOWN}"),
    ("/m/{token}", "post", "429"): lambda app: app.limited(
        "manage", "POST", f"/m/{app.share().manage_token}"
    ),
    ("/m/{token}", "post", "503"): lambda app: app.down("POST", f"/m/{app.share().manage_token}"),
    ("/m/{token}", "delete", "200"): lambda app: [
        app.call("DELETE", f"/m/{(created := app.share()).manage_token}"),
        app.call("DELETE", f"/m/{created.manage_token}"),  # again: it had ended already
    ],
    ("/m/{token}", "delete", "404"): lambda app: app.call("DELETE", f"/m/{UNKNOWN}"),
    ("/m/{token}", "delete", "429"): lambda app: app.limited(
        "manage", "DELETE", f"/m/{app.share().manage_token}"
    ),
    ("/m/{token}", "delete", "503"): lambda app: app.down(
        "DELETE", f"/m/{app.share().manage_token}"
    ),
    ("/healthz", "get", "200"): lambda app: app.call("GET", "/healthz"),
    ("/healthz", "get", "503"): lambda app: [
        (app.storage_down(), app.call("GET", "/healthz"))[1],
        app.down("GET", "/healthz"),
    ],
    ("/api/openapi.json", "get", "200"): lambda app: app.call("GET", "/api/openapi.json"),
}


def schema_validator(schema: dict) -> jsonschema.Draft202012Validator:
    """A validator for a schema of the document, its $refs resolved in the document."""
    registry = Registry().with_resource(DOCUMENT_URI, DRAFT202012.create_resource(DOCUMENT))
    text = json.dumps(schema).replace('"#/components/', f'"{DOCUMENT_URI}#/components/')
    schema = json.loads(text)
    return jsonschema.Draft202012Validator(
        schema, registry=registry, format_checker=jsonschema.FormatChecker()
    )


def check_answer(response: requests.Response, path, method, status, media) -> None:
    answer = DOCUMENT["paths"][path][method]["responses"][status]
    where = f"{method.upper()} {path} {status} {media}: {response.status_code} "
    where += response.text[:300]
    assert str(response.status_code) == status, where
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if media is None:
        assert not response.content, where
    else:
        assert content_type == media, where
        if media == JSON:
            schema_validator(answer["content"][media]["schema"]).validate(response.json())
    for name, header in answer.get("headers", {}).items():
        if header.get("required"):
            assert name in response.headers, f"{where}: no {name}"
        if name in response.headers:
            schema_validator(header["schema"]).validate(response.headers[name])


def test_the_document_is_valid_openapi_3_1():
    assert DOCUMENT["openapi"].startswith("3.1")
    validate_openapi(DOCUMENT)


def test_every_documented_answer_has_a_way_to_produce_it():
    documented = {(path, method, status) for path, method, status, _media in documented_answers()}
    assert documented == set(PRODUCERS)


@pytest.mark.parametrize("path, method, status, media", list(documented_answers()))
def test_the_app_gives_each_documented_answer_as_documented(
    live_server, make_share, settings, monkeypatch, path, method, status, media
):
    settings.SEEN_RATE_LIMITS = dict(settings.SEEN_RATE_LIMITS)
    app = App(live_server, make_share, settings, monkeypatch, media)
    produced = PRODUCERS[(path, method, status)](app)
    for response in produced if isinstance(produced, list) else [produced]:
        check_answer(response, path, method, status, media)


def test_a_refused_upload_stores_nothing(live_server, make_share, settings, monkeypatch):
    app = App(live_server, make_share, settings, monkeypatch, JSON)
    for produce in (PRODUCERS[("/api/shares", "post", status)] for status in ("400", "403")):
        produce(app)
    assert Share.objects.count() == 0
    assert stored_keys() == []


def test_the_served_document_is_this_document_and_holds_no_link(live_server):
    response = requests.get(live_server.url + "/api/openapi.json", timeout=10)
    assert response.json() == json.loads(json.dumps(DOCUMENT))
    # Under /api/, like every API answer: not cached, not indexed.
    assert "no-store" in response.headers["Cache-Control"]
    assert not re.search(r"/[sm]/[A-Za-z0-9_-]{32}", response.text)


def _django_route(pattern: URLPattern) -> str:
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(pattern.pattern))


def test_every_address_of_the_api_is_documented():
    from shares.urls import urlpatterns

    # The upload page (/) is the web form, and the language picker (/language) and the
    # script texts (/jsi18n/<lang>.js) serve its pages: README's "The web page" and
    # "Languages" describe them.
    pages = {"upload", "set-language", "js-catalogue"}
    routes = {_django_route(pattern) for pattern in urlpatterns if pattern.name not in pages}
    assert routes == set(DOCUMENT["paths"])


@pytest.mark.parametrize("path", list(DOCUMENT["paths"]))
def test_each_address_accepts_exactly_the_documented_methods(live_server, path):
    documented = {method.upper() for method in DOCUMENT["paths"][path] if method != "parameters"}
    # QUERY, a method Django's CSRF check does not know to be safe: the answer must still
    # be 405 with Allow, not the CSRF refusal ("The form expired").
    response = requests.request(
        "QUERY",
        live_server.url
        + path.replace("{token}", UNKNOWN).replace("{secret}", UNKNOWN).replace("{position}", "1"),
        timeout=10,
    )
    assert response.status_code == 405
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert allowed - {"HEAD"} == documented
