"""Memory while streaming: the peak RSS of a *fresh* gunicorn worker (1 worker, the deployed
8 threads) while 8 clients download a 25 MB photo at once. Target: growth under 5 MB per
concurrent download (a view must stream, never hold the photo in memory).

The worker is started without a single request (no health probe either), and its peak
(VmHWM in /proc/<pid>/status) is read before the first request and after the downloads:
everything the first views cost counts, the imports and the S3 client included, as it
does for a worker that a deployment has just started (or restarted).

Runs for the local folder, S3 on a moto server and S3 on SeaweedFS. The upload limit is
raised for the benchmark only.

    .venv/bin/python bench/memory.py [--clients 8] [--megabytes 25]
        [--backends local,moto,seaweedfs]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT,
    Gunicorn,
    MotoServer,
    SeaweedServer,
    base_env,
    create_share,
    fresh_database,
    manage,
    noise_jpeg,
    proc_status_kb,
)

UPLOAD_LIMITS = {"SEEN_MAX_UPLOAD_BYTES": str(64 * 1024 * 1024), "SEEN_MAX_PIXELS": "100000000"}


def photo_of(megabytes: float) -> bytes:
    # Learn what a noise pixel costs at this quality from a small sample, then size up.
    sample = 400
    per_pixel = len(noise_jpeg(sample, sample, quality=95)) / sample**2
    side = int((megabytes * 1e6 / per_pixel) ** 0.5) + 8
    return noise_jpeg(side, side, quality=95)


def fresh_worker_peak(env: dict[str, str], token: str, size: int, clients: int) -> tuple[int, int]:
    """(VmHWM before the first request, VmHWM after `clients` concurrent views), in kB, of
    one fresh worker with the deployed thread count."""
    with Gunicorn(env, workers=1, probe=False) as server:
        worker = server.worker_pids[0]
        before = proc_status_kb(worker, "VmHWM")
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

        threads = [threading.Thread(target=client) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = proc_status_kb(worker, "VmHWM")
    if received != [size] * clients:
        raise SystemExit(f"incomplete downloads: {received}")
    return before, after


def big_share(env: dict[str, str], photo: Path, workdir: Path) -> tuple[str, int]:
    stored = workdir / "stored-big.jpg"
    token, _key = create_share({**env, **UPLOAD_LIMITS}, photo, stored, views=0)
    size = stored.stat().st_size
    stored.unlink()
    return token, size


def report_lines(rows: list[tuple[str, int, int, int]], clients: int) -> list[str]:
    lines = []
    for name, size, before, after in rows:
        growth = (after - before) / 1024
        lines.append(
            f"{name}: photo {size / 1e6:.1f} MB, "
            f"worker peak RSS {before / 1024:.1f} -> {after / 1024:.1f} MB, "
            f"growth {growth:.1f} MB, {growth / clients:.2f} MB per download  (target <= 5)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--megabytes", type=float, default=25)
    parser.add_argument("--backends", default="local,moto,seaweedfs")
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    backends = args.backends.split(",")

    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="seen-bench-memory-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        photo = workdir / "photo.jpg"
        photo.write_bytes(photo_of(args.megabytes))
        env = base_env(
            DATABASE_URL=fresh_database("seen_bench_memory"), SEEN_DATA_DIR=str(workdir / "data")
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        choices = {"local": ("local folder", lambda: env)}
        choices["moto"] = (
            "S3 (moto server)",
            lambda: {**env, **stack.enter_context(MotoServer("seen-memory")).env()},
        )
        choices["seaweedfs"] = (
            "S3 (SeaweedFS)",
            lambda: {**env, **stack.enter_context(SeaweedServer("seen-memory", workdir)).env()},
        )
        for backend in backends:
            name, backend_env = choices[backend]
            backend_env = backend_env()
            token, size = big_share(backend_env, photo, workdir)
            before, after = fresh_worker_peak(backend_env, token, size, args.clients)
            rows.append((name, size, before, after))

    print()
    print(
        f"Memory while streaming: 1 fresh gunicorn worker (8 threads), {args.clients} concurrent "
        "downloads of one photo, VmHWM before the first request and after"
    )
    for line in report_lines(rows, args.clients):
        print(line)


if __name__ == "__main__":
    main()
