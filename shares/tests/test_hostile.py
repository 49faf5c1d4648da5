"""Hostile photos from the outside review (issue 11): decode bombs are refused before they
cost CPU or memory, decoding is bounded per process, and data hidden inside the segments
and chunks that cleaning keeps does not survive it.

bench/hostile.py uploads the full-size versions of these files to gunicorn as deployed and
measures the worker; the files here are small versions of the same constructions.
"""

import io
import struct
import threading
import weakref
import zlib

import pytest
from PIL import Image

from shares import images

from . import photos
from .helpers import in_threads
from .test_images import animation, clean

SECRET = b"<script>fetch('/steal')</script> GPS 48.8584N 2.2945E"


def no_decoding(monkeypatch) -> None:
    def refuse(self, *args):
        raise AssertionError("a pixel was decoded")

    monkeypatch.setattr(Image.Image, "load", refuse)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", refuse)


def no_webp_frame_decoded(monkeypatch) -> None:
    """Opening a WebP goes through load() for its header; its frames come from _get_next."""

    def refuse(self):
        raise AssertionError("a frame was decoded")

    monkeypatch.setattr("PIL.WebPImagePlugin.WebPImageFile._get_next", refuse)


# --- 1. JPEG scan bomb ------------------------------------------------------------------


def test_the_scan_cap_is_counted_while_parsing_before_any_decoding(monkeypatch):
    bomb = photos.scan_bomb(repeats=images.MAX_JPEG_SCANS)
    no_decoding(monkeypatch)
    with pytest.raises(images.InvalidPhoto, match="more than 100 scans"):
        clean(bomb)


def test_a_progressive_jpeg_within_the_scan_cap_is_kept_byte_for_byte():
    progressive = photos.jpeg_photo((64, 48), progressive=True)
    assert 1 < progressive.count(b"\xff\xda") <= images.MAX_JPEG_SCANS
    assert clean(progressive).data == progressive


# --- 2. the decode budget ----------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2])
def test_concurrent_cleans_never_decode_more_photos_at_once_than_the_limit(monkeypatch, limit):
    uploads = 6
    state = {"inside": 0, "peak": 0, "unfinished": uploads}
    changed = threading.Condition()
    decode = images._decode_fully

    def counted(*args, **kwargs):
        with changed:
            state["inside"] += 1
            state["peak"] = max(state["peak"], state["inside"])
            changed.notify_all()
            # Stay until as many decodes as the limit allows are in (or all that are left),
            # so the overlap the limit permits really happens; the timeout only stops a hang.
            changed.wait_for(lambda: state["inside"] >= min(limit, state["unfinished"]), timeout=10)
        try:
            return decode(*args, **kwargs)
        finally:
            with changed:
                state["inside"] -= 1
                state["unfinished"] -= 1
                changed.notify_all()

    monkeypatch.setattr(images, "_decode_fully", counted)
    photo = photos.jpeg_photo((64, 48))
    results = []

    def upload() -> None:
        cleaned = images.clean_photo(io.BytesIO(photo), max_pixels=10**6, decodes_at_once=limit)
        results.append(cleaned)

    in_threads(upload, uploads)
    assert len(results) == uploads
    assert state["peak"] == limit


def test_the_budget_counts_bytes_per_pixel_by_mode():
    budget = 100 * 100 * 2  # room for a grey picture, not for a colour one
    grey = photos.png_photo((100, 100), mode="L", text=False)
    assert clean(grey, max_decode_bytes=budget).width == 100
    for mode in ("RGB", "RGBA"):  # Pillow keeps both in four bytes a pixel
        with pytest.raises(images.InvalidPhoto, match=r"\(100x100 pixels need"):
            clean(photos.png_photo((100, 100), mode=mode, text=False), max_decode_bytes=budget)


