"""Replay scenarios: recorded hook calls with the patient's record and golden expectations (docs/fixtures.md).

A scenario is a folder with `request.json` (the hook, its context and draft orders), `scenario.json`
(a description and the patient's resources: relative paths of FHIR Bundles or resources) and `expected.json`
(the golden cards, as `cards.summarize` writes them). A folder holding `replay.json` turns plain patient
records into scenarios: each Bundle (`"kind": "bundles"`) or the whole folder (`"kind": "record"`) is replayed
around a draft order. A Bundle file given on its own is replayed the same way, with no cards expected.
"""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fhirserver import resources_in

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


def _normalize_expected(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Golden files may leave out empty fields; fill them so comparison is exact."""
    filled = [
        {
            "topic": c["topic"],
            "indicator": c["indicator"],
            "lines": sorted(c.get("lines", []), key=json.dumps),
            "codes": sorted(c.get("codes", [])),
            "missing": c.get("missing", []),
            # A billing comparison (encounter-discharge) says both sides.
            **({k: sorted(c.get(k, [])) for k in ("documented", "billed")} if c["topic"] == "billed-differs" else {}),
        }
        for c in cards
    ]
    return sorted(filled, key=lambda c: (c["topic"], json.dumps(c["lines"])))


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


def around_request(files: list[Path], order: dict[str, Any], name: str) -> dict[str, Any]:
    """A hook request for a plain patient record: its patient, its latest encounter, one draft order."""
    resources = [r for f in files for r in resources_in(_load(f))]
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
    groups = [[f] for f in files if resources_in(_load(f))] if meta.get("kind") == "bundles" else [files]
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
