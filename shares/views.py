"""Browser-facing views: parse the request, call one service, render."""

import re

from django.conf import settings
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext, gettext_lazy, ngettext
from django.views import i18n
from django.views.decorators.cache import cache_control, never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from . import services
from .forms import EndForm, PinForm, ReportForm, ShareForm
from .models import EndReason, Share
from .ratelimits import PinAttempts, PinGuessing, client_ip, pin_guessing_limited, rate_limited
from .responses import (
    error_response,
    manage_not_found,
    page_not_found,
    render_gone,
    render_suspended,
    share_not_found,
    storage_unavailable,
    too_many_requests,
    wants_json,
)
from .uploads import UploadRejected, absolute_url, create_from_request, share_links
from .viewrules import spends_nothing_for_previews

TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{32}$")


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
        # The names the sender's files had, for this page only: they are never stored.
        "photos": [
            {"position": position, "name": upload.name, "removed_metadata": list(words)}
            for position, (upload, words) in enumerate(
                zip(request.FILES.getlist("photo"), created.removed_metadata, strict=True),
                start=1,
            )
        ],
    }
    return render(request, "shares/created.html", context, status=201)


def _valid_token(token: str) -> bool:
    return bool(TOKEN_SHAPE.match(token))


@csrf_exempt  # the secret link is the capability; a forged request would need it too
@never_cache
@require_http_methods(["GET", "POST"])
@spends_nothing_for_previews
@pin_guessing_limited
@rate_limited("views")
def share(request: HttpRequest, token: str) -> HttpResponse:
    if not _valid_token(token):
        return share_not_found(request)
    if request.method == "GET":
        return _share_page(request, token)
    return _share_view(request, token)


def _share_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        share = services.share_get(token=token)
    except services.ShareNotFound:
        return share_not_found(request)
    except services.ShareGone as exc:
        return render_gone(request, exc.share.over_reason)
    except services.ShareSuspended:
        return render_suspended(request)
    context = {"share": share, "opened_times": services.share_opened_times(share)}
    return render(request, "shares/open.html", context)


def _share_view(request: HttpRequest, token: str) -> HttpResponse:
    form = PinForm(request.POST)
    if not form.is_valid():
        # Not a PIN at all (too long, not digits): no share's PIN can match it, so nothing
        # is looked up, checked or counted.
        return error_response(
            request, 400, gettext("The PIN is 4 to 8 digits."), code="pin_invalid"
        )
    pin = form.cleaned_data["pin"]
    try:
        viewed = services.share_view(token=token, pin=pin, pin_attempts=PinAttempts(request))
    except PinGuessing as exc:
        return too_many_requests(request, exc.retry_after, limit="pin_failures")
    except services.ShareNotFound:
        return share_not_found(request)
    except services.ShareGone as exc:
        return render_gone(request, exc.share.over_reason)
    except services.ShareSuspended:
        return render_suspended(request)
    except services.PinRequired as exc:
        return _pin_required(request, exc.share)
    except services.WrongPin as exc:
        return _wrong_pin(request, token, exc.attempts_left)
    except services.PhotoDamaged:
        return render_gone(request, EndReason.DAMAGED)
    except services.PhotoMissing:
        return render_gone(request, EndReason.MISSING)
    except services.StorageUnavailable:
        return storage_unavailable(request)
    if isinstance(viewed, services.ViewedAlbum):
        return _album(request, viewed)
    response = _photo_response(viewed.stream, viewed.content_type, viewed.size_bytes)
    remaining = viewed.views_remaining
    response["Seen-Views-Remaining"] = "unlimited" if remaining is None else str(remaining)
    if viewed.view_secret:
        response["Seen-End-Url"] = _end_path(viewed.view_secret)
    return response


def _photo_response(stream, content_type: str, size: int) -> FileResponse:
    """A photo's bytes, whole: never a part of them (Range is not honoured: see README,
    "What counts as a view")."""
    response = FileResponse(stream, content_type=content_type)
    response.block_size = 64 * 1024
    response["Content-Length"] = str(size)
    response["Content-Disposition"] = "inline"
    return response


def _end_path(view_secret: str) -> str:
    return f"/v/{view_secret}/done"


