"""Hostile uploads (issue 11): every decode bomb and hidden-data file from the outside
review, each uploaded to a fresh gunicorn worker as deployed (1 worker, its default 8
threads, rate limits on in Redis, raised so they do not trigger). For each: the worker's
CPU seconds and peak RSS, and the HTTP answer. Then mixes of them, 16 at a time, on one
fresh worker. Target: no upload and no mix takes a worker over 600 MB peak RSS, and no
upload over 5 s of CPU.

The worker is measured from /proc: VmHWM (peak resident set) and utime + stime.

    .venv/bin/python bench/hostile.py
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from common import ROOT, Gunicorn, base_env, fresh_database, manage, multipart  # noqa: E402

from shares.tests import photos  # noqa: E402  (test builders: needs only Pillow)

TARGET_MB = 600
HIDDEN = (b"<script", b"<html", b"GPS", b"48.8584")  # what the hidden-data files carry
TARGET_CPU = 5.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- the files ------------------------------------------------------------------------------


def _encode(image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def scan_bomb() -> bytes:
    """A 7000x7000 progressive JPEG with its last scan appended 2,500 times before EOI."""
    return photos.scan_bomb((7000, 7000), repeats=2500)


def turned_webp(count: int = 49) -> bytes:
    """Frames of 2000x2000 (each its own colour, or libwebp merges them), EXIF
    orientation 6: a few KB."""
    from PIL import Image

    colours = [(index * 5, 100, 200 - index * 4) for index in range(count)]
    frames = [Image.new("RGB", (2000, 2000), colour) for colour in colours]
    exif = Image.Exif()
    exif[0x0112] = 6
    return _encode(
        frames[0],
        "WEBP",
        save_all=True,
        append_images=frames[1:],
        duration=100,
        loop=0,
        lossless=True,
        exif=exif.tobytes(),
    )


def big_avif() -> bytes:
    """7000x7000 (49 MP) of one smooth gradient: a few KB."""
    from PIL import Image

    return _encode(
        Image.linear_gradient("L").resize((7000, 7000)).convert("RGB"), "AVIF", quality=10, speed=10
    )


def big_gif() -> bytes:
    """4 frames of 7000x7000 (49 MP each), each one colour."""
    from PIL import Image

    frames = [Image.new("P", (7000, 7000), index) for index in range(4)]
    palette = [value for colour in range(256) for value in (colour, 255 - colour, colour // 2)]
    for frame in frames:
        frame.putpalette(palette)
    return _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def many_frames_gif() -> bytes:
    return photos.gif_of_frames(400_000)


def adobe_html_jpeg() -> bytes:
    return photos.jpeg_with_adobe(photos.HTML, size=(640, 480))


def padded_phys_png() -> bytes:
    phys = struct.pack(">IIB", 2835, 2835, 1)
    return photos.png_with_chunk(
        b"pHYs", phys + b"<script>alert(1)</script> GPS 48.8584N 2.2945E", size=(640, 480)
    )


def text_bomb_png() -> bytes:
    """Found in review: 9 MB of zTXt XMP chunks, 1 KB each, that each inflate to 1 MB."""
    import zlib

    megabyte = zlib.compress(b"\x00" * (1 << 20), 9)
    chunk = photos._png_chunk(b"zTXt", b"XML:com.adobe.xmp\x00\x00" + megabyte)
    base = photos.png_with_chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1))
    return base[:-12] + chunk * (9_000_000 // len(chunk)) + base[-12:]


def exif_flood_jpeg() -> bytes:
    """Found in review: 9 MB of EXIF segments (GPS, camera, thumbnail) in one JPEG."""
    exif = photos.camera_exif()
    segment = b"\xff\xe1" + struct.pack(">H", len(exif) + 8) + b"Exif\x00\x00" + exif
    data = photos.jpeg_photo((640, 480))
    return data[:2] + segment * (9_000_000 // len(segment)) + data[2:]


FILES = {
    "JPEG scan bomb (7000x7000, last scan x2500)": scan_bomb,
    "WebP 49 x 2000x2000, orientation 6": turned_webp,
    # The largest turned animation the default budget takes: 32 x 2000 x 2000 x 4 = 512 MiB.
    "WebP 32 x 2000x2000, orientation 6": lambda: turned_webp(32),
    "AVIF 7000x7000": big_avif,
    "GIF 4 x 7000x7000": big_gif,
    "GIF 400,000 x 1x1": many_frames_gif,
    "JPEG APP14 Adobe + HTML": adobe_html_jpeg,
    "PNG pHYs + script and GPS": padded_phys_png,
    "PNG 8,600 zTXt of 1 KB -> 1 MB each": text_bomb_png,
    "JPEG 2,100 EXIF segments": exif_flood_jpeg,
}


# --- measuring a worker ---------------------------------------------------------------------


def worker_figures(pid: int) -> tuple[float, int]:
    """(CPU seconds used so far, peak RSS in kB) of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return cpu, int(line.split()[1])
    raise RuntimeError(f"no VmHWM for {pid}")


def upload(port: int, name: str, data: bytes) -> tuple[int, str]:
    photo = (name, data, "application/octet-stream")
    body, content_type = multipart({"views": "1"}, {"photo": photo})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    try:
        conn.request(
            "POST",
            "/api/shares",
            body=body,
            headers={"Content-Type": content_type, "Content-Length": str(len(body))},
        )
        response = conn.getresponse()
        answer = response.read()
    finally:
        conn.close()
    try:
        text = json.loads(answer).get("error", "stored")
    except ValueError:
        text = answer[:80].decode(errors="replace")
    return response.status, text


