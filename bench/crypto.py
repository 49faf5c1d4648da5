"""Encryption at rest: what sealing and opening a photo cost, on one core.

For a 1 MB and a 25 MB photo (noise, which is what a camera JPEG looks like to a cipher):
- seal: photostore.seal() (libsodium secretstream, 64 KiB chunks), as an upload does;
- open: reading the sealed object from the local folder and decrypting it in 64 KiB reads
  through photostore.PhotoBody, as a view does;
- floor: a plain 64 KiB read loop of the same number of bytes from the same folder;
- view: the median time of one view of the same photo from a fresh gunicorn (1 worker,
  local folder, rate limits on in Redis, as deployed), so that decryption's share of a
  view can be read off: open's extra time over the floor, divided by the view's time.
Each figure is the median of several runs.

    .venv/bin/python bench/crypto.py [--runs 7]
"""

from __future__ import annotations

import argparse
import http.client
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Gunicorn, base_env, create_share, fresh_database, manage  # noqa: E402

sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "seen.settings")
os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz")
os.environ.setdefault("DEBUG", "false")

import django  # noqa: E402

django.setup()
from shares import photostore  # noqa: E402

CHUNK = 64 * 1024
KEY = "photos/bench.jpg"


def timed(function, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def read_plain(path: Path) -> None:
    with open(path, "rb") as file:
        for _ in iter(lambda: file.read(CHUNK), b""):
            pass


def read_sealed(path: Path, secret: bytes) -> None:
    with open(path, "rb") as file:
        body = photostore.PhotoBody(file, s3=False, secret=secret, key=KEY)
        for _ in iter(lambda: body.read(CHUNK), b""):
            pass


def view_time(workdir: Path, photo: bytes, runs: int) -> float:
    """Median seconds for one whole view (POST, all bytes read) from a fresh gunicorn."""
    workdir.mkdir(parents=True)
    env = base_env(
        DATABASE_URL=fresh_database("seen_bench_crypto"),
        SEEN_DATA_DIR=str(workdir / "data"),
        REDIS_URL="redis://127.0.0.1:6379/13",
        SEEN_RATE_LIMIT_PREFIX=f"bench-crypto:{os.urandom(4).hex()}",
        SEEN_RATE_LIMIT_UPLOADS="1000000/m",
        SEEN_RATE_LIMIT_VIEWS="1000000/m",
        SEEN_RATE_LIMIT_PIN_FAILURES="1000000/m",
        SEEN_RATE_LIMIT_MANAGE="1000000/m",
        SEEN_MAX_UPLOAD_BYTES=str(64 * 1024 * 1024),
        SEEN_MAX_PIXELS="100000000",
    )
    manage(env, "migrate", "--noinput")
    source = workdir / "photo.jpg"
    source.write_bytes(photo)
    token, _key = create_share(env, source, workdir / "served.jpg", views=0)
    with Gunicorn(env, workers=1) as server:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)

        def one_view() -> None:
            conn.request("POST", f"/s/{token}", body=b"", headers={"Content-Length": "0"})
            response = conn.getresponse()
            assert response.status == 200, response.status
            while response.read(1 << 20):
                pass

        one_view()  # warm: imports, first connection
        seconds = timed(one_view, runs)
        conn.close()
    return seconds


def noise_photo(megabytes: int) -> bytes:
    from memory import photo_of

    return photo_of(megabytes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="seen-bench-crypto-") as tmp:
        workdir = Path(tmp)
        for megabytes in (1, 25):
            data = os.urandom(megabytes * 1_000_000)
            secret = os.urandom(32)
            sealed = photostore.seal(data, secret=secret, key=KEY)
            plain_path, sealed_path = workdir / "plain", workdir / "sealed"
            plain_path.write_bytes(data)
            sealed_path.write_bytes(sealed)
            seal_s = timed(
                lambda d=data, s=secret: photostore.seal(d, secret=s, key=KEY), args.runs
            )
            open_s = timed(lambda p=sealed_path, s=secret: read_sealed(p, s), args.runs)
            floor_s = timed(lambda p=plain_path: read_plain(p), args.runs)
            photo = noise_photo(megabytes)
            view_s = view_time(workdir / f"view-{megabytes}", photo, args.runs)
            mb = len(data) / 1e6
            rows.append(
                (
                    megabytes,
                    mb / seal_s,
                    mb / open_s,
                    mb / floor_s,
                    view_s,
                    (open_s - floor_s) * len(photo) / len(data) / view_s,
                )
            )
    print()
    for megabytes, seal_rate, open_rate, floor_rate, view_s, share in rows:
        print(
            f"{megabytes:>2} MB: seal {seal_rate:,.0f} MB/s, open {open_rate:,.0f} MB/s "
            f"(plain read {floor_rate:,.0f} MB/s: open/plain {open_rate / floor_rate:.2f}); "
            f"a view takes {view_s * 1000:.1f} ms, decryption {share * 100:.1f}% of it "
            "(target <= 10%)"
        )


if __name__ == "__main__":
    main()
