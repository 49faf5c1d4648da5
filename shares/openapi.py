"""The OpenAPI 3.1 description of Seen's HTTP API, served at GET /api/openapi.json.

Built from the settings a server runs with (its expiry choices, its upload limit), so the
document a client reads is the one that server keeps. shares/tests/test_openapi.py makes
the running app give every answer written here and checks it against this document, and
shares/tests/test_schemathesis.py fuzzes the app against it.
"""

from django.conf import settings

from .images import WORD_ORDER
from .models import EndReason, ReportReason
from .responses import ERROR_CODES, LIMIT_REASONS
from .services import NOTE_MAX_CHARS, VIEW_CHOICES

JSON = "application/json"
HTML = "text/html"
PHOTO_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp")
TOKEN_PATTERN = "^[A-Za-z0-9_-]{32}$"
PIN_PATTERN = "^[0-9]{4,8}$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _error(*extra: str, required: tuple[str, ...] = ()) -> dict:
    """An {"error": ...} object with some of the extra fields a few answers carry."""
    fields = {
        "retry_after": {"type": "integer", "minimum": 1, "description": "Seconds to wait."},
        "attempts_left": {
            "type": "integer",
            "minimum": 1,
            "description": "Wrong PINs left before the photo is deleted.",
        },
        "reason": {"type": "string"},
        "photo": {
            "type": "integer",
            "minimum": 1,
            "description": "Which photo of an upload was refused (1, 2, ...).",
        },
        "limit": {
            "enum": list(LIMIT_REASONS),
            "description": "Which limit was reached (SEEN_RATE_LIMIT_<LIMIT>); pin_failures "
            "refuses every view from the address, on any share, until retry_after.",
        },
    }
    return {
        "type": "object",
        "required": ["error", "code", *required],
        "properties": {
            "error": {
                "type": "string",
                "minLength": 1,
                "description": "A sentence for people, in English.",
            },
            "code": {
                "enum": list(ERROR_CODES),
                "description": "What went wrong, for programs: stable, never translated.",
            },
            **{name: fields[name] for name in extra},
        },
        "additionalProperties": False,
    }


