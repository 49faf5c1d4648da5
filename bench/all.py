"""Run every benchmark under bench/ and print their figures as one table (`make bench`).

Each script starts what it needs on 127.0.0.1, bounds its own requests and time, stops
everything by PID, and prints its figures last, after a blank line. With --write, the
table goes into bench/RESULTS.md too, with the date, the machine and the command.

    .venv/bin/python bench/all.py [--write] [--only view,upload]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ORDER = [
    "sanitise",
    "upload",
    "view",
    "memory",
    "crypto",
    "hostile",
    "scaleout",
    "purge",
    "pin_timing",
]


def figures(output: str) -> list[str]:
    """The block a script prints last: everything after its final blank line."""
    lines = output.rstrip().splitlines()
    for index in range(len(lines) - 1, -1, -1):
        if not lines[index].strip():
            return lines[index + 1 :]
    return lines[-10:]


def machine() -> str:
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return (
        f"{os.cpu_count()} cores ({cpu}), {memory_kb / 1024 / 1024:.0f} GB, "
        f"Python {platform.python_version()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--write", action="store_true", help="also write bench/RESULTS.md")
    parser.add_argument("--only", default="", help="comma-separated subset of: " + ", ".join(ORDER))
    args = parser.parse_args()
    chosen = [name for name in ORDER if not args.only or name in args.only.split(",")]

    sections: list[tuple[str, float, list[str]]] = []
    failed = []
    for name in chosen:
        script = BENCH / f"{name}.py"
        if not script.exists():
            continue
        print(f"== bench/{name}.py", flush=True)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, str(script)], cwd=BENCH.parent, capture_output=True, text=True
        )
        elapsed = time.monotonic() - started
        print(result.stdout[-4000:], end="")
        if result.returncode != 0:
            print(result.stderr[-3000:], file=sys.stderr)
            failed.append(name)
        sections.append(
            (name, elapsed, figures(result.stdout) if result.returncode == 0 else ["FAILED"])
        )

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = [
        "# Benchmark results",
        "",
        f"- date: {stamp}",
        f"- machine: {machine()}",
        "- command: `make bench` (= `.venv/bin/python bench/all.py --write`)",
        "",
    ]
    for name, elapsed, lines in sections:
        table += [f"## bench/{name}.py ({elapsed:.0f} s)", "", "```", *lines, "```", ""]
    text = "\n".join(table)
    print("\n" + text)
    if args.write:
        (BENCH / "RESULTS.md").write_text(text)
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
