"""Photo privacy: what a cleaned photo keeps and loses, checked on the cleaned bytes with
exiftool (an independent reader), and broken files refused. These call images.py alone and
need no database or Redis; test_images_uploaded.py checks the same through the app.

The exiftool checks skip only when exiftool is missing (`bash .ci/run` installs
Debian's libimage-exiftool-perl).
"""

import html
import io
import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageOps, ImageSequence, ImageStat

from shares import images

from . import photos

MAX_PIXELS = 50_000_000

needs_exiftool = pytest.mark.skipif(
    shutil.which("exiftool") is None, reason="needs exiftool (libimage-exiftool-perl)"
)


def clean(data: bytes, max_pixels: int = MAX_PIXELS, **budget: int) -> images.CleanPhoto:
    return images.clean_photo(io.BytesIO(data), max_pixels=max_pixels, **budget)


def exiftool(data: bytes) -> dict[str, object]:
    """Every tag exiftool finds, as {"Group:Tag": value}, duplicates and unknowns included."""
    result = subprocess.run(
        ["exiftool", "-json", "-a", "-u", "-G1", "-"], input=data, capture_output=True, check=True
    )
    return json.loads(result.stdout)[0]


PRIVATE_WORDS = (
    "GPS",
    "Make",
    "Model",
    "Serial",
    "DateTimeOriginal",
    "CreateDate",
    "ModifyDate",
    "Thumbnail",
    "PreviewImage",
    "Comment",
    "Caption",
    "City",
    "Software",
    "Lens",
)


def private_tags(tags: dict[str, object]) -> list[str]:
    """The tags that say where, when or with what a photo was taken, or carry text."""
    found = []
    for name in tags:
        group, _, tag = name.partition(":")
        if group in ("ExifTool", "System", "SourceFile") or group.startswith("ICC"):
            continue  # exiftool's own facts, the file system's dates, the kept colour profile
        if group.startswith(
            ("XMP", "IPTC", "Photoshop", "MPF", "IFD1", "GPS", "ExifIFD", "MakerNotes")
        ) or any(word in tag for word in PRIVATE_WORDS):
            found.append(name)
    return found


def upright(data: bytes) -> Image.Image:
    """What a viewer sees: the decoded pixels turned as the file says."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return ImageOps.exif_transpose(image)


def same_pixels(a: Image.Image, b: Image.Image) -> bool:
    return a.size == b.size and a.mode == b.mode and a.tobytes() == b.tobytes()


def animation(data: bytes) -> list[tuple[bytes, int]]:
    """Each frame's pixels and duration."""
    with Image.open(io.BytesIO(data)) as image:
        return [
            (frame.convert("RGBA").tobytes(), frame.info.get("duration"))
            for frame in ImageSequence.Iterator(image)
        ]


# --- JPEG -----------------------------------------------------------------------------------


@needs_exiftool
def test_a_phone_jpeg_loses_location_camera_dates_xmp_iptc_comment_and_thumbnail():
    upload = photos.phone_jpeg(orientation=6)
    before = exiftool(upload)
    # The fixture really carries what a phone writes, as exiftool reads it.
    assert {
        "GPS:GPSLatitude",
        "IFD0:Make",
        "IFD0:Model",
        "ExifIFD:DateTimeOriginal",
        "IFD1:ThumbnailImage",
        "XMP-exif:GPSLatitude",
        "IPTC:City",
        "File:Comment",
        "ExifIFD:SerialNumber",
    } <= set(before)

    after = exiftool(clean(upload).data)

    assert private_tags(after) == []
    assert after["IFD0:Orientation"] == "Rotate 90 CW"
    assert [tag for tag in after if tag.startswith(("IFD0", "ExifIFD", "GPS"))] == [
        "IFD0:Orientation"
    ]
    assert "ICC_Profile:ProfileDescription" in after


def test_a_phone_jpeg_keeps_its_exact_pixels_and_shows_portrait():
    upload = photos.phone_jpeg(orientation=6, size=(64, 48))
    result = clean(upload)

    assert (result.content_type, result.extension) == ("image/jpeg", "jpg")
    assert (result.width, result.height) == (48, 64)  # stored landscape, seen portrait
    seen = upright(result.data)
    assert seen.size == (48, 64)
    assert same_pixels(seen, upright(upload))
    # The red corner block that was top-left in the sensor's frame is now top-right.
    assert seen.getpixel((47, 0))[0] > 200 and seen.getpixel((0, 0))[0] < 200


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_kept_and_nothing_else(orientation):
    upload = photos.jpeg_photo((40, 30), exif=photos.camera_exif(orientation=orientation))
    result = clean(upload)

    with Image.open(io.BytesIO(result.data)) as stored:
        exif = stored.getexif()
        assert dict(exif) == ({} if orientation == 1 else {0x0112: orientation})
        assert not stored.getexif().get_ifd(0x8825)
    assert same_pixels(upright(result.data), upright(upload))
    portrait = orientation in (5, 6, 7, 8)
    assert (result.width, result.height) == ((30, 40) if portrait else (40, 30))


