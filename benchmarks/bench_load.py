"""The benchmark's clients: one keep-alive connection timing calls one after another, and N client processes
(each its own keep-alive connection, as N EHR clients are) calling as fast as answers come for a while.

http.client rather than requests: the client's own cost on this 2-core machine is CPU the servers do not get,
and a lighter client disturbs the measurement less. Processes rather than threads: a client's time waiting for
the GIL would count as server latency in p99."""

from __future__ import annotations

import http.client
import json
import math
import multiprocessing
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}


class CallError(RuntimeError):
    """A hook call was not answered 200; the benchmark measures answers, not failures."""


class Connection:
    """One keep-alive HTTP connection to a server's base URL."""

    def __init__(self, base_url: str, timeout: float = 60):
        parts = urlsplit(base_url)
        self.host, self.port, self.timeout = parts.hostname or "127.0.0.1", parts.port or 80, timeout
        self.http = http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def post(self, path: str, body: bytes) -> tuple[int, bytes, float]:
        """(status, answer, milliseconds) from sending the request to having read the whole answer."""
        started = time.perf_counter()
        try:
            self.http.request("POST", path, body, HEADERS)
            response = self.http.getresponse()
            answer = response.read()
        except (http.client.HTTPException, OSError):
            # The server closed a kept-alive connection (e.g. a recycled worker): once more on a new one.
            self.close()
            self.http = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            started = time.perf_counter()
            self.http.request("POST", path, body, HEADERS)
            response = self.http.getresponse()
            answer = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        if response.getheader("Connection", "").lower() == "close":
            self.close()
            self.http = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return response.status, answer, elapsed

    def get(self, path: str) -> float:
        """Milliseconds of a GET on a new connection, answer read (servers that close after each answer)."""
        started = time.perf_counter()
        self.http.request("GET", path)
        self.http.getresponse().read()
        self.close()
        return (time.perf_counter() - started) * 1000

    def call(self, path: str, body: bytes) -> tuple[Any, float]:
        """The JSON answer of a hook call that must succeed, and its milliseconds."""
        status, answer, elapsed = self.post(path, body)
        if status != 200:
            raise CallError(f"POST {path}: {status} {answer[:300]!r}")
        return json.loads(answer), elapsed

    def close(self) -> None:
        self.http.close()


def sequential(base_url: str, path: str, body: bytes, calls: int) -> list[float]:
    """Milliseconds of `calls` calls, one after another on one connection."""
    connection = Connection(base_url)
    try:
        return [connection.call(path, body)[1] for _ in range(calls)]
    finally:
        connection.close()


@dataclass
class Load:
    clients: int
    seconds: float
    latencies: list[float]  # ms of every call answered 200, the last ones finishing after the window included
    answered: int  # calls answered 200 within the window
    errors: int

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds


def _client(base_url: str, path: str, body: bytes, start_at: float, stop_at: float) -> tuple[list[float], int, int]:
    connection = Connection(base_url)
    latencies, answered, errors = [], 0, 0
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        while time.time() < stop_at:
            try:
                status, _, elapsed = connection.post(path, body)
            except (http.client.HTTPException, OSError):
                status, elapsed = 0, 0.0
            if status == 200:
                latencies.append(elapsed)
                answered += time.time() <= stop_at
            else:
                errors += 1
    finally:
        connection.close()
    return latencies, answered, errors


def concurrent(base_url: str, path: str, body: bytes, clients: int, seconds: float) -> Load:
    """`clients` processes calling for `seconds`, started together. The rate counts the calls answered within the
    window; the latencies also count the calls in flight when it closed (the slowest ones would be lost else)."""
    start_at = time.time() + 0.3  # every process forked and connected before the window opens
    jobs = [(base_url, path, body, start_at, start_at + seconds)] * clients
    with multiprocessing.get_context("fork").Pool(clients) as pool:
        results = pool.starmap(_client, jobs)
    latencies = [ms for found, _, _ in results for ms in found]
    return Load(clients, seconds, latencies, sum(r[1] for r in results), sum(r[2] for r in results))


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.99 = p99) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(share * len(ordered))) - 1]