def _album(request: HttpRequest, viewed: services.ViewedAlbum) -> HttpResponse:
    """An album's view: its note and one address per photo, each good for one fetch until
    the window closes. JSON for scripts (and the page's own script), a page without it."""
    photos = [
        {
            "url": absolute_url(request, f"/v/{viewed.view_secret}/{photo.position}"),
            "position": photo.position,
            "content_type": photo.content_type,
            "size": photo.size_bytes,
            "width": photo.width,
            "height": photo.height,
        }
        for photo in viewed.photos
    ]
    end_url = _end_path(viewed.view_secret) if viewed.can_end else None
    if wants_json(request):
        remaining = viewed.views_remaining
        return JsonResponse(
            {
                "note": viewed.note,
                "photos": [{k: v for k, v in p.items() if k != "position"} for p in photos],
                "fetch_until": viewed.fetch_until.isoformat().replace("+00:00", "Z"),
                "views_remaining": remaining,
                "can_end": viewed.can_end,
                "end_url": end_url,
            }
        )
    context = {
        "note": viewed.note,
        "photos": photos,
        "fetch_until": viewed.fetch_until,
        "views_remaining": viewed.views_remaining,
        "prevent_download": viewed.prevent_download,
        "can_end": viewed.can_end,
        "end_url": end_url,
    }
    return render(request, "shares/album.html", context)


@csrf_exempt  # the view's secret is the capability
@never_cache
@require_http_methods(["GET"])
@spends_nothing_for_previews(spending=("GET", "HEAD"))
def photo(request: HttpRequest, secret: str, position: int) -> HttpResponse:
    """One photo of an album's view, once (GET /v/<secret>/<n>): never a view itself, and
    not counted against the views rate limit (the view that made the address was)."""
    if not _valid_token(secret):
        return page_not_found(request)
    try:
        fetched = services.photo_fetch(view_secret=secret, position=position)
    except services.ShareNotFound:
        return page_not_found(request)
    except services.PhotoFetched:
        return error_response(
            request,
            410,
            gettext(
                "This photo was already shown, or its time to load has passed: each photo "
                "of a view loads once. Open the link again to see it (if views are left)."
            ),
            code="photo_fetched",
        )
    except services.PhotoDamaged:
        return render_gone(request, EndReason.DAMAGED)
    except services.PhotoMissing:
        return render_gone(request, EndReason.MISSING)
    except services.StorageUnavailable:
        return storage_unavailable(request)
    return _photo_response(fetched.stream, fetched.content_type, fetched.size_bytes)


@csrf_exempt  # the view's secret is the capability
@never_cache
@require_POST
@spends_nothing_for_previews
@rate_limited("manage")
def done(request: HttpRequest, secret: str) -> HttpResponse:
    """ "I'm done, delete it now" (POST /v/<secret>/done, confirm=true)."""
    if not _valid_token(secret):
        return page_not_found(request)
    form = EndForm(request.POST)
    if not form.is_valid():
        message = " ".join(str(m) for errors in form.errors.values() for m in errors)
        return error_response(request, 400, message, code="confirm_required")
    try:
        share = services.share_end_by_viewer(view_secret=secret)
    except services.ShareNotFound:
        return page_not_found(request)
    except services.EndNotAllowed:
        return error_response(
            request,
            403,
            gettext("The sender did not let viewers delete this share; it ends by itself."),
            code="end_not_allowed",
        )
    if wants_json(request):
        return JsonResponse({"status": share.status, "end_reason": share.end_reason})
    message = gettext("Done: the photos are deleted, and this link no longer works.")
    return render(request, "shares/gone.html", {"message": message, "reason": "viewer"})


PIN_REQUIRED_MESSAGE = gettext_lazy(
    "This photo needs its PIN: enter the PIN the sender gave you. Nothing was used or counted."
)


def _pin_required(request: HttpRequest, share: Share) -> HttpResponse:
    """No PIN (or an empty one) sent to a share that has one. 400, like a PIN of the wrong
    shape, and not 403: on this address 403 means a PIN was checked and was wrong, which
    counts, or that the share is under review; 400 means nothing was checked, counted or
    spent, so a script can tell the two apart by the status alone. (401 would promise an
    HTTP authentication scheme in WWW-Authenticate; the PIN is a form field.)"""
    message = str(PIN_REQUIRED_MESSAGE)
    if wants_json(request):
        body = {"error": message, "code": "pin_required", "reason": "pin_required"}
        return JsonResponse(body, status=400)
    context = {"share": share, "error": message}
    return render(request, "shares/open.html", context, status=400)


def _wrong_pin_message(attempts_left: int) -> str:
    return ngettext(
        "Wrong PIN. %(count)s attempt left before the photo is deleted.",
        "Wrong PIN. %(count)s attempts left before the photo is deleted.",
        attempts_left,
    ) % {"count": attempts_left}


