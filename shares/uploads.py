"""An upload read from a request and turned into a share: the upload page and the API's
POST /api/shares both take the same form, and answer with the same links."""

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext

from . import images, services
from .forms import ShareForm
from .responses import too_large_message


class UploadRejected(Exception):
    def __init__(self, status: int, message: str, form: ShareForm | None = None, *, code: str):
        super().__init__(message)
        self.status = status
        self.message = message
        self.form = form
        # The stable name of the refusal (README, "Error codes").
        self.code = code


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
        # What was found and taken out, in plain words and in the order the page shows
        # them (images.WORD_ORDER); empty when the photo carried none of it.
        "removed_metadata": list(created.removed_metadata),
    }


def invalid_photo_message(exc: images.InvalidPhoto) -> str:
    """images' refusal in the sender's language (images.py itself knows no Django)."""
    params = exc.params
    if exc.code == "photo_empty":
        return gettext("The file is empty.")
    if exc.code == "photo_not_supported":
        if params.get("animated"):
            return gettext("Animated AVIF is not supported; send it as an animated GIF or WebP.")
        return gettext("This file is not a photo (JPEG, PNG, GIF, WebP, HEIC or AVIF).")
    if exc.code == "photo_too_large":
        if "width" in params:
            return (
                gettext(
                    "The photo is too large (%(width)sx%(height)s pixels): the limit is "
                    "%(limit)s megapixels."
                )
                % params
            )
        return gettext("The photo is too large: the limit is %(limit)s megapixels.") % params
    if exc.code == "photo_too_large_to_decode":
        return (
            ngettext(
                "The photo is too large to decode (%(width)sx%(height)s pixels need %(needed)s "
                "MB): the limit is %(limit)s MB.",
                "The photo is too large to decode (%(frames)s frames of %(width)sx%(height)s "
                "pixels need %(needed)s MB): the limit is %(limit)s MB.",
                params["frames"],
            )
            % params
        )
    if exc.code == "photo_too_many_frames":
        return gettext(
            "The animation has too many frames (%(frames)s): the limit is %(limit)s."
        ) % {"frames": f"{params['frames']:,}", "limit": f"{params['limit']:,}"}
    if exc.code == "photo_too_many_scans":
        return (
            gettext(
                "The photo has more than %(limit)s scans, which no camera or encoder writes; "
                "it cannot be shown."
            )
            % params
        )
    return gettext("The photo is damaged or incomplete and cannot be shown.")


def create_from_request(request: HttpRequest) -> services.CreatedShare:
    """Validate an upload (web form or API) and create the share, or raise UploadRejected."""
    form = ShareForm(request.POST, request.FILES)
    if not form.is_valid():
        raise UploadRejected(400, form.error_text(), form, code=form.error_code())
    photo = form.cleaned_data["photo"]
    if photo.size > settings.SEEN_MAX_UPLOAD_BYTES:
        raise UploadRejected(413, too_large_message(), form, code="too_large")
    try:
        return services.share_create(
            photo=photo,
            views=form.cleaned_data["views"],
            expires_in=form.cleaned_data["expires_in"],
            pin=form.cleaned_data["pin"],
            prevent_download=form.cleaned_data["prevent_download"],
        )
    except images.InvalidPhoto as exc:
        raise UploadRejected(400, invalid_photo_message(exc), form, code=exc.code) from None
    except services.StorageUnavailable:
        raise UploadRejected(
            503,
            gettext(
                "Photo storage is unavailable right now, so nothing was saved. Please try "
                "again in a minute."
            ),
            form,
            code="storage_unavailable",
        ) from None
