"""Browser-facing views: parse the request, call one service, render."""

import re

from django.conf import settings
from django.db import connection
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_safe

from . import images, photostore, services
from .forms import PinForm, ReportForm, ShareForm
from .models import Share
from .ratelimits import (
    PinAttempts,
    PinGuessing,
    client_ip,
    pin_guessing_limited,
    rate_limited,
    too_many_requests,
)

TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32}$")


class UploadRejected(Exception):
    def __init__(self, status: int, message: str, form: ShareForm | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.form = form


def wants_json(request: HttpRequest) -> bool:
    if request.path.startswith("/api/"):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: HttpRequest, status: int, message: str, **extra) -> HttpResponse:
    """A 4xx/5xx in the form the client reads: JSON for the API and scripts, else a page."""
    if wants_json(request):
        return JsonResponse({"error": message, **extra}, status=status)
    return render(request, "error.html", {"status": status, "message": message, **extra}, status=status)


def absolute_url(request: HttpRequest, path: str) -> str:
    if settings.SEEN_BASE_URL:
        return settings.SEEN_BASE_URL + path
    return request.build_absolute_uri(path)


def share_links(request: HttpRequest, created: services.CreatedShare) -> dict:
    return {
        "url": absolute_url(request, f"/s/{created.token}"),
        "manage_url": absolute_url(request, f"/m/{created.manage_token}"),
        "views": created.share.view_limit or 0,
        "expires_at": created.share.expires_at.isoformat().replace("+00:00", "Z"),
    }


def create_from_request(request: HttpRequest) -> services.CreatedShare:
    """Validate an upload (web form or API) and create the share, or raise UploadRejected."""
    form = ShareForm(request.POST, request.FILES)
    if not form.is_valid():
        raise UploadRejected(400, form.error_text(), form)
    photo = form.cleaned_data["photo"]
    if photo.size > settings.SEEN_MAX_UPLOAD_BYTES:
        raise UploadRejected(413, too_large_message(), form)
    try:
        return services.share_create(
            photo=photo,
            views=form.cleaned_data["views"],
            expires_in=form.cleaned_data["expires_in"],
            pin=form.cleaned_data["pin"],
            prevent_download=form.cleaned_data["prevent_download"],
        )
    except images.InvalidPhoto as exc:
        raise UploadRejected(400, str(exc), form) from None
    except services.StorageUnavailable:
        raise UploadRejected(
            503, "Photo storage is unavailable right now, so nothing was saved. Please try again in a minute.", form
        ) from None


def too_large_message() -> str:
    megabytes = settings.SEEN_MAX_UPLOAD_BYTES / (1024 * 1024)
    return f"The photo is too large: the limit is {megabytes:g} MB."


@never_cache
@require_http_methods(["GET", "POST"])
@rate_limited("uploads")
def upload(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "shares/upload.html", {"form": ShareForm()})
    try:
        created = create_from_request(request)
    except UploadRejected as exc:
        context = {"form": exc.form or ShareForm(), "error": exc.message}
        return render(request, "shares/upload.html", context, status=exc.status)
    context = {
        **share_links(request, created),
        "share": created.share,
        "removed_metadata": created.removed_metadata,
    }
    return render(request, "shares/created.html", context, status=201)


def _valid_token(token: str) -> bool:
    return bool(TOKEN_SHAPE.match(token))


def _not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        request, 404, "There is no photo at this link. Check that you copied the whole link."
    )


def _gone(request: HttpRequest, share: Share) -> HttpResponse:
    return render_gone(request, share.end_reason or "expired")


def render_gone(request: HttpRequest, reason: str) -> HttpResponse:
    messages = {
        "viewed": "This photo has been viewed as many times as the sender allowed, and it has been deleted.",
        "expired": "This link has expired and the photo has been deleted.",
        "revoked": "The sender deleted this photo.",
        "pin": "This photo was deleted after too many wrong PINs.",
        "removed": "This photo was removed by a moderator.",
        "missing": "This photo is no longer available.",
    }
    message = messages.get(reason, messages["expired"])
    if wants_json(request):
        return JsonResponse({"error": message, "reason": reason}, status=410)
    return render(request, "shares/gone.html", {"message": message, "reason": reason}, status=410)


def render_suspended(request: HttpRequest) -> HttpResponse:
    """A reported share under review. 403, not 410 or 404: the photo exists and may come
    back once a moderator restores it, and access is refused by the operator's decision
    (451 is for legal demands; a report is only an allegation). No view was spent."""
    message = (
        "This photo has been reported and is under review, so it cannot be viewed for now. "
        "No view was used."
    )
    if wants_json(request):
        return JsonResponse({"error": message, "reason": "suspended"}, status=403)
    return render(request, "shares/suspended.html", {"message": message}, status=403)


@csrf_exempt  # the secret link is the capability; a forged request would need it too
@never_cache
@require_http_methods(["GET", "POST"])
@pin_guessing_limited
@rate_limited("views")
def share(request: HttpRequest, token: str) -> HttpResponse:
    if not _valid_token(token):
        return _not_found(request)
    if request.method == "GET":
        return _share_page(request, token)
    return _share_view(request, token)


def _share_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        share = services.share_get(token=token)
    except services.ShareNotFound:
        return _not_found(request)
    except services.ShareGone as exc:
        return _gone(request, exc.share)
    except services.ShareSuspended:
        return render_suspended(request)
    return render(request, "shares/open.html", {"share": share})


