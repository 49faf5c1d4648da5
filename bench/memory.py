"""Memory while streaming: one gunicorn worker's RSS while 10 clients download a 25 MB
photo at once, beside the same worker idle. Target: growth under 5 MB per concurrent
download (a view must stream, never hold the photo in memory).

Runs for the local folder and for S3 (moto server). The upload limit is raised for the
benchmark only.

    .venv/bin/python bench/memory.py [--clients 10] [--megabytes 25]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Gunicorn, MotoServer, base_env, create_share, fresh_database, manage, noise_jpeg  # noqa: E402


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def photo_of(megabytes: float) -> bytes:
    # Learn what a noise pixel costs at this quality from a small sample, then size up.
    sample = 400
    per_pixel = len(noise_jpeg(sample, sample, quality=95)) / sample**2
    side = int((megabytes * 1e6 / per_pixel) ** 0.5) + 8
    return noise_jpeg(side, side, quality=95)


def measure(env: dict[str, str], token: str, size: int, clients: int) -> tuple[int, int]:
    with Gunicorn(env, workers=1, threads=clients + 2) as server:
        worker = server.worker_pids[0]
        # Warm the worker up with one full view, so imports and connections are not counted.
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.request("POST", f"/s/{token}", body=b"", headers={"Content-Length": "0"})
        assert len(conn.getresponse().read()) == size
        conn.close()
        time.sleep(0.5)
        idle = rss_kb(worker)

        peak = idle
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_kb(worker))
                time.sleep(0.005)

        barrier = threading.Barrier(clients)
        received: list[int] = []

        def client() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            barrier.wait()
            conn.request("POST", f"/s/{token}", body=b"", headers={"Content-Length": "0"})
            response = conn.getresponse()
            total = 0
            # Read at a modest pace so every download is in flight at the same time.
            while chunk := response.read(256 * 1024):
                total += len(chunk)
                time.sleep(0.002)
            received.append(total)
            conn.close()

        sampler = threading.Thread(target=sample)
        sampler.start()
        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        sampler.join()
    if received != [size] * clients:
        raise SystemExit(f"incomplete downloads: {received}")
    return idle, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--megabytes", type=float, default=25)
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)

    rows = []
    with tempfile.TemporaryDirectory(prefix="seen-bench-memory-") as tmp, MotoServer("seen-memory") as moto:
        workdir = Path(tmp)
        photo = workdir / "photo.jpg"
        photo.write_bytes(photo_of(args.megabytes))
        limits = {"SEEN_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024), "SEEN_MAX_PIXELS": "100000000"}
        env = base_env(DATABASE_URL=fresh_database("seen_bench_memory"), SEEN_DATA_DIR=str(workdir), **limits)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        for name, backend_env in (("local folder", env), ("S3 (moto server)", {**env, **moto.env()})):
            stored = workdir / "stored.jpg"
            token, _key = create_share(backend_env, photo, stored, views=0)
            size = stored.stat().st_size
            idle, peak = measure(backend_env, token, size, args.clients)
            rows.append((name, size, idle, peak))

    print()
    print(f"Memory while streaming: 1 gunicorn worker, {args.clients} concurrent downloads of one photo")
    for name, size, idle, peak in rows:
        growth = (peak - idle) / 1024
        print(f"{name}: photo {size / 1e6:.1f} MB")
        print(f"  worker RSS idle {idle / 1024:.1f} MB, peak {peak / 1024:.1f} MB, growth {growth:.1f} MB, "
              f"{growth / args.clients:.2f} MB per download  (target < 5)")


if __name__ == "__main__":
    main()