class Worker:
    """A fresh gunicorn (1 worker) warmed up by one ordinary upload, so what is measured
    afterwards is the hostile uploads, not imports and first connections."""

    def __init__(self, env: dict[str, str]):
        self.server = Gunicorn(env, workers=1)

    def __enter__(self) -> Worker:
        self.server.__enter__()
        self.pid = self.server.worker_pids[0]
        status, text = upload(self.server.port, "warm.jpg", photos.jpeg_photo((640, 480)))
        if status != 201:
            raise SystemExit(f"warm-up upload failed: {status} {text}")
        self.cpu, self.idle_kb = worker_figures(self.pid)
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def used(self) -> tuple[float, int]:
        cpu, peak_kb = worker_figures(self.pid)
        return cpu - self.cpu, peak_kb


def mix(port: int, files: list[tuple[str, bytes]]) -> list[tuple[int, str]]:
    """Send every file at once (one connection each) and wait for all answers."""
    barrier = threading.Barrier(len(files))
    answers: list[tuple[int, str]] = [(0, "")] * len(files)

    def send(index: int) -> None:
        name, data = files[index]
        barrier.wait()
        try:
            answers[index] = upload(port, "upload.bin", data)
        except (OSError, http.client.HTTPException) as error:
            answers[index] = (0, f"{type(error).__name__}: {error}")

    threads = [threading.Thread(target=send, args=(index,)) for index in range(len(files))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def verdict(cpu: float, peak_mb: float, *, cpu_limit: float = TARGET_CPU) -> str:
    over = [what for what, bad in (("RSS", peak_mb > TARGET_MB), ("CPU", cpu > cpu_limit)) if bad]
    return "ok" if not over else "OVER " + "+".join(over)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--at-once", type=int, default=16)
    args = parser.parse_args()
    (ROOT / "bench" / "out").mkdir(parents=True, exist_ok=True)

    print("building the files ...", flush=True)
    built = {name: build() for name, build in FILES.items()}
    rows, mixes = [], []
    with tempfile.TemporaryDirectory(prefix="seen-bench-hostile-") as tmp:
        env = base_env(
            DATABASE_URL=fresh_database("seen_bench_hostile"),
            SEEN_DATA_DIR=str(Path(tmp)),
            # Rate limits on, in Redis, as deployed, but high enough never to trigger here.
            REDIS_URL=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9"),
            SEEN_RATE_LIMIT_UPLOADS="100000/h",
            SEEN_RATE_LIMIT_VIEWS="100000/h",
            SEEN_RATE_LIMIT_PIN_FAILURES="100000/h",
            SEEN_RATE_LIMIT_MANAGE="100000/h",
        )
        manage(env, "migrate", "--noinput")
        manage(env, "collectstatic", "--noinput")
        photos_dir = Path(tmp) / "photos"
        for name, data in built.items():
            with Worker(env) as worker:
                before = set(photos_dir.rglob("*.*"))
                started = time.monotonic()
                status, text = upload(worker.server.port, "upload.bin", data)
                seconds = time.monotonic() - started
                cpu, peak_kb = worker.used()
            if status == 201:
                stored = [path.read_bytes() for path in set(photos_dir.rglob("*.*")) - before]
                hidden = [word for word in HIDDEN if any(word in data for data in stored)]
                text = f"stored {sum(map(len, stored)):,} bytes; hidden text in them: " + (
                    ", ".join(word.decode() for word in hidden) or "none"
                )
            rows.append((name, len(data), status, text, cpu, peak_kb, worker.idle_kb, seconds))
            print(f"  {name}: {status} in {seconds:.1f} s", flush=True)

        heaviest = max(rows, key=lambda row: row[5])[0]  # the one that took most memory
        cycled = list(built.items())
        for title, files in (
            (
                f"every file, cycled, {args.at_once} at once",
                [cycled[index % len(cycled)] for index in range(args.at_once)],
            ),
            (f"{args.at_once} x {heaviest}", [(heaviest, built[heaviest])] * args.at_once),
        ):
            with Worker(env) as worker:
                started = time.monotonic()
                answers = mix(worker.server.port, files)
                seconds = time.monotonic() - started
                cpu, peak_kb = worker.used()
            statuses: dict[int, int] = {}
            for status, _text in answers:
                statuses[status] = statuses.get(status, 0) + 1
            mixes.append((title, statuses, cpu, peak_kb, worker.idle_kb, seconds))

    print()
    print(
        "Hostile uploads: 1 gunicorn worker x 8 threads, fresh for each line, POST /api/shares "
        f"(target: peak RSS <= {TARGET_MB} MB, CPU <= {TARGET_CPU:g} s an upload)"
    )
    for name, size, status, text, cpu, peak_kb, idle_kb, seconds in rows:
        peak_mb = peak_kb / 1024
        print(
            f"  {name:44} {size / 1000:8.1f} KB  CPU {cpu:5.2f} s  peak RSS {peak_mb:5.0f} MB "
            f"(idle {idle_kb / 1024:.0f})  {seconds:5.1f} s  {verdict(cpu, peak_mb)}"
        )
        print(f"      {status} {text}")
    for title, statuses, cpu, peak_kb, idle_kb, seconds in mixes:
        peak_mb = peak_kb / 1024
        uploads = sum(statuses.values())
        answers = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
        print(f"  mix: {title}")
        print(
            f"      CPU {cpu:5.2f} s ({cpu / uploads:.2f} s an upload)  "
            f"peak RSS {peak_mb:5.0f} MB "
            f"(idle {idle_kb / 1024:.0f})  {seconds:5.1f} s  answers {answers}  "
            f"{verdict(cpu / uploads, peak_mb)}"
        )


if __name__ == "__main__":
    main()
