"""Photo validation and metadata removal. Pure: knows nothing of HTTP, storage or the DB.

A photo is accepted only if Pillow decodes it fully as one of the allowed formats; the
file name and the client's content type are never consulted.
"""

import io
import warnings
from dataclasses import dataclass
from typing import IO

from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

FORMATS = {
    # Pillow format: (content type, file extension)
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}


class InvalidPhoto(ValueError):
    """The upload is not a photo we accept; the message is safe to show to the user."""


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    removed: tuple[str, ...]


def clean_photo(upload: IO[bytes], *, max_pixels: int) -> CleanPhoto:
    """Decode the upload, refuse anything that is not a whole photo, and return a copy
    without metadata (EXIF, GPS, XMP, comments, thumbnails)."""
    raw = upload.read()
    if not raw:
        raise InvalidPhoto("The file is empty.")
    image = _open(raw, max_pixels=max_pixels)
    removed = _describe_metadata(image)
    data = _strip(image)
    content_type, extension = FORMATS[image.format]
    width, height = _oriented_size(image)
    return CleanPhoto(
        data=data,
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        removed=removed,
    )


def _open(raw: bytes, *, max_pixels: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=list(FORMATS))
            # Refuse before decoding: a tiny file may declare billions of pixels.
            if image.width * image.height > max_pixels:
                raise InvalidPhoto(
                    f"The photo is too large ({image.width}x{image.height} pixels); "
                    f"the limit is {max_pixels // 1_000_000} megapixels."
                )
            for frame in range(getattr(image, "n_frames", 1)):
                image.seek(frame)
                image.load()
            image.seek(0)
    except InvalidPhoto:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InvalidPhoto("This file is not a photo (JPEG, PNG, GIF or WebP).") from None
    except (OSError, SyntaxError, ValueError, EOFError):
        raise InvalidPhoto("The photo is damaged or incomplete and cannot be shown.") from None
    return image


def _describe_metadata(image: Image.Image) -> tuple[str, ...]:
    """Plain words for the metadata the upload carried and the copy will not."""
    removed = []
    exif = image.getexif()
    if exif.get_ifd(0x8825):
        removed.append("location")
    if exif.get(0x010F) or exif.get(0x0110):
        removed.append("camera model")
    if exif.get(0x0132) or exif.get_ifd(0x8769).get(0x9003):
        removed.append("date taken")
    if any(key in image.info for key in ("xmp", "XML:com.adobe.xmp", "comment", "photoshop")):
        removed.append("other metadata")
    elif exif and not removed:
        removed.append("other metadata")
    return tuple(removed)


def _oriented_size(image: Image.Image) -> tuple[int, int]:
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (5, 6, 7, 8):
        return image.height, image.width
    return image.width, image.height


def _strip(image: Image.Image) -> bytes:
    out = io.BytesIO()
    icc = image.info.get("icc_profile")
    fmt = image.format
    if fmt == "GIF" or (fmt == "WEBP" and getattr(image, "n_frames", 1) > 1):
        frames = [frame.copy() for frame in ImageSequence.Iterator(image)]
        durations = []
        for index in range(len(frames)):
            image.seek(index)
            durations.append(image.info.get("duration", 100))
        image.seek(0)
        options = {"save_all": True, "append_images": frames[1:], "duration": durations}
        if "loop" in image.info:
            options["loop"] = image.info["loop"]
        if fmt == "WEBP":
            options["lossless"] = True
        frames[0].save(out, format=fmt, **options)
        return out.getvalue()

    upright = ImageOps.exif_transpose(image)
    options = {"icc_profile": icc} if icc else {}
    if fmt == "JPEG":
        if upright.mode not in ("RGB", "L", "CMYK"):
            upright = upright.convert("RGB")
        upright.save(out, format="JPEG", quality=95, **options)
    elif fmt == "PNG":
        upright.save(out, format="PNG", optimize=False, **options)
    else:
        upright.save(out, format="WEBP", lossless=True, **options)
    return out.getvalue()