def _wrong_pin(request: HttpRequest, token: str, attempts_left: int) -> HttpResponse:
    if attempts_left == 0:
        return render_gone(request, EndReason.PIN)
    message = _wrong_pin_message(attempts_left)
    if wants_json(request):
        body = {"error": message, "code": "pin_wrong", "attempts_left": attempts_left}
        return JsonResponse(body, status=403)
    share = services.share_by_token(token=token)
    context = {"share": share, "error": message, "attempts_left": attempts_left}
    return render(request, "shares/open.html", context, status=403)


# --- abuse reports ------------------------------------------------------------------------


@csrf_exempt  # as share(): the secret link is the capability a forged request would need
@never_cache
@require_http_methods(["GET", "POST"])
@rate_limited("reports")
def report(request: HttpRequest, token: str) -> HttpResponse:
    """ "Report this photo": a reason and optional details. Never spends a view; enough
    open reports suspend the share at once (services.report_create)."""
    share = services.share_by_token(token=token) if _valid_token(token) else None
    if share is None:
        return share_not_found(request)
    # A share with a PIN gives the moderators its photo's key only with the PIN.
    context = {"share_path": f"/s/{token}", "asks_pin": share.has_pin and not share.is_over}
    if request.method == "GET":
        return render(request, "shares/report.html", {**context, "form": ReportForm()})
    form = ReportForm(request.POST)
    if not form.is_valid():
        if wants_json(request):
            body = {"error": form.error_text(), "code": form.error_code()}
            return JsonResponse(body, status=400)
        return render(request, "shares/report.html", {**context, "form": form}, status=400)
    try:
        services.report_create(
            token=token,
            reason=form.cleaned_data["reason"],
            details=form.cleaned_data["details"],
            reporter_address=client_ip(request),
            pin=form.cleaned_data["pin"],
            pin_attempts=PinAttempts(request),
        )
    except services.ShareNotFound:
        return share_not_found(request)
    except PinGuessing as exc:
        return too_many_requests(request, exc.retry_after, limit="pin_failures")
    except services.WrongPin as exc:
        if exc.attempts_left == 0:
            return render_gone(request, EndReason.PIN)
        message = " ".join(
            (
                _wrong_pin_message(exc.attempts_left),
                gettext(
                    "Nothing was sent. Enter the right PIN, or leave it empty to send the "
                    "report without it (the moderators then cannot see the photo)."
                ),
            )
        )
        if wants_json(request):
            payload = {"error": message, "code": "pin_wrong", "attempts_left": exc.attempts_left}
            return JsonResponse(payload, status=403)
        context = {**context, "form": form, "pin_error": message}
        return render(request, "shares/report.html", context, status=403)
    if wants_json(request):
        return JsonResponse({"status": "received"}, status=201)
    return render(request, "shares/report_sent.html", context, status=201)


@csrf_exempt  # the secret manage link is the capability, as above
@never_cache
@require_http_methods(["GET", "POST", "DELETE"])
@rate_limited("manage", methods=("POST", "DELETE"))
def manage(request: HttpRequest, token: str) -> HttpResponse:
    if not _valid_token(token):
        return manage_not_found(request)
    if request.method == "GET":
        managed = services.share_for_manage(manage_token=token)
        if managed is None:
            return manage_not_found(request)
        context = {"share": managed.share, "view_times": managed.view_times}
        return render(request, "shares/manage.html", context)
    try:
        share = services.share_revoke(manage_token=token)
    except services.ShareNotFound:
        return manage_not_found(request)
    if wants_json(request):
        return JsonResponse({"status": share.status, "end_reason": share.end_reason})
    return redirect(request.path)


# --- languages ------------------------------------------------------------------------------


@csrf_exempt  # share pages send "Origin: null" (no-referrer) and hold no CSRF cookie; a
# forged request could only change the language a visitor reads.
@never_cache
@require_POST
def language(request: HttpRequest) -> HttpResponse:
    """The footer's picker: Django's set_language keeps the choice in a cookie and sends
    the browser back to the page it came from ("next", a path on this site)."""
    return i18n.set_language(request)


_JAVASCRIPT_CATALOGUE = i18n.JavaScriptCatalog.as_view(packages=["shares"])


@require_safe
@cache_control(public=True, max_age=3600)
def javascript_catalogue(request: HttpRequest, language: str) -> HttpResponse:
    """The script texts (locale/<lang>/LC_MESSAGES/djangojs.po) of one language at an
    address of its own, loaded with <script src>: the CSP allows no inline script, and
    one address per language lets any cache keep it."""
    if language not in dict(settings.LANGUAGES):
        return page_not_found(request)
    with translation.override(language):
        response = _JAVASCRIPT_CATALOGUE(request)
    response["Content-Language"] = language
    return response
