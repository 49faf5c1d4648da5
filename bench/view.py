"""View throughput on the deployed path: a 1 MB photo on an unlimited share, 8 connections.

Every server is a *fresh* gunicorn as deployed (bench/common.py: `-c python:seen.gunicorn`,
2 workers x 8 threads), with the rate limits ON, raised so they never trigger
(1000000/m) and counted in Redis (REDIS_URL, database 13). Beside it, two more fresh
servers of the same backend: the limits switched off (what the limiter costs, target:
within 10%), and the limits counted in the database (REDIS_URL unset), for information.

For each backend (the local folder, S3 on a moto server, S3 on SeaweedFS) it prints
views/s, p50 and p99 of `POST /s/<token>` beside the same bytes as a static file from the
same server (whitenoise; target: views >= 0.5 of it) and, on S3, a bare boto3 GetObject
loop on the same object from this process (target: views >= 0.8 of it).

On the same server (limits on) it measures an album of 4 such photos (4 distinct 1 MB
photos, unlimited share): one album view end to end is `POST /s/<token>` with
`Accept: application/json`, then a GET of each of the 4 one-time addresses it answers,
every byte read, on one keep-alive connection. Beside it, four one-photo views of the
same 4 photos (4 one-photo shares, one POST each, every byte read, one connection). It
prints albums/s beside 4-views/s, the album's time over four views' time (p50; target
<= 1.2x) and the floors for 4 photos (the static file's and boto3's rate / 4), then the
CPU that the server's workers and their PostgreSQL backends spent per album and per four
views (from /proc: steadier than the rates on a machine shared with other work).

The measurements of a backend are interleaved, in --rounds rounds, so drifting load on
the machine hits them alike; each figure pools its rounds (the rounds' own rates in
brackets).

On S3 it counts the TCP connections opened towards the S3 server over --connection-views
views through a fresh server (distinct client ports in `ss`, TIME_WAIT included, before
and after; target: at most one per worker thread). moto's server answers every request
with `Connection: close`, so there it is ~1 per view whatever the client does;
SeaweedFS keeps connections alive as S3 does.

Last, the peak RSS growth of a fresh worker (1 worker, 8 threads) under 8 concurrent
downloads of a 25 MB photo (bench/memory.py; target <= 5 MB per download).

    .venv/bin/python bench/view.py [--seconds 5] [--requests 3000] [--rounds 2]
        [--backends local,moto,seaweedfs] [--connection-views 600]
        [--memory-backends local,seaweedfs] [--variants on,off,db]
        [--database seen_bench_view]

The album part alone, small (about a minute): --backends local,seaweedfs --seconds 2
--rounds 1 --variants on --connection-views 0 --memory-backends ''
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    PG_URL,
    ROOT,
    Gunicorn,
    LoadResult,
    MotoServer,
    SeaweedServer,
    base_env,
    bounded_load,
    client_ports,
    create_album,
    create_share,
    fresh_database,
    load,
    manage,
    noise_jpeg,
    session_load,
)
from memory import big_share, fresh_worker_peak, photo_of, report_lines  # noqa: E402

STATIC_NAME = "bench/photo-1mb.jpg"
WORKERS, THREADS = 2, 8  # the deployed defaults (seen/gunicorn.py)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")
HIGH = "1000000/m"
LIMITS_ON = dict.fromkeys(
    (
        "SEEN_RATE_LIMIT_UPLOADS",
        "SEEN_RATE_LIMIT_VIEWS",
        "SEEN_RATE_LIMIT_PIN_FAILURES",
        "SEEN_RATE_LIMIT_MANAGE",
    ),
    HIGH,
)
VIEW = {"body": b"", "headers": {"Content-Length": "0"}}
ALBUM_VIEW = {"body": b"", "headers": {"Content-Length": "0", "Accept": "application/json"}}
ALBUM_PHOTOS = 4


def sealed_size(size: int) -> int:
    """Bytes of a photo of `size` bytes as stored: header, then 17 bytes per 64 KiB chunk."""
    chunks = max(-(-size // (64 * 1024)), 1)
    return 9 + 24 + size + 17 * chunks


def one_megabyte_jpeg() -> bytes:
    return noise_jpeg(1060, 1060, quality=90)


def pooled(results: list[LoadResult]) -> LoadResult:
    return LoadResult(
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
        seconds=sum(r.seconds for r in results),
        latencies=[latency for r in results for latency in r.latencies],
        bytes_received=sum(r.bytes_received for r in results),
    )


def boto3_loop(s3_env: dict[str, str], key: str, **limits) -> LoadResult:
    """GetObject on the same object from one client shared by the load's threads, with the
    pool the app gives its client (threads + 2), each body read to its end."""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3",
        endpoint_url=s3_env["AWS_S3_ENDPOINT_URL"],
        region_name="us-east-1",
        aws_access_key_id=s3_env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=s3_env["AWS_SECRET_ACCESS_KEY"],
        config=Config(
            max_pool_connections=THREADS + 2,
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"},
        ),
    )
    bucket = s3_env["AWS_STORAGE_BUCKET_NAME"]

    def boto3_client():
        def attempt() -> tuple[bool, int]:
            try:
                return True, len(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            except Exception:  # noqa: BLE001 - counted as an error
                return False, 0

        return attempt

    bounded_load(
        boto3_client, concurrency=limits["concurrency"], max_requests=20, max_seconds=10
    )  # warm up
    return bounded_load(boto3_client, **limits)


def album_view(token: str):
    """One album view end to end: the POST that spends it (JSON), then each photo's
    one-time address, every byte read. Bytes received: the photos' only."""

    def session(conn: http.client.HTTPConnection) -> tuple[bool, int]:
        conn.request("POST", f"/s/{token}", **ALBUM_VIEW)
        response = conn.getresponse()
        answer = response.read()
        if response.status != 200:
            return False, 0
        photos = json.loads(answer)["photos"]
        ok, received = len(photos) == ALBUM_PHOTOS, 0
        for photo in photos:
            conn.request("GET", urlsplit(photo["url"]).path)
            response = conn.getresponse()
            received += len(response.read())
            ok = ok and response.status == 200
        return ok, received

    return session


