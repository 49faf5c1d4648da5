"""An upload read from a request and turned into a share: the upload page and the API's
POST /api/shares both take the same form, and answer with the same links."""

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext

from . import images, services
from .forms import ShareForm
from .responses import share_too_large_message, too_large_message


class UploadRejected(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        form: ShareForm | None = None,
        *,
        code: str,
        photo: int | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.form = form
        # The stable name of the refusal (README, "Error codes").
        self.code = code
        # Which photo (1, 2, …) was refused, when one was.
        self.photo = photo

    def body(self) -> dict:
        """The API's JSON answer."""
        body = {"error": self.message, "code": self.code}
        if self.photo is not None:
            body["photo"] = self.photo
        return body


def absolute_url(request: HttpRequest, path: str) -> str:
    if settings.SEEN_BASE_URL:
        return settings.SEEN_BASE_URL + path
    return request.build_absolute_uri(path)


def share_links(request: HttpRequest, created: services.CreatedShare) -> dict:
    removed = [word for words in created.removed_metadata for word in words]
    return {
        "url": absolute_url(request, f"/s/{created.token}"),
        "manage_url": absolute_url(request, f"/m/{created.manage_token}"),
        "views": created.share.view_limit or 0,
        "expires_at": created.share.expires_at.isoformat().replace("+00:00", "Z"),
        # What was found and taken out of any photo, in plain words and in the order the
        # page shows them (images.WORD_ORDER); empty when the photos carried none of it.
        "removed_metadata": [word for word in images.WORD_ORDER if word in removed],
        "photos": [
            {
                "content_type": photo.content_type,
                "size": photo.size_bytes,
                "width": photo.width,
                "height": photo.height,
                "removed_metadata": list(words),
            }
            for photo, words in zip(created.photos, created.removed_metadata, strict=True)
        ],
        "note": created.share.has_note,
        "viewer_can_end": created.share.viewers_can_end,
    }


def photo_label(position: int, name: str) -> str:
    """How a refusal names one photo of an upload: "Photo 3 (scan.pdf)"."""
    name = (name or "").rsplit("/", 1)[-1].rsplit("\\", 1)[-1][:80]
    if name:
        return gettext("Photo %(position)s (%(name)s)") % {"position": position, "name": name}
    return gettext("Photo %(position)s") % {"position": position}


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


def _naming(photos: list, position: int, message: str) -> str:
    """A refusal of one photo: of several, it names which ("Photo 3 (scan.jpg): …")."""
    if len(photos) == 1:
        return message
    return f"{photo_label(position, photos[position - 1].name)}: {message}"


def create_from_request(request: HttpRequest) -> services.CreatedShare:
    """Validate an upload (web form or API) and create the share, or raise UploadRejected.
    All or nothing: one refused photo refuses the upload, naming that photo."""
    form = ShareForm(request.POST, request.FILES)
    if not form.is_valid():
        raise UploadRejected(400, form.error_text(), form, code=form.error_code())
    photos = form.cleaned_data["photo"]
    for position, photo in enumerate(photos, start=1):
        if photo.size > settings.SEEN_MAX_UPLOAD_BYTES:
            message = _naming(photos, position, too_large_message())
            raise UploadRejected(413, message, form, code="too_large", photo=position)
    if sum(photo.size for photo in photos) > settings.SEEN_MAX_SHARE_BYTES:
        raise UploadRejected(413, share_too_large_message(), form, code="share_too_large")
    try:
        return services.share_create(
            photos=photos,
            views=form.cleaned_data["views"],
            expires_in=form.cleaned_data["expires_in"],
            pin=form.cleaned_data["pin"],
            prevent_download=form.cleaned_data["prevent_download"],
            note=form.cleaned_data["note"],
            viewer_can_end=form.cleaned_data["viewer_can_end"],
        )
    except services.PhotoRefused as exc:
        message = _naming(photos, exc.position, invalid_photo_message(exc.error))
        raise UploadRejected(400, message, form, code=exc.error.code, photo=exc.position) from None
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
