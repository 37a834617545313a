"""FHIR fixture replay: recorded scenarios run through the service and compared with golden expectations.

A scenario is a folder with `request.json` (the hook, its context and draft orders), `scenario.json`
(a description and the patient's resources: relative paths of FHIR Bundles or resources) and `expected.json`
(the golden cards). A folder holding `replay.json` turns plain patient records into scenarios: each Bundle
(`"kind": "bundles"`) or the whole folder (`"kind": "record"`) is replayed around a draft order
(docs/fixtures.md).

The service is called in-process (`create_app`) or over HTTP at `--url`, exactly as an EHR would: discovery
first, then the hook. In `prefetch` mode the replayer answers the discovered prefetch templates from the
scenario's resources; in `fetch` mode it sends no prefetch and points `fhirServer` at a fixture FHIR server
on loopback serving those resources; `both` runs each scenario twice and also checks the two agree.
"""

from __future__ import annotations

import copy
import difflib
import json
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import WSGIRequestHandler, make_server

from ..protocol.prefetch.templates import resolve_template
from ..web.app import create_app
from .fhirserver import FixtureStore, create_fhir_app

CPT = "http://www.ama-assn.org/go/cpt"
EXPLANATION = "cpt64640-cds.explanation"
DEFAULT_AROUND = {
    "resourceType": "ServiceRequest",
    "id": "replay-unrelated-order",
    "status": "draft",
    "intent": "order",
    "code": {"coding": [{"system": "http://loinc.org", "code": "57698-3"}], "text": "Lipid panel"},
}


class ReplayError(Exception):
    """A scenario cannot be read or the service cannot be reached; the message says which and why."""


@dataclass
class Scenario:
    name: str
    path: Path
    request: dict[str, Any]
    resources: list[Path]
    expected: list[dict[str, Any]]
    description: str = ""
    golden: Path | None = None  # where --update-golden writes; None for expectations kept in replay.json


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


# Comparison: what matters of a card, without uuids and in a stable order.