def _share_view(request: HttpRequest, token: str) -> HttpResponse:
    form = PinForm(request.POST)
    if not form.is_valid():
        # Not a PIN at all (too long, not digits): no share's PIN can match it, so nothing
        # is looked up, checked or counted.
        return error_response(request, 400, "The PIN is 4 to 8 digits.")
    pin = form.cleaned_data["pin"]
    try:
        viewed = services.share_view(token=token, pin=pin, pin_attempts=PinAttempts(request))
    except PinGuessing as exc:
        return too_many_requests(request, exc.retry_after)
    except services.ShareNotFound:
        return _not_found(request)
    except services.ShareGone as exc:
        return _gone(request, exc.share)
    except services.ShareSuspended:
        return render_suspended(request)
    except services.WrongPin as exc:
        return _wrong_pin(request, token, exc.attempts_left)
    except services.PhotoMissing:
        return render_gone(request, "missing")
    except services.StorageUnavailable:
        return storage_unavailable(request)
    response = FileResponse(viewed.stream, content_type=viewed.content_type)
    response.block_size = 64 * 1024
    response["Content-Length"] = str(viewed.size_bytes)
    response["Content-Disposition"] = "inline"
    remaining = viewed.views_remaining
    response["Seen-Views-Remaining"] = "unlimited" if remaining is None else str(remaining)
    return response


def storage_unavailable(request: HttpRequest) -> HttpResponse:
    """The photo store failed before anything was spent: try again later."""
    response = error_response(
        request,
        503,
        "The photo cannot be fetched from storage right now. No view was used: "
        "please try again in a minute.",
    )
    response["Retry-After"] = "30"
    return response


def _wrong_pin(request: HttpRequest, token: str, attempts_left: int) -> HttpResponse:
    if attempts_left == 0:
        return render_gone(request, "pin")
    noun = "attempt" if attempts_left == 1 else "attempts"
    message = f"Wrong PIN. {attempts_left} {noun} left before the photo is deleted."
    if wants_json(request):
        return JsonResponse({"error": message, "attempts_left": attempts_left}, status=403)
    share = services.share_by_token(token=token)
    context = {"share": share, "error": message, "attempts_left": attempts_left}
    return render(request, "shares/open.html", context, status=403)


# --- abuse reports ------------------------------------------------------------------------


@csrf_exempt  # as share(): the secret link is the capability a forged request would need
@never_cache
@require_http_methods(["GET", "POST"])
@rate_limited("reports")
def report(request: HttpRequest, token: str) -> HttpResponse:
    """"Report this photo": a reason and optional details. Never spends a view; enough
    open reports suspend the share at once (services.report_create)."""
    if not _valid_token(token) or not services.share_exists(token=token):
        return _not_found(request)
    context = {"share_path": f"/s/{token}"}
    if request.method == "GET":
        return render(request, "shares/report.html", {**context, "form": ReportForm()})
    form = ReportForm(request.POST)
    if not form.is_valid():
        if wants_json(request):
            return JsonResponse({"error": form.error_text()}, status=400)
        return render(request, "shares/report.html", {**context, "form": form}, status=400)
    try:
        services.report_create(
            token=token,
            reason=form.cleaned_data["reason"],
            details=form.cleaned_data["details"],
            reporter_address=client_ip(request),
        )
    except services.ShareNotFound:
        return _not_found(request)
    if wants_json(request):
        return JsonResponse({"status": "received"}, status=201)
    return render(request, "shares/report_sent.html", context, status=201)


@csrf_exempt  # the secret manage link is the capability, as above
@never_cache
@require_http_methods(["GET", "POST", "DELETE"])
@rate_limited("manage", methods=("POST", "DELETE"))
def manage(request: HttpRequest, token: str) -> HttpResponse:
    if not _valid_token(token):
        return _manage_not_found(request)
    if request.method == "GET":
        managed = services.share_for_manage(manage_token=token)
        if managed is None:
            return _manage_not_found(request)
        context = {"share": managed.share, "view_times": managed.view_times}
        return render(request, "shares/manage.html", context)
    try:
        share = services.share_revoke(manage_token=token)
    except services.ShareNotFound:
        return _manage_not_found(request)
    if request.method == "DELETE" or wants_json(request):
        return JsonResponse({"status": share.status, "end_reason": share.end_reason})
    return redirect(request.path)


def _manage_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        404,
        "There is no share at this manage link. If it ended, it has already been cleaned up.",
    )


@csrf_exempt  # it changes nothing; without this an unknown method met the CSRF check, not 405
@never_cache
@require_safe
def healthz(request: HttpRequest) -> HttpResponse:
    """For load balancers and Docker's HEALTHCHECK: the database and storage answer."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = exc.__class__.__name__
    try:
        photostore.check()
        checks["storage"] = "ok"
    except photostore.StorageUnavailable:
        checks["storage"] = "unavailable"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unavailable", **checks}, status=200 if healthy else 503)


# --- error handlers (seen/urls.py) ---------------------------------------------------------


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(request, 400, "The request could not be understood.")


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(request, 403, "You are not allowed to do that.")


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(request, 404, "There is nothing at this address.")


def server_error(request: HttpRequest) -> HttpResponse:
    message = "Something went wrong on our side. Nothing about your photo was shown to anyone."
    if wants_json(request):
        return JsonResponse({"error": message}, status=500)
    return HttpResponse(render_to_string("500.html", {"message": message}), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_response(request, 403, "The form expired. Reload the page and try again.")
