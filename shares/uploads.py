"""An upload read from a request and turned into a share: the upload page and the API's
POST /api/shares both take the same form, and answer with the same links."""

from django.conf import settings
from django.http import HttpRequest

from . import images, services
from .forms import ShareForm
from .responses import too_large_message


class UploadRejected(Exception):
    def __init__(self, status: int, message: str, form: ShareForm | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.form = form


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
            503,
            "Photo storage is unavailable right now, so nothing was saved."
            " Please try again in a minute.",
            form,
        ) from None
