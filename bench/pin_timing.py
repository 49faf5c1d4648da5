"""PIN check timing: does a wrong PIN answer as fast for an unknown link as for a real one?

gunicorn as deployed (the real PBKDF2 hasher), one worker, one request at a time. For each
kind of POST /s/<token> with a PIN it prints the median and p90 over --rounds requests
(interleaved in a shuffled order, so drift affects all kinds alike):

- real share, wrong PIN (403): the share's PIN hash is checked
- unknown token, well formed (404): a stand-in hash is checked, so this should match
- malformed token (404): refused by its shape before any lookup; a token's shape is
  public, so this answer reveals nothing about any share
- real share, GET: the page, for scale

    .venv/bin/python bench/pin_timing.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, Gunicorn, base_env, fresh_database, manage, multipart, noise_jpeg  # noqa: E402


def request(port: int, method: str, path: str, body: bytes = b"", content_type: str = "") -> tuple[int, float, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": content_type} if content_type else {}
    started = time.perf_counter()
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    data = response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, elapsed, data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(exist_ok=True)

    with tempfile.TemporaryDirectory() as data_dir:
        env = base_env(
            DATABASE_URL=fresh_database("seen_bench_pin"),
            SEEN_DATA_DIR=data_dir,
            SEEN_MAX_PIN_FAILURES="100000",
        )
        for name in ("AWS_STORAGE_BUCKET_NAME", "REDIS_URL"):
            env.pop(name, None)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        with Gunicorn(env, workers=1, threads=2) as server:
            body, content_type = multipart(
                {"views": "0", "pin": "73915046"},
                {"photo": ("bench.jpg", noise_jpeg(64, 64), "image/jpeg")},
            )
            status, _, data = request(server.port, "POST", "/api/shares", body, content_type)
            assert status == 201, (status, data)
            token = json.loads(data)["url"].rsplit("/", 1)[1]
            wrong_pin = b"pin=00000000"
            form = "application/x-www-form-urlencoded"
            kinds = {
                "real share, wrong PIN": ("POST", f"/s/{token}", wrong_pin, form, 403),
                "unknown token": ("POST", "/s/" + "A" * 32, wrong_pin, form, 404),
                "malformed token": ("POST", "/s/not-a-token", wrong_pin, form, 404),
                "real share, GET page": ("GET", f"/s/{token}", b"", "", 200),
            }
            timings: dict[str, list[float]] = {name: [] for name in kinds}
            order = list(kinds)
            shuffler = random.Random(5)
            for _ in range(args.rounds):
                shuffler.shuffle(order)  # no kind always runs first, or after the slow one
                for name in order:
                    method, path, payload, kind, expected = kinds[name]
                    status, elapsed, _ = request(server.port, method, path, payload, kind)
                    assert status == expected, (name, status)
                    timings[name].append(elapsed * 1000)

    print(f"PIN check timing, gunicorn 1 worker, {args.rounds} requests each (ms)")
    for name, values in timings.items():
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
        print(f"  {name:24s} median {statistics.median(values):8.1f}   p90 {p90:8.1f}")
    real = statistics.median(timings["real share, wrong PIN"])
    unknown = statistics.median(timings["unknown token"])
    print(f"  unknown / real wrong-PIN median ratio: {unknown / real:.2f}")


if __name__ == "__main__":
    main()
