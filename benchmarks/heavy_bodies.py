"""Many large hook calls at once against a running service: answers, time and worker memory.

    CDS_AUTH=off PORT=18183 .venv/bin/cpt64640 serve &
    .venv/bin/python benchmarks/heavy_bodies.py --url http://127.0.0.1:18183 --clients 20 --megabytes 5

Each body is a real order-sign request whose `conditions` key carries a Synthea patient's resources repeated to
the size asked (a valid, realistic body, not junk). While the heavy calls run, a light call (the same order,
no history) is timed every 100 ms from a separate process, so that the 20 uploading threads here don't slow the
timing itself. Prints the status counts, the heavy calls' p50/max, the light calls'
p50/max and the largest resident memory of each gunicorn worker (read from /proc). Numbers are recorded in
docs/reliability.md; this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[1]
REQUEST = json.loads((ROOT / "fhir-fixtures" / "requests" / "order-sign-lfcn-left-prefetched.json").read_text())
SYNTHEA = sorted((ROOT / "fhir-fixtures" / "external" / "smart-sandbox").glob("*.json"))
SIGN = "cpt64640-order-sign"
HEADERS = {"Content-Type": "application/json"}


def heavy_body(megabytes: float) -> bytes:
    record = json.loads(max(SYNTHEA, key=lambda p: p.stat().st_size).read_text(encoding="utf-8"))
    entries = [{"resource": e["resource"]} for e in record["entry"]]
    body = json.loads(json.dumps(REQUEST))
    bundle = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    body["prefetch"]["conditions"] = bundle
    raw = b""
    while len(raw) < megabytes * 1_000_000:
        bundle["entry"] += entries[:100]
        raw = json.dumps(body, separators=(",", ":")).encode()
    return raw


def worker_rss_mb(port: int) -> dict[int, float]:
    """RSS of the `cpt64640 serve` processes started with PORT=`port` (the master and its gunicorn workers)."""
    sizes = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
            environ = (proc / "environ").read_bytes().split(b"\0")
            status = (proc / "status").read_text()
        except OSError:
            continue
        if b"cpt64640" in cmdline and f"PORT={port}".encode() in environ:
            rss = next((line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")), "0")
            sizes[int(proc.name)] = int(rss) / 1024
    return sizes


def watch(url: str, port: int, light: Any, peak: Any, done: Any) -> None:
    light_body = json.dumps(REQUEST)
    while not done.is_set():
        for pid, size in worker_rss_mb(port).items():
            peak[pid] = max(peak.get(pid, 0), size)
        started = time.monotonic()
        requests.post(f"{url}/cds-services/{SIGN}", data=light_body, headers=HEADERS, timeout=60)
        light.append((time.monotonic() - started) * 1000)
        time.sleep(0.1)


def call(url: str, body: bytes, _: int) -> tuple[int, float]:
    started = time.monotonic()
    response = requests.post(f"{url}/cds-services/{SIGN}", data=body, headers=HEADERS, timeout=120)
    return response.status_code, (time.monotonic() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="base URL of a running service (CDS_AUTH=off)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--megabytes", type=float, default=5)
    args = parser.parse_args()
    port = int(args.url.rsplit(":", 1)[1].split("/")[0])
    body = heavy_body(args.megabytes)
    with multiprocessing.Manager() as manager:
        light, peak, done = manager.list(), manager.dict(), manager.Event()
        watcher = multiprocessing.Process(target=watch, args=(args.url, port, light, peak, done))
        watcher.start()
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=args.clients) as pool:
            results = list(pool.map(partial(call, args.url, body), range(args.clients)))
        wall = time.monotonic() - started
        done.set()
        watcher.join()
        light, peak = list(light), dict(peak)
    times = sorted(ms for _, ms in results)
    print(f"{args.clients} calls of {len(body) / 1e6:.1f} MB: {dict(Counter(status for status, _ in results))}")
    print(f"wall {wall:.1f} s; heavy p50 {statistics.median(times):.0f} ms, max {times[-1]:.0f} ms")
    print(f"light calls meanwhile: {len(light)}, p50 {statistics.median(light):.0f} ms, max {max(light):.0f} ms")
    print("peak RSS per process (MB):", ", ".join(f"{size:.0f}" for size in sorted(peak.values())))


if __name__ == "__main__":
    main()