@pytest.mark.parametrize("builder", [photos.heic_photo, photos.avif_photo])
def test_heic_and_avif_are_charged_for_the_decoder_s_own_copies(builder):
    photo = builder((64, 48))
    need = 64 * 48 * 10
    assert clean(photo, max_decode_bytes=need).content_type == "image/jpeg"
    with pytest.raises(images.InvalidPhoto, match="too large to decode"):
        clean(photo, max_decode_bytes=need - 1)


def test_the_reviewer_s_gif_of_four_49_megapixel_frames_is_refused_before_decoding(monkeypatch):
    no_decoding(monkeypatch)
    with pytest.raises(images.InvalidPhoto) as refused:
        clean(photos.gif_of_frames(4, size=(7000, 7000)))
    assert str(refused.value) == (
        "The photo is too large to decode (4 frames of 7000x7000 pixels need 748 MB): "
        "the limit is 512 MB."
    )


def test_the_reviewer_s_turned_webp_of_49_frames_of_4_mp_is_refused_before_decoding(monkeypatch):
    # Each frame another colour: libwebp would merge equal frames into one.
    frames = [Image.new("RGB", (2000, 2000), (index * 5, 100, 200)) for index in range(49)]
    exif = Image.Exif()
    exif[0x0112] = 6
    webp = io.BytesIO()
    frames[0].save(
        webp,
        format="WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=100,
        lossless=True,
        exif=exif.tobytes(),
    )
    del frames
    assert len(webp.getvalue()) < 10_000  # a few KB that decode to 780 MB

    no_webp_frame_decoded(monkeypatch)
    with pytest.raises(images.InvalidPhoto, match=r"\(49 frames of 2000x2000 pixels need 748 MB\)"):
        clean(webp.getvalue())


def test_a_turned_webp_is_turned_one_frame_at_a_time(monkeypatch):
    """At most two turned frames are alive at once (the first, which the encoder starts
    from, and the current one) however many frames the animation has."""
    turned: list[weakref.ref] = []
    peak = 0
    transpose = Image.Image.transpose

    def counted(self, method):
        nonlocal peak
        result = transpose(self, method)
        turned.append(weakref.ref(result))
        peak = max(peak, sum(ref() is not None for ref in turned))
        return result

    upload = photos.animated_webp(durations=(100,) * 8, exif=photos.camera_exif(orientation=6))
    monkeypatch.setattr(Image.Image, "transpose", counted)
    result = clean(upload)
    monkeypatch.undo()

    assert peak <= 2
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.n_frames == 8 and stored.size == (24, 32)  # 32x24, turned a quarter
    assert [duration for _, duration in animation(result.data)] == [100] * 8


# --- 6. frame caps -----------------------------------------------------------------------


def test_a_gif_of_a_thousand_frames_is_fine():
    assert clean(photos.gif_of_frames(images.MAX_FRAMES)).content_type == "image/gif"


def _apng_declaring(frames: int) -> bytes:
    data = bytearray(_apng())
    at = data.index(b"acTL") - 4
    body = struct.pack(">II", frames, 0)
    data[at : at + 20] = photos._png_chunk(b"acTL", body)
    return bytes(data)


def _apng() -> bytes:
    pictures = photos.frames(3)
    out = io.BytesIO()
    pictures[0].save(out, format="PNG", save_all=True, append_images=pictures[1:], duration=100)
    return out.getvalue()


def _webp_with_frames(count: int) -> bytes:
    """An animated WebP whose first frame chunk (ANMF) is repeated `count` times."""
    data = photos.animated_webp(durations=(100, 200), xmp=None)
    chunks = list(images._riff_chunks(data, 12, len(data)))
    body = b"WEBP"
    for kind, chunk in chunks[:3]:  # VP8X, ANIM, the first ANMF
        body += images._riff_chunk(kind, chunk) * (count if kind == b"ANMF" else 1)
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.mark.parametrize("build", [lambda: _apng_declaring(5000), lambda: _webp_with_frames(1001)])
def test_apng_and_webp_with_too_many_frames_are_refused_before_decoding(monkeypatch, build):
    data = build()
    no_decoding(monkeypatch)
    no_webp_frame_decoded(monkeypatch)
    with pytest.raises(images.InvalidPhoto, match="too many frames"):
        clean(data)


