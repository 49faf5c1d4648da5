"""Photo cleaning seen from outside: what an upload through the web form or the API
answers, stores and serves. These go through the app and its database; the tests of
images.py itself (test_images.py, test_hostile.py) need neither a database nor Redis.
"""

import struct

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from shares import images
from shares.models import Share

from . import photos
from .helpers import stored_keys, stored_photo, token_in
from .test_hostile import SECRET, no_decoding
from .test_images import clean, exiftool, needs_exiftool, private_tags, same_pixels, upright

# --- helpers ---------------------------------------------------------------------------


def refused_through_the_api(client, data: bytes) -> str:
    """Upload data; check it got a 400 and left nothing behind; return the message."""
    photo = SimpleUploadedFile("holiday.jpg", data, content_type="image/jpeg")
    response = client.post("/api/shares", {"photo": photo})
    assert response.status_code == 400, response.content
    assert Share.objects.count() == 0
    assert stored_keys() == []
    return response.json()["error"]


def stored_through_the_api(client, data: bytes) -> tuple[bytes, list[str]]:
    """Upload data through the web form; return the stored bytes and the result page."""
    photo = SimpleUploadedFile("holiday.jpg", data, content_type="image/jpeg")
    page = client.post("/", {"photo": photo}).content.decode()
    share = Share.objects.get()
    return stored_photo(share, token_in(page)), page


# --- what the sender is told ----------------------------------------------------------


@pytest.mark.django_db
def test_the_result_page_lists_what_was_removed(client):
    photo = SimpleUploadedFile("IMG_0001.jpg", photos.phone_jpeg(), content_type="image/jpeg")
    html = client.post("/", {"photo": photo}).content.decode()
    assert (
        "Removed from the photo: location, camera model, camera serial number, date taken, "
        "thumbnail" in html
    )

    plain = SimpleUploadedFile("plain.jpg", photos.jpeg_photo(), content_type="image/jpeg")
    html = client.post("/", {"photo": plain}).content.decode()
    assert "Removed from the photo" not in html


# --- hostile and broken files, through the API ---------------------------------------------


