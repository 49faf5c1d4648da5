"""Photo validation and metadata removal. Pure: knows nothing of HTTP, storage or the DB.

A photo is accepted only if it is a whole JPEG, PNG, GIF, WebP, HEIC/HEIF or AVIF file
that Pillow decodes; the file name and the client's content type are never consulted.

JPEG, PNG, GIF and WebP are cleaned *losslessly*: the file is taken apart into its
segments (JPEG markers, PNG chunks, GIF blocks, RIFF chunks), the ones that carry
pixels, colour or animation are copied byte for byte and everything else (EXIF with
GPS, camera and dates, XMP, IPTC, comments, thumbnails, data after the end) is left
out. The copy is then decoded in full, so what is stored is known to be a whole
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
import io
import re
import struct
import warnings
import zlib
from dataclasses import dataclass
from typing import IO, Iterator

import pillow_heif
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

# HEIC/HEIF decoding comes from libheif; Pillow decodes AVIF itself.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
# Pillow warns about pictures over its own MAX_IMAGE_PIXELS; ours (max_pixels) is checked
# right after the header is read, before any decoding. A process-wide filter, because
# warnings.catch_warnings() is not thread-safe and gunicorn runs threads.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)

FORMATS = {
    # Pillow format: (content type, file extension)
    "JPEG": ("image/jpeg", "jpg"),
    "MPO": ("image/jpeg", "jpg"),  # a JPEG with extra images after its end (MPF): kept as JPEG
    "PNG": ("image/png", "png"),
    "GIF": ("image/gif", "gif"),
    "WEBP": ("image/webp", "webp"),
}
CONVERTED_FORMATS = ("HEIF", "AVIF")
# The openers to try; Pillow's JPEG opener answers "MPO" for a JPEG with MPF images.
OPENERS = ["JPEG", "PNG", "GIF", "WEBP", *CONVERTED_FORMATS]
JPEG_QUALITY = 92

# An animation is decoded frame by frame; all its frames together may hold this many
# times the single-image pixel limit (a 10 MB GIF can declare thousands of frames).
ANIMATION_PIXEL_FACTOR = 4

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
    """Check that the upload is a whole photo of an accepted format and return a copy
    without metadata. Raises InvalidPhoto with a message for the sender."""
    raw = upload.read()
    if not raw:
        raise InvalidPhoto("The file is empty.")
    found = _Found()
    fmt = _identify(raw, max_pixels=max_pixels)
    if fmt in CONVERTED_FORMATS:
        return _convert(raw, fmt, found, max_pixels=max_pixels)

    strip = {"JPEG": _strip_jpeg, "MPO": _strip_jpeg, "PNG": _strip_png, "GIF": _strip_gif, "WEBP": _strip_webp}[fmt]
    data, orientation = strip(raw, found)
    width, height = _decode_fully(data, fmt, max_pixels=max_pixels)
    if fmt == "WEBP" and orientation != 1:
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


def _too_large(max_pixels: int, size: tuple[int, int] | None = None) -> InvalidPhoto:
    limit = f"the limit is {max_pixels / 1_000_000:g} megapixels"
    if size is None:
        return InvalidPhoto(f"The photo is too large: {limit}.")
    return InvalidPhoto(f"The photo is too large ({size[0]}x{size[1]} pixels): {limit}.")


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
        raise InvalidPhoto(DAMAGED if _looks_like_a_photo(raw) else NOT_A_PHOTO) from None
    except Exception:  # any parser failure on untrusted bytes means the file is unusable
        raise InvalidPhoto(DAMAGED) from None
    with image:
        if image.width < 1 or image.height < 1:
            raise InvalidPhoto(DAMAGED)
        if image.width * image.height > max_pixels:
            raise _too_large(max_pixels, image.size)
        return image.format


_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1", b"avif", b"avis")


def _looks_like_a_photo(raw: bytes) -> bool:
    return (
        raw.startswith((b"\xff\xd8\xff", PNG_SIGNATURE, b"GIF87a", b"GIF89a"))
        or (raw[:4] == b"RIFF" and raw[8:12] == b"WEBP")
        or (raw[4:8] == b"ftyp" and raw[8:12] in _HEIF_BRANDS)
    )


def _decode_fully(data: bytes, fmt: str, *, max_pixels: int) -> tuple[int, int]:
    """Decode every frame of what will be stored; refuse it if any part is missing or
    broken. Returns the stored (unrotated) width and height."""
    budget = max_pixels * ANIMATION_PIXEL_FACTOR
    with _decoding(max_pixels), Image.open(
        io.BytesIO(data), formats=["JPEG" if fmt == "MPO" else fmt]
    ) as image:
        if image.width * image.height > max_pixels:
            raise _too_large(max_pixels, image.size)
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
        frames = getattr(image, "n_frames", 1)
        if frames * image.width * image.height > budget:
            raise InvalidPhoto(
                f"The animation is too large ({frames} frames of {image.width}x{image.height} pixels)."
            )
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


class _Found:
    """Collects plain words for what the upload carried and the copy leaves out."""

    def __init__(self) -> None:
        self._words: set[str] = set()

    def add(self, word: str) -> None:
        self._words.add(word)

    def words(self) -> tuple[str, ...]:
        return tuple(word for word in WORD_ORDER if word in self._words)

    def exif(self, tiff: bytes) -> int:
        """Note what an EXIF block holds; returns its orientation (1 when none)."""
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
        if set(ifd0) - known or set(details) - {0x9003, 0x9004, 0xA431, 0xA433, 0xA434, 0xA435, 0x927C}:
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


def _strip_jpeg(raw: bytes, found: _Found) -> tuple[bytes, int]:
    if raw[:2] != b"\xff\xd8":
        raise InvalidPhoto(DAMAGED)
    out = [b"\xff\xd8"]
    size = len(raw)
    view = memoryview(raw)
    pos = 2
    orientation = 1
    exif_slot: int | None = None  # where the orientation-only EXIF goes
    has_frame = has_scan = multi_picture = False
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
            following = _JPEG_NEXT_MARKER.search(raw, pos)
            if following is None:
                raise InvalidPhoto(DAMAGED)
            out.append(segment)
            out.append(view[pos : following.start()])  # no copy until the final join
            pos = following.start()
            has_scan = True
            continue
        if marker in _JPEG_PICTURE:
            has_frame = has_frame or marker in _JPEG_FRAMES
            out.append(segment)
        elif marker == 0xE0 and payload.startswith(b"JFIF\x00") and len(payload) >= 14:
            # Version and pixel density are kept; JFIF may also carry an uncompressed
            # thumbnail after them, which goes (its size bytes become 0x0).
            if len(payload) > 14 or payload[12:14] != b"\x00\x00":
                found.add(THUMBNAIL)
                segment = b"\xff\xe0\x00\x10" + payload[:12] + b"\x00\x00"
            out.append(segment)
        elif marker == 0xE2 and payload.startswith(b"ICC_PROFILE\x00"):
            out.append(segment)  # colour profile, every chunk in order
        elif marker == 0xEE and payload.startswith(b"Adobe"):
            out.append(segment)  # colour transform flag: CMYK/YCCK decode needs it
        elif marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            seen = found.exif(payload)
            if exif_slot is None:
                exif_slot, orientation = len(out), seen
        elif marker == 0xE1 and payload.startswith((b"http://ns.adobe.com/xap/1.0/\x00", b"http://ns.adobe.com/xmp/extension/\x00")):
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
    if not (has_frame and has_scan):
        raise InvalidPhoto(DAMAGED)
    if orientation != 1 and exif_slot is not None:
        tiff = b"Exif\x00\x00" + orientation_exif(orientation)
        out.insert(exif_slot, b"\xff\xe1" + struct.pack(">H", len(tiff) + 2) + tiff)
    return b"".join(out), orientation


# --- PNG ----------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEEP = {
    b"IHDR", b"PLTE", b"IDAT", b"IEND",  # the picture
    b"tRNS", b"bKGD", b"sBIT", b"hIST", b"pHYs",  # transparency, background, precision, density
    b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"cICP", b"mDCV", b"cLLI",  # colour, HDR
    b"acTL", b"fcTL", b"fdAT",  # animation (APNG)
}
_PNG_QUIET = {b"iDOT"}  # Apple's decoding hint: dropping it removes nothing personal
_PNG_TEXT_MAX = 1 << 20  # never inflate more of a compressed text chunk than this


def _strip_png(raw: bytes, found: _Found) -> tuple[bytes, int]:
    if not raw.startswith(PNG_SIGNATURE):
        raise InvalidPhoto(DAMAGED)
    out = [PNG_SIGNATURE]
    size = len(raw)
    pos = len(PNG_SIGNATURE)
    orientation = 1
    exif_slot: int | None = None
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
    return b"".join(out), orientation


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_text(kind: bytes, body: bytes, found: _Found) -> int:
    """Note what a text chunk says; returns the orientation of an EXIF kept in text."""
    keyword, _, rest = body.partition(b"\x00")
    keyword = keyword.lower()
    if keyword in (b"xml:com.adobe.xmp", b"raw profile type exif", b"raw profile type app1"):
        text = _png_text_value(kind, rest)
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
    if keyword in (b"comment", b"description", b"title", b"author", b"disclaimer", b"warning", b"source"):
        found.add(COMMENTS)
    elif keyword == b"creation time":
        found.add(DATE)
    else:
        found.add(OTHER)
    return 1


def _png_text_value(kind: bytes, rest: bytes) -> bytes:
    try:
        if kind == b"tEXt":
            return rest
        if kind == b"zTXt":
            return zlib.decompressobj().decompress(rest[1:], _PNG_TEXT_MAX)
        compressed = rest[0]  # iTXt: flag, method, language, translated keyword, text
        _language, _, rest = rest[2:].partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        return zlib.decompressobj().decompress(text, _PNG_TEXT_MAX) if compressed else text
    except (IndexError, zlib.error):
        return b""


# --- WebP ---------------------------------------------------------------------------------

_WEBP_KEEP = {b"VP8X", b"VP8 ", b"VP8L", b"ALPH", b"ICCP", b"ANIM", b"ANMF"}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _strip_webp(raw: bytes, found: _Found) -> tuple[bytes, int]:
    if raw[:4] != b"RIFF" or raw[8:12] != b"WEBP":
        raise InvalidPhoto(DAMAGED)
    riff_end = 8 + int.from_bytes(raw[4:8], "little")
    if riff_end > len(raw):
        raise InvalidPhoto(DAMAGED)
    if riff_end < len(raw):
        found.add(TRAILER)
    chunks: list[bytes] = []
    orientation = 1
    pos = 12
    while pos < riff_end:
        if pos + 8 > riff_end:
            raise InvalidPhoto(DAMAGED)
        kind = raw[pos : pos + 4]
        length = int.from_bytes(raw[pos + 4 : pos + 8], "little")
        end = pos + 8 + length + (length & 1)  # odd chunks are padded to even
        if end > riff_end:
            raise InvalidPhoto(DAMAGED)
        body = raw[pos + 8 : pos + 8 + length]
        if kind in _WEBP_KEEP:
            chunks.append(raw[pos:end])
        elif kind == b"EXIF":
            seen = found.exif(body)
            orientation = seen if orientation == 1 else orientation
        elif kind == b"XMP ":
            found.xmp(body)
        else:
            found.add(OTHER)
        pos = end
    if not chunks:
        raise InvalidPhoto(DAMAGED)
    if chunks[0][:4] == b"VP8X":
        flags = chunks[0][8] & ~(_VP8X_EXIF | _VP8X_XMP)
        chunks[0] = chunks[0][:8] + bytes((flags,)) + chunks[0][9:]
    else:
        orientation = 1  # a simple WebP cannot carry EXIF
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body, orientation


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
    with Image.open(io.BytesIO(data), formats=["WEBP"]) as image:
        icc = image.info.get("icc_profile")
        loop = image.info.get("loop", 0)
        frames, durations = [], []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(image.transpose(turn))
            durations.append(image.info.get("duration", 0))
    options = {"lossless": True, "exact": True, **({"icc_profile": icc} if icc else {})}
    if len(frames) > 1:
        options.update(save_all=True, append_images=frames[1:], duration=durations, loop=loop)
    out = io.BytesIO()
    frames[0].save(out, format="WEBP", **options)
    return out.getvalue()


# --- GIF ----------------------------------------------------------------------------------

# Application extensions that are about showing the image: looping, and the ICC profile.
_GIF_KEEP_APPLICATIONS = (b"NETSCAPE2.0", b"ANIMEXTS1.0", b"ICCRGBG1012")


def _strip_gif(raw: bytes, found: _Found) -> tuple[bytes, int]:
    if raw[:6] not in (b"GIF87a", b"GIF89a") or len(raw) < 13:
        raise InvalidPhoto(DAMAGED)
    packed = raw[10]
    pos = 13 + (3 << ((packed & 0x07) + 1) if packed & 0x80 else 0)
    out = [raw[:pos]]
    has_image = False
    try:
        while True:
            if pos == len(raw) and has_image:  # some encoders leave out the trailer
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
                has_image = True
            elif introducer == 0x21:
                label = raw[pos + 1]
                start = pos
                end = _gif_skip_blocks(raw, pos + 2)
                if label == 0xF9:  # graphic control: frame delay, disposal, transparency
                    out.append(raw[start:end])
                elif label == 0xFF and raw[pos + 3 : pos + 14] in _GIF_KEEP_APPLICATIONS:
                    out.append(raw[start:end])
                elif label == 0xFF and raw[pos + 3 : pos + 14] == b"XMP DataXMP":
                    found.xmp(raw[pos + 14 : end])
                elif label == 0xFE:
                    found.add(COMMENTS)
                elif label == 0x01:  # plain text drawn over the image (no browser does)
                    found.add(COMMENTS)
                else:
                    found.add(OTHER)
                pos = end
            else:
                raise InvalidPhoto(DAMAGED)
    except IndexError:  # the file ends inside a block
        raise InvalidPhoto(DAMAGED) from None
    if not has_image:
        raise InvalidPhoto(DAMAGED)
    return b"".join(out), 1


def _gif_skip_blocks(raw: bytes, pos: int) -> int:
    """The position after a chain of data sub-blocks (each: length byte, then data).
    Raises IndexError when the file ends before the chain does."""
    while True:
        length = raw[pos]
        pos += 1 + length
        if length == 0:
            return pos


# --- HEIC/HEIF and AVIF -------------------------------------------------------------------


def _convert(raw: bytes, fmt: str, found: _Found, *, max_pixels: int) -> CleanPhoto:
    """Decode the primary image and write it as a JPEG (PNG if it has transparency)
    that carries only the pixels and the colour profile."""
    with _decoding(max_pixels), Image.open(io.BytesIO(raw), formats=[fmt]) as image:
        if fmt == "AVIF" and getattr(image, "n_frames", 1) > 1:
            raise InvalidPhoto("Animated AVIF is not supported; send it as an animated GIF or WebP.")
        if image.width * image.height > max_pixels:
            raise _too_large(max_pixels, image.size)
        if image.info.get("exif"):
            found.exif(image.info["exif"])
        if image.info.get("xmp"):
            found.xmp(image.info["xmp"])
        icc = image.info.get("icc_profile")
        image.load()
        # libheif applies HEIF's rotation and mirroring itself; Pillow's AVIF
        # reports them as an EXIF orientation, which this applies.
        upright = ImageOps.exif_transpose(image)

    # Options are passed explicitly: nothing of the original's info (EXIF, XMP) is written.
    options = {"icc_profile": icc} if icc else {}
    out = io.BytesIO()
    if upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info:
        upright.convert("RGBA").save(out, format="PNG", **options)
        content_type, extension = FORMATS["PNG"]
    else:
        if upright.mode not in ("RGB", "L"):
            upright = upright.convert("RGB")
        upright.save(out, format="JPEG", quality=JPEG_QUALITY, **options)
        content_type, extension = FORMATS["JPEG"]
    return CleanPhoto(
        data=out.getvalue(),
        content_type=content_type,
        extension=extension,
        width=upright.width,
        height=upright.height,
        removed=found.words(),
    )
