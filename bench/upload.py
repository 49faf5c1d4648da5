"""Upload throughput: a 3 MB camera JPEG with metadata (EXIF with GPS, camera, dates),
end to end through gunicorn as deployed: parse, validate, clean, store, insert.
Prints uploads/s and p50/p99 for the local folder and for S3 (moto server).

    .venv/bin/python bench/upload.py [--requests 60] [--seconds 20] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    Gunicorn,
    MotoServer,
    base_env,
    fresh_database,
    load,
    manage,
    multipart,
    noise_jpeg,
)


def camera_jpeg(megabytes: float = 3.0) -> bytes:
    from PIL import Image

    exif = Image.Exif()
    exif[0x010F] = "Seen Bench Camera Co."  # Make
    exif[0x0110] = "Model 12"  # Model
    exif[0x0132] = "2026:11:24 10:00:00"  # DateTime
    exif[0x0112] = 6  # Orientation: portrait
    exif.get_ifd(0x8769)[0x9003] = "2026:11:24 10:00:00"  # DateTimeOriginal
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2], gps[3], gps[4] = "N", (52.0, 31.0, 12.0), "E", (13.0, 24.0, 36.0)
    sample = 400
    per_pixel = len(noise_jpeg(sample, sample, quality=88)) / sample**2
    width = int((megabytes * 1e6 / per_pixel / 0.75) ** 0.5)
    return noise_jpeg(width, int(width * 0.75), quality=88, exif=exif.tobytes())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)

    photo = camera_jpeg()
    body, content_type = multipart({"views": "1"}, {"photo": ("IMG_0001.jpg", photo, "image/jpeg")})
    headers = {"Content-Type": content_type, "Content-Length": str(len(body))}
    results = {}
    with (
        tempfile.TemporaryDirectory(prefix="seen-bench-upload-") as tmp,
        MotoServer("seen-upload") as moto,
    ):
        env = base_env(
            DATABASE_URL=fresh_database("seen_bench_upload"), SEEN_DATA_DIR=str(Path(tmp))
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        for name, backend_env in (
            ("local folder", env),
            ("S3 (moto server)", {**env, **moto.env()}),
        ):
            with Gunicorn(backend_env) as server:
                load(
                    server.port,
                    "POST",
                    "/api/shares",
                    body=body,
                    headers=headers,
                    max_requests=4,
                    concurrency=2,
                    expect_status=201,
                )
                results[name] = load(
                    server.port,
                    "POST",
                    "/api/shares",
                    body=body,
                    headers=headers,
                    expect_status=201,
                    concurrency=args.concurrency,
                    max_requests=args.requests,
                    max_seconds=args.seconds,
                )
    print()
    print(
        f"Upload throughput: {len(photo) / 1e6:.1f} MB camera JPEG with EXIF/GPS, "
        "POST /api/shares, "
        f"gunicorn 2 workers x 8 threads, {args.concurrency} clients"
    )
    for name, result in results.items():
        print(f"  {name:18} {result.summary()}")
        if result.errors:
            raise SystemExit(f"{name}: {result.errors} uploads failed")


if __name__ == "__main__":
    main()
