"""Every refusal and error answer, in one place: JSON for the API and scripts, a page for
browsers. Views, the API, middleware and the rate limiter answer through these, so none
of them needs another's module (and the messages tests check are written once).

Pages speak the viewer's language; JSON stays English (shares.middleware.LanguageMiddleware)
and carries a stable `code` on every error, listed in README ("Error codes"), so that no
program has to read the prose."""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils.translation import gettext, gettext_lazy, ngettext

from .models import EndReason

# Every `code` a JSON error may carry, with its status and what it means. README's "Error
# codes" lists the same; openapi.py documents them; test_error_codes.py produces each one.
ERROR_CODES = {
    "bad_request": (400, "The request could not be read (e.g. Content-Length is not a number)."),
    "body_incomplete": (400, "The body ended before Content-Length said it would."),
    "field_repeated": (400, "A form field was sent more than once."),
    "invalid_photo": (400, "No photo was sent, or not as a file."),
    "invalid_views": (400, "views is not one of the allowed counts."),
    "invalid_expires_in": (400, "expires_in is not one of the allowed durations."),
    "invalid_pin": (400, "The upload's PIN is not 4 to 8 digits."),
    "invalid_prevent_download": (400, "prevent_download is not true or false."),
    "invalid_reason": (400, "A report without a reason, or with an unknown one."),
    "invalid_details": (400, "A report's details are over 2000 characters."),
    "photo_not_supported": (400, "Not a photo in an accepted format."),
    "photo_damaged": (400, "The photo is damaged or incomplete."),
    "photo_too_large": (400, "The photo has more pixels than SEEN_MAX_PIXELS."),
    "photo_too_large_to_decode": (400, "Decoding the photo would need more than the budget."),
    "photo_too_many_frames": (400, "An animation with more frames than allowed."),
    "photo_too_many_scans": (400, "A progressive JPEG with more scans than any camera writes."),
    "pin_required": (400, "The share has a PIN and none was sent; nothing was counted."),
    "pin_invalid": (400, "The PIN sent to view is not 4 to 8 digits; nothing was counted."),
    "pin_wrong": (403, "A wrong PIN; attempts_left says how many remain."),
    "suspended": (403, "The share is under review after reports; no view was spent."),
    "foreign_origin": (403, "An API upload from another site's page."),
    "forbidden": (403, "Not allowed."),
    "csrf_failed": (403, "The upload form's CSRF token was missing or expired."),
    "not_found": (404, "No share at this link or manage link, or nothing at this address."),
    "method_not_allowed": (405, "This address does not take this method (see Allow)."),
    "gone": (410, "The share ended; reason says why (viewed, expired, revoked, pin, ...)."),
    "too_large": (413, "A photo is over SEEN_MAX_UPLOAD_BYTES; photo says which (1, 2, ...)."),
    "share_too_large": (413, "The photos together are over SEEN_MAX_SHARE_BYTES."),
    "too_many_photos": (400, "More photos than SEEN_MAX_PHOTOS in one share."),
    "invalid_note": (400, "The note is over 1,000 characters."),
    "invalid_viewer_can_end": (400, "viewer_can_end is not true or false."),
    "confirm_required": (400, "Ending a share as a viewer needs confirm=true."),
    "end_not_allowed": (403, "This share's sender did not let viewers end it."),
    "photo_fetched": (410, "A one-time photo address already used, or its window closed."),
    "rate_limited": (429, "Too many requests; limit says which, retry_after how long to wait."),
    "server_error": (500, "Something failed on the server."),
    "storage_unavailable": (503, "The photo store cannot be reached; nothing was spent."),
    "service_unavailable": (503, "The database cannot be reached."),
}


def wants_json(request: HttpRequest) -> bool:
    # No browser form sends DELETE (DELETE /m/<token> is for scripts), so its errors are
    # JSON like its answer, whatever Accept says (curl sends */*).
    if request.path.startswith("/api/") or request.method == "DELETE":
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def error_response(
    request: HttpRequest, status: int, message: str, *, code: str, **extra
) -> HttpResponse:
    """A 4xx/5xx in the form the client reads: JSON for the API and scripts, else a page.
    `code` is the error's stable name (README, "Error codes")."""
    if wants_json(request):
        return JsonResponse({"error": message, "code": code, **extra}, status=status)
    context = {"status": status, "message": message, "code": code, **extra}
    return render(request, "error.html", context, status=status)


def share_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        404,
        gettext("There is no photo at this link. Check that you copied the whole link."),
        code="not_found",
    )


def manage_not_found(request: HttpRequest) -> HttpResponse:
    return error_response(
        request,
        404,
        gettext(
            "There is no share at this manage link. If it ended, it has already been cleaned up."
        ),
        code="not_found",
    )


_GONE_MESSAGES = {
    EndReason.VIEWED: gettext_lazy(
        "This photo has been viewed as many times as the sender allowed, and it has been deleted."
    ),
    EndReason.EXPIRED: gettext_lazy("This link has expired and the photo has been deleted."),
    EndReason.REVOKED: gettext_lazy("The sender deleted this photo."),
    EndReason.PIN: gettext_lazy("This photo was deleted after too many wrong PINs."),
    EndReason.REMOVED: gettext_lazy("This photo was removed by a moderator."),
    EndReason.MISSING: gettext_lazy("This photo is no longer available."),
    EndReason.DAMAGED: gettext_lazy("This photo is no longer available."),
    EndReason.VIEWER: gettext_lazy(
        "A viewer ended this share when they were done, and its photos have been deleted."
    ),
}


