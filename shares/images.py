"""Photo validation and metadata removal. Pure: knows nothing of HTTP, storage or the DB.

A photo is accepted only if it is a whole JPEG, PNG, GIF, WebP, HEIC/HEIF or AVIF file
that Pillow decodes; the file name and the client's content type are never consulted.

JPEG, PNG, GIF and WebP are cleaned *losslessly*: the file is taken apart into its
segments (JPEG markers, PNG chunks, GIF blocks, RIFF chunks), the ones that carry
pixels, colour or animation are kept and everything else (EXIF with GPS, camera and
dates, XMP, IPTC, comments, thumbnails, data after the end) is left out. Pixel data is
copied byte for byte; segments of a fixed form are written again from their fields, so
nothing hidden after them survives. Pillow only ever reads that copy, which is then
decoded in full (within a budget, see below), so what is stored is known to be a whole
picture. Nothing is re-encoded, so the pixels are exactly the upload's, animations keep
their frames and timing, and cleaning a 12 MP JPEG costs a fraction of a re-encode
(bench/sanitise.py).

Orientation is kept, not applied, for JPEG and PNG: when the EXIF said the camera was
turned, the copy carries a new EXIF block holding that one tag and nothing else.
Rotating a JPEG's pixels would mean re-encoding it (lossy) or, losslessly, only when its
size is a multiple of the 8 or 16 pixel blocks; browsers honour the tag in JPEG and PNG
(CSS `image-orientation: from-image` is their default) and so do photo viewers. They
ignore it in WebP, so a turned WebP (rare: cameras do not write WebP) is turned and
written again losslessly instead.

HEIC/HEIF (iPhone's default) and AVIF are decoded and converted to JPEG (quality 92,
colour profile kept, orientation applied) with no metadata at all, or to PNG when they
have transparency: JPEG is the one format every browser and mail client shows, and
those containers cannot be rewritten losslessly with the tools we have.
"""

import contextlib
import ctypes
import io
import re
import struct
import threading
import warnings
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# HEIC/HEIF decoding comes from libheif; Pillow decodes AVIF itself.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
# Pillow warns about pictures over its own MAX_IMAGE_PIXELS; ours (max_pixels) is checked
# right after the header is read, before any decoding. A process-wide filter, because
# warnings.catch_warnings() is not thread-safe and gunicorn runs threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _return_large_buffers_to_the_system() -> None:
    """Have glibc give every buffer of 1 MB or more its own mapping, unmapped when freed.

    By default glibc raises that threshold as large buffers are freed, so Pillow's 16 MB
    blocks end up in per-thread heaps that it keeps: one decode at a time, but each of a
    worker's 8 threads kept its own 200 MB, and 16 uploads of a 49 MP AVIF peaked at 2.2 GB
    instead of 0.5. Process-wide, like the filter above; a no-op where libc is not glibc."""
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, 1 << 20)


_M_MMAP_THRESHOLD = -3  # from glibc's malloc.h
_return_large_buffers_to_the_system()