def _schemas() -> dict:
    gone = _error("reason", required=("reason",))
    gone["properties"]["reason"] = {"enum": list(EndReason.values)}
    gone["properties"]["code"] = {"const": "gone"}
    suspended = _error("reason", required=("reason",))
    suspended["properties"]["reason"] = {"const": "suspended"}
    suspended["properties"]["code"] = {"const": "suspended"}
    pin_required = _error("reason", required=("reason",))
    pin_required["properties"]["code"] = {"const": "pin_required"}
    rate_limited = _error("retry_after", "limit", required=("retry_after", "limit"))
    rate_limited["properties"]["code"] = {"const": "rate_limited"}
    wrong_pin = _error("attempts_left", required=("attempts_left",))
    wrong_pin["properties"]["code"] = {"const": "pin_wrong"}
    pin_required["properties"]["reason"] = {
        "const": "pin_required",
        "description": "No PIN, or an empty one, was sent to a share that has one. Nothing "
        "was checked or counted, and no view was spent.",
    }
    return {
        "Error": _error("photo"),
        "RateLimited": rate_limited,
        "WrongPin": wrong_pin,
        "PinRequired": pin_required,
        "Gone": gone,
        "Suspended": suspended,
        "Created": {
            "type": "object",
            "required": [
                "url",
                "manage_url",
                "views",
                "expires_at",
                "removed_metadata",
                "photos",
                "note",
                "viewer_can_end",
            ],
            "properties": {
                "url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": r"/s/[A-Za-z0-9_-]{32}$",
                    "description": "The secret link to send. Each POST to it spends a view.",
                },
                "manage_url": {
                    "type": "string",
                    "format": "uri",
                    "pattern": r"/m/[A-Za-z0-9_-]{32}$",
                    "description": "The sender's link: status, and DELETE to end the share.",
                },
                "views": {"enum": list(VIEW_CHOICES), "description": "0 means unlimited."},
                "expires_at": {"type": "string", "format": "date-time"},
                "removed_metadata": {
                    "type": "array",
                    "items": {"enum": list(WORD_ORDER)},
                    "uniqueItems": True,
                    "description": "What was found in any photo and removed, in plain words, "
                    "in this order; empty when they carried none of it.",
                },
                "photos": {
                    "type": "array",
                    "minItems": 1,
                    "maxItems": settings.SEEN_MAX_PHOTOS,
                    "items": {
                        "type": "object",
                        "required": ["content_type", "size", "width", "height", "removed_metadata"],
                        "properties": {
                            "content_type": {"enum": list(PHOTO_TYPES)},
                            "size": {"type": "integer", "minimum": 1},
                            "width": {"type": "integer", "minimum": 1},
                            "height": {"type": "integer", "minimum": 1},
                            "removed_metadata": {
                                "type": "array",
                                "items": {"enum": list(WORD_ORDER)},
                                "uniqueItems": True,
                            },
                        },
                        "additionalProperties": False,
                    },
                    "description": "Each photo as stored, in the order sent.",
                },
                "note": {"type": "boolean", "description": "Whether the share has a note."},
                "viewer_can_end": {
                    "type": "boolean",
                    "description": "Whether a viewer may end the share when done.",
                },
            },
            "additionalProperties": False,
        },
        "Album": {
            "type": "object",
            "required": [
                "note",
                "photos",
                "fetch_until",
                "views_remaining",
                "can_end",
                "end_url",
            ],
            "properties": {
                "note": {"type": ["string", "null"], "maxLength": NOTE_MAX_CHARS},
                "photos": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "required": ["url", "content_type", "size", "width", "height"],
                        "properties": {
                            "url": {
                                "type": "string",
                                "format": "uri",
                                "pattern": r"/v/[A-Za-z0-9_-]{32}/[1-9][0-9]*$",
                                "description": "GET it once, before fetch_until.",
                            },
                            "content_type": {"enum": list(PHOTO_TYPES)},
                            "size": {"type": "integer", "minimum": 1},
                            "width": {"type": "integer", "minimum": 1},
                            "height": {"type": "integer", "minimum": 1},
                        },
                        "additionalProperties": False,
                    },
                },
                "fetch_until": {"type": "string", "format": "date-time"},
                "views_remaining": {"type": ["integer", "null"], "minimum": 0},
                "can_end": {"type": "boolean"},
                "end_url": {
                    "type": ["string", "null"],
                    "pattern": r"^/v/[A-Za-z0-9_-]{32}/done$",
                    "description": "POST confirm=true here to end the share (when can_end).",
                },
            },
            "additionalProperties": False,
        },
        "Ended": {
            "type": "object",
            "required": ["status", "end_reason"],
            "properties": {
                "status": {"const": "ended"},
                "end_reason": {
                    "enum": list(EndReason.values),
                    "description": "revoked, or why it had already ended.",
                },
            },
            "additionalProperties": False,
        },
        "ReportReceived": {
            "type": "object",
            "required": ["status"],
            "properties": {"status": {"const": "received"}},
            "additionalProperties": False,
        },
        "Health": {
            "type": "object",
            "required": ["status", "database", "storage"],
            "properties": {
                "status": {"enum": ["ok", "unavailable"]},
                "database": {
                    "type": "string",
                    "description": "ok, or the name of the error the database raised.",
                },
                "storage": {
                    "type": "string",
                    "description": "ok, or the name of the error the storage raised.",
                },
            },
            "additionalProperties": False,
        },
    }


# Headers answers carry. Cache-Control is named where the answer concerns a share: no
# cache may keep it (the privacy promise, see PrivateResponseMiddleware).
_NO_STORE = {
    "description": "Never cached: the answer concerns a share.",
    "required": True,
    "schema": {"type": "string", "pattern": "no-store"},
}
_RETRY_AFTER = {
    "description": "Seconds to wait before trying again.",
    "required": True,
    "schema": {"type": "string", "pattern": "^[1-9][0-9]*$"},
}


def _answer(description: str, content: dict, *, private: bool = True, **headers: dict) -> dict:
    answer = {"description": description, "content": content}
    named = {**({"Cache-Control": _NO_STORE} if private else {}), **headers}
    if named:
        answer["headers"] = {name.replace("_", "-"): header for name, header in named.items()}
    return answer


def _json(schema: str) -> dict:
    return {JSON: {"schema": _ref(schema)}}


def _page_or_json(schema: str) -> dict:
    """A page for browsers; JSON when the path is under /api/ or Accept asks for JSON."""
    return {HTML: {"schema": {"type": "string"}}, **_json(schema)}


def _rate_limited(limits: tuple[str, ...]) -> dict:
    """RateLimited, with `limit` narrowed to the limits this operation counts."""
    return {"allOf": [_ref("RateLimited"), {"properties": {"limit": {"enum": list(limits)}}}]}