def single_views(tokens: list[str]):
    """One view of each one-photo share, in turn, every byte read."""

    def session(conn: http.client.HTTPConnection) -> tuple[bool, int]:
        ok, received = True, 0
        for token in tokens:
            conn.request("POST", f"/s/{token}", **VIEW)
            response = conn.getresponse()
            received += len(response.read())
            ok = ok and response.status == 200
        return ok, received

    return session


def cpu_ms(pids: list[int]) -> dict[int, float]:
    """CPU time (user + system) of each process so far, in ms."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used[pid] = (int(fields[11]) + int(fields[12])) * 1000 / tick
    return used


def database_backends(database: str) -> list[int]:
    """The PostgreSQL server processes serving connections to `database` (on this machine)."""
    import psycopg

    with psycopg.connect(f"{PG_URL}/postgres", autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", [database]
        ).fetchall()
    return [pid for (pid,) in rows]


def with_cpu(server: Gunicorn, database: str, measure) -> tuple[LoadResult, float]:
    """measure() and the CPU the server's workers and their database backends spent on it
    (ms): on a machine shared with other work, a steadier cost than the rate alone."""
    before = cpu_ms(server.worker_pids + database_backends(database))
    result = measure()
    after = cpu_ms(server.worker_pids + database_backends(database))
    return result, sum(ms - before.get(pid, 0.0) for pid, ms in after.items())


def connections_per_views(
    env: dict[str, str], token: str, s3_port: int, views: int, concurrency: int
) -> int:
    """New TCP connections towards the S3 server while a fresh server answers `views` views."""
    with Gunicorn(env, workers=WORKERS, threads=THREADS) as server:
        before = client_ports(s3_port)
        result = load(
            server.port,
            "POST",
            f"/s/{token}",
            **VIEW,
            concurrency=concurrency,
            max_requests=views,
            max_seconds=120,
        )
        after = client_ports(s3_port)
    if result.errors or result.requests != views:
        raise SystemExit(f"connection count: {result.errors} errors in {result.requests} views")
    return len(after - before)


def run_backend(
    name: str,
    env: dict[str, str],
    args,
    photos: list[Path],
    workdir: Path,
    s3_port: int | None,
) -> dict:
    static_file = ROOT / "staticfiles" / STATIC_NAME
    photo = photos[0]
    stored = workdir / f"stored-{name}.jpg"
    token, key = create_share(env, photo, stored, views=0)
    # The album's photos, and the same photos as one-photo shares (the first is the one above).
    album_stored = [workdir / f"album-{name}-{n}.jpg" for n in range(1, len(photos) + 1)]
    album_token, _keys = create_album(env, photos, album_stored, views=0)
    single_tokens, single_stored = [token], [stored]
    for n, other in enumerate(photos[1:], start=2):
        single_stored.append(workdir / f"stored-{name}-{n}.jpg")
        single_tokens.append(create_share(env, other, single_stored[-1], views=0)[0])
    unit_bytes = {
        "album": sum(path.stat().st_size for path in album_stored),
        "four views": sum(path.stat().st_size for path in single_stored),
    }
    # The static file is exactly the photo a view serves, so both paths send the same bytes. It is
    # written before the servers start: whitenoise indexes its files at startup.
    static_file.parent.mkdir(parents=True, exist_ok=True)
    static_file.write_bytes(stored.read_bytes())
    size = stored.stat().st_size
    on_env = {
        **env,
        **LIMITS_ON,
        "REDIS_URL": REDIS_URL,
        "SEEN_RATE_LIMIT_PREFIX": f"bench:{os.urandom(4).hex()}",
    }
    db_env = {**env, **LIMITS_ON}
    db_env.pop("REDIS_URL", None)
    figures: dict = {"size": size, "album size": unit_bytes["album"]}
    options = {
        "concurrency": args.concurrency,
        "max_requests": args.requests,
        "max_seconds": args.seconds,
    }
    try:
        if s3_port is not None and args.connection_views:
            figures["connections"] = connections_per_views(
                on_env, token, s3_port, args.connection_views, args.concurrency
            )
        with contextlib.ExitStack() as stack:
            servers = {
                label: stack.enter_context(Gunicorn(variant, workers=WORKERS, threads=THREADS))
                for label, variant in (("on", on_env), ("off", env), ("db", db_env))
                if label in args.variants.split(",")
            }
            if "on" not in servers:
                raise SystemExit("--variants must include on (the floors and the album run on it)")
            for server in servers.values():
                load(server.port, "POST", f"/s/{token}", max_requests=40, **VIEW)  # warm up
            on_port = servers["on"].port
            load(on_port, "GET", f"/static/{STATIC_NAME}", max_requests=40)
            album = album_view(album_token)
            four_views = single_views(single_tokens)
            for session in (album, four_views):
                session_load(on_port, session, concurrency=8, max_requests=16, max_seconds=30)
            runs: dict[str, list[LoadResult]] = {}
            sessions = [("album", album), ("four views", four_views)]
            cpu: dict[str, float] = {}
            for _ in range(args.rounds):
                for label, server in servers.items():
                    runs.setdefault(f"view {label}", []).append(
                        load(server.port, "POST", f"/s/{token}", **VIEW, **options)
                    )
                    if label == "on":
                        runs.setdefault("static", []).append(
                            load(server.port, "GET", f"/static/{STATIC_NAME}", **options)
                        )
                        if s3_port is not None:
                            runs.setdefault("boto3", []).append(boto3_loop(env, key, **options))
                        for unit, session in sessions:
                            result, used = with_cpu(
                                server,
                                args.database,
                                lambda s=session, port=server.port: session_load(
                                    port, s, **options
                                ),
                            )
                            runs.setdefault(unit, []).append(result)
                            cpu[unit] = cpu.get(unit, 0.0) + used
                        sessions.reverse()  # each goes first in every other round
    finally:
        static_file.unlink(missing_ok=True)
    for label, results in runs.items():
        result = pooled(results)
        # The boto3 floor reads the stored object, which is the photo sealed (a little longer).
        each = sealed_size(size) if label == "boto3" else unit_bytes.get(label, size)
        expected = result.requests * each
        if result.errors or result.bytes_received != expected:
            raise SystemExit(
                f"{name} {label}: {result.errors} errors,"
                f" {result.bytes_received} of {expected} bytes"
            )
        figures[label] = (result, [r.rate for r in results])
    for unit, used in cpu.items():
        figures[f"{unit} cpu"] = used / figures[unit][0].requests
    print(f"  [{name}] photo {size / 1e6:.2f} MB, done", flush=True)
    return figures


def line(label: str, figure: tuple[LoadResult, list[float]]) -> str:
    result, rates = figure
    rounds = ", ".join(f"{rate:.1f}" for rate in rates)
    return (
        f"  {label:<26}{result.rate:7.1f}/s ({rounds})  p50 {result.percentile(50):6.1f} ms  "
        f"p99 {result.percentile(99):6.1f} ms  n={result.requests}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--requests", type=int, default=3000, help="request cap per measurement (default 3000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=5, help="time cap per measurement (default 5)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds (default 2)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--backends", default="local,moto,seaweedfs")
    parser.add_argument("--connection-views", type=int, default=600)
    parser.add_argument("--memory-backends", default="local,seaweedfs", help="'' to skip")
    parser.add_argument("--memory-megabytes", type=float, default=25)
    parser.add_argument(
        "--variants",
        default="on,off,db",
        help="servers to measure: limits on (Redis; the floors and the album run on it), "
        "off, db (default all three)",
    )
    parser.add_argument(
        "--database", default="seen_bench_view", help="PostgreSQL database to recreate"
    )
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)
    backends = args.backends.split(",")
    memory_backends = [b for b in args.memory_backends.split(",") if b]

    table: dict[str, dict] = {}
    memory_rows = []
    with (
        tempfile.TemporaryDirectory(prefix="seen-bench-view-") as tmp,
        contextlib.ExitStack() as stack,
    ):
        workdir = Path(tmp)
        photos = [workdir / f"photo-{n}.jpg" for n in range(1, ALBUM_PHOTOS + 1)]
        for path in photos:
            path.write_bytes(one_megabyte_jpeg())
        env = base_env(
            DATABASE_URL=fresh_database(args.database) + os.environ.get("BENCH_DB_OPTIONS", ""),
            SEEN_DATA_DIR=str(workdir / "data"),
        )
        env.pop("REDIS_URL", None)
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")

        stores: dict[str, tuple[str, dict[str, str], int | None]] = {}

        def store(backend: str) -> tuple[str, dict[str, str], int | None]:
            if backend not in stores:
                if backend == "local":
                    stores[backend] = ("local folder", env, None)
                elif backend == "moto":
                    moto = stack.enter_context(MotoServer("seen-bench"))
                    stores[backend] = ("S3 (moto server)", {**env, **moto.env()}, moto.port)
                elif backend == "seaweedfs":
                    weed = stack.enter_context(SeaweedServer("seen-bench", workdir))
                    stores[backend] = ("S3 (SeaweedFS)", {**env, **weed.env()}, weed.port)
                else:
                    raise SystemExit(f"unknown backend {backend!r}")
            return stores[backend]

        for backend in backends:
            label, backend_env, s3_port = store(backend)
            table[label] = run_backend(backend, backend_env, args, photos, workdir, s3_port)
        if memory_backends:
            big = workdir / "photo-big.jpg"
            big.write_bytes(photo_of(args.memory_megabytes))
            for backend in memory_backends:
                label, backend_env, _port = store(backend)
                token, size = big_share(backend_env, big, workdir)
                before, after = fresh_worker_peak(backend_env, token, size, 8)
                memory_rows.append((label, size, before, after))

    print()
    print(
        "View throughput, 1 MB photo, unlimited share, "
        f"fresh gunicorn {WORKERS} workers x {THREADS} threads ({os.cpu_count()} cores), "
        f"{args.concurrency} connections, {args.rounds} interleaved rounds of "
        f"<= {args.seconds:g} s; limits on = {HIGH} counted in Redis; album = "
        f"{ALBUM_PHOTOS} x 1 MB photos, unlimited share, POST (JSON) then GET each address"
    )
    for backend, figures in table.items():
        print(f"{backend}:")
        view, static = figures["view on"][0], figures["static"][0]
        print(line("view, limits on (Redis)", figures["view on"]))
        print(line("static file (whitenoise)", figures["static"]))
        if "boto3" in figures:
            print(line("boto3 GET loop", figures["boto3"]))
        for label, name in (("view off", "limits off"), ("view db", "limits in database")):
            if label in figures:
                print(line(f"view, {name}", figures[label]))
        print(line(f"album view, {ALBUM_PHOTOS} photos", figures["album"]))
        print(line(f"{ALBUM_PHOTOS} one-photo views", figures["four views"]))
        print(f"  view/static {view.rate / static.rate:.2f} (target >= 0.5)", end="")
        if "boto3" in figures:
            print(
                f"  view/boto3 {view.rate / figures['boto3'][0].rate:.2f} (target >= 0.8)", end=""
            )
        if "view off" in figures:
            off = figures["view off"][0]
            print(f"  limits on/off {view.rate / off.rate:.2f} (target >= 0.9)", end="")
            if "view db" in figures:
                print(f"  database/off {figures['view db'][0].rate / off.rate:.2f}", end="")
        print()
        album, singles = figures["album"][0], figures["four views"][0]
        floors = f"static /{ALBUM_PHOTOS} {static.rate / ALBUM_PHOTOS:.1f}/s"
        if "boto3" in figures:
            floors += f", boto3 /{ALBUM_PHOTOS} {figures['boto3'][0].rate / ALBUM_PHOTOS:.1f}/s"
        print(
            f"  album/{ALBUM_PHOTOS} views: time p50 "
            f"{album.percentile(50) / singles.percentile(50):.2f}x (target <= 1.2x), "
            f"{album.rate:.1f} albums/s vs {singles.rate:.1f} {ALBUM_PHOTOS}-views/s "
            f"(cost {singles.rate / album.rate:.2f}x); floors {floors}"
        )
        album_cpu, singles_cpu = figures["album cpu"], figures["four views cpu"]
        print(
            f"  CPU of the workers and their PostgreSQL backends: {album_cpu:.1f} ms an album,"
            f" {singles_cpu:.1f} ms for {ALBUM_PHOTOS} views ({album_cpu / singles_cpu:.2f}x)"
        )
        if "connections" in figures:
            opened = figures["connections"]
            note = (
                "  (moto closes every connection: ~100 whatever the client)"
                if "moto" in backend
                else ""
            )
            print(
                f"  S3 connections opened: {opened} over {args.connection_views} views, "
                f"{opened * 100 / args.connection_views:.1f} per 100"
                f" (target <= {WORKERS * THREADS}, "
                f"one per worker thread){note}"
            )
    if memory_rows:
        print(
            "Peak RSS of a fresh worker (1 worker x 8 threads), 8 concurrent downloads,"
            " VmHWM before/after:"
        )
        for row in report_lines(memory_rows, 8):
            print("  " + row)


if __name__ == "__main__":
    main()
