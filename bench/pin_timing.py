"""What a PIN check costs, and whether a flood of PIN posts still freezes the site.

gunicorn as deployed (2 workers x 8 threads, rate limits on in Redis, raised so they do not
trigger), one fresh database. Prints, median over --rounds sequential requests:

- wrong PIN on a share whose PIN is an HMAC (403), and on one still holding a PBKDF2 hash
  from before (its hash is written with Django's default hasher, 1.5M rounds): the cost
  the HMAC removed, measured in the same run;
- an unknown link (404): no hash work at all;
- GET / while idle, and while 45 concurrent clients keep posting wrong PINs (the
  reviewer's case, which froze GET / for 7-14 s with PBKDF2), once against HMAC shares and
  once against the PBKDF2 share.

    .venv/bin/python bench/pin_timing.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PYTHON, ROOT, Gunicorn, base_env, fresh_database, manage, multipart, noise_jpeg  # noqa: E402

FORM = "application/x-www-form-urlencoded"
FLOODERS = 45


def request(
    port: int, method: str, path: str, body: bytes = b"", content_type: str = ""
) -> tuple[int, float]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Content-Type": content_type} if content_type else {}
    started = time.perf_counter()
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    response.read()
    elapsed = time.perf_counter() - started
    conn.close()
    return response.status, elapsed * 1000


def create(port: int, pin: str) -> str:
    body, content_type = multipart(
        {"views": "0", "pin": pin}, {"photo": ("bench.jpg", noise_jpeg(64, 64), "image/jpeg")}
    )
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("POST", "/api/shares", body=body, headers={"Content-Type": content_type})
    response = conn.getresponse()
    data = response.read()
    assert response.status == 201, (response.status, data)
    return json.loads(data)["url"].rsplit("/", 1)[1]


def to_pbkdf2(env: dict[str, str], token: str, pin: str) -> None:
    """Give one share the PBKDF2 hash every share had before PINs became HMACs."""
    code = (
        "from django.contrib.auth.hashers import make_password;"
        "from shares.models import Share, token_hash;"
        f"Share.objects.filter(token_hash=token_hash({token!r}))"
        f".update(pin_hash=make_password({pin!r}))"
    )
    subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)


def timed(
    port: int, rounds: int, method: str, path: str, body: bytes, kind: str, expected: int
) -> float:
    times = []
    for _ in range(rounds):
        status, elapsed = request(port, method, path, body, kind)
        assert status == expected, (path, status, expected)
        times.append(elapsed)
    return statistics.median(times)


def page_during_flood(port: int, rounds: int, paths: list[str]) -> tuple[float, float, int]:
    """Median and worst GET / while FLOODERS clients post wrong PINs; and how many posts."""
    stop = threading.Event()
    posted = [0]
    lock = threading.Lock()

    def flood(path: str) -> None:
        while not stop.is_set():
            request(port, "POST", path, b"pin=00000000", FORM)
            with lock:
                posted[0] += 1

    threads = [
        threading.Thread(target=flood, args=(paths[i % len(paths)],)) for i in range(FLOODERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(1)  # let the flood build up before measuring
    pages = []
    deadline = time.monotonic() + 60
    while len(pages) < rounds and time.monotonic() < deadline:
        status, elapsed = request(port, "GET", "/")
        assert status == 200, status
        pages.append(elapsed)
    stop.set()
    for thread in threads:
        thread.join()
    return statistics.median(pages), max(pages), posted[0]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(exist_ok=True)

    with tempfile.TemporaryDirectory() as data_dir:
        env = base_env(
            DATABASE_URL=fresh_database("seen_bench_pin"),
            SEEN_DATA_DIR=data_dir,
            SEEN_MAX_PIN_FAILURES="1000000",
            REDIS_URL="redis://127.0.0.1:6379/14",
            SEEN_RATE_LIMIT_UPLOADS="100000/h",
            SEEN_RATE_LIMIT_VIEWS="100000/m",
            SEEN_RATE_LIMIT_PIN_FAILURES="1000000/h",
        )
        env.pop("AWS_STORAGE_BUCKET_NAME", None)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        with Gunicorn(env) as server:
            port = server.port
            hmac_token = create(port, "73915046")
            old_token = create(port, "73915046")
            to_pbkdf2(env, old_token, "73915046")
            wrong = b"pin=00000000"
            hmac_wrong = timed(port, args.rounds, "POST", f"/s/{hmac_token}", wrong, FORM, 403)
            pbkdf2_wrong = timed(port, args.rounds, "POST", f"/s/{old_token}", wrong, FORM, 403)
            unknown = timed(port, args.rounds, "POST", "/s/" + "A" * 32, wrong, FORM, 404)
            idle_page = timed(port, args.rounds, "GET", "/", b"", "", 200)
            hmac_flood = page_during_flood(
                port, args.rounds, [f"/s/{hmac_token}", "/s/" + "B" * 32]
            )
            pbkdf2_flood = page_during_flood(port, args.rounds, [f"/s/{old_token}"])

    print(f"\nPIN cost, gunicorn 2x8, median of {args.rounds} sequential requests (ms)")
    print(f"  wrong PIN, HMAC share          {hmac_wrong:8.1f}")
    print(f"  wrong PIN, old PBKDF2 share    {pbkdf2_wrong:8.1f}")
    print(f"  unknown link (404)             {unknown:8.1f}")
    print(f"  GET / idle                     {idle_page:8.1f}")
    for name, (median, worst, posted) in (("HMAC", hmac_flood), ("PBKDF2", pbkdf2_flood)):
        print(
            f"  GET / under {FLOODERS} wrong-PIN clients ({name:6s}): median {median:7.1f}, "
            f"worst {worst:7.1f} ({posted} PIN posts)"
        )


if __name__ == "__main__":
    main()