# --- 15. hidden data inside kept segments and chunks ---------------------------------------


# (chunk, its exact body) for each fixed-form PNG chunk cleaning keeps; an RGB picture.
PNG_FIXED = {
    "gAMA": struct.pack(">I", 45455),
    "cHRM": struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000),
    "sRGB": b"\x00",
    "pHYs": struct.pack(">IIB", 3780, 3780, 1),
    "cICP": bytes((1, 13, 0, 1)),
    "cLLI": struct.pack(">II", 10_000_000, 4_000_000),
    "mDCV": struct.pack(">8HII", 35400, 14600, 8500, 39850, 6550, 2300, 15635, 16450, 10**7, 1),
    "sBIT": b"\x08\x08\x08",
    "bKGD": struct.pack(">3H", 255, 255, 255),
    "tRNS": struct.pack(">3H", 1, 2, 3),
}


@pytest.mark.parametrize("kind", PNG_FIXED)
def test_every_fixed_length_png_chunk_is_kept_at_its_exact_length(kind):
    body = PNG_FIXED[kind]
    exact = clean(photos.png_with_chunk(kind.encode(), body))
    assert photos._png_chunk(kind.encode(), body) in exact.data and exact.removed == ()

    padded = clean(photos.png_with_chunk(kind.encode(), body + SECRET))
    assert SECRET not in padded.data and b"GPS" not in padded.data
    assert padded.data == exact.data  # rebuilt from its fields: the same chunk
    assert padded.removed == ("other metadata",)


def test_a_png_chunk_too_short_for_its_fields_goes_and_a_short_header_is_refused():
    short = clean(photos.png_with_chunk(b"cLLI", b"\x00\x98\x96\x80"))
    assert b"cLLI" not in short.data and short.removed == ("other metadata",)

    data = photos._encode(photos.picture((16, 16)), "PNG")
    ihdr = data[16:29]
    padded_header = data[:8] + photos._png_chunk(b"IHDR", ihdr + SECRET) + data[33:]
    with pytest.raises(images.InvalidPhoto, match="damaged"):
        clean(padded_header)


def _replace_png_chunk(data: bytes, kind: bytes, body: bytes, *, index: int = 0) -> bytes:
    at = -1
    for _ in range(index + 1):
        at = data.index(kind, at + 1)
    start = at - 4
    length = int.from_bytes(data[start:at], "big")
    return data[:start] + photos._png_chunk(kind, body) + data[at + 8 + length :]


def _png_body(data: bytes, kind: bytes, *, index: int = 0) -> bytes:
    at = -1
    for _ in range(index + 1):
        at = data.index(kind, at + 1)
    length = int.from_bytes(data[at - 4 : at], "big")
    return data[at + 4 : at + 4 + length]


def test_padded_animation_chunks_of_an_apng_are_rebuilt_and_it_still_plays():
    upload = _apng()
    padded = _replace_png_chunk(upload, b"acTL", _png_body(upload, b"acTL") + SECRET)
    second_frame = _png_body(padded, b"fcTL", index=1)
    padded = _replace_png_chunk(padded, b"fcTL", second_frame + SECRET, index=1)
    result = clean(padded)
    assert SECRET not in result.data
    assert result.removed == ("other metadata",)
    assert result.data == clean(upload).data
    assert animation(result.data) == animation(upload)


def test_a_jfif_header_with_bytes_after_its_fields_is_rebuilt():
    data = photos.jpeg_photo((16, 16))
    assert data[2:6] == b"\xff\xe0\x00\x10"  # Pillow writes the 14-byte JFIF header
    jfif = data[6:20]
    header = b"\xff\xe0" + struct.pack(">H", 16 + len(SECRET)) + jfif + SECRET
    upload = data[:2] + header + data[20:]
    result = clean(upload)
    assert SECRET not in result.data and result.data == data


