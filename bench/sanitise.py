"""How long removing a photo's metadata takes, beside what a re-encode would cost.

Builds a 12 MP camera-like JPEG in memory (smooth colours plus sensor noise, so it is
as large as a phone's; EXIF with GPS, camera, dates and an embedded thumbnail; XMP, IPTC,
a comment and an ICC profile), then times, in the same run:

- clean:     shares.images.clean_photo (segment rewrite + full validating decode)
- re-encode: Pillow decode + save as JPEG quality 95 (what a naive sanitiser does)
- re-encode upright: the same after turning the picture upright (what Seen did before)

and prints the median of several runs of each and their ratio. Target: <= 0.25x.

    .venv/bin/python bench/sanitise.py [--runs 7]
"""

import argparse
import io
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from PIL import Image, ImageOps  # noqa: E402

from shares import images  # noqa: E402
from shares.tests import photos  # noqa: E402

MAX_PIXELS = 50_000_000


def camera_jpeg() -> bytes:
    return photos.jpeg_photo(
        image=photos.camera_picture((4032, 3024)),
        exif=photos.camera_exif(orientation=6),
        icc=photos.icc_profile(),
        xmp=photos.XMP,
        comment=b"taken at home",
        iptc=True,
        quality=92,
    )


def clean(data: bytes) -> bytes:
    return images.clean_photo(io.BytesIO(data), max_pixels=MAX_PIXELS).data


def reencode(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=95, icc_profile=image.info.get("icc_profile"))
        return out.getvalue()


def reencode_upright(data: bytes) -> bytes:
    """What Seen's first version did to get an upright copy without metadata."""
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        ImageOps.exif_transpose(image).save(
            out, format="JPEG", quality=95, icc_profile=image.info.get("icc_profile")
        )
        return out.getvalue()


def median_seconds(functions, data: bytes, runs: int) -> list[float]:
    """Median time of each function. Runs alternate between them, so a busy machine
    slows both alike and the ratio stays fair."""
    for function in functions:
        function(data)  # warm up: imports, allocator, caches
    timings = [[] for _ in functions]
    for _ in range(runs):
        for function, spent in zip(functions, timings, strict=True):
            start = time.perf_counter()
            function(data)
            spent.append(time.perf_counter() - start)
    return [statistics.median(spent) for spent in timings]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    data = camera_jpeg()
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
    cleaned = images.clean_photo(io.BytesIO(data), max_pixels=MAX_PIXELS)
    print(
        f"input: {width}x{height} JPEG, {len(data) / 1e6:.2f} MB"
        " with EXIF/GPS/thumbnail/XMP/IPTC/ICC"
    )
    print(f"output: {len(cleaned.data) / 1e6:.2f} MB, removed: {', '.join(cleaned.removed)}")

    clean_time, reencode_time, upright_time = median_seconds(
        [clean, reencode, reencode_upright], data, args.runs
    )
    ratio = clean_time / reencode_time
    print()  # bench/all.py takes the figures after the last blank line
    print(f"12 MP camera JPEG, {len(data) / 1e6:.2f} MB")
    print(f"clean_photo:          {clean_time * 1000:8.1f} ms  (median of {args.runs})")
    print(f"Pillow re-encode q95: {reencode_time * 1000:8.1f} ms  (median of {args.runs})")
    print(
        f"ratio clean/re-encode: {ratio:.3f}x"
        f"  (target <= 0.25x: {'met' if ratio <= 0.25 else 'NOT met'})"
    )
    print(
        f"re-encode upright q95 (Seen before): {upright_time * 1000:.1f} ms,"
        f" ratio {clean_time / upright_time:.3f}x"
    )


if __name__ == "__main__":
    main()
