"""How `cpt64640 audit` scales: exports of 100, 1,000 and 10,000 patients (benchmarks/make_export.py), each audited
by both engines (`--engine local`, this machine's processes; `--engine spark --master local[*]`), reporting wall
time, resources per second, peak memory and how time grows with size. Results go to docs/performance.md.

    .venv/bin/python benchmarks/audit_scale.py [--sizes 100,1000,10000] [--engines local,spark] [--work DIR]

Each audit is the real command in a subprocess, as a user runs it. Peak memory is the largest resident set of any
one process of the run (the command, a local worker, Spark's Python workers or its JVM): what a machine must hold
per process, polled from /proc every 0.2 s. Needs a quiet machine: other load moves the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_export import make_export

TIMES = " \N{MULTIPLICATION SIGN}"  # growth of the time per resource over the smallest export


def _tree(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    found, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def audit(export: Path, out: Path, engine: str) -> dict[str, float]:
    command = [sys.executable, "-m", "cpt64640_cds", "audit", str(export), "--out", str(out), "--quiet"]
    command += ["--engine", engine] + (["--master", "local[*]"] if engine == "spark" else [])
    peak = 0.0
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    done = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max([peak, *(_rss_mb(pid) for pid in _tree(process.pid))])
            time.sleep(0.2)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    done.set()
    watcher.join()
    if process.returncode != 0:
        raise SystemExit(f"audit failed ({engine}, {export}): {stderr[-2000:]}")
    run = json.loads((out / "run.json").read_text())
    resources = run["resources_read"]
    return {
        "seconds": seconds,
        "resources": resources,
        "per_second": resources / seconds,
        "peak_mb": peak,
        "findings": run["findings"],
        "encounters": run["encounters_reviewed"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000", help="patients per export, comma-separated")
    parser.add_argument("--engines", default="local,spark", help="engines to run, comma-separated")
    parser.add_argument("--work", help="folder for the exports and outputs (default: a temporary one)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    engines = args.engines.split(",")
    work = Path(args.work or tempfile.mkdtemp(prefix="audit-scale-"))
    print(f"cpus: {os.cpu_count()}; work: {work}", flush=True)
    results: dict[tuple[str, int], dict[str, float]] = {}
    for size in sizes:
        export = work / f"export-{size}"
        make_export(size, export)
        for engine in engines:
            results[engine, size] = result = audit(export, work / f"out-{engine}-{size}", engine)
            print(json.dumps({"engine": engine, "patients": size, **result}), flush=True)
    columns = "engine | patients | resources | wall time | resources/s | peak memory (one process)"
    print(f"\n| {columns} | time per resource vs the smallest export |")
    print("|---|---|---|---|---|---|---|")
    for engine in engines:
        base = results[engine, sizes[0]]
        for size in sizes:
            r = results[engine, size]
            growth = (r["seconds"] / r["resources"]) / (base["seconds"] / base["resources"])
            print(
                f"| {engine} | {size:,} | {int(r['resources']):,} | {r['seconds']:.1f} s | {r['per_second']:,.0f} | "
                f"{r['peak_mb']:.0f} MB | {growth:.2f}{TIMES} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