def _truncated(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


def _corrupt_png() -> bytes:
    data = bytearray(photos.png_photo((60, 40), text=False))
    data[data.index(b"IDAT") + 10] ^= 0xFF  # a flipped byte: the chunk's CRC no longer matches
    return bytes(data)


def _corrupt_jpeg() -> bytes:
    data = bytearray(photos.jpeg_photo((60, 40)))
    table = data.index(b"\xff\xc4")
    data[table + 5 : table + 21] = b"\xff" * 16  # Huffman code counts that cannot exist
    return bytes(data)


def _corrupt_gif() -> bytes:
    data = bytearray(photos.still_gif((60, 40)))
    image = data.index(b"\x2c\x00\x00\x00\x00")
    data[image + 10 :] = b"\x08\x05" + b"\xff" * 5 + b"\x00;"  # LZW codes out of range
    return bytes(data)


def _corrupt_webp() -> bytes:
    data = bytearray(photos.still_webp((60, 40), xmp=None))
    frame = data.index(b"\x9d\x01\x2a")  # the VP8 key frame start code
    data[frame : frame + 3] = b"\x00\x00\x00"
    return bytes(data)


def _corrupt_heic() -> bytes:
    data = bytearray(photos.heic_photo((60, 40)))
    meta = data.index(b"meta")
    data[meta + 8 : meta + 40] = b"\xee" * 32
    return bytes(data)


HOSTILE = {
    "bomb 30000x30000 png": (lambda: photos.png_declaring(30000, 30000), "too large"),
    "60 megapixel png": (
        lambda: photos.png_declaring(10000, 6000),
        "(10000x6000 pixels): the limit is 50 megapixels",
    ),
    "svg named .jpg": (lambda: photos.SVG, "not a photo"),
    "pdf named .jpg": (lambda: photos.PDF, "not a photo"),
    "html named .jpg": (lambda: photos.HTML, "not a photo"),
    "script named .jpg": (lambda: photos.SCRIPT, "not a photo"),
    "zero bytes": (lambda: b"", "empty"),
    "truncated jpeg": (lambda: _truncated(photos.jpeg_photo((200, 150))), "damaged"),
    "truncated progressive jpeg": (
        lambda: _truncated(photos.jpeg_photo((200, 150), progressive=True)),
        "damaged",
    ),
    "truncated png": (lambda: _truncated(photos.png_photo((200, 150))), "damaged"),
    "truncated gif": (lambda: _truncated(photos.animated_gif()), "damaged"),
    "truncated webp": (lambda: _truncated(photos.still_webp((200, 150))), "damaged"),
    "truncated animated webp": (lambda: _truncated(photos.animated_webp()), "damaged"),
    "truncated heic": (lambda: _truncated(photos.heic_photo((200, 150))), "damaged"),
    "truncated avif": (lambda: _truncated(photos.avif_photo((200, 150))), "damaged"),
    "corrupt jpeg tables": (_corrupt_jpeg, "damaged"),
    "corrupt png data": (_corrupt_png, "damaged"),
    "corrupt gif data": (_corrupt_gif, "damaged"),
    "corrupt webp frame": (_corrupt_webp, "damaged"),
    "corrupt heic boxes": (_corrupt_heic, "damaged"),
    "just a jpeg header": (
        lambda: b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9",
        "damaged",
    ),
}


@pytest.mark.django_db
@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_or_broken_file_gets_a_clear_400_and_leaves_nothing(client, case):
    build, message = HOSTILE[case]
    photo = SimpleUploadedFile("holiday.jpg", build(), content_type="image/jpeg")
    response = client.post("/api/shares", {"photo": photo})

    assert response.status_code == 400, case
    assert message in response.json()["error"], response.json()
    assert Share.objects.count() == 0
    assert stored_keys() == []


@pytest.mark.django_db
def test_a_jpeg_html_polyglot_is_stored_without_the_html(client, any_storage):
    upload = photos.jpeg_photo((40, 30)) + photos.HTML
    photo = SimpleUploadedFile("cat.jpg", upload, content_type="image/jpeg")
    created = client.post("/api/shares", {"photo": photo})
    assert created.status_code == 201

    share = Share.objects.get()
    data = stored_photo(share, token_in(created.json()["url"]))
    assert (
        data == upload[: upload.rindex(b"\xff\xd9") + 2]
    )  # the picture, byte for byte, and no more
    assert b"<script" not in data and share.photos.get().content_type == "image/jpeg"


@pytest.mark.django_db
def test_the_pixel_limit_comes_from_settings(client, settings):
    settings.SEEN_MAX_PIXELS = 1000
    photo = SimpleUploadedFile("cat.jpg", photos.jpeg_photo((40, 30)), content_type="image/jpeg")
    response = client.post("/api/shares", {"photo": photo})
    assert response.status_code == 400
    assert "(40x30 pixels): the limit is 0.001 megapixels" in response.json()["error"]
    assert stored_keys() == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fmt, content_type",
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("HEIF", "image/jpeg"),
        ("AVIF", "image/jpeg"),
    ],
)
def test_a_one_pixel_image_is_fine(client, fmt, content_type):
    photo = SimpleUploadedFile("dot.jpg", photos.one_pixel(fmt), content_type="image/jpeg")
    response = client.post("/api/shares", {"photo": photo})
    assert response.status_code == 201, response.content
    share = Share.objects.get()
    assert (
        share.photos.get().content_type,
        share.photos.get().width,
        share.photos.get().height,
    ) == (content_type, 1, 1)


# --- hostile photos from the outside review (issue 11), through the app ------------------


@pytest.mark.django_db
def test_a_jpeg_repeating_its_last_scan_is_refused_and_nothing_is_stored(client):
    bomb = photos.scan_bomb(repeats=150)
    assert bomb.count(b"\xff\xda") > images.MAX_JPEG_SCANS

    message = refused_through_the_api(client, bomb)
    assert message == (
        "The photo has more than 100 scans, which no camera or encoder writes; it cannot be shown."
    )


@pytest.mark.django_db
def test_the_decode_budget_comes_from_settings(client, settings):
    settings.SEEN_MAX_DECODE_BYTES = 40 * 30 * 4 - 1  # one byte short of a 40x30 RGBA PNG
    message = refused_through_the_api(client, photos.png_photo((40, 30), mode="RGBA"))
    assert message.startswith("The photo is too large to decode (40x30 pixels need")


@pytest.mark.django_db
def test_a_gif_of_many_one_pixel_frames_is_refused_while_its_blocks_are_parsed(client, monkeypatch):
    gif = photos.gif_of_frames(1500)
    message = refused_through_the_api(client, gif)
    assert message == "The animation has too many frames (1,001): the limit is 1,000."

    no_decoding(monkeypatch)  # counted in the parse: no frame was decoded to find out
    with pytest.raises(images.InvalidPhoto, match="too many frames"):
        clean(gif)


