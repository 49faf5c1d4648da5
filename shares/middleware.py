from io import IOBase

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, UnreadablePostError
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext

from .health import healthz
from .responses import (
    database_unavailable,
    error_response,
    share_too_large_message,
    too_many_photos,
    wants_json,
)

# Room for the multipart envelope and the small form fields around the photos.
_ENVELOPE_BYTES = 64 * 1024


class HealthCheckMiddleware:
    """Answer GET /healthz before host validation and HTTPS redirects (probes use the IP)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz" and request.method in ("GET", "HEAD"):
            return healthz(request)
        return self.get_response(request)


class LanguageMiddleware(LocaleMiddleware):
    """Pages in the viewer's language: the picker's cookie, else Accept-Language, else
    English. Never from the link, which the sender may have made in another language.

    Answers in JSON (the API, DELETE, scripts asking for JSON) stay English whatever the
    client asks: programs read their stable `code`, and one language keeps them
    comparable."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        if wants_json(request):
            translation.activate(settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = settings.LANGUAGE_CODE

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        # Static files (whitenoise, below) are the same in every language: no Vary on them.
        if request.path_info.startswith("/" + settings.STATIC_URL.lstrip("/")):
            return response
        return super().process_response(request, response)


# Everything under these paths concerns one share: its page, its bytes, its manage page,
# the API's answers (which hold links).
_PRIVATE_PREFIXES = ("/s/", "/m/", "/v/", "/api/")
_UPLOADS = ("/", "/api/shares")


class PrivateResponseMiddleware:
    """No cache may keep, and no search engine may index, anything about a share.

    The views say @never_cache too; this also covers what answers before a view runs
    (413, 429, CSRF failures) and the "created" page a POST to / returns.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path_info.startswith(_PRIVATE_PREFIXES) or (
            request.path_info == "/" and request.method not in ("GET", "HEAD")
        ):
            add_never_cache_headers(response)
            response["X-Robots-Tag"] = "noindex, nofollow"
        return response


class MethodNotAllowedMiddleware:
    """Django's 405 is an empty page; say it in words (JSON for the API), keeping Allow."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 405 or getattr(response, "streaming", False) or response.content:
            return response
        allowed = response.get("Allow", "")
        message = gettext("This address does not accept %(method)s requests.") % {
            "method": request.method
        }
        if allowed:
            message += " " + gettext("It accepts: %(allowed)s.") % {"allowed": allowed}
        replacement = error_response(request, 405, message, code="method_not_allowed")
        if allowed:
            replacement["Allow"] = allowed
        return replacement


class FormMiddleware:
    """Read the form of a POST to the project's own pages before any view, and refuse
    a body that ended early or that sends a field twice (views=1&views=10, two PINs).

    Django would quietly use the last of two values; which one counts would then be a
    guess, and a check that reads another copy than the code that acts is how filters
    are bypassed. The admin is left alone: its forms repeat fields on purpose.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and (
            request.path_info == "/" or request.path_info.startswith(_PRIVATE_PREFIXES)
        ):
            try:
                request.POST, request.FILES  # noqa: B018 - parse now, while we can answer 400
            except TooManyFilesSent:
                return too_many_photos(request)
            except UnreadablePostError:
                return error_response(
                    request,
                    400,
                    gettext("The request ended before all of it arrived. Please try again."),
                    code="body_incomplete",
                )
            repeated = sorted(name for name, values in request.POST.lists() if len(values) > 1)
            repeated += sorted(
                name
                for name, files in request.FILES.lists()
                # An album's photos are all "photo", on the two upload addresses.
                if len(files) > 1 and not (name == "photo" and request.path_info in _UPLOADS)
            )
            if repeated:
                return error_response(
                    request,
                    400,
                    gettext("Send each field once: %(fields)s came more than once.")
                    % {"fields": ", ".join(repeated)},
                    code="field_repeated",
                )
        return self.get_response(request)


class UploadSizeLimitMiddleware:
    """Answer 413 from Content-Length alone, before any middleware reads the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = -1
        if length < 0:
            return error_response(
                request, 400, gettext("Content-Length must be a number."), code="bad_request"
            )
        if length > settings.SEEN_MAX_SHARE_BYTES + _ENVELOPE_BYTES:
            # The body is not read. No Connection header: it is hop-by-hop, which WSGI
            # forbids an application to set (the server decides about the connection).
            # Each photo's own limit is checked once the form is read (shares/uploads.py).
            return error_response(request, 413, share_too_large_message(), code="share_too_large")
        if length:
            # Django reads a body that ends early as if it were complete; this makes it an
            # error (UnreadablePostError), which FormMiddleware answers with 400.
            # `_stream` is private to Django: shares/tests/test_django_internals.py pins
            # what this relies on (body, POST and FILES all read through it, unread until
            # now, and its OSError becomes UnreadablePostError), so an upgrade that
            # changes it fails there.
            request._stream = _WholeBody(request._stream, length)
        return self.get_response(request)


class _WholeBody(IOBase):
    """A request body that must be as long as its Content-Length says."""

    def __init__(self, stream, expected: int):
        super().__init__()
        self._stream = stream
        self._expected = expected
        self._received = 0

    def _count(self, data: bytes, *, ended: bool) -> bytes:
        self._received += len(data)
        if ended and self._received < self._expected:
            raise OSError(
                f"the request body ended after {self._received} of {self._expected} bytes"
            )
        return data

    def read(self, size=-1, /) -> bytes:
        data = self._stream.read(size)
        # An empty read means the end; so does any answer to "all of it" (request.body,
        # hence every urlencoded form), which is what arrived, however short.
        everything = size is None or size < 0
        return self._count(data, ended=everything or (not data and size != 0))

    def readline(self, size=-1, /) -> bytes:
        data = self._stream.readline(size)
        return self._count(data, ended=not data and size != 0)

    def close(self) -> None:
        self._stream.close()
        super().close()


class DatabaseUnavailableMiddleware:
    """A database outage answers a plain 503, never a traceback."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            return database_unavailable(request)
        return None
