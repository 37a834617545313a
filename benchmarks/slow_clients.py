"""Hook calls through the nginx front and straight to gunicorn, idle and under 64 slow clients.

    .venv/bin/python benchmarks/slow_clients.py --calls 50

Starts `cpt64640 serve` twice (CDS_FRONT=nginx, then none; 2 workers, development mode), times sequential
order-sign calls with their prefetch, then the same calls while 64 connections send requests one byte a
second (16 of them dripping a body). Numbers are recorded in docs/reliability.md; nothing fails on speed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import requests

from cpt64640_cds.tools.processes import start_service
from cpt64640_cds.tools.slow_clients import SlowClients

ROOT = Path(__file__).resolve().parents[1]
SIGN = "cpt64640-order-sign"
TIMEOUT_S = 5


def _calls(base_url: str, body: bytes, count: int) -> str:
    times, failed = [], 0
    for _ in range(count):
        start = time.monotonic()
        try:
            response = requests.post(
                f"{base_url}/cds-services/{SIGN}",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=TIMEOUT_S,
            )
            ok = response.status_code == 200
        except requests.RequestException:
            ok = False
        times.append(time.monotonic() - start)
        failed += not ok
    times.sort()
    p95 = times[int(0.95 * (len(times) - 1))]
    return (
        f"p50 {1000 * statistics.median(times):.0f} ms, p95 {1000 * p95:.0f} ms, max {1000 * times[-1]:.0f} ms, "
        f"{failed} of {count} not answered 200 within {TIMEOUT_S} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args()
    body = (ROOT / "fhir-fixtures" / "requests" / "order-sign-lfcn-left-prefetched.json").read_bytes()
    json.loads(body)
    for front in ("nginx", "none"):
        with tempfile.TemporaryDirectory() as folder:
            server = start_service(Path(folder), CDS_FRONT=front)
            try:
                _calls(server.base_url, body, 5)  # warm up both workers
                print(f"CDS_FRONT={front}, idle:             {_calls(server.base_url, body, args.calls)}")
                attack = SlowClients(server.base_url, f"/cds-services/{SIGN}", body, count=64, bodies=16)
                with attack:
                    result = _calls(server.base_url, body, args.calls if front == "nginx" else 5)
                print(f"CDS_FRONT={front}, 64 slow clients:  {result} (reconnected {attack.reopened} times)")
            finally:
                server.stop()


if __name__ == "__main__":
    main()