def _errors(
    *statuses: int, json_only: bool = False, private: bool = True, limits: tuple[str, ...] = ()
) -> dict:
    """The usual answers for these statuses; `limits` names the rate limits behind a 429."""
    assert (429 in statuses) == bool(limits), "a 429 names the limits that give it"
    content = _json if json_only else _page_or_json
    too_many = {JSON: {"schema": _rate_limited(limits)}}
    if not json_only:
        too_many = {HTML: {"schema": {"type": "string"}}, **too_many}
    answers = {
        400: lambda: _answer(
            "The request is not acceptable; the error says why.", content("Error"), private=private
        ),
        404: lambda: _answer(
            "No share at this link (or it was purged after it ended).",
            content("Error"),
            private=private,
        ),
        410: lambda: _answer(
            "The share ended; reason says why, and the photo has been deleted.",
            content("Gone"),
            private=private,
        ),
        413: lambda: _answer(
            f"A photo is over its limit ({settings.SEEN_MAX_UPLOAD_BYTES} bytes, code "
            f"too_large), or the photos together over the share's "
            f"({settings.SEEN_MAX_SHARE_BYTES} bytes, share_too_large: from Content-Length, "
            "before the body is read).",
            content("Error"),
            private=private,
        ),
        429: lambda: _answer(
            "Too many requests from this address; limit says which limit ("
            + ", ".join(limits)
            + ") and the page says it in words.",
            too_many,
            private=private,
            Retry_After=_RETRY_AFTER,
        ),
        503: lambda: _answer(
            "The database or the photo storage is unavailable; nothing was changed.",
            content("Error"),
            private=private,
            Retry_After={**_RETRY_AFTER, "required": False},
        ),
    }
    return {str(status): answers[status]() for status in statuses}


def _token(description: str) -> dict:
    return {
        "name": "token",
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "pattern": TOKEN_PATTERN},
    }


def _form(properties: dict, required: list[str] | None = None) -> dict:
    schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        schema["required"] = required
    return schema


