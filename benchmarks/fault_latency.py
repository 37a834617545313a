"""How a running service answers when the client's FHIR server misbehaves: status and time per fault.

    CDS_AUTH=off PORT=18182 .venv/bin/cpt64640 serve &
    .venv/bin/python benchmarks/fault_latency.py --url http://127.0.0.1:18182 --rounds 5

Each fault gets its own fixture FHIR server (`cpt64640 fhir-server` with fault injection); the hook call
sends no prefetch, so every key is fetched. Numbers are recorded in docs/security.md; this is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import re
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
REQUEST = ROOT / "fhir-fixtures" / "requests" / "order-sign-lfcn-left.json"
TOKEN = "fault-latency-token"
FAULTS = {
    "healthy": [],
    "http-500": ["--fail-rate", "1"],
    "malformed-json": ["--malformed-rate", "1"],
    "slow (1 s a response)": ["--latency", "1000"],
    "hanging (20 s)": ["--latency", "20000"],
    "token refused": ["--token", "another-token"],
}


def _fhir_server(options: list[str]) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "service.cli", "fhir-server", "fhir-fixtures", "--port", "0", *options]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert process.stdout is not None
    match = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline())
    if not match:
        process.kill()
        raise SystemExit("fixture FHIR server did not start")
    return process, match.group(0)


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def _call(service: str, fhir_base: str) -> tuple[int, float]:
    body = json.loads(REQUEST.read_text())
    body.pop("prefetch", None)
    body["fhirServer"] = fhir_base
    body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 60,
                                 "scope": "user/*.read", "subject": "fault-latency"}  # fmt: skip
    started = time.monotonic()
    response = requests.post(f"{service}/cds-services/cpt64640-order-sign", json=body, timeout=30)
    return response.status_code, (time.monotonic() - started) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True, help="base URL of a running service (CDS_AUTH=off)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    print("| fault | statuses | median ms | max ms |\n|---|---|---|---|")
    cases = [(name, options) for name, options in FAULTS.items()] + [("connection refused", None)]
    for name, options in cases:
        process, base = _fhir_server(options) if options is not None else (None, _refused_url())
        try:
            results = [_call(args.url, base) for _ in range(args.rounds)]
        finally:
            if process is not None:
                process.kill()
        statuses = ", ".join(f"{s} x{n}" for s, n in sorted(Counter(s for s, _ in results).items()))
        times = [ms for _, ms in results]
        print(f"| {name} | {statuses} | {statistics.median(times):.0f} | {max(times):.0f} |")


if __name__ == "__main__":
    main()
