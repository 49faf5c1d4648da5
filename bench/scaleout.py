"""Exactly N across processes: two gunicorn instances on two ports share one PostgreSQL
database and one S3 endpoint (moto server); 200 concurrent viewers, split between them,
race for a 5-view share. Expected: exactly 5 images, 195 answers 410, zero errors.

    .venv/bin/python bench/scaleout.py [--viewers 200] [--views 5]
"""

from __future__ import annotations

import argparse
import http.client
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    ROOT,
    Gunicorn,
    MotoServer,
    base_env,
    create_share,
    fresh_database,
    manage,
    noise_jpeg,
)  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--viewers", type=int, default=200)
    parser.add_argument("--views", type=int, default=5, choices=[1, 3, 5, 10])
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)

    with (
        tempfile.TemporaryDirectory(prefix="seen-bench-scaleout-") as tmp,
        MotoServer("seen-scaleout") as moto,
    ):
        workdir = Path(tmp)
        env = base_env(
            DATABASE_URL=fresh_database("seen_bench_scaleout"),
            SEEN_DATA_DIR=str(workdir),
            **moto.env(),
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        photo = workdir / "photo.jpg"
        photo.write_bytes(noise_jpeg(400, 300))
        token, _key = create_share(env, photo, workdir / "stored.jpg", views=args.views)

        with Gunicorn(env) as first, Gunicorn(env) as second:
            ports = [first.port, second.port]
            barrier = threading.Barrier(args.viewers)
            outcomes: Counter = Counter()
            per_server: Counter = Counter()
            lock = threading.Lock()

            def viewer(index: int) -> None:
                port = ports[index % 2]
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                barrier.wait()
                try:
                    conn.request("POST", f"/s/{token}", body=b"", headers={"Content-Length": "0"})
                    response = conn.getresponse()
                    body = response.read()
                    status = response.status
                    if status == 200 and body[:2] != b"\xff\xd8":
                        status = "200 without a photo"
                except (OSError, http.client.HTTPException) as exc:
                    status = f"error: {exc.__class__.__name__}"
                finally:
                    conn.close()
                with lock:
                    outcomes[status] += 1
                    if status == 200:
                        per_server[port] += 1

            started = time.perf_counter()
            threads = [threading.Thread(target=viewer, args=(i,)) for i in range(args.viewers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        objects_left = moto.client.list_objects_v2(Bucket="seen-scaleout").get("KeyCount", 0)

    images = outcomes.get(200, 0)
    gone = outcomes.get(410, 0)
    errors = args.viewers - images - gone
    print()
    print(
        f"Exactly N across processes: 2 gunicorn instances (2 workers x 8 threads each), "
        f"{args.viewers} concurrent viewers, {args.views}-view share, {elapsed:.2f} s"
    )
    print(
        f"  images served   {images}"
        f"  (first server {per_server[ports[0]]}, second {per_server[ports[1]]})"
    )
    print(f"  410 gone        {gone}")
    others = {k: v for k, v in outcomes.items() if k not in (200, 410)}
    print(f"  other/errors    {errors}  {others}")
    print(f"  objects left in the bucket after the last view: {objects_left}")
    ok = (
        images == args.views
        and gone == args.viewers - args.views
        and errors == 0
        and objects_left == 0
    )
    print(f"  result          {'exactly N: OK' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