@needs_exiftool
@pytest.mark.django_db
def test_html_inside_the_adobe_segment_is_not_stored_and_the_segment_is_rebuilt(client):
    upload = photos.jpeg_with_adobe(photos.HTML)
    data, page = stored_through_the_api(client, upload)

    assert b"<script" not in data and b"<html" not in data
    at = data.index(b"\xff\xee")
    assert data[at : at + 16] == b"\xff\xee\x00\x0eAdobe" + struct.pack(">HHHB", 100, 0, 0, 1)
    tags = exiftool(data)
    assert (tags["Adobe:DCTEncodeVersion"], tags["Adobe:ColorTransform"]) == (100, "YCbCr")
    assert "Removed from the photo: other metadata" in page


@needs_exiftool
@pytest.mark.django_db
def test_a_padded_phys_chunk_is_rebuilt_and_the_sender_is_told(client):
    phys = struct.pack(">IIB", 2835, 2835, 1)  # 72 dpi
    upload = photos.png_with_chunk(b"pHYs", phys + SECRET)
    data, page = stored_through_the_api(client, upload)

    assert b"<script" not in data and b"GPS" not in data and b"48.8584" not in data
    assert photos._png_chunk(b"pHYs", phys) in data
    assert exiftool(data)["PNG-pHYs:PixelsPerUnitX"] == 2835
    assert "Removed from the photo: other metadata" in page
    assert "no location or camera details" not in page
    assert same_pixels(upright(data), upright(upload))


# --- what is stored and served -------------------------------------------------------------


STORED_CASES = {
    "phone jpeg": (lambda: photos.phone_jpeg(), "image/jpeg"),
    "png": (
        lambda: photos.png_photo(exif=photos.camera_exif(), icc=photos.icc_profile()),
        "image/png",
    ),
    "animated gif": (lambda: photos.animated_gif(), "image/gif"),
    "still webp": (
        lambda: photos.still_webp(exif=photos.camera_exif(), icc=photos.icc_profile()),
        "image/webp",
    ),
    "animated webp": (lambda: photos.animated_webp(exif=photos.camera_exif()), "image/webp"),
    "heic": (lambda: photos.heic_photo(icc=photos.icc_profile()), "image/jpeg"),
    "avif": (lambda: photos.avif_photo(), "image/jpeg"),
}


@needs_exiftool
@pytest.mark.django_db
@pytest.mark.parametrize("case", STORED_CASES)
def test_every_stored_photo_is_free_of_private_metadata(client, any_storage, case):
    build, content_type = STORED_CASES[case]
    upload = build()
    assert private_tags(exiftool(upload))  # the upload did carry some

    photo = SimpleUploadedFile("upload.bin", upload, content_type="application/octet-stream")
    created = client.post("/api/shares", {"photo": photo})
    assert created.status_code == 201
    share = Share.objects.get()
    assert share.photos.get().content_type == content_type
    assert stored_keys() == [share.photos.get().key]
    data = stored_photo(share, token_in(created.json()["url"]))
    assert private_tags(exiftool(data)) == []
    assert share.photos.get().size_bytes == len(data)


@needs_exiftool
@pytest.mark.django_db(transaction=True)
def test_the_stored_and_served_photo_is_clean_typed_by_its_content_and_not_sniffable(live_server):
    import requests

    upload = photos.phone_jpeg()
    response = requests.post(
        f"{live_server.url}/api/shares",
        files={"photo": ("IMG_0001.png", upload, "image/png")},  # name and type both lie
        timeout=10,
    )
    assert response.status_code == 201
    share = Share.objects.get()
    assert share.photos.get().content_type == "image/jpeg"
    assert share.photos.get().key.endswith(".jpg")
    assert private_tags(exiftool(stored_photo(share, token_in(response.json()["url"])))) == []

    viewed = requests.post(response.json()["url"], timeout=10)
    assert viewed.status_code == 200
    assert viewed.headers["Content-Type"] == "image/jpeg"
    assert viewed.headers["X-Content-Type-Options"] == "nosniff"
    assert private_tags(exiftool(viewed.content)) == []
    assert same_pixels(upright(viewed.content), upright(upload))
