"""View throughput: a 1 MB photo on an unlimited share through gunicorn as deployed.

For each storage backend (the local folder, and S3 on a moto server), prints views/s and
p50/p99 for `POST /s/<token>` beside the same server sending the same bytes as a static
file (whitenoise), and the ratio (target: >= 0.5). On S3 it also prints a plain boto3 GET
loop of the same object from the same endpoint: the floor any S3-backed view pays.

    .venv/bin/python bench/view.py [--requests 600] [--seconds 15] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    ROOT, Gunicorn, LoadResult, MotoServer, bounded_load, base_env, create_share, fresh_database, load, manage, noise_jpeg,
)

STATIC_NAME = "bench/photo-1mb.jpg"

def one_megabyte_jpeg() -> bytes:
    return noise_jpeg(1060, 1060, quality=90)


def boto3_get_loop(endpoint: str, bucket: str, key: str, **limits) -> LoadResult:
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")

    def boto3_client():
        def attempt() -> tuple[bool, int]:
            try:
                return True, len(client.get_object(Bucket=bucket, Key=key)["Body"].read())
            except Exception:  # noqa: BLE001 - counted as an error
                return False, 0

        return attempt

    return bounded_load(boto3_client, **limits)


def run_backend(name: str, env: dict[str, str], args, photo: Path, workdir: Path) -> dict[str, LoadResult]:
    static_file = ROOT / "staticfiles" / STATIC_NAME
    stored = workdir / f"stored-{name}.jpg"
    token, key = create_share(env, photo, stored, views=0)
    # The static file is exactly the stored photo, so both paths send the same bytes.
    static_file.parent.mkdir(parents=True, exist_ok=True)
    static_file.write_bytes(stored.read_bytes())
    size = stored.stat().st_size
    results: dict[str, LoadResult] = {}
    try:
        with Gunicorn(env) as server:
            options = dict(concurrency=args.concurrency, max_requests=args.requests, max_seconds=args.seconds)
            view = dict(body=b"", headers={"Content-Length": "0"})
            load(server.port, "POST", f"/s/{token}", max_requests=20, **view)  # warm up
            load(server.port, "GET", f"/static/{STATIC_NAME}", max_requests=20)
            results["view"] = load(server.port, "POST", f"/s/{token}", **view, **options)
            results["static"] = load(server.port, "GET", f"/static/{STATIC_NAME}", **options)
        if "AWS_S3_ENDPOINT_URL" in env:
            results["boto3"] = boto3_get_loop(
                env["AWS_S3_ENDPOINT_URL"], env["AWS_STORAGE_BUCKET_NAME"], key,
                concurrency=args.concurrency, max_requests=args.requests, max_seconds=args.seconds,
            )
    finally:
        static_file.unlink(missing_ok=True)
    for result in results.values():
        expected = result.requests * size
        if result.errors or result.bytes_received != expected:
            raise SystemExit(f"{name}: {result.errors} errors, {result.bytes_received} of {expected} bytes")
    print(f"  [{name}] photo {size / 1e6:.2f} MB", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=600, help="requests per measurement (default 600)")
    parser.add_argument("--seconds", type=float, default=15, help="time cap per measurement (default 15)")
    parser.add_argument("--concurrency", type=int, default=8, help="client connections (default 8)")
    parser.add_argument("--backends", default="local,s3", help="local, s3 or both (default)")
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(prefix="seen-bench-view-") as tmp:
        workdir = Path(tmp)
        photo = workdir / "photo.jpg"
        photo.write_bytes(one_megabyte_jpeg())
        env = base_env(DATABASE_URL=fresh_database("seen_bench_view") + os.environ.get("BENCH_DB_OPTIONS", ""), SEEN_DATA_DIR=str(workdir / "data"))
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")

        table: dict[str, dict[str, LoadResult]] = {}
        backends = args.backends.split(",")
        if "local" in backends:
            table["local folder"] = run_backend("local", env, args, photo, workdir)
        if "s3" in backends:
            with MotoServer("seen-bench") as moto:
                table["S3 (moto server)"] = run_backend("s3", {**env, **moto.env()}, args, photo, workdir)

    print()
    print(f"View throughput, 1 MB photo, unlimited share, gunicorn ({os.cpu_count()} cores), "
          f"{args.concurrency} connections")
    for backend, results in table.items():
        print(f"{backend}:")
        print(f"  view   POST /s/<token>   {results['view'].summary()}")
        print(f"  static GET /static/…     {results['static'].summary()}")
        print(f"  ratio view/static        {results['view'].rate / results['static'].rate:.2f}  (target >= 0.5)")
        if "boto3" in results:
            print(f"  boto3 GET loop, same object   {results['boto3'].summary()}")
            print(f"  ratio view/boto3 GET     {results['view'].rate / results['boto3'].rate:.2f}")


if __name__ == "__main__":
    main()