def document() -> dict:
    expiry = settings.SEEN_EXPIRY_CHOICES
    upload_form = _form(
        {
            "photo": {
                "type": "array",
                "items": {"type": "string", "format": "binary"},
                "minItems": 1,
                "maxItems": settings.SEEN_MAX_PHOTOS,
                "description": "One or more photos (repeat the field), each JPEG, PNG, GIF, "
                "WebP, HEIC/HEIF or AVIF (the last two are converted to JPEG). Location and "
                "camera details are removed. All or nothing: one refused photo refuses the "
                "upload, and the error's `photo` says which (1, 2, ...).",
            },
            "note": {
                "type": "string",
                "maxLength": NOTE_MAX_CHARS,
                "description": "Optional plain text shown with the photos; encrypted.",
            },
            "viewer_can_end": {
                "type": "boolean",
                "default": False,
                "description": "On an unlimited share, let a viewer end it when done "
                "(limited shares always do).",
            },
            "views": {
                "type": "integer",
                "enum": list(VIEW_CHOICES),
                "default": 1,
                "description": "How many views; 0 means unlimited.",
            },
            "expires_in": {
                "type": "integer",
                "enum": expiry,
                "default": settings.SEEN_DEFAULT_EXPIRY,
                "description": "Seconds until the link expires.",
            },
            "pin": {
                "type": "string",
                "pattern": PIN_PATTERN,
                "description": "Optional: the viewer must enter it.",
            },
            "prevent_download": {
                "type": "boolean",
                "default": False,
                "description": "Ask the page not to offer a download.",
            },
        },
        required=["photo"],
    )
    pin_form = _form({"pin": {"type": "string", "pattern": PIN_PATTERN}})
    report_form = _form(
        {
            "reason": {"enum": list(ReportReason.values)},
            "details": {"type": "string", "maxLength": 2000},
            "pin": {
                "type": "string",
                "pattern": PIN_PATTERN,
                "description": "A PIN share's PIN: with it, the report lets the moderators "
                "see the photo; a wrong one counts as a wrong PIN.",
            },
        },
        required=["reason"],
    )
    share_token = _token("The secret part of the share link.")
    manage_token = _token("The secret part of the manage link.")
    photo = {kind: {"schema": {"type": "string", "contentMediaType": kind}} for kind in PHOTO_TYPES}
    html_page = {HTML: {"schema": {"type": "string"}}}

    paths = {
        "/api/shares": {
            "post": {
                "operationId": "createShare",
                "summary": "Upload a photo and get its secret link",
                "description": (
                    "For curl and scripts. A browser's request from another site's page "
                    "(an Origin header other than this site, Origin: null, or Sec-Fetch-Site "
                    "cross-site or same-site) is refused with 403 before it counts against "
                    "any limit."
                ),
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": upload_form}},
                },
                "responses": {
                    "201": _answer(
                        "The share exists; send url, keep manage_url.", _json("Created")
                    ),
                    **_errors(400, json_only=True),
                    "403": _answer("Sent from another site's page.", _json("Error")),
                    **_errors(413, 429, 503, json_only=True, limits=("uploads",)),
                },
            }
        },
        "/s/{token}": {
            "parameters": [share_token],
            "get": {
                "operationId": "openShare",
                "summary": "The page that opens the photo (spends nothing)",
                "responses": {
                    "200": _answer("The page with the Open button.", html_page),
                    "403": _answer(
                        "Reported and under review; no view was spent.", _page_or_json("Suspended")
                    ),
                    **_errors(404, 410, 503),
                },
            },
            "post": {
                "operationId": "viewShare",
                "summary": "View the photos: spends one view",
                "description": (
                    "A one-photo share without a note answers the image bytes. An album "
                    "(several photos, or a note) answers, to a client that asks for JSON, "
                    "the note and one address per photo, each good for one GET before "
                    "fetch_until; to a browser, a page of the photos."
                ),
                "requestBody": {
                    "required": False,
                    "content": {
                        "application/x-www-form-urlencoded": {"schema": pin_form},
                        "multipart/form-data": {"schema": pin_form},
                    },
                },
                "responses": {
                    "200": _answer(
                        "The photo, cleaned of location and camera details; or, for an "
                        "album, its page or its JSON (Album).",
                        {**photo, **_page_or_json("Album")},
                        Seen_Views_Remaining={
                            "description": "Views left after this one, or unlimited (a "
                            "one-photo answer).",
                            "required": False,
                            "schema": {"type": "string", "pattern": "^([0-9]+|unlimited)$"},
                        },
                        Seen_End_Url={
                            "description": "Where this viewer may end the share (POST "
                            "confirm=true), when allowed (a one-photo answer).",
                            "required": False,
                            "schema": {"type": "string", "pattern": r"^/v/[A-Za-z0-9_-]{32}/done$"},
                        },
                    ),
                    "400": _answer(
                        "A PIN that is not 4 to 8 digits (Error), or no PIN or an empty one "
                        "for a share that has one (PinRequired). Neither is checked or "
                        "counted as an attempt, and no view is spent. Also a request marked "
                        "as a prefetch or a preview (prefetch_refused; README, What counts "
                        "as a view).",
                        {
                            HTML: {"schema": {"type": "string"}},
                            JSON: {"schema": {"oneOf": [_ref("Error"), _ref("PinRequired")]}},
                        },
                    ),
                    "403": _answer(
                        "A wrong PIN (attempts_left says how many remain), or the share is "
                        "under review (reason: suspended), or a link-preview bot "
                        "(link_preview: Error, nothing spent).",
                        {
                            HTML: {"schema": {"type": "string"}},
                            JSON: {
                                "schema": {
                                    "oneOf": [_ref("WrongPin"), _ref("Suspended"), _ref("Error")]
                                }
                            },
                        },
                    ),
                    **_errors(404, 410, 429, 503, limits=("views", "pin_failures")),
                },
            },
        },
        "/v/{secret}/{position}": {
            "parameters": [
                {
                    "name": "secret",
                    "in": "path",
                    "required": True,
                    "description": "The view's secret, from an album's answer.",
                    "schema": {"type": "string", "pattern": TOKEN_PATTERN},
                },
                {
                    "name": "position",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1},
                },
            ],
            "get": {
                "operationId": "fetchAlbumPhoto",
                "summary": "One photo of a spent album view, once (not a view itself)",
                "responses": {
                    "200": _answer("The photo's bytes, whole.", photo),
                    "404": _answer("No such view or photo.", _page_or_json("Error")),
                    "410": _answer(
                        "Fetched already, or the window has closed (photo_fetched); or the "
                        "share ended as its photo is missing or damaged (Gone).",
                        {
                            HTML: {"schema": {"type": "string"}},
                            JSON: {"schema": {"oneOf": [_ref("Error"), _ref("Gone")]}},
                        },
                    ),
                    **_errors(503),
                },
            },
        },
        "/v/{secret}/done": {
            "parameters": [
                {
                    "name": "secret",
                    "in": "path",
                    "required": True,
                    "description": "The view's secret (end_url, or the Seen-End-Url header).",
                    "schema": {"type": "string", "pattern": TOKEN_PATTERN},
                }
            ],
            "post": {
                "operationId": "endShareAsViewer",
                "summary": "I'm done, delete it now: a viewer ends the share",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/x-www-form-urlencoded": {
                            "schema": _form({"confirm": {"const": "true"}}, required=["confirm"])
                        }
                    },
                },
                "responses": {
                    "200": _answer(
                        "Ended (or it had ended already); its photos are deleted.",
                        {HTML: {"schema": {"type": "string"}}, **_json("Ended")},
                    ),
                    "403": _answer(
                        "An unlimited share whose sender did not let viewers end it.",
                        _page_or_json("Error"),
                    ),
                    **_errors(400, 404, 429, 503, limits=("manage",)),
                },
            },
        },
        "/s/{token}/report": {
            "parameters": [share_token],
            "get": {
                "operationId": "reportForm",
                "summary": "The report form (spends nothing)",
                "responses": {
                    "200": _answer("The form.", html_page),
                    **_errors(404, 503),
                },
            },
            "post": {
                "operationId": "reportShare",
                "summary": "Report the photo to the operator (spends nothing)",
                "requestBody": {
                    "required": True,
                    "content": {"application/x-www-form-urlencoded": {"schema": report_form}},
                },
                "responses": {
                    "201": _answer(
                        "Received. Enough open reports suspend the share until a moderator "
                        "decides.",
                        {HTML: {"schema": {"type": "string"}}, **_json("ReportReceived")},
                    ),
                    "403": _answer(
                        "A wrong PIN for a share that has one (attempts_left says how many "
                        "remain); nothing was stored.",
                        {HTML: {"schema": {"type": "string"}}, **_json("WrongPin")},
                    ),
                    **_errors(400, 404, 410, 429, 503, limits=("reports", "pin_failures")),
                },
            },
        },
        "/m/{token}": {
            "parameters": [manage_token],
            "get": {
                "operationId": "manageShare",
                "summary": "The sender's page: status and view times",
                "responses": {
                    "200": _answer("The manage page.", html_page),
                    **_errors(404, 503),
                },
            },
            "post": {
                "operationId": "endShareFromForm",
                "summary": "End the share now (the manage page's button)",
                "responses": {
                    "200": _answer("Ended, when Accept asks for JSON.", _json("Ended")),
                    "302": {
                        "description": "Ended; back to the manage page (a browser's form).",
                        "headers": {
                            "Cache-Control": _NO_STORE,
                            "Location": {
                                "required": True,
                                "schema": {"type": "string", "pattern": "^/m/"},
                            },
                        },
                    },
                    **_errors(400, 404, 429, 503, limits=("manage",)),
                },
            },
            "delete": {
                "operationId": "endShare",
                "summary": "End the share now and delete its photo",
                "description": "For scripts: every answer is JSON, whatever Accept says.",
                "responses": {
                    "200": _answer(
                        "Ended now (end_reason: revoked), or it had ended already: the "
                        "same answer again, end_reason saying why it ended first. Once purge "
                        "has removed an ended share, 404.",
                        _json("Ended"),
                    ),
                    **_errors(404, 429, 503, json_only=True, limits=("manage",)),
                },
            },
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "For load balancers: the database and the storage answer",
                "responses": {
                    "200": _answer("Healthy.", _json("Health")),
                    "503": _answer("Unhealthy; the failing part names its error.", _json("Health")),
                },
            }
        },
        "/api/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "responses": {
                    "200": {
                        "description": "The OpenAPI 3.1 document.",
                        "content": {JSON: {"schema": {"type": "object"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Seen",
            "version": "1",
            "summary": "Share a photo through a secret link that works N times.",
            "description": (
                'Errors are JSON ({"error": ..., "code": ...}) under /api/, and elsewhere when '
                "Accept asks for application/json (and not text/html); otherwise they are "
                "pages, in the viewer's language. JSON errors are always in English, and code "
                "is a stable name for programs (README, Error codes). "
                "Every answer about a share carries Cache-Control: no-store."
            ),
        },
        "servers": [{"url": settings.SEEN_BASE_URL or "/"}],
        "paths": paths,
        "components": {"schemas": _schemas()},
    }
