"""`make bench`: run every benchmark side by side and write docs/benchmarks.md.

Each benchmark module exposes `run(quick: bool = False) -> str`, returning a markdown section with medians,
percentiles and, where a target exists, the raw floor measured in the same run. This harness adds the
machine, the date and the command, and writes the file.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import subprocess
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path

BENCHMARKS = (
    "bench.bench_workflow",
    "bench.bench_eventlog",
    "bench.bench_dispatch",
    "bench.bench_live",
    "bench.bench_placement",
    "bench.bench_recovery",
)

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md"


def _machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu})"
    return f"{system}, {mem_gib:.0f} GiB RAM, Python {platform.python_version()}"


def _load(avg: tuple[float, float, float]) -> str:
    return "/".join(f"{x:.1f}" for x in avg)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", action="append", default=[], help="run only modules containing this text")
    parser.add_argument(
        "--full", action="append", default=[], help="with --quick: still run modules containing this text at full size"
    )
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    sections: list[str] = []
    failed = 0
    load_start = os.getloadavg()
    for name in BENCHMARKS:
        if args.only and not any(o in name for o in args.only):
            continue
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        print(f"==> {name}", flush=True)
        started = time.perf_counter()
        try:
            quick = args.quick and not any(f in name for f in args.full)
            sections.append(module.run(quick=quick))
        except Exception:  # a broken benchmark is reported, the others still run
            failed += 1
            sections.append(f"## {name}\n\nFAILED:\n\n```\n{traceback.format_exc()}\n```\n")
        print(f"    {time.perf_counter() - started:.1f}s", flush=True)
    cmd = "make bench"
    if args.quick:
        cmd += " (--quick" + "".join(f" --full {f}" for f in args.full) + ")"
    header = (
        "# Benchmarks\n\n"
        f"- Machine: {_machine()}\n"
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, commit {commit or 'unknown'}\n"
        f"- Command: `{cmd}` (`{sys.executable} -m bench.run_all`)\n"
        f"- Load average (1/5/15 min) at start {_load(load_start)}, at end {_load(os.getloadavg())}: "
        "other work on this "
        "machine skews every figure; compare the rows within one section, which ran side by side.\n\n"
        "Every figure below was measured in this one run, side by side with its raw floor where one applies.\n\n"
    )
    OUT.write_text(header + "\n".join(sections))
    print(f"wrote {OUT}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