def test_a_jpeg_table_longer_than_its_entries_is_refused():
    data = photos.jpeg_photo((16, 16))
    at = data.index(b"\xff\xdb")
    length = int.from_bytes(data[at + 2 : at + 4], "big")
    table = data[at + 4 : at + 2 + length]
    upload = data[:at] + b"\xff\xdb" + struct.pack(">H", length + len(SECRET)) + table + SECRET
    upload += data[at + 2 + length :]
    with pytest.raises(images.InvalidPhoto, match="damaged"):
        clean(upload)


def _webp_replacing(data: bytes, replace) -> bytes:
    body = b"WEBP"
    for kind, chunk in images._riff_chunks(data, 12, len(data)):
        body += images._riff_chunk(kind, replace(kind, chunk))
    return b"RIFF" + struct.pack("<I", len(body)) + body


def test_padded_webp_headers_and_extra_chunks_inside_a_frame_are_left_out():
    upload = photos.animated_webp(xmp=None)

    def pad(kind: bytes, chunk: bytes) -> bytes:
        if kind in (b"VP8X", b"ANIM"):
            return chunk + SECRET
        if kind == b"ANMF":  # an unknown chunk inside the frame, after its pixels
            return chunk + images._riff_chunk(b"SCRT", SECRET)
        return chunk

    result = clean(_webp_replacing(upload, pad))
    assert SECRET not in result.data and b"SCRT" not in result.data
    assert result.removed == ("other metadata",)
    assert result.data == clean(upload).data
    assert animation(result.data) == animation(upload)


def test_padded_gif_frame_controls_and_looping_blocks_are_rebuilt():
    upload = photos.animated_gif(comment=None, xmp=False)
    control = upload.index(b"\x21\xf9\x04")
    fields = upload[control + 3 : control + 7]
    secret_block = bytes([len(SECRET)]) + SECRET
    padded = upload[:control] + b"\x21\xf9\x04" + fields + secret_block + upload[control + 7 :]
    loop = padded.index(b"NETSCAPE2.0") + 11
    padded = padded[: loop + 4] + secret_block + padded[loop + 4 :]
    assert padded[loop : loop + 2] == b"\x03\x01"

    result = clean(padded)
    assert SECRET not in result.data
    assert result.removed == ("other metadata",)
    assert result.data == clean(upload).data
    assert animation(result.data) == animation(upload)


def test_a_colour_profile_is_kept_only_whole_and_under_a_plain_name():
    """An iCCP chunk with data after its compressed profile goes (and the sender is told);
    a whole one is kept under a plain name, whatever the file called it."""
    profile = zlib.compress(photos.icc_profile())
    named = clean(photos.png_with_chunk(b"iCCP", b"GPS 48.8584N\x00\x00" + profile))
    assert b"GPS" not in named.data and b"ICC profile\x00\x00" + profile in named.data

    trailing = clean(photos.png_with_chunk(b"iCCP", b"icc\x00\x00" + profile + SECRET))
    assert SECRET not in trailing.data and b"iCCP" not in trailing.data
    assert "other metadata" in trailing.removed


def test_a_turned_animation_with_a_broken_last_frame_is_refused():
    """Turning decodes every frame, and is then the only decode: it must refuse too."""
    upload = bytearray(photos.animated_webp(exif=photos.camera_exif(orientation=6), xmp=None))
    last_frame = upload.rindex(b"ANMF")
    key_frame = upload.index(b"\x9d\x01\x2a", last_frame)  # the VP8 key frame start code
    upload[key_frame : key_frame + 3] = b"\x00\x00\x00"
    with pytest.raises(images.InvalidPhoto, match="damaged"):
        clean(bytes(upload))


