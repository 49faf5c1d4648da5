"""Every refusal and error answer, in one place: JSON for the API and scripts, a page for
browsers. Views, the API, middleware and the rate limiter answer through these, so none
of them needs another's module (and the messages tests check are written once)."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from .models import EndReason


def wants_json(request: HttpRequest) -> bool:
    # No browser form sends DELETE (DELETE /m/<token> is for scripts), so its errors are
    # JSON like its answer, whatever Accept says (curl sends */*).
    if request.path.startswith("/api/") or request.method == "DELETE":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(request: HttpRequest, status: int, message: str, **extra) -> HttpResponse:
    """A 4xx/5xx in the form the client reads: JSON for the API and scripts, else a page."""
    if wants_json(request):
        return JsonResponse({"error": message, **extra}, status=status)
    return render(
        request, "error.html", {"status": status, "message": message, **extra}, status=status
    )


def share_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        request, 404, "There is no photo at this link. Check that you copied the whole link."
    )


def manage_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        404,
        "There is no share at this manage link. If it ended, it has already been cleaned up.",
    )


_GONE_MESSAGES = {
    EndReason.VIEWED: (
        "This photo has been viewed as many times as the sender allowed, and it has been deleted."
    ),
    EndReason.EXPIRED: "This link has expired and the photo has been deleted.",
    EndReason.REVOKED: "The sender deleted this photo.",
    EndReason.PIN: "This photo was deleted after too many wrong PINs.",
    EndReason.REMOVED: "This photo was removed by a moderator.",
    EndReason.MISSING: "This photo is no longer available.",
}


def render_gone(request: HttpRequest, reason: str) -> HttpResponse:
    """410: the share is over for good (reason: an EndReason; a share that was never
    ended but is past its expiry is EndReason.EXPIRED)."""
    message = _GONE_MESSAGES.get(reason, _GONE_MESSAGES[EndReason.EXPIRED])
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


# What a 429 says triggered it, in plain words: someone refused needs to know which of
# their actions to stop (a tester locked out by wrong PINs saw every link refused).
LIMIT_REASONS = {
    "uploads": "Too many uploads from your address.",
    "views": "Too many views from your address.",
    "pin_failures": (
        "Too many wrong PINs from your address. Until the wait is over, no photo can be "
        "viewed from this address, on any link, with or without a PIN."
    ),
    "manage": "Too many deletions through manage links from your address.",
    "reports": "Too many reports from your address.",
    "admin_login": "Too many admin login attempts from your address.",
}


def too_many_requests(request: HttpRequest, retry_after: int, *, limit: str) -> HttpResponse:
    """429 for a client over `limit` (a key of SEEN_RATE_LIMITS): what triggered it and how
    long to wait, in the page, and as "limit" and "retry_after" in JSON."""
    retry_after = max(int(retry_after), 1)
    if retry_after < 90:
        wait = f"{retry_after} seconds"
    else:
        minutes = -(-retry_after // 60)
        wait = f"{minutes} minutes"
    message = f"{LIMIT_REASONS[limit]} Please wait {wait} and try again."
    response = error_response(request, 429, message, retry_after=retry_after, limit=limit)
    response["Retry-After"] = str(retry_after)
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


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """A database outage: a plain 503, never a traceback."""
    response = error_response(
        request, 503, "The service is briefly unavailable. Please try again in a minute."
    )
    response["Retry-After"] = "30"
    return response


def too_large_message() -> str:
    megabytes = settings.SEEN_MAX_UPLOAD_BYTES / (1024 * 1024)
    return f"The photo is too large: the limit is {megabytes:g} MB."


# --- error handlers (seen/urls.py, CSRF_FAILURE_VIEW) ---------------------------------------


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