@pytest.mark.parametrize("progressive", [False, True], ids=["baseline", "progressive"])
def test_jpeg_scan_data_is_copied_byte_for_byte(progressive):
    # No EXIF thumbnail here: its own scan would be found first.
    exif = photos.camera_exif(thumbnail=False)
    upload = photos.jpeg_photo(
        (120, 90), exif=exif, icc=photos.icc_profile(), xmp=photos.XMP, progressive=progressive
    )
    stored = clean(upload).data

    first_scan = upload.index(b"\xff\xda")
    assert stored.endswith(upload[first_scan:])  # every scan, table and marker after the headers
    assert stored.endswith(b"\xff\xd9")
    assert len(stored) < len(upload)
    assert same_pixels(upright(stored), upright(upload))


def test_a_jpeg_with_html_after_its_end_is_stored_without_it():
    upload = photos.jpeg_photo((40, 30)) + photos.HTML
    result = clean(upload)

    assert result.data.endswith(b"\xff\xd9")
    assert b"<script" not in result.data and b"<html" not in result.data
    assert images.TRAILER in result.removed
    assert same_pixels(upright(result.data), upright(upload))


def test_an_mpo_keeps_only_the_primary_picture():
    primary, preview = photos.picture((64, 48), seed=1), photos.picture((32, 24), seed=2)
    out = io.BytesIO()
    primary.save(
        out,
        format="MPO",
        save_all=True,
        append_images=[preview],
        exif=b"Exif\x00\x00" + photos.camera_exif(),
    )
    result = clean(out.getvalue())

    assert result.content_type == "image/jpeg"
    assert b"MPF\x00" not in result.data
    assert result.data.count(b"\xff\xd8") == 1  # one picture: no preview, no thumbnail
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.format == "JPEG" and stored.size == (64, 48)
    assert images.THUMBNAIL in result.removed


def test_a_thumbnail_inside_the_jfif_header_goes_too():
    upload = photos.jpeg_photo((40, 30))
    thumbnail = bytes(range(256)) * 3  # 16x16 RGB pixels, as JFIF stores them
    assert upload[2:4] == b"\xff\xe0"
    jfif = upload[6:18] + b"\x10\x10" + thumbnail
    upload = upload[:2] + b"\xff\xe0" + (len(jfif) + 2).to_bytes(2, "big") + jfif + upload[20:]
    result = clean(upload)

    assert result.data[2:20] == b"\xff\xe0\x00\x10" + upload[6:18] + b"\x00\x00"
    assert len(result.data) < len(upload) - 700
    assert result.removed == (images.THUMBNAIL,)
    assert same_pixels(upright(result.data), upright(upload))


def test_a_gif_without_its_trailer_is_completed_and_one_cut_inside_a_frame_is_refused():
    upload = photos.still_gif((20, 10))
    result = clean(upload[:-1])
    assert result.data.endswith(b";")
    assert animation(result.data) == animation(upload)
    with pytest.raises(images.InvalidPhoto, match="damaged"):
        clean(upload[:-5])


def test_a_cmyk_jpeg_keeps_its_adobe_marker_and_pixels():
    upload = photos.jpeg_photo(
        image=photos.picture((40, 30)).convert("CMYK"), exif=photos.camera_exif()
    )
    stored = clean(upload).data

    assert b"Adobe" in stored
    assert same_pixels(upright(stored), upright(upload))


# --- what the sender is told ---------------------------------------------------------------


def test_the_sender_is_told_in_plain_words_what_was_removed():
    removed = clean(photos.phone_jpeg()).removed
    assert removed[:5] == (
        "location",
        "camera model",
        "camera serial number",
        "date taken",
        "thumbnail",
    )
    assert "comments" in removed

    assert clean(photos.jpeg_photo()).removed == ()
    assert clean(photos.jpeg_photo(exif=photos.camera_exif(gps=False, thumbnail=False))).removed[
        :2
    ] == (
        "camera model",
        "camera serial number",
    )


# --- PNG ------------------------------------------------------------------------------------