def _declaring(data: bytes, marker: bytes, width: int, height: int) -> bytes:
    """A JPEG whose frame header (SOFn) declares another size."""
    at = data.index(marker)
    return data[: at + 5] + struct.pack(">HH", height, width) + data[at + 9 :]


@pytest.mark.parametrize("megapixels, width, height", [(12, 4032, 3024), (48, 8064, 6048)])
def test_the_default_budget_holds_real_camera_photos(megapixels, width, height):
    baseline = _declaring(photos.jpeg_photo((64, 48)), b"\xff\xc0", width, height)
    progressive = photos.jpeg_photo((64, 48), progressive=True)
    progressive = _declaring(progressive, b"\xff\xc2", width, height)
    for data in (baseline, progressive):
        with Image.open(io.BytesIO(data)) as header:
            assert header.size == (width, height)
            assert images._decode_cost(header, 1) <= images.DEFAULT_MAX_DECODE_BYTES
    # HEIC/AVIF: charged as measured, 10 bytes a pixel
    assert width * height * images._CONVERT_BYTES_PER_PIXEL <= images.DEFAULT_MAX_DECODE_BYTES


def test_compressed_png_text_inflates_to_a_bounded_total(monkeypatch):
    """Thousands of small zTXt chunks that each inflate to 1 MB: the upload as a whole may
    inflate only so much, then the rest goes uninflated (and is still left out)."""
    inflated = []
    inflate = images._Found.inflate

    def counted(self, compressed, limit):
        text, whole = inflate(self, compressed, limit)
        inflated.append(len(text))
        return text, whole

    monkeypatch.setattr(images._Found, "inflate", counted)
    megabyte = zlib.compress(b"\x00" * (1 << 20), 9)
    chunk = photos._png_chunk(b"zTXt", b"XML:com.adobe.xmp\x00\x00" + megabyte)
    base = photos._encode(photos.picture((16, 16)), "PNG")
    result = clean(base[:-12] + chunk * 40 + base[-12:])

    assert result.data == base and "other metadata" in result.removed
    assert len(inflated) == 40
    assert sum(inflated) <= images._INFLATE_TOTAL + 40  # at most one byte each once spent


def test_a_jpeg_colour_profile_with_bytes_after_it_goes_whole():
    profile = photos.icc_profile()
    kept = clean(photos.jpeg_photo((16, 16), icc=profile))
    with Image.open(io.BytesIO(kept.data)) as image:
        assert image.info["icc_profile"] == profile

    data = photos.jpeg_photo((16, 16), icc=profile)
    at = data.index(b"ICC_PROFILE\x00") - 4
    length = int.from_bytes(data[at + 2 : at + 4], "big")
    segment = data[at + 4 : at + 2 + length] + SECRET
    upload = data[:at] + b"\xff\xe2" + struct.pack(">H", len(segment) + 2) + segment
    upload += data[at + 2 + length :]
    result = clean(upload)
    assert SECRET not in result.data and b"ICC_PROFILE" not in result.data
    assert result.removed == ("other metadata",)


def test_a_png_profile_holding_more_than_its_declared_size_goes():
    padded = zlib.compress(photos.icc_profile() + SECRET)
    result = clean(photos.png_with_chunk(b"iCCP", b"icc\x00\x00" + padded))
    assert b"iCCP" not in result.data and "other metadata" in result.removed


def test_only_the_first_few_exif_blocks_are_read_and_all_go(monkeypatch):
    exif = photos.camera_exif()
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 8) + b"Exif\x00\x00" + exif
    data = photos.jpeg_photo((16, 16))
    read = []
    load = Image.Exif.load
    monkeypatch.setattr(Image.Exif, "load", lambda self, tiff: read.append(1) or load(self, tiff))

    result = clean(data[:2] + segment * 200 + data[2:])
    assert result.data == data
    assert len(read) == images._EXIF_BLOCKS_READ  # Pillow reads only the cleaned copy
    assert result.removed[:2] == ("location", "camera model")