def summarize(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for card in cards:
        lines, codes = [], set()
        for suggestion in card.get("suggestions", []):
            for action in suggestion.get("actions", []):
                resource = action.get("resource", {})
                cpt = [c["code"] for c in resource.get("code", {}).get("coding", []) if c.get("system") == CPT]
                if action["type"] == "create" and resource.get("resourceType") == "ChargeItem":
                    modifiers = [e["valueCoding"]["code"] for e in resource.get("extension", []) if "valueCoding" in e]
                    side = next((c["display"].lower() for b in resource["bodysite"] for c in b.get("coding", [])), None)
                    lines.append(
                        [cpt[0], modifiers, resource["quantity"]["value"], resource["bodysite"][0]["text"], side]
                    )
                    codes.update(cpt)
                elif action["type"] == "update":
                    codes.update(cpt)
        entry = {
            "topic": card["source"]["topic"]["code"],
            "indicator": card["indicator"],
            "lines": sorted(lines, key=json.dumps),
            "codes": sorted(codes),
            "missing": card.get("extension", {}).get(EXPLANATION, {}).get("missing", []),
        }
        out.append(entry)
    return sorted(out, key=lambda c: (c["topic"], json.dumps(c["lines"])))


def _normalize_expected(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Golden files may leave out empty fields; fill them so comparison is exact."""
    filled = [
        {
            "topic": c["topic"],
            "indicator": c["indicator"],
            "lines": sorted(c.get("lines", []), key=json.dumps),
            "codes": sorted(c.get("codes", [])),
            "missing": c.get("missing", []),
        }
        for c in cards
    ]
    return sorted(filled, key=lambda c: (c["topic"], json.dumps(c["lines"])))


def diff(expected: list[dict[str, Any]], actual: list[dict[str, Any]], labels: tuple[str, str]) -> str:
    a = json.dumps(expected, indent=2).splitlines()
    b = json.dumps(actual, indent=2).splitlines()
    return "\n".join(difflib.unified_diff(a, b, fromfile=labels[0], tofile=labels[1], lineterm=""))


# Finding scenarios.


def _load(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ReplayError(f"{path}: cannot read JSON ({exc})") from None


def _folder_scenario(folder: Path) -> Scenario:
    meta = _load(folder / "scenario.json") if (folder / "scenario.json").exists() else {}
    resources = [(folder / r).resolve() for r in meta.get("resources", [])]
    resources += [
        p for p in sorted(folder.glob("*.json")) if p.name not in ("request.json", "expected.json", "scenario.json")
    ]
    golden = folder / "expected.json"
    expected = _load(golden).get("cards", []) if golden.exists() else []
    return Scenario(
        name=folder.name,
        path=folder,
        request=_load(folder / "request.json"),
        resources=resources,
        expected=_normalize_expected(expected),
        description=meta.get("description", ""),
        golden=golden,
    )


def _resources_of(path: Path) -> list[dict[str, Any]]:
    data = _load(path)
    if isinstance(data, dict) and data.get("resourceType") == "Bundle":
        return [
            e["resource"] for e in data.get("entry", []) if isinstance(e, dict) and isinstance(e.get("resource"), dict)
        ]
    return [data] if isinstance(data, dict) and "resourceType" in data else []


def around_request(files: list[Path], order: dict[str, Any], name: str) -> dict[str, Any]:
    """A hook request for a plain patient record: its patient, its latest encounter, one draft order."""
    resources = [r for f in files for r in _resources_of(f)]
    patient = next((r["id"] for r in resources if r["resourceType"] == "Patient" and "id" in r), "example")
    encounters = sorted(
        (r for r in resources if r["resourceType"] == "Encounter" and "id" in r),
        key=lambda r: (r.get("period") or {}).get("start", ""),
    )
    order = copy.deepcopy(order)
    order["subject"] = {"reference": f"Patient/{patient}"}
    context: dict[str, Any] = {
        "userId": "Practitioner/replay",
        "patientId": patient,
        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": order}]},
    }
    if encounters:
        context["encounterId"] = encounters[-1]["id"]
    return {"hook": "order-sign", "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, name)), "context": context}


def _record_scenarios(folder: Path) -> list[Scenario]:
    meta = _load(folder / "replay.json")
    order = _load(folder / meta["around"]) if meta.get("around") else DEFAULT_AROUND
    expected = _normalize_expected(meta.get("expect", []))
    files = sorted(p for p in folder.rglob("*.json") if p.name != "replay.json")
    groups = [[f] for f in files if _resources_of(f)] if meta.get("kind") == "bundles" else [files]
    scenarios = []
    for group in groups:
        name = f"{folder.name}/{group[0].stem}" if meta.get("kind") == "bundles" else folder.name
        scenarios.append(
            Scenario(
                name=name,
                path=folder,
                request=around_request(group, order, name),
                resources=group,
                expected=expected,
                description=meta.get("description", "A patient record around an unrelated draft order."),
            )
        )
    return scenarios


def discover(paths: list[Path]) -> list[Scenario]:
    scenarios: list[Scenario] = []
    for path in paths:
        if not path.exists():
            raise ReplayError(f"{path}: no such file or folder")
        if path.is_file():
            scenarios.append(
                Scenario(path.stem, path.parent, around_request([path], DEFAULT_AROUND, path.stem), [path], [])
            )
            continue
        for folder in sorted(
            {p.parent for p in path.rglob("request.json")} | {p.parent for p in path.rglob("replay.json")}
        ):
            if (folder / "request.json").exists():
                scenarios.append(_folder_scenario(folder))
            else:
                scenarios.extend(_record_scenarios(folder))
    names = [s.name for s in scenarios]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ReplayError(f"scenario names are not unique: {', '.join(duplicates)}")
    return scenarios


# Calling the service.


class Target:
    """The service under test: discovery, then hooks."""

    def discover(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def call(self, service_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError


class InProcess(Target):
    def __init__(self, config: dict[str, Any] | None = None):
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


def answer_prefetch(templates: dict[str, str], context: dict[str, Any], store: FixtureStore) -> dict[str, Any]:
    """What an EHR would prefetch: each template answered from the scenario's record."""
    client = create_fhir_app(store).test_client()
    prefetch: dict[str, Any] = {}
    for key, template in templates.items():
        query = resolve_template(template, context)
        if query is None:
            continue  # a token the context cannot fill: the key is simply not sent, as the sandbox does
        response = client.get(f"/{query}")
        prefetch[key] = response.get_json() if response.status_code == 200 else None
    return prefetch


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
        runs = []
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
