"""FHIR fixture replay: scenarios (tools/scenarios.py) run through the service and compared with their golden
cards (docs/fixtures.md).

The service is called in-process (`create_app`) or over HTTP at `--url`, exactly as an EHR would: discovery
first, then the hook. In `prefetch` mode the replayer answers the discovered prefetch templates from the
scenario's resources; in `fetch` mode it sends no prefetch and points `fhirServer` at a fixture FHIR server
on loopback serving those resources; `both` runs each scenario twice and also checks the two agree.

A mismatch is told the way a coder reads cards (`differences`: expected line, code, modifiers, units, side, nerve
and diagnoses / got line: none), and progress is a bar on a terminal, a few lines in a log.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TextIO

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from .cards import summarize
from .fhirserver import FixtureStore, create_fhir_app
from .hook_requests import answer_prefetch
from .progress import new_bar, shown
from .scenarios import ReplayError, Scenario

if TYPE_CHECKING:
    from ..config import Settings

Progress = Callable[[int, int, str], None]  # (runs done, runs in all, the run starting)


class Difference(NamedTuple):
    """One thing two card summaries disagree on, in words: `card` names the card, `what` the field."""

    card: str
    what: str
    first: str
    second: str
    labels: tuple[str, str]

    def __str__(self) -> str:
        return f"{self.card}: {self.labels[0]} {self.what}: {self.first} / {self.labels[1]} {self.what}: {self.second}"


def line_words(line: list[Any]) -> str:
    """A summarized line as a coder says it: 64640-LT, times 1, left lateral femoral cutaneous nerve, on G57.12."""
    code, modifiers, units, nerve, side, *rest = line
    diagnoses = ", ".join(rest[0]) if rest and rest[0] else "no diagnosis"
    where = f"{side} {nerve}" if side else nerve
    return f"{'-'.join([code, *modifiers])} \N{MULTIPLICATION SIGN} {units}, {where}, on {diagnoses}"


def _unmatched(lines: list[list[Any]], others: list[list[Any]]) -> list[list[Any]]:
    left = Counter(json.dumps(line) for line in lines) - Counter(json.dumps(line) for line in others)
    return [json.loads(line) for line in left.elements()]


def _line_pairs(first: list[list[Any]], second: list[list[Any]]) -> Iterator[tuple[str, str]]:
    """Lines only one side has, each paired with the other side's line for the same nerve and side if there
    is one (a changed modifier or diagnosis reads as one difference), else with none."""
    mine, theirs = _unmatched(first, second), _unmatched(second, first)
    for line in mine:
        match = next((other for other in theirs if other[3:5] == line[3:5]), None)
        if match is not None:
            theirs.remove(match)
        yield line_words(line), line_words(match) if match is not None else "none"
    for line in theirs:
        yield "none", line_words(line)


def differences(
    first: list[dict[str, Any]], second: list[dict[str, Any]], labels: tuple[str, str] = ("expected", "got")
) -> list[Difference]:
    """What two card summaries (tools/cards.summarize) disagree on; cards are paired by rule, in order."""
    out: list[Difference] = []
    for topic in sorted({c["topic"] for c in first} | {c["topic"] for c in second}):
        mine = [c for c in first if c["topic"] == topic]
        theirs = [c for c in second if c["topic"] == topic]
        for index in range(max(len(mine), len(theirs))):
            a = mine[index] if index < len(mine) else None
            b = theirs[index] if index < len(theirs) else None
            name = f"{topic} card"

            def told(what: str, x: str, y: str, name: str = name) -> None:
                out.append(Difference(name, what, x, y, labels))

            if a is None or b is None:
                told("card", *(f"{topic} ({c['indicator']})" if c else "none" for c in (a, b)))
            elif a["indicator"] != b["indicator"]:
                told("indicator", a["indicator"], b["indicator"])
            empty: dict[str, Any] = {"lines": [], "codes": [], "missing": []}
            a, b = a or empty, b or empty
            for x, y in _line_pairs(a["lines"], b["lines"]):
                told("line", x, y)
            for key, what in (("codes", "codes"), ("missing", "missing documentation")):
                if a[key] != b[key]:
                    told(what, ", ".join(a[key]) or "none", ", ".join(b[key]) or "none")
    return out


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

    def problems(self) -> list[str]:
        """Why the run failed, in words; [] when it passed."""
        if self.passed:
            return []
        return [self.error] if self.error else [str(d) for d in differences(self.scenario.expected, self.summary)]


@dataclass
class Result:
    runs: list[Run] = field(default_factory=list)
    disagreements: dict[str, list[str]] = field(default_factory=dict)  # scenario -> where the modes differ

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
    def __init__(self, config: Settings | Mapping[str, Any] | None = None):
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
    progress: Progress | None = None,
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
            between = differences(runs[0].summary, runs[1].summary, ("prefetch", "fetch"))
            result.disagreements[scenario.name] = [str(d) for d in between]
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


def progress(stream: TextIO | None = None) -> AbstractContextManager[_Bar | _Lines]:
    """A bar on a terminal; otherwise a start line, a line per quarter and an end line, so a CI log holds a
    handful of lines. `stream`: stderr by default."""
    return shown(_Bar, _Lines, stream)


class _Bar:
    def __init__(self, stream: TextIO, tqdm: Any):
        self.stream, self.tqdm = stream, tqdm
        self.bar: Any = None

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.bar is None:
            self.bar = new_bar(self.tqdm, self.stream, total=total, unit="run")
        self.bar.set_postfix_str(label[:40], refresh=False)
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class _Lines:
    def __init__(self, stream: TextIO):
        self.stream = stream
        self.started: float | None = None
        self.quarters = 0

    def _say(self, text: str) -> None:
        self.stream.write(f"replay: {text}\n")
        self.stream.flush()

    def __call__(self, done: int, total: int, label: str) -> None:
        if self.started is None:
            self.started = time.monotonic()
            self._say(f"{total} runs")
        quarters = 4 * done // total if total else 4
        if done == total:
            self._say(f"{total} of {total} runs done in {time.monotonic() - self.started:.1f} s")
            self.quarters = 4
        elif quarters > self.quarters:
            self._say(f"{done} of {total} runs done ({25 * quarters}%)")
            self.quarters = quarters

    def close(self) -> None:
        pass