def render_gone(request: HttpRequest, reason: str) -> HttpResponse:
    """410: the share is over for good (reason: an EndReason; a share that was never
    ended but is past its expiry is EndReason.EXPIRED)."""
    message = str(_GONE_MESSAGES.get(reason, _GONE_MESSAGES[EndReason.EXPIRED]))
    if wants_json(request):
        return JsonResponse({"error": message, "code": "gone", "reason": reason}, status=410)
    return render(request, "shares/gone.html", {"message": message, "reason": reason}, status=410)


def render_suspended(request: HttpRequest) -> HttpResponse:
    """A reported share under review. 403, not 410 or 404: the photo exists and may come
    back once a moderator restores it, and access is refused by the operator's decision
    (451 is for legal demands; a report is only an allegation). No view was spent."""
    message = gettext(
        "This photo has been reported and is under review, so it cannot be viewed for now. "
        "No view was used."
    )
    if wants_json(request):
        return JsonResponse(
            {"error": message, "code": "suspended", "reason": "suspended"}, status=403
        )
    return render(request, "shares/suspended.html", {"message": message}, status=403)


# What a 429 says triggered it, in plain words: someone refused needs to know which of
# their actions to stop (a tester locked out by wrong PINs saw every link refused).
LIMIT_REASONS = {
    "uploads": gettext_lazy("Too many uploads from your address."),
    "views": gettext_lazy("Too many views from your address."),
    "pin_failures": gettext_lazy(
        "Too many wrong PINs from your address. Until the wait is over, no photo can be "
        "viewed from this address, on any link, with or without a PIN."
    ),
    "manage": gettext_lazy("Too many deletions through manage links from your address."),
    "reports": gettext_lazy("Too many reports from your address."),
    "admin_login": gettext_lazy("Too many admin login attempts from your address."),
}


def too_many_requests(request: HttpRequest, retry_after: int, *, limit: str) -> HttpResponse:
    """429 for a client over `limit` (a key of SEEN_RATE_LIMITS): what triggered it and how
    long to wait, in the page, and as "limit" and "retry_after" in JSON."""
    retry_after = max(int(retry_after), 1)
    if retry_after < 90:
        wait = ngettext(
            "Please wait %(count)s second and try again.",
            "Please wait %(count)s seconds and try again.",
            retry_after,
        ) % {"count": retry_after}
    else:
        minutes = -(-retry_after // 60)
        wait = ngettext(
            "Please wait %(count)s minute and try again.",
            "Please wait %(count)s minutes and try again.",
            minutes,
        ) % {"count": minutes}
    message = f"{LIMIT_REASONS[limit]} {wait}"
    response = error_response(
        request, 429, message, code="rate_limited", retry_after=retry_after, limit=limit
    )
    response["Retry-After"] = str(retry_after)
    return response


def storage_unavailable(request: HttpRequest) -> HttpResponse:
    """The photo store failed before anything was spent: try again later."""
    response = error_response(
        request,
        503,
        gettext(
            "The photo cannot be fetched from storage right now. No view was used: "
            "please try again in a minute."
        ),
        code="storage_unavailable",
    )
    response["Retry-After"] = "30"
    return response


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """A database outage: a plain 503, never a traceback."""
    response = error_response(
        request,
        503,
        gettext("The service is briefly unavailable. Please try again in a minute."),
        code="service_unavailable",
    )
    response["Retry-After"] = "30"
    return response


def too_large_message() -> str:
    megabytes = settings.SEEN_MAX_UPLOAD_BYTES / (1024 * 1024)
    return gettext("The photo is too large: the limit is %(megabytes)s MB.") % {
        "megabytes": f"{megabytes:g}"
    }


def share_too_large_message() -> str:
    megabytes = settings.SEEN_MAX_SHARE_BYTES / (1024 * 1024)
    return gettext(
        "The photos are too large together: the limit for one share is %(megabytes)s MB. "
        "Nothing was saved."
    ) % {"megabytes": f"{megabytes:g}"}


def too_many_photos(request: HttpRequest) -> HttpResponse:
    limit = settings.SEEN_MAX_PHOTOS
    message = ngettext(
        "Photo %(position)s is one too many: a share holds up to %(limit)s photo. "
        "Nothing was saved.",
        "Photo %(position)s is one too many: a share holds up to %(limit)s photos. "
        "Nothing was saved.",
        limit,
    ) % {"position": limit + 1, "limit": limit}
    return error_response(request, 400, message, code="too_many_photos", photo=limit + 1)


# --- error handlers (seen/urls.py, CSRF_FAILURE_VIEW) ---------------------------------------


def bad_request(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(
        request, 400, gettext("The request could not be understood."), code="bad_request"
    )


def permission_denied(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(
        request, 403, gettext("You are not allowed to do that."), code="forbidden"
    )


def page_not_found(request: HttpRequest, exception=None) -> HttpResponse:
    return error_response(
        request, 404, gettext("There is nothing at this address."), code="not_found"
    )


def server_error(request: HttpRequest) -> HttpResponse:
    message = gettext(
        "Something went wrong on our side. Nothing about your photo was shown to anyone."
    )
    if wants_json(request):
        return JsonResponse({"error": message, "code": "server_error"}, status=500)
    return HttpResponse(render_to_string("500.html", {"message": message}), status=500)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    return error_response(
        request,
        403,
        gettext("The form expired. Reload the page and try again."),
        code="csrf_failed",
    )