@needs_exiftool
def test_a_png_loses_its_text_exif_and_times_but_keeps_pixels_profile_and_orientation():
    icc = photos.icc_profile()
    upload = photos.png_photo((40, 30), exif=photos.camera_exif(orientation=8), icc=icc)
    before = exiftool(upload)
    assert {
        "GPS:GPSLatitude",
        "IFD0:Model",
        "PNG:Comment",
        "XMP-exif:GPSLatitude",
        "PNG:ModifyDate",
    } <= set(before)

    result = clean(upload)
    after = exiftool(result.data)

    assert private_tags(after) == []
    assert not [
        tag
        for tag in after
        if tag.startswith("PNG:")
        and tag
        not in {
            "PNG:ImageWidth",
            "PNG:ImageHeight",
            "PNG:BitDepth",
            "PNG:ColorType",
            "PNG:Compression",
            "PNG:Filter",
            "PNG:Interlace",
            "PNG:ProfileName",
        }
    ]
    assert after["IFD0:Orientation"] == "Rotate 270 CW"
    assert (result.width, result.height) == (30, 40)
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.info["icc_profile"] == icc
    assert same_pixels(upright(result.data), upright(upload))


def test_an_animated_png_keeps_every_frame():
    pictures = photos.frames(3)
    out = io.BytesIO()
    pictures[0].save(
        out,
        format="PNG",
        save_all=True,
        append_images=pictures[1:],
        duration=[100, 200, 300],
        loop=0,
    )
    upload = out.getvalue() + b"<html>trailer</html>"
    stored = clean(upload).data

    assert animation(stored) == animation(upload)
    assert b"<html>" not in stored


# --- GIF and WebP ---------------------------------------------------------------------------


@needs_exiftool
def test_an_animated_gif_keeps_frames_timing_and_looping_and_loses_comment_and_xmp():
    upload = photos.animated_gif(durations=(100, 250, 400))
    before = exiftool(upload)
    assert "File:Comment" in before and any(tag.startswith("XMP") for tag in before)

    result = clean(upload)
    after = exiftool(result.data)

    assert private_tags(after) == []
    assert after["GIF:FrameCount"] == 3
    assert after["GIF:AnimationIterations"] == "Infinite"
    frames = animation(result.data)
    assert [duration for _, duration in frames] == [100, 250, 400]
    assert frames == animation(upload)
    assert result.content_type == "image/gif"


@needs_exiftool
def test_an_animated_webp_keeps_frames_and_timing_and_loses_exif_and_xmp():
    icc = photos.icc_profile()
    upload = photos.animated_webp(durations=(100, 250, 400), exif=photos.camera_exif(), icc=icc)
    assert "GPS:GPSLatitude" in exiftool(upload)

    result = clean(upload)
    after = exiftool(result.data)

    assert private_tags(after) == []
    assert result.content_type == "image/webp"
    frames = animation(result.data)
    assert [duration for _, duration in frames] == [100, 250, 400]
    assert frames == animation(upload)
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.info["icc_profile"] == icc
        assert stored.n_frames == 3


@needs_exiftool
def test_a_still_webp_keeps_its_lossy_pixels_exactly():
    upload = photos.still_webp(
        (40, 30), exif=photos.camera_exif(orientation=3), icc=photos.icc_profile()
    )
    result = clean(upload)

    assert private_tags(exiftool(result.data)) == []
    assert same_pixels(upright(result.data), upright(upload))
    assert (
        result.data[:4] == b"RIFF"
        and int.from_bytes(result.data[4:8], "little") == len(result.data) - 8
    )


def test_a_turned_animated_webp_is_turned_losslessly_with_its_timing():
    upload = photos.animated_webp(durations=(100, 250, 400), exif=photos.camera_exif(orientation=6))
    result = clean(upload)

    assert (result.width, result.height) == (24, 32)
    with Image.open(io.BytesIO(upload)) as original:
        expected = [
            (
                frame.convert("RGBA").transpose(Image.Transpose.ROTATE_270).tobytes(),
                frame.info["duration"],
            )
            for frame in ImageSequence.Iterator(original)
        ]
    assert animation(result.data) == expected
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.size == (24, 32)
        assert not stored.getexif()


CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's Chromium at /usr/bin/chromium")
def test_a_browser_shows_a_turned_photo_the_right_way_up(tmp_path):
    turned = photos.camera_exif(orientation=6)
    uploads = {
        "jpeg": photos.phone_jpeg(orientation=6, size=(64, 48)),
        "png": photos.png_photo((64, 48), exif=turned),
        "webp": photos.still_webp((64, 48), exif=turned),
        "heic": photos.heic_photo((64, 48), orientation=6),
    }
    tags = []
    for name, upload in uploads.items():
        result = clean(upload)
        (tmp_path / f"{name}.{result.extension}").write_bytes(result.data)
        tags.append(f'<img id="{name}" src="{name}.{result.extension}">')
    # Once everything has loaded, the page writes each picture's displayed size into the
    # DOM, which headless Chromium prints (its own process: no event loop to share).
    page = tmp_path / "page.html"
    page.write_text(
        "<!doctype html><html><body>" + "".join(tags) + "<script>"
        "addEventListener('load', () => document.body.dataset.sizes = JSON.stringify("
        "Object.fromEntries([...document.images]"
        ".map(i => [i.id, [i.naturalWidth, i.naturalHeight]]))));"
        "</script></body></html>"
    )
    dom = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--allow-file-access-from-files",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    sizes = re.search(r'data-sizes="([^"]*)"', dom)
    assert sizes, dom[-2000:]
    shown = json.loads(html.unescape(sizes.group(1)))
    assert shown == {name: [48, 64] for name in uploads}


# --- HEIC and AVIF --------------------------------------------------------------------------


@needs_exiftool
@pytest.mark.parametrize("builder", [photos.heic_photo, photos.avif_photo], ids=["heic", "avif"])
def test_heic_and_avif_become_a_jpeg_without_metadata_the_right_way_up(builder):
    icc = photos.icc_profile()
    upload = builder((64, 48), orientation=6, icc=icc)
    assert "GPS:GPSLatitude" in exiftool(upload)

    result = clean(upload)
    after = exiftool(result.data)

    assert (result.content_type, result.extension) == ("image/jpeg", "jpg")
    assert private_tags(after) == []
    assert not any(
        tag.startswith(("IFD0", "EXIF")) for tag in after
    )  # orientation applied, not kept
    assert (result.width, result.height) == (48, 64)
    assert result.removed[:2] == ("location", "camera model")
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.size == (48, 64)
        assert stored.info["icc_profile"] == icc
        # Lossy twice over (HEVC/AV1, then JPEG), but the same picture, turned.
        expected = photos.picture((64, 48)).transpose(Image.Transpose.ROTATE_270)
        difference = ImageChops.difference(stored.convert("RGB"), expected).convert("L")
        assert ImageStat.Stat(difference).mean[0] < 6
        assert stored.convert("RGB").getpixel((44, 3))[0] > 200  # the red corner, top-right


def test_a_heic_with_transparency_becomes_a_png():
    result = clean(photos.heic_photo((32, 24), orientation=1, mode="RGBA"))
    assert result.content_type == "image/png"
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.mode == "RGBA"
        assert "exif" not in stored.info


@needs_exiftool
@pytest.mark.filterwarnings("ignore:.*:UserWarning:PIL")  # Pillow's notes on the broken EXIF
def test_mangled_photos_are_refused_or_stored_clean_never_an_error(tmp_path):
    """Random damage to photos full of metadata: each is refused with InvalidPhoto or
    stored, and whatever is stored carries nothing private (a fixed seed: repeatable)."""
    exif = photos.camera_exif(orientation=6)
    originals = [
        photos.phone_jpeg(),
        photos.jpeg_photo((64, 48), exif=exif, progressive=True),
        photos.png_photo(exif=exif, icc=photos.icc_profile()),
        photos.animated_gif(),
        photos.still_webp(exif=exif),
        photos.animated_webp(exif=exif),
        photos.heic_photo(),
    ]
    rnd = random.Random(4)
    refused = 0
    for attempt in range(250):
        data = bytearray(rnd.choice(originals))
        for _ in range(rnd.randint(1, 4)):
            spot = rnd.randrange(len(data))
            if rnd.random() < 0.8:
                data[spot] = rnd.randrange(256)
            else:
                del data[spot : spot + rnd.randint(1, 40)]
        try:
            result = clean(bytes(data))
        except images.InvalidPhoto:
            refused += 1
            continue
        (tmp_path / f"{attempt}.{result.extension}").write_bytes(result.data)
    stored = list(tmp_path.iterdir())
    assert refused > 50 and len(stored) > 50  # both outcomes were exercised
    report = subprocess.run(
        ["exiftool", "-json", "-a", "-u", "-G1", str(tmp_path)], capture_output=True
    )
    tags = json.loads(report.stdout)
    assert len(tags) == len(stored)
    assert {entry["SourceFile"]: private_tags(entry) for entry in tags if private_tags(entry)} == {}


def test_a_bomb_is_refused_before_any_pixel_is_decoded(monkeypatch):
    def no_decoding(self):
        raise AssertionError("a pixel was decoded")

    monkeypatch.setattr(Image.Image, "load", no_decoding)
    monkeypatch.setattr("PIL.ImageFile.ImageFile.load", no_decoding)
    with pytest.raises(images.InvalidPhoto, match="too large"):
        clean(photos.png_declaring(30000, 30000))
    with pytest.raises(images.InvalidPhoto, match="too large"):
        clean(photos.png_declaring(8000, 7000))


def test_an_animation_that_needs_more_than_the_decode_budget_is_refused():
    gif = photos.animated_gif(durations=(100,) * 5)  # 5 frames of 32x24, composed in RGBA
    need = 5 * 32 * 24 * 4
    assert clean(gif, max_decode_bytes=need).data
    with pytest.raises(images.InvalidPhoto, match=r"to decode \(5 frames of 32x24 pixels"):
        clean(gif, max_decode_bytes=need - 1)