FORMATS = {
    # Pillow format: (content type, file extension)
    "JPEG": ("image/jpeg", "jpg"),
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
CONVERTED_FORMATS = ("HEIF", "AVIF")
# The openers to try on what has no signature of the formats above (HEIF/AVIF); those
# are opened only as their cleaned copy, so a JPEG's MPF is gone and it reads as "JPEG".
OPENERS = ["JPEG", "PNG", "GIF", "WEBP", *CONVERTED_FORMATS]
JPEG_QUALITY = 92

# The decode budget. A few hundred bytes can declare a picture that takes gigabytes and
# minutes to decode, so before any pixel is decoded the memory the decoder will need is
# worked out from the header (frames x canvas x bytes per pixel, see _decode_cost) and
# refused over max_decode_bytes; and only decodes_at_once photos are decoded at a time in
# a process, so a worker's decoding memory stays under decodes_at_once x max_decode_bytes
# however many uploads arrive together. 512 MiB holds a 50 MP HEIC or AVIF (about 10 bytes
# a pixel while it is decoded), a 48 MP progressive JPEG, or 400 frames of 640x480.
DEFAULT_MAX_DECODE_BYTES = 512 * 1024 * 1024
DEFAULT_DECODES_AT_ONCE = 1
# Frames in one animation: a real GIF, APNG or WebP has tens to hundreds. Counted while the
# blocks are parsed, because every frame costs a decoder call even at 1x1 pixels (400,000
# of them took 12 s), and Pillow's own count walks the whole file.
MAX_FRAMES = 1000
# Scans in one JPEG. A baseline JPEG has 1 per component, a progressive one about 10
# (libjpeg's default script writes 10, mozjpeg's up to 64 only with optimised scans off).
# Every progressive refinement scan walks the whole picture again and libjpeg only warns
# about a senseless scan sequence, so a 380 KB file repeating one scan 2,500 times cost 92 s
# of CPU. 100 leaves room for every encoder we know of.
MAX_JPEG_SCANS = 100
# HEIC/AVIF while decoded: libheif/libavif's YUV planes (1.5-3 bytes a pixel), their RGB
# output (3-4) and Pillow's copy (4). Measured: 9.3 for a 49 MP AVIF, 8.5 for a 48 MP HEIC.
_CONVERT_BYTES_PER_PIXEL = 10

NOT_A_PHOTO = "This file is not a photo (JPEG, PNG, GIF, WebP, HEIC or AVIF)."
DAMAGED = "The photo is damaged or incomplete and cannot be shown."

# The words the sender reads on the result page, in the order they are shown.
LOCATION = "location"
CAMERA = "camera model"
SERIAL = "camera serial number"
DATE = "date taken"
THUMBNAIL = "thumbnail"
COMMENTS = "comments"
TRAILER = "data hidden after the image"
OTHER = "other metadata"
WORD_ORDER = (LOCATION, CAMERA, SERIAL, DATE, THUMBNAIL, COMMENTS, TRAILER, OTHER)


class InvalidPhoto(ValueError):
    """The upload is not a photo we accept; the message is safe to show to the user.

    `code` names the refusal for programs (the API's "code") and `params` hold its
    numbers, so that a caller can say it in the sender's language."""

    def __init__(self, message: str, code: str = "photo_damaged", **params: object):
        super().__init__(message)
        self.code = code
        self.params = params


@dataclass(frozen=True)
class CleanPhoto:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int
    removed: tuple[str, ...]


def clean_photo(
    upload: IO[bytes],
    *,
    max_pixels: int,
    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES,
    decodes_at_once: int = DEFAULT_DECODES_AT_ONCE,
) -> CleanPhoto:
    """Check that the upload is a whole photo of an accepted format and return a copy
    without metadata. Raises InvalidPhoto with a message for the sender.

    max_pixels bounds one picture's canvas, max_decode_bytes what decoding it may need
    (all frames), and decodes_at_once how many photos this process decodes together."""
    raw = upload.read()
    if not raw:
        raise InvalidPhoto("The file is empty.", "photo_empty")
    found = _Found()
    budget = _Budget(pixels=max_pixels, decode_bytes=max_decode_bytes)
    signature = _signature(raw)
    if signature is None:
        fmt = _identify(raw, max_pixels=max_pixels)
        if fmt not in CONVERTED_FORMATS:  # Pillow's readers want the signatures above
            raise InvalidPhoto(DAMAGED)
        with _decode_slot(decodes_at_once):
            return _convert(raw, fmt, found, budget=budget)

    # Taken apart first, so Pillow only ever reads the copy, never the upload's metadata:
    # its JPEG reader joins EXIF segments one by one (2,100 of them took 3 s of CPU).
    strips = {"JPEG": _strip_jpeg, "PNG": _strip_png, "GIF": _strip_gif, "WEBP": _strip_webp}
    data, orientation, frames = strips[signature](raw, found)
    del raw  # the copy is all that is needed from here on
    fmt = _identify(data, max_pixels=max_pixels)
    if fmt != signature:  # MPO cannot be: its pictures after the first are gone
        raise InvalidPhoto(DAMAGED)
    turn = fmt == "WEBP" and orientation != 1
    with _decode_slot(decodes_at_once):
        width, height = _decode_fully(data, fmt, frames, budget=budget, decode=not turn)
        if turn:  # turning decodes every frame too: that is the proof they are whole
            with _decoding(budget.pixels):
                data = _turn_webp(data, orientation)
    if orientation in (5, 6, 7, 8):  # turned a quarter: the viewer sees it the other way
        width, height = height, width
    content_type, extension = FORMATS[fmt]
    return CleanPhoto(
        data=data,
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        removed=found.words(),
    )


# --- identify and decode -----------------------------------------------------------------


@dataclass(frozen=True)
class _Budget:
    pixels: int  # one picture's canvas
    decode_bytes: int  # what decoding every frame of it may need


_slots: dict[int, threading.BoundedSemaphore] = {}
_slots_lock = threading.Lock()


@contextlib.contextmanager
def _decode_slot(decodes_at_once: int) -> Iterator[None]:
    """Hold one of this process's decode slots (one set per size, so a process configured
    once shares one set between all its threads). Waiting is cheap; decoding is not."""
    with _slots_lock:
        slots = _slots.setdefault(decodes_at_once, threading.BoundedSemaphore(decodes_at_once))
    with slots:
        yield


def _bytes_per_pixel(mode: str) -> int:
    """What Pillow keeps per pixel: one byte for 1, L and P, two for 16-bit grey, and four
    for every other mode (RGB and LA included: Pillow pads them to four bytes)."""
    if mode in ("1", "L", "P"):
        return 1
    if mode.startswith("I;16"):
        return 2
    return 4


def _decode_cost(image: Image.Image, frames: int) -> int:
    """Bytes of memory decoding this picture (every frame) needs at most, from its header."""
    pixels = image.width * image.height
    if image.format == "JPEG":
        if image.info.get("progressive") or image.info.get("progression"):
            # libjpeg keeps every coefficient of a progressive JPEG: 2 bytes a component
            return pixels * len(image.getbands()) * 2
        return pixels * 4 // 64  # decoded row by row at 1/8 scale (see _decode_fully)
    if frames > 1:
        # Frames are composed onto an RGBA canvas, and the decoder holds the previous one
        # (for disposal) and its own buffer: never fewer than three canvases at once.
        return pixels * 4 * max(frames, 3)
    if image.format == "WEBP":
        return pixels * 4 * 2  # libwebp's buffer and Pillow's copy
    return pixels * _bytes_per_pixel(image.mode)


def _check_budget(cost: int, budget: _Budget, image: Image.Image, frames: int) -> None:
    if cost <= budget.decode_bytes:
        return
    what = (
        f"{frames} frames of {image.width}x{image.height} pixels"
        if frames > 1
        else (f"{image.width}x{image.height} pixels")
    )
    raise InvalidPhoto(
        f"The photo is too large to decode ({what} need {_megabytes(cost)} MB): "
        f"the limit is {_megabytes(budget.decode_bytes)} MB.",
        "photo_too_large_to_decode",
        frames=frames,
        width=image.width,
        height=image.height,
        needed=_megabytes(cost),
        limit=_megabytes(budget.decode_bytes),
    )


def _megabytes(size: int) -> str:
    megabytes = size / 1_048_576
    return f"{megabytes:,.0f}" if megabytes >= 10 else f"{megabytes:.2g}"


def _too_many_frames(frames: int) -> InvalidPhoto:
    return InvalidPhoto(
        f"The animation has too many frames ({frames:,}): the limit is {MAX_FRAMES:,}.",
        "photo_too_many_frames",
        frames=frames,
        limit=MAX_FRAMES,
    )


def _too_large(max_pixels: int, size: tuple[int, int] | None = None) -> InvalidPhoto:
    limit = f"the limit is {max_pixels / 1_000_000:g} megapixels"
    megapixels = f"{max_pixels / 1_000_000:g}"
    if size is None:
        return InvalidPhoto(
            f"The photo is too large: {limit}.", "photo_too_large", limit=megapixels
        )
    return InvalidPhoto(
        f"The photo is too large ({size[0]}x{size[1]} pixels): {limit}.",
        "photo_too_large",
        limit=megapixels,
        width=size[0],
        height=size[1],
    )


def _identify(raw: bytes, *, max_pixels: int) -> str:
    """The format, read from the file's header only; refuses a picture that declares
    more pixels than the limit before a single pixel is decoded."""
    try:
        image = Image.open(io.BytesIO(raw), formats=OPENERS)
    except Image.DecompressionBombError:
        # Pillow's own ceiling (twice its MAX_IMAGE_PIXELS), met before ours can be.
        raise _too_large(max_pixels) from None
    except UnidentifiedImageError:
        # No opener took it: a photo's signature with a broken body is a damaged photo.
        if _looks_like_a_photo(raw):
            raise InvalidPhoto(DAMAGED) from None
        raise InvalidPhoto(NOT_A_PHOTO, "photo_not_supported") from None
    except Exception:  # any parser failure on untrusted bytes means the file is unusable
        raise InvalidPhoto(DAMAGED) from None
    with image:
        if image.width < 1 or image.height < 1:
            raise InvalidPhoto(DAMAGED)
        if image.width * image.height > max_pixels:
            raise _too_large(max_pixels, image.size)
        return image.format


def _signature(raw: bytes) -> str | None:
    """The losslessly cleaned format a file's first bytes announce (Pillow's readers want
    the same bytes), or None."""
    if raw.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if raw.startswith(PNG_SIGNATURE):
        return "PNG"
    if raw[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    return None


_HEIF_BRANDS = (
    b"heic",
    b"heix",
    b"heim",
    b"heis",
    b"hevc",
    b"hevx",
    b"hevm",
    b"hevs",
    b"mif1",
    b"msf1",
    b"avif",
    b"avis",
)


def _looks_like_a_photo(raw: bytes) -> bool:
    return (
        raw.startswith((b"\xff\xd8\xff", PNG_SIGNATURE, b"GIF87a", b"GIF89a"))
        or (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP")
        or (raw[4:8] == b"ftyp" and raw[8:12] in _HEIF_BRANDS)
    )


def _decode_fully(
    data: bytes, fmt: str, frames: int, *, budget: _Budget, decode: bool = True
) -> tuple[int, int]:
    """Decode every frame of what will be stored; refuse it if any part is missing or
    broken, or if decoding it would need more than the budget (checked first, also when
    `decode` is false because the caller decodes it anyway). `frames` is the count the
    strip step made. Returns the stored (unrotated) width and height."""
    with _decoding(budget.pixels), Image.open(io.BytesIO(data), formats=[fmt]) as image:
        if image.width * image.height > budget.pixels:
            raise _too_large(budget.pixels, image.size)
        if fmt != "GIF":  # GIF's was counted while its blocks were parsed
            frames = getattr(image, "n_frames", 1)
        if frames > MAX_FRAMES:
            raise _too_many_frames(frames)
        _check_budget(_decode_cost(image, frames), budget, image, frames)
        if not decode:
            return image.size
        if image.format == "JPEG":
            # libjpeg still reads and Huffman-decodes every block of every scan
            # (so a cut or broken stream fails), but at 1/8 scale it skips most
            # of the inverse DCT: the pixels are not needed, only the proof that
            # they decode. The stored bytes are the upload's, so they are equal.
            size = image.size
            image.draft(image.mode, (max(image.width // 8, 1), max(image.height // 8, 1)))
            image.decodermaxblock = len(data)  # it is all in memory: one read, not 64 KB ones
            image.load()
            return size
        for frame in range(frames):
            image.seek(frame)
            image.load()
        return image.size


@contextlib.contextmanager
def _decoding(max_pixels: int) -> Iterator[None]:
    """Turn any decoder failure on untrusted bytes into the user's plain message."""
    try:
        yield
    except InvalidPhoto:
        raise
    except Image.DecompressionBombError:
        raise _too_large(max_pixels) from None
    except Exception:  # any decoder failure on untrusted bytes means the file is unusable
        raise InvalidPhoto(DAMAGED) from None


# --- what was found, in plain words -------------------------------------------------------


# A photo has one EXIF block (two with a preview's); a 10 MB file can hold 2,000 of them.
_EXIF_BLOCKS_READ = 4


class _Found:
    """Collects plain words for what the upload carried and the copy leaves out."""

    def __init__(self) -> None:
        self._words: set[str] = set()
        # What compressed metadata (PNG text, profiles) may inflate to, all chunks together:
        # 8,000 chunks of 1 KB that each inflate to 1 MB cost 29 s of CPU otherwise.
        self.inflate_left = _INFLATE_TOTAL
        self.exif_blocks = 0

    def inflate(self, compressed: bytes, limit: int) -> tuple[bytes, bool]:
        """Inflate up to `limit` bytes (less once the upload's allowance runs low); returns
        the text and whether the stream ended exactly at the end of `compressed`."""
        inflater = zlib.decompressobj()
        try:
            text = inflater.decompress(compressed, max(min(limit, self.inflate_left), 1))
        except zlib.error:
            return b"", False
        self.inflate_left -= len(text)
        return text, inflater.eof and not inflater.unused_data and self.inflate_left >= 0

    def add(self, word: str) -> None:
        self._words.add(word)

    def words(self) -> tuple[str, ...]:
        return tuple(word for word in WORD_ORDER if word in self._words)

    def exif(self, tiff: bytes) -> int:
        """Note what an EXIF block holds; returns its orientation (1 when none)."""
        self.exif_blocks += 1
        if self.exif_blocks > _EXIF_BLOCKS_READ:
            self.add(OTHER)  # it goes like the others, unread: reading costs ~1.5 ms each
            return 1
        exif = Image.Exif()
        try:
            exif.load(tiff)
            ifd0 = dict(exif)
            details = exif.get_ifd(0x8769)
            gps = exif.get_ifd(0x8825)
            ifd1 = exif.get_ifd(ExifTags.IFD.IFD1)  # the thumbnail's directory
        except Exception:  # malformed EXIF: it goes either way; say so in general words
            self.add(OTHER)
            return 1
        if gps:
            self.add(LOCATION)
        if ifd0.get(0x010F) or ifd0.get(0x0110) or details.get(0xA433) or details.get(0xA434):
            self.add(CAMERA)  # Make, Model, LensMake, LensModel
        if details.get(0xA431) or details.get(0xA435) or details.get(0x927C):
            self.add(SERIAL)  # BodySerialNumber, LensSerialNumber, MakerNote (holds serials)
        if ifd0.get(0x0132) or details.get(0x9003) or details.get(0x9004):
            self.add(DATE)  # DateTime, DateTimeOriginal, DateTimeDigitized
        if ifd1:
            self.add(THUMBNAIL)
        known = {0x0112, 0x8769, 0x8825}
        if set(ifd0) - known or set(details) - {
            0x9003,
            0x9004,
            0xA431,
            0xA433,
            0xA434,
            0xA435,
            0x927C,
        }:
            self.add(OTHER)
        orientation = ifd0.get(0x0112, 1)
        return orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1

    def xmp(self, packet: bytes) -> None:
        if b"GPSLatitude" in packet or b"GPSLongitude" in packet:
            self.add(LOCATION)
        if b"tiff:Model" in packet or b"tiff:Make" in packet:
            self.add(CAMERA)
        if b"SerialNumber" in packet:
            self.add(SERIAL)
        if b"DateTimeOriginal" in packet or b"CreateDate" in packet or b"DateCreated" in packet:
            self.add(DATE)
        self.add(OTHER)


def orientation_exif(orientation: int) -> bytes:
    """A TIFF-structured EXIF block holding the Orientation tag and nothing else."""
    header = b"II*\x00" + struct.pack("<I", 8)
    entry = struct.pack("<HHIHH", 0x0112, 3, 1, orientation, 0)  # SHORT, 1 value
    return header + struct.pack("<H", 1) + entry + struct.pack("<I", 0)


# --- JPEG ---------------------------------------------------------------------------------

# Segments that carry the picture: frame headers (SOF0-15 but not DHT/JPG/DAC at C4, C8,
# CC, which are listed on their own), Huffman and quantisation tables, restart interval,
# arithmetic conditioning, number of lines, hierarchical and expansion markers.
_JPEG_PICTURE = {*range(0xC0, 0xD0), 0xDB, 0xDD, 0xDC, 0xDE, 0xDF} - {0xC8}
_JPEG_FRAMES = {*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}
# The next marker after entropy-coded data: 0xFF not followed by a stuffed zero or RSTn.
_JPEG_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7]")


def _strip_jpeg(raw: bytes, found: _Found) -> tuple[bytes, int, int]:
    if raw[:2] != b"\xff\xd8":
        raise InvalidPhoto(DAMAGED)
    out = [b"\xff\xd8"]
    size = len(raw)
    view = memoryview(raw)
    pos = 2
    orientation = 1
    exif_slot: int | None = None  # where the orientation-only EXIF goes
    has_frame = multi_picture = False
    scans = 0
    icc_parts: dict[int, bytes] = {}  # the colour profile's chunks by sequence number
    icc_slot: int | None = None
    while True:
        if pos >= size or raw[pos] != 0xFF:
            raise InvalidPhoto(DAMAGED)
        while pos < size and raw[pos] == 0xFF:  # fill bytes may pad before a marker
            pos += 1
        if pos >= size:
            raise InvalidPhoto(DAMAGED)
        marker = raw[pos]
        pos += 1
        if marker == 0xD9:  # EOI: whatever follows (an HTML polyglot, MPF images) goes
            out.append(b"\xff\xd9")
            if pos < size and not multi_picture:
                found.add(TRAILER)
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # no length field
            out.append(bytes((0xFF, marker)))
            continue
        if pos + 2 > size:
            raise InvalidPhoto(DAMAGED)
        length = int.from_bytes(raw[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > size:
            raise InvalidPhoto(DAMAGED)
        payload = raw[pos + 2 : end]
        segment = raw[pos - 2 : end]
        pos = end
        if marker == 0xDA:  # SOS: header, then entropy-coded data up to the next marker
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise InvalidPhoto(
                    f"The photo has more than {MAX_JPEG_SCANS} scans, which no camera or "
                    "encoder writes; it cannot be shown.",
                    "photo_too_many_scans",
                    limit=MAX_JPEG_SCANS,
                )
            following = _JPEG_NEXT_MARKER.search(raw, pos)
            if following is None or not _jpeg_table_fits(marker, payload):
                raise InvalidPhoto(DAMAGED)
            out.append(segment)
            out.append(view[pos : following.start()])  # no copy until the final join
            pos = following.start()
            continue
        if marker in _JPEG_PICTURE:
            # Each of these says how long it is from its own fields; one that is longer
            # carries something else (a table's worth of hidden bytes), and goes whole.
            if not _jpeg_table_fits(marker, payload):
                raise InvalidPhoto(DAMAGED)
            has_frame = has_frame or marker in _JPEG_FRAMES
            out.append(segment)
        elif marker == 0xE0 and payload.startswith(b"JFIF\x00") and len(payload) >= 14:
            # Version, density unit and pixel density are kept, rebuilt from their fields;
            # JFIF may also carry an uncompressed thumbnail after them, which goes (its
            # size bytes become 0x0), as does anything else after the 14 bytes.
            if len(payload) > 14 or payload[12:14] != b"\x00\x00":
                found.add(THUMBNAIL)
            version, unit, x_density, y_density = struct.unpack(">HBHH", payload[5:12])
            jfif = b"JFIF\x00" + struct.pack(">HBHHBB", version, unit, x_density, y_density, 0, 0)
            out.append(_jpeg_segment(0xE0, jfif))
        elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00") and len(payload) > 14:
            # The colour profile, in chunks numbered 1..n: put together after the loop.
            icc_slot = len(out) if icc_slot is None else icc_slot
            icc_parts.setdefault(payload[12], payload[14:])
        elif marker == 0xEE and payload.startswith(b"Adobe") and len(payload) >= 12:
            # The colour transform flag: CMYK/YCCK decoding needs it. Exactly 12 bytes
            # ("Adobe", version, flags0, flags1, transform), rebuilt from those fields, so
            # nothing appended to it (HTML, say) goes through. Shorter ones libjpeg ignores.
            version, flags0, flags1, transform = struct.unpack(">HHHB", payload[5:12])
            if len(payload) > 12:
                found.add(OTHER)
            adobe = b"Adobe" + struct.pack(">HHHB", version, flags0, flags1, transform)
            out.append(_jpeg_segment(0xEE, adobe))
        elif marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            seen = found.exif(payload)
            if exif_slot is None:
                exif_slot, orientation = len(out), seen
        elif marker == 0xE1 and payload.startswith(
            (b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")
        ):
            found.xmp(payload)
        elif marker == 0xE0 and payload.startswith(b"JFXX\x00"):
            found.add(THUMBNAIL)
        elif marker == 0xE2 and payload.startswith(b"MPF\x00"):
            multi_picture = True  # previews, depth maps, gain maps stored after EOI
            found.add(THUMBNAIL)
        elif marker == 0xFE:
            found.add(COMMENTS)
        else:  # IPTC/Photoshop (APP13), FlashPix, maker segments, anything unknown
            found.add(OTHER)
    if not (has_frame and scans):
        raise InvalidPhoto(DAMAGED)
    inserts = []  # (slot, segments), put in from the last slot back so slots stay true
    if orientation != 1 and exif_slot is not None:
        tiff = b"Exif\x00\x00" + orientation_exif(orientation)
        inserts.append((exif_slot, [_jpeg_segment(0xE1, tiff)]))
    if icc_slot is not None:
        profile = b"".join(icc_parts[number] for number in sorted(icc_parts))
        if sorted(icc_parts) == list(range(1, len(icc_parts) + 1)) and _icc_is_exact(profile):
            inserts.append((icc_slot, _jpeg_icc_segments(profile)))
        else:  # chunks missing, or bytes after the profile: no profile at all
            found.add(OTHER)
    for slot, segments in sorted(inserts, key=lambda insert: insert[0], reverse=True):
        out[slot:slot] = segments
    return b"".join(out), orientation, 1


def _jpeg_icc_segments(profile: bytes) -> list[bytes]:
    """A colour profile as APP2 segments, written again: numbered chunks of at most 65,519
    bytes, the most one segment holds after its 14-byte header."""
    parts = [profile[start : start + 65519] for start in range(0, len(profile), 65519)]
    return [
        _jpeg_segment(0xE2, b"ICC_PROFILE\x00" + bytes((number, len(parts))) + part)
        for number, part in enumerate(parts, 1)
    ]


def _jpeg_segment(marker: int, payload: bytes) -> bytes:
    return bytes((0xFF, marker)) + struct.pack(">H", len(payload) + 2) + payload


def _jpeg_table_fits(marker: int, payload: bytes) -> bool:
    """Whether a picture segment is exactly as long as its own fields say (ITU T.81 B.2):
    frame and scan headers by their component count, tables by their entries, the restart
    interval and number of lines by their fixed size. Others (DAC, hierarchical) are short
    fixed-form tables that libjpeg reads or refuses itself."""
    size = len(payload)
    try:
        if marker in _JPEG_FRAMES:  # SOFn: precision, height, width, components, 3 each
            return size == 6 + 3 * payload[5]
        if marker == 0xDA:  # SOS: components, 2 each, then spectral selection/approximation
            return size == 4 + 2 * payload[0]
        if marker in (0xDD, 0xDC):  # DRI: restart interval; DNL: number of lines
            return size == 2
        if marker == 0xDB:  # DQT: tables of 64 entries of 1 or 2 bytes
            pos = 0
            while pos < size:
                pos += 1 + 64 * (2 if payload[pos] >> 4 else 1)
            return pos == size
        if marker == 0xC4:  # DHT: class/id, 16 code counts, then that many symbols
            pos = 0
            while pos < size:
                pos += 17 + sum(payload[pos + 1 : pos + 17])
            return pos == size
    except IndexError:
        return False
    return True


# --- PNG ----------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {
    b"IHDR",
    b"PLTE",
    b"IDAT",
    b"IEND",  # the picture
    b"tRNS",
    b"bKGD",
    b"sBIT",
    b"hIST",
    b"pHYs",  # transparency, background, precision, density
    b"iCCP",
    b"sRGB",
    b"gAMA",
    b"cHRM",
    b"cICP",
    b"mDCV",
    b"cLLI",  # colour, HDR
    b"acTL",
    b"fcTL",
    b"fdAT",  # animation (APNG)
}
# Kept chunks whose body the PNG specification (3rd edition) fixes, as struct formats:
# each is rebuilt from its parsed fields, so nothing hidden after them is copied.
_PNG_FIXED = {
    b"IHDR": ">IIBBBBB",  # width, height, depth, colour type, compression, filter, interlace
    b"gAMA": ">I",
    b"cHRM": ">8I",  # white point and primaries, x and y
    b"sRGB": ">B",  # rendering intent
    b"pHYs": ">IIB",  # pixels per unit x and y, unit
    b"cICP": ">4B",  # primaries, transfer, matrix, full range
    b"cLLI": ">II",  # max content and frame-average light level
    b"mDCV": ">8HII",  # primaries and white point, max and min luminance
    b"acTL": ">II",  # frames, plays
    b"fcTL": ">5I2H2B",  # sequence, width, height, x, y, delay num/den, dispose, blend
    b"IEND": "",
}
# Chunks whose length follows from the colour type (IHDR's), as per-sample formats.
_PNG_BY_COLOUR = {
    b"sBIT": {0: ">B", 2: ">3B", 3: ">3B", 4: ">2B", 6: ">4B"},
    b"bKGD": {0: ">H", 2: ">3H", 3: ">B", 4: ">H", 6: ">3H"},
    b"tRNS": {0: ">H", 2: ">3H"},  # indexed: one byte a palette entry (below)
}
_PNG_QUIET = {b"iDOT"}  # Apple's decoding hint: dropping it removes nothing personal
_PNG_TEXT_MAX = 1 << 20  # never inflate more of a compressed text chunk than this
_PNG_ICC_MAX = 4 << 20  # nor of a colour profile (real ones are a few KB to 1 MB)
_INFLATE_TOTAL = 8 << 20  # nor more than this of all of them together


def _strip_png(raw: bytes, found: _Found) -> tuple[bytes, int, int]:
    if not raw.startswith(PNG_SIGNATURE):
        raise InvalidPhoto(DAMAGED)
    out = [PNG_SIGNATURE]
    size = len(raw)
    pos = len(PNG_SIGNATURE)
    orientation = 1
    exif_slot: int | None = None
    colour_type = palette_entries = None
    frames = controls = 0
    has_profile = False
    while True:
        if pos + 12 > size:
            raise InvalidPhoto(DAMAGED)
        length, kind = struct.unpack(">I4s", raw[pos : pos + 8])
        end = pos + 12 + length
        if end > size:
            raise InvalidPhoto(DAMAGED)
        body = raw[pos + 8 : end - 4]
        (crc,) = struct.unpack(">I", raw[end - 4 : end])
        if zlib.crc32(kind + body) != crc:
            raise InvalidPhoto(DAMAGED)
        chunk = raw[pos:end]
        pos = end
        if kind in _PNG_KEEP:
            if kind == b"IHDR":
                if length != 13:
                    raise InvalidPhoto(DAMAGED)
                colour_type = body[9]
            elif kind == b"PLTE":
                if length % 3 or not 3 <= length <= 768:
                    raise InvalidPhoto(DAMAGED)
                palette_entries = length // 3
            elif kind == b"acTL" and length >= 4:
                frames = int.from_bytes(body[:4], "big")
            elif kind == b"fcTL":
                controls += 1
            if frames > MAX_FRAMES or controls > MAX_FRAMES:
                raise _too_many_frames(max(frames, controls))
            if kind not in (b"IDAT", b"fdAT", b"PLTE", b"iCCP"):
                chunk = _png_rebuilt(kind, body, colour_type, palette_entries, found)
            elif kind == b"iCCP":  # only the first: a PNG has one profile
                chunk = b"" if has_profile else _png_iccp(body, found)
                has_profile = has_profile or bool(chunk)
                if not chunk:
                    found.add(OTHER)
            if chunk:
                out.append(chunk)
            if kind == b"IEND":
                if pos < size:
                    found.add(TRAILER)
                break
        elif kind == b"eXIf":
            seen = found.exif(body)
            if exif_slot is None:
                exif_slot, orientation = len(out), seen
        elif kind in (b"tEXt", b"zTXt", b"iTXt"):
            seen = _png_text(kind, body, found)
            if seen != 1 and exif_slot is None:
                exif_slot, orientation = len(out), seen
        elif kind == b"tIME":
            found.add(OTHER)
        elif kind in _PNG_QUIET:
            pass
        elif kind[0] & 0x20 == 0:  # an unknown critical chunk: no decoder can show it
            raise InvalidPhoto(DAMAGED)
        else:
            found.add(OTHER)
    if orientation != 1 and exif_slot is not None:
        tiff = orientation_exif(orientation)
        out.insert(exif_slot, _png_chunk(b"eXIf", tiff))
    return b"".join(out), orientation, max(frames, 1)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_rebuilt(
    kind: bytes, body: bytes, colour_type: int | None, palette_entries: int | None, found: _Found
) -> bytes:
    """A kept chunk of fixed form written again from its parsed fields; b"" (left out, and
    the sender told) when it is too short to parse or does not belong to this colour type."""
    if kind == b"tRNS" and colour_type == 3:  # one alpha byte a palette entry, at most
        form = f">{min(len(body), palette_entries or 0)}B"
    elif kind == b"hIST":  # one 16-bit count a palette entry, exactly
        form = f">{palette_entries or 0}H"
    elif kind in _PNG_BY_COLOUR:
        form = _PNG_BY_COLOUR[kind].get(colour_type)
    else:
        form = _PNG_FIXED[kind]
    if form is None or len(body) < struct.calcsize(form):
        if kind == b"IHDR":
            raise InvalidPhoto(DAMAGED)
        found.add(OTHER)
        return b""
    if len(body) > struct.calcsize(form):
        found.add(OTHER)  # something rode along after the fields: it goes
    fields = struct.unpack_from(form, body)
    return _png_chunk(kind, struct.pack(form, *fields))


def _png_iccp(body: bytes, found: _Found) -> bytes:
    """The colour profile, with a plain name instead of the file's (a free-text keyword),
    and only if its compressed stream ends exactly at the chunk's end and holds exactly
    the profile its header declares; b"" otherwise."""
    _name, _, rest = body.partition(b"\x00")
    if rest[:1] != b"\x00":  # compression method 0 (zlib) is the only one
        return b""
    profile, whole = found.inflate(rest[1:], _PNG_ICC_MAX)
    if not whole or not _icc_is_exact(profile):
        return b""
    return _png_chunk(b"iCCP", b"ICC profile\x00\x00" + rest[1:])


def _icc_is_exact(profile: bytes) -> bool:
    """An ICC profile starts with its own size (ICC.1 7.2.2): nothing may follow it."""
    return len(profile) >= 128 and int.from_bytes(profile[:4], "big") == len(profile)


def _png_text(kind: bytes, body: bytes, found: _Found) -> int:
    """Note what a text chunk says; returns the orientation of an EXIF kept in text."""
    keyword, _, rest = body.partition(b"\x00")
    keyword = keyword.lower()
    if keyword in (b"xml:com.adobe.xmp", b"raw profile type exif", b"raw profile type app1"):
        text = _png_text_value(kind, rest, found)
        if keyword == b"xml:com.adobe.xmp":
            found.xmp(text)
            return 1
        # ImageMagick's hex dump: "\nexif\n   length\nhex lines"; Pillow reads it as EXIF.
        try:
            exif = bytes.fromhex("".join(text.decode("ascii").split("\n")[3:]))
        except ValueError:
            found.add(OTHER)
            return 1
        return found.exif(exif)
    if keyword in (
        b"comment",
        b"description",
        b"title",
        b"author",
        b"disclaimer",
        b"warning",
        b"source",
    ):
        found.add(COMMENTS)
    elif keyword == b"creation time":
        found.add(DATE)
    else:
        found.add(OTHER)
    return 1


def _png_text_value(kind: bytes, rest: bytes, found: _Found) -> bytes:
    try:
        if kind == b"tEXt":
            return rest
        if kind == b"zTXt":
            return found.inflate(rest[1:], _PNG_TEXT_MAX)[0]
        compressed = rest[0]  # iTXt: flag, method, language, translated keyword, text
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        return found.inflate(text, _PNG_TEXT_MAX)[0] if compressed else text
    except IndexError:
        return b""


# --- WebP ---------------------------------------------------------------------------------

_WEBP_KEEP = {b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ICCP", b"ANIM", b"ANMF"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _strip_webp(raw: bytes, found: _Found) -> tuple[bytes, int, int]:
    if raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        raise InvalidPhoto(DAMAGED)
    riff_end = 8 + int.from_bytes(raw[4:8], "little")
    if riff_end > len(raw):
        raise InvalidPhoto(DAMAGED)
    if riff_end < len(raw):
        found.add(TRAILER)
    chunks: list[bytes] = []
    orientation = 1
    frames = 0
    for kind, body in _riff_chunks(raw, 12, riff_end):
        if kind == b"VP8X":
            # Flags (EXIF and XMP cleared: they go), 3 reserved bytes, canvas width - 1 and
            # height - 1 in 3 bytes each: 10 bytes, rebuilt from those fields.
            if len(body) < 10:
                raise InvalidPhoto(DAMAGED)
            if len(body) > 10:
                found.add(OTHER)
            flags = body[0] & ~(_VP8X_EXIF | _VP8X_XMP)
            chunks.append(_riff_chunk(kind, bytes((flags, 0, 0, 0)) + body[4:10]))
        elif kind == b"ANIM":  # background colour (4 bytes) and loop count (2): 6 bytes
            if len(body) < 6:
                raise InvalidPhoto(DAMAGED)
            if len(body) > 6:
                found.add(OTHER)
            background, loops = struct.unpack("<IH", body[:6])
            chunks.append(_riff_chunk(kind, struct.pack("<IH", background, loops)))
        elif kind == b"ANMF":
            frames += 1
            if frames > MAX_FRAMES:
                raise _too_many_frames(frames)
            chunks.append(_riff_chunk(kind, _webp_frame(body, found)))
        elif kind in _WEBP_KEEP:
            chunks.append(_riff_chunk(kind, body))
        elif kind == b"EXIF":
            seen = found.exif(body)
            orientation = seen if orientation == 1 else orientation
        elif kind == b"XMP ":
            found.xmp(body)
        else:
            found.add(OTHER)
    if not chunks:
        raise InvalidPhoto(DAMAGED)
    if chunks[0][:4] != b"VP8X":
        orientation = 1  # a simple WebP cannot carry EXIF
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body, orientation, max(frames, 1)


def _riff_chunks(raw: bytes, pos: int, end: int) -> Iterator[tuple[bytes, bytes]]:
    """(kind, body) of each RIFF chunk from pos to end; the padding byte after an odd
    chunk is skipped, never copied (it is written again as a zero)."""
    while pos < end:
        if pos + 8 > end:
            raise InvalidPhoto(DAMAGED)
        kind = raw[pos : pos + 4]
        length = int.from_bytes(raw[pos + 4 : pos + 8], "little")
        following = pos + 8 + length + (length & 1)  # odd chunks are padded to even
        if following > end:
            raise InvalidPhoto(DAMAGED)
        yield kind, raw[pos + 8 : pos + 8 + length]
        pos = following


def _riff_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)


def _webp_frame(body: bytes, found: _Found) -> bytes:
    """An animation frame: its 16-byte header (position, size, duration, flags), then only
    the sub-chunks that carry its pixels; anything else inside the frame goes."""
    if len(body) < 16:
        raise InvalidPhoto(DAMAGED)
    kept = [body[:16]]
    for kind, data in _riff_chunks(body, 16, len(body)):
        if kind in (b"ALPH", b"VP8 ", b"VP8L"):
            kept.append(_riff_chunk(kind, data))
        else:
            found.add(OTHER)
    return b"".join(kept)


def _webp_durations(data: bytes) -> list[int]:
    """Each frame's duration (ms) from its ANMF header: 24 bits at offset 12."""
    return [
        int.from_bytes(body[12:15], "little")
        for kind, body in _riff_chunks(data, 12, len(data))
        if kind == b"ANMF"
    ]


_TURNS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


def _turn_webp(data: bytes, orientation: int) -> bytes:
    """Apply an orientation to a (validated) WebP. Browsers ignore EXIF orientation in
    WebP, so a tag would not do; the turned frames are written losslessly, so the pixels
    are still exactly the upload's, only turned. Cameras do not write WebP: this is rare."""
    turn = _TURNS[orientation]
    out = io.BytesIO()
    with Image.open(io.BytesIO(data), formats=["WEBP"]) as image:
        icc = image.info.get("icc_profile")
        options = {"lossless": True, "exact": True, **({"icc_profile": icc} if icc else {})}
        first = image.transpose(turn)
        if getattr(image, "n_frames", 1) > 1:
            # The other frames are turned one at a time as the encoder asks for them, so
            # one turned frame is held at a time, not the whole animation (49 frames of
            # 2000x2000 would be 780 MB).
            options.update(
                save_all=True,
                append_images=[_TurnedFrames(image, turn)],
                duration=_webp_durations(data),
                loop=image.info.get("loop", 0),
            )
        first.save(out, format="WEBP", **options)
    return out.getvalue()


class _TurnedFrames(Image.Image):
    """The frames after the first of an open animation, each turned when it is sought:
    a multi-frame image for Pillow's append_images, holding one turned frame at a time."""

    def __init__(self, source: Image.Image, turn: Image.Transpose) -> None:
        super().__init__()
        self._source, self._turn = source, turn
        self.n_frames = source.n_frames - 1
        self.seek(0)

    def seek(self, frame: int) -> None:
        self._source.seek(frame + 1)
        turned = self._source.transpose(self._turn)
        self.im, self._mode, self._size = turned.im, turned.mode, turned.size
        self.info = {"duration": self._source.info.get("duration", 0)}


# --- GIF ----------------------------------------------------------------------------------

# Application extensions that are about showing the image: looping, and the ICC profile.
_GIF_LOOPING = (b"NETSCAPE2.0", b"ANIMEXTS1.0")
_GIF_ICC = b"ICCRGBG1012"


def _strip_gif(raw: bytes, found: _Found) -> tuple[bytes, int, int]:
    if raw[:6] not in (b"GIF87a", b"GIF89a") or len(raw) < 13:
        raise InvalidPhoto(DAMAGED)
    packed = raw[10]
    pos = 13 + (3 << ((packed & 0x07) + 1) if packed & 0x80 else 0)
    out = [raw[:pos]]
    frames = 0
    try:
        while True:
            if pos == len(raw) and frames:  # some encoders leave out the trailer
                out.append(b";")
                break
            introducer = raw[pos]
            if introducer == 0x3B:  # trailer; anything after it goes
                out.append(b";")
                if pos + 1 < len(raw):
                    found.add(TRAILER)
                break
            if introducer == 0x2C:  # image: descriptor, local colours, LZW code size, data
                packed = raw[pos + 9]
                start = pos
                pos += 10 + (3 << ((packed & 0x07) + 1) if packed & 0x80 else 0) + 1
                pos = _gif_skip_blocks(raw, pos)
                out.append(raw[start:pos])
                frames += 1
                if frames > MAX_FRAMES:  # before a single frame is decoded
                    raise _too_many_frames(frames)
            elif introducer == 0x21:
                label = raw[pos + 1]
                start = pos
                end = _gif_skip_blocks(raw, pos + 2)
                if label == 0xF9:  # graphic control: frame delay, disposal, transparency
                    out.append(_gif_graphic_control(raw[pos + 2 : end], found))
                elif label == 0xFF and raw[pos + 3 : pos + 14] in _GIF_LOOPING:
                    out.append(_gif_looping(raw[pos + 3 : pos + 14], raw[pos + 14 : end], found))
                elif label == 0xFF and raw[pos + 3 : pos + 14] == _GIF_ICC:
                    out.append(raw[start:end])
                elif label == 0xFF and raw[pos + 3 : pos + 14] == b"XMP DataXMP":
                    found.xmp(raw[pos + 14 : end])
                elif label == 0xFE or label == 0x01:
                    found.add(COMMENTS)
                else:
                    found.add(OTHER)
                pos = end
            else:
                raise InvalidPhoto(DAMAGED)
    except IndexError:  # the file ends inside a block
        raise InvalidPhoto(DAMAGED) from None
    if not frames:
        raise InvalidPhoto(DAMAGED)
    return b"".join(out), 1, frames


def _gif_graphic_control(blocks: bytes, found: _Found) -> bytes:
    """One 4-byte block (flags, delay, transparent index) and the terminator, rebuilt from
    those fields; anything more goes. b"" when it is too short to hold them."""
    if blocks[0] < 4:
        found.add(OTHER)
        return b""
    if blocks[0] != 4 or len(blocks) != 6:
        found.add(OTHER)
    flags, delay, transparent = struct.unpack("<BHB", blocks[1:5])
    return b"\x21\xf9\x04" + struct.pack("<BHB", flags, delay, transparent) + b"\x00"


def _gif_looping(application: bytes, blocks: bytes, found: _Found) -> bytes:
    """NETSCAPE2.0 / ANIMEXTS1.0: one 3-byte block (sub-block id 1, loop count), rebuilt."""
    if blocks[:2] != b"\x03\x01" or len(blocks) < 5:
        found.add(OTHER)
        return b""
    if len(blocks) != 5:
        found.add(OTHER)
    (loops,) = struct.unpack("<H", blocks[2:4])
    return b"\x21\xff\x0b" + application + b"\x03\x01" + struct.pack("<H", loops) + b"\x00"


def _gif_skip_blocks(raw: bytes, pos: int) -> int:
    """The position after a chain of data sub-blocks (each: length byte, then data).
    Raises IndexError when the file ends before the chain does."""
    while True:
        length = raw[pos]
        pos += 1 + length
        if length == 0:
            return pos


# --- HEIC/HEIF and AVIF -------------------------------------------------------------------


def _convert(raw: bytes, fmt: str, found: _Found, *, budget: _Budget) -> CleanPhoto:
    """Decode the primary image and write it as a JPEG (PNG if it has transparency)
    that carries only the pixels and the colour profile. Written while the file is open,
    without copies of the decoded pixels: at 50 MP each one is 200 MB."""
    with _decoding(budget.pixels), Image.open(io.BytesIO(raw), formats=[fmt]) as image:
        if fmt == "AVIF" and getattr(image, "n_frames", 1) > 1:
            raise InvalidPhoto(
                "Animated AVIF is not supported; send it as an animated GIF or WebP.",
                "photo_not_supported",
                animated="AVIF",
            )
        if image.width * image.height > budget.pixels:
            raise _too_large(budget.pixels, image.size)
        _check_budget(image.width * image.height * _CONVERT_BYTES_PER_PIXEL, budget, image, 1)
        if image.info.get("exif"):
            found.exif(image.info["exif"])
        if image.info.get("xmp"):
            found.xmp(image.info["xmp"])
        icc = image.info.get("icc_profile")
        image.load()
        # libheif applies HEIF's rotation and mirroring itself; Pillow's AVIF reports them
        # as an EXIF orientation, which this applies (in place: no copy when upright).
        ImageOps.exif_transpose(image, in_place=True)
        width, height = image.size

        # Options are passed explicitly: nothing of the original's info (EXIF, XMP) is written.
        options = {"icc_profile": icc} if icc else {}
        out = io.BytesIO()
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            picture = image if image.mode == "RGBA" else image.convert("RGBA")
            picture.save(out, format="PNG", **options)
            content_type, extension = FORMATS["PNG"]
        else:
            picture = image if image.mode in ("RGB", "L") else image.convert("RGB")
            picture.save(out, format="JPEG", quality=JPEG_QUALITY, **options)
            content_type, extension = FORMATS["JPEG"]
        del picture
    return CleanPhoto(
        data=out.getvalue(),
        content_type=content_type,
        extension=extension,
        width=width,
        height=height,
        removed=found.words(),
    )
