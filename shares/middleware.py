from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.cache import add_never_cache_headers

from .views import error_response, too_large_message

# Room for the multipart envelope and the small form fields around the photo.
_ENVELOPE_BYTES = 64 * 1024


class HealthCheckMiddleware:
    """Answer GET /healthz before host validation and HTTPS redirects (probes use the IP)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path_info == "/healthz" and request.method in ("GET", "HEAD"):
            from .views import healthz

            return healthz(request)
        return self.get_response(request)


# Everything under these paths concerns one share: its page, its bytes, its manage page,
# the API's answers (which hold links).
_PRIVATE_PREFIXES = ("/s/", "/m/", "/api/")


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


class UploadSizeLimitMiddleware:
    """Answer 413 from Content-Length alone, before any middleware reads the body."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return error_response(request, 400, "Content-Length must be a number.")
        if length > settings.SEEN_MAX_UPLOAD_BYTES + _ENVELOPE_BYTES:
            response = error_response(request, 413, too_large_message())
            # The body was not read; tell the client not to reuse the connection.
            response["Connection"] = "close"
            return response
        return self.get_response(request)


class DatabaseUnavailableMiddleware:
    """A database outage answers a plain 503, never a traceback."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, (OperationalError, InterfaceError)):
            response = error_response(
                request, 503, "The service is briefly unavailable. Please try again in a minute."
            )
            response["Retry-After"] = "30"
            return response
        return None
