"""FHIR fixture replay: scenarios (tools/scenarios.py) run through the service and compared with their golden
cards (docs/fixtures.md).

The service is called in-process (`create_app`) or over HTTP at `--url`, exactly as an EHR would: discovery
first, then the hook. In `prefetch` mode the replayer answers the discovered prefetch templates from the
scenario's resources; in `fetch` mode it sends no prefetch and points `fhirServer` at a fixture FHIR server
on loopback serving those resources; `both` runs each scenario twice and also checks the two agree.
"""

from __future__ import annotations

import copy
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from .cards import summarize
from .fhirserver import FixtureStore, create_fhir_app
from .hook_requests import answer_prefetch
from .scenarios import ReplayError, Scenario, diff


@dataclass
class Run:
    scenario: Scenario
    mode: str  # prefetch | fetch
    status: int
    cards: list[dict[str, Any]]
    summary: list[dict[str, Any]]
    seconds: float
    error: str | None = None

    @property
    def passed(self) -> bool:
        return self.error is None and self.status == 200 and self.summary == self.scenario.expected


@dataclass
class Result:
    runs: list[Run] = field(default_factory=list)
    disagreements: dict[str, str] = field(default_factory=dict)  # scenario -> diff between modes

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs) and not self.disagreements


class Target:
    """The service under test: discovery, then hooks."""

    def discover(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def call(self, service_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


class InProcess(Target):
    def __init__(self, config: dict[str, Any] | None = None):
        # Imported here: replaying against a running service (--url) needs none of the service's own code.
        from ..web.app import create_app

        self.client = create_app(config or {}).test_client()

    def discover(self) -> list[dict[str, Any]]:
        return self.client.get("/cds-services").get_json()["services"]

    def call(self, service_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = self.client.post(f"/cds-services/{service_id}", json=body)
        return response.status_code, response.get_json()


class OverHttp(Target):
    def __init__(self, base_url: str, timeout: float = 30):
        self.base = base_url.rstrip("/")
        self.timeout = timeout

    def discover(self) -> list[dict[str, Any]]:
        try:
            response = requests.get(f"{self.base}/cds-services", timeout=self.timeout)
            return response.json()["services"]
        except (requests.RequestException, ValueError, KeyError) as exc:
            raise ReplayError(f"{self.base}/cds-services: discovery failed ({type(exc).__name__})") from None

    def call(self, service_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        response = requests.post(f"{self.base}/cds-services/{service_id}", json=body, timeout=self.timeout)
        try:
            return response.status_code, response.json()
        except ValueError:
            return response.status_code, {"text": response.text[:500]}


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:  # the replay prints its own progress
        pass


@contextmanager
def fhir_server(store: FixtureStore) -> Iterator[str]:
    """A fixture FHIR server on a free loopback port for the duration of a fetch-mode run."""
    server = make_server("127.0.0.1", 0, create_fhir_app(store), threaded=True, request_handler=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()


def run_scenario(scenario: Scenario, mode: str, target: Target, services: list[dict[str, Any]]) -> Run:
    started = time.monotonic()
    hook = scenario.request.get("hook")
    service = next((s for s in services if s["hook"] == hook), None)
    if service is None:
        return Run(scenario, mode, 0, [], [], 0.0, f"no service in discovery answers {hook}")
    store = FixtureStore(scenario.resources)
    body = copy.deepcopy(scenario.request)
    body.pop("fhirAuthorization", None)
    try:
        if mode == "prefetch":
            body.pop("fhirServer", None)
            body["prefetch"] = answer_prefetch(service.get("prefetch", {}), body["context"], store)
            status, answer = target.call(service["id"], body)
        else:
            body.pop("prefetch", None)
            with fhir_server(store) as base:
                body["fhirServer"] = base
                status, answer = target.call(service["id"], body)
    except requests.RequestException as exc:
        return Run(scenario, mode, 0, [], [], time.monotonic() - started, f"service unreachable ({type(exc).__name__})")
    cards = answer.get("cards", []) if status == 200 else []
    error = None if status == 200 else f"HTTP {status}: {json.dumps(answer)[:300]}"
    return Run(scenario, mode, status, cards, summarize(cards), time.monotonic() - started, error)


def replay(
    scenarios: list[Scenario],
    modes: list[str],
    target: Target,
    progress: Callable[[int, int, str], None] | None = None,
) -> Result:
    services = target.discover()
    result = Result()
    total = len(scenarios) * len(modes)
    for index, scenario in enumerate(scenarios):
        runs: list[Run] = []
        for mode in modes:
            if progress:
                progress(len(result.runs) + len(runs), total, f"{scenario.name} [{mode}]")
            runs.append(run_scenario(scenario, mode, target, services))
        if len(runs) == 2 and runs[0].summary != runs[1].summary:
            result.disagreements[scenario.name] = diff(runs[0].summary, runs[1].summary, ("prefetch", "fetch"))
        result.runs.extend(runs)
        if progress and index == len(scenarios) - 1:
            progress(total, total, "done")
    return result


def update_golden(result: Result) -> list[Path]:
    written = []
    for run in result.runs:
        golden = run.scenario.golden
        if golden is None or run.status != 200 or golden in written:
            continue
        golden.write_text(json.dumps({"cards": run.summary}, indent=2) + "\n", encoding="utf-8")
        written.append(golden)
    return written


def progress_bar(stream: Any = sys.stderr, width: int = 30) -> Callable[[int, int, str], None]:
    def show(done: int, total: int, label: str) -> None:
        filled = int(width * done / total) if total else width
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label[:50]:<50}")
        if done == total:
            stream.write("\n")
        stream.flush()

    return show
