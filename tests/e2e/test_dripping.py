"""Outbound calls stay bounded, the service under gunicorn (issue 12): a FHIR server that drips its body or its
headers a byte at a time, or accepts and never answers, costs each hook call its deadline and nothing after it —
the workers' threads and open descriptors are back where they were, and the server sees every connection
closed; enormous FHIR answers are held to one byte budget per call, and the worker's memory stays bounded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from typing import Any

import pytest
import requests

from cpt64640_cds.tools.hook_requests import fetching
from cpt64640_cds.tools.processes import Process, start_service

from ..conftest import SIGN, fixture_request
from ..hostile_servers import MODES, HostileServer, booted_workers, fds_of, memory_kib, threads_of

DEADLINE_S = 1.0
MARGIN_S = 1.0  # an answer may take the deadline plus this on a loaded 2-vCPU machine
CALLS, AT_ONCE = 30, 4  # two workers of four threads: no call waits for a free thread
TOLERANCE = 2  # threads or descriptors a worker may hold above its baseline (a log handler, a metrics file)
FETCH_THREADS = 40  # CDS_FHIR_FETCH_THREADS's default: the pool grows to it as needed and stays
# What a worker may ever hold: its main thread, gunicorn's 4, the fetch pool, the watchdog, a card writer.
THREAD_CEILING = 1 + 4 + FETCH_THREADS + 1 + 1 + TOLERANCE
TOKEN = "dripping-token-3c9"
BUDGET = 8 * 1024 * 1024
RSS_BOUND_KIB = 120 * 1024  # measured: a worker's peak grows by 25 to 86 MiB over its resting size here (168 before)


@pytest.fixture(scope="module")
def service(tmp_path_factory) -> Iterator[Process]:
    server = start_service(
        tmp_path_factory.mktemp("dripping"),
        CDS_REQUEST_DEADLINE_MS=str(int(DEADLINE_S * 1000)),
        CDS_FHIR_MAX_CALL_BYTES=str(BUDGET),
        CDS_FHIR_FETCH_THREADS=str(FETCH_THREADS),
    )
    yield server
    server.stop()


def _hook_calls(service: Process, fhir_base: str, count: int) -> list[tuple[int, float, Any]]:
    """`count` hook calls in fetch mode, AT_ONCE at a time: (status, seconds, body) of each."""
    body = fetching(fixture_request("order-sign-lfcn-left"), fhir_base, TOKEN)

    def one(_: int) -> tuple[int, float, Any]:
        started = time.monotonic()
        response = requests.post(f"{service.base_url}/cds-services/{SIGN}", json=body, timeout=30)
        return response.status_code, time.monotonic() - started, response.json()

    with ThreadPoolExecutor(AT_ONCE) as callers:
        return list(callers.map(one, range(count)))


def _held(pids: list[int]) -> dict[int, tuple[int, int]]:
    return {pid: (threads_of(pid), fds_of(pid)) for pid in pids}


def _warmed_up(service: Process, fhir: HostileServer, workers: list[int]) -> dict[int, tuple[int, int]]:
    """The workers' baseline once their thread pools (gunicorn's, the fetch pool) have stopped growing."""
    held = _held(workers)
    for _ in range(5):
        _hook_calls(service, fhir.base_url, 2 * AT_ONCE)
        assert fhir.wait_closed(3.0) == 0
        held, previous = _held(workers), held
        if held == previous:
            break
    return held


def _settled(pids: list[int], baseline: dict[int, tuple[int, int]], seconds: float) -> dict[int, tuple[int, int]]:
    """What the workers hold once back within TOLERANCE of the baseline, or after `seconds` if they never are."""
    until = time.monotonic() + seconds
    while True:
        now = _held(pids)
        back = all(now[p][0] <= THREAD_CEILING and now[p][1] <= baseline[p][1] + TOLERANCE for p in pids)
        if back or time.monotonic() > until:
            return now
        time.sleep(0.1)


@pytest.mark.parametrize("mode", MODES)
def test_a_dripping_or_hanging_fhir_server_leaves_nothing_behind(service, mode):
    # One byte every 0.3 s: every read finishes inside the read timeout, so only the deadline can end them.
    with HostileServer(mode, interval=0.3) as fhir:
        workers = booted_workers(service.process.pid, 2)
        assert len(workers) == 2
        baseline = _warmed_up(service, fhir, workers)
        answers = _hook_calls(service, fhir.base_url, CALLS)
        assert [status for status, _, _ in answers] == [412] * CALLS
        assert max(seconds for _, seconds, _ in answers) < DEADLINE_S + MARGIN_S
        assert all(issue["code"] == "timeout" for _, _, outcome in answers for issue in outcome["issue"])
        assert fhir.wait_closed(2.0) == 0  # every socket the workers opened is closed
        after = _settled(workers, baseline, 2.0)
        print(f"{mode}: workers' (threads, fds) before {baseline} after {CALLS} calls {after}")
        for pid in workers:
            assert after[pid][0] <= THREAD_CEILING, "threads"  # stragglers end: only the bounded pool remains
            assert after[pid][1] <= baseline[pid][1] + TOLERANCE, "file descriptors"


@cache
def _enormous(path: str) -> bytes:
    """6 MB searchset Bundles for the two required keys, empty ones for the rest."""
    kind = path[1:].split("?")[0]
    if kind in ("Condition", "Procedure"):
        resource = {"resourceType": kind, "id": "big", "note": [{"text": "x" * 6_000_000}]}
        return json.dumps({"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": resource}]}).encode()
    return b'{"resourceType": "Bundle", "type": "searchset"}'


def test_one_byte_budget_per_call_bounds_the_workers_memory(service):
    with HostileServer("answer", answer=_enormous) as fhir:
        workers = booted_workers(service.process.pid, 2)
        resting = {pid: memory_kib(pid) for pid in workers}
        answers = _hook_calls(service, fhir.base_url, 10)
        peak = {pid: memory_kib(pid, "VmHWM") for pid in workers}
        print(f"budget: workers' resting RSS {resting} KiB, peak after 10 calls {peak} KiB")
        for status, _, outcome in answers:
            assert status == 412  # both required keys are 6 MB: 12 MB never fit an 8 MiB budget
            named = {e for issue in outcome["issue"] for e in issue["expression"]}
            assert named and named <= {"prefetch.conditions", "prefetch.procedures"}
            for issue in outcome["issue"]:
                assert f"response budget of {BUDGET} bytes for this call exceeded" in issue["diagnostics"]
                assert issue["code"] == "too-costly"
        for pid in workers:
            assert peak[pid] - resting[pid] < RSS_BOUND_KIB
