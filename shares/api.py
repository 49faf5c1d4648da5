"""The JSON API: POST /api/shares for curl and scripts, and its OpenAPI document."""

import functools
from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST, require_safe

from . import openapi
from .ratelimits import rate_limited
from .responses import error_response
from .uploads import UploadRejected, create_from_request, share_links

_DEFAULT_PORTS = {"http": "80", "https": "443"}
FOREIGN_ORIGIN_MESSAGE = gettext_lazy(
    "Uploads through the API are not accepted from another site's page. Send them from a "
    "script or curl (no Origin header), or use the upload page of this site."
)


def _origin(url: str) -> str | None:
    """scheme://host[:port] in one spelling (lower case, no default port), or None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname
    if ":" in host:  # IPv6
        host = f"[{host}]"
    if port is not None and str(port) != _DEFAULT_PORTS[parts.scheme]:
        host += f":{port}"
    return f"{parts.scheme}://{host}"


def own_origins(request: HttpRequest) -> set[str]:
    """The origins this site's own pages have: the one this request was sent to, and the
    public address when SEEN_BASE_URL names it (behind a proxy the request may say http)."""
    origins = {_origin(f"{request.scheme}://{request.get_host()}")}
    if settings.SEEN_BASE_URL:
        origins.add(_origin(settings.SEEN_BASE_URL))
    return origins - {None}


def foreign_page(request: HttpRequest) -> bool:
    """True when a browser sent this request from another site's page.

    Browsers say where a request comes from (Origin on every cross-origin POST, and
    Sec-Fetch-Site); curl and scripts send neither, and keep working. `Origin: null`
    (a sandboxed frame, a file:// page, a redirect) is never this site.
    """
    if request.headers.get("Sec-Fetch-Site", "").strip().lower() in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    return _origin(origin) not in own_origins(request)


def same_site_only(view: Callable) -> Callable:
    """Refuse a browser's request from another site's page with 403, before it is counted
    against the visitor's rate limit: using up that quota is what such a page is after."""

    @functools.wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if foreign_page(request):
            return error_response(request, 403, str(FOREIGN_ORIGIN_MESSAGE), code="foreign_origin")
        return view(request, *args, **kwargs)

    return wrapped


@csrf_exempt  # no cookies are involved: an API client proves nothing with a CSRF token
@never_cache
@require_POST
@same_site_only
@rate_limited("uploads")
def shares_create(request: HttpRequest) -> JsonResponse:
    try:
        created = create_from_request(request)
    except UploadRejected as exc:
        return JsonResponse(exc.body(), status=exc.status)
    return JsonResponse(share_links(request, created), status=201)


@csrf_exempt  # read-only: a method other than GET/HEAD gets 405, not a CSRF refusal
@require_safe
def openapi_document(request: HttpRequest) -> JsonResponse:
    """The OpenAPI 3.1 description of the HTTP API. It holds no secret, but it is under
    /api/, so PrivateResponseMiddleware marks it no-store like every API answer."""
    return JsonResponse(openapi.document(), json_dumps_params={"indent": 2})
