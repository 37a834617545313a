"""The benchmark's hook calls, built from the project's fixtures and the Synthea records.

One neurolysis order (the order-sign scenario complete-intractable-pain, its prefetch answered from its patient's
record) plus Synthea history - Conditions, Procedures, MedicationRequests, ImagingStudies with fresh ids, their
subject rewritten to the scenario's patient - up to a number of resources. In prefetch mode the history goes into
the prefetch Bundles; in fetch mode it is the record a FHIR server answers from.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from cpt64640_cds.tools.fhirserver import FixtureStore
from cpt64640_cds.tools.hook_requests import answer_prefetch, fetching, templates_of
from cpt64640_cds.tools.scenarios import discover

ROOT = Path(__file__).resolve().parents[1]
SCENARIO = ROOT / "fhir-fixtures" / "scenarios" / "complete-intractable-pain"
SYNTHEA = ROOT / "fhir-fixtures" / "external" / "smart-sandbox"
ORDER_SIGN = "cpt64640-order-sign"
# The history a coder's chart review reads, and the prefetch key each type arrives under.
HISTORY_KEYS = {
    "Condition": "conditions",
    "Procedure": "procedures",
    "MedicationRequest": "medicationRequests",
    "ImagingStudy": "imagingStudies",
}


@cache
def _scenario() -> tuple[dict[str, Any], FixtureStore]:
    (scenario,) = discover([SCENARIO])
    return scenario.request, FixtureStore(scenario.resources)


@cache
def _synthea() -> tuple[dict[str, Any], ...]:
    """The history resources of the Synthea records, in file order (Bundle references already rewritten)."""
    store = FixtureStore(sorted(p for p in SYNTHEA.glob("*.json") if p.name != "replay.json"))
    return tuple(r for kind in HISTORY_KEYS for r in store.by_type.get(kind, {}).values())


def history(count: int, patient: str) -> list[dict[str, Any]]:
    """`count` history resources for `patient`, cycling through the Synthea pool with unique ids."""
    pool = _synthea()
    out = []
    for i in range(count):
        resource = copy.deepcopy(pool[i % len(pool)])
        resource["id"] = f"b{i}-{resource['id']}"[:64]
        for field in ("subject", "patient"):
            if field in resource:
                resource[field] = {"reference": f"Patient/{patient}"}
        out.append(resource)
    return out


def _resources_in_prefetch(prefetch: dict[str, Any]) -> int:
    count = 0
    for value in prefetch.values():
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            count += len(value.get("entry", []))
        elif isinstance(value, dict):
            count += 1
    return count


def order_sign(resources: int) -> dict[str, Any]:
    """The order-sign call with `resources` resources in its prefetch (the scenario's own ones included)."""
    request, record = _scenario()
    body = copy.deepcopy(request)
    prefetch = answer_prefetch(templates_of(ORDER_SIGN), body["context"], record)
    for resource in history(resources - _resources_in_prefetch(prefetch), body["context"]["patientId"]):
        key = HISTORY_KEYS[resource["resourceType"]]
        bundle = prefetch.get(key) or {"resourceType": "Bundle", "type": "searchset", "total": 0}
        bundle.setdefault("entry", []).append(
            {
                "fullUrl": f"http://ehr.example/fhir/{resource['resourceType']}/{resource['id']}",
                "resource": resource,
                "search": {"mode": "match"},
            }
        )
        bundle["total"] = len(bundle["entry"])
        prefetch[key] = bundle
    body["prefetch"] = prefetch
    assert _resources_in_prefetch(prefetch) == resources, "the scenario alone has more resources than asked"
    return body


def fetch_record(resources: int, folder: Path) -> Path:
    """The scenario patient's record plus history, `resources` in all, as one Bundle file in `folder`."""
    request, record = _scenario()
    own = [r for kind in record.by_type.values() for r in kind.values()]
    everything = own + history(resources - len(own), request["context"]["patientId"])
    path = folder / f"record-{resources}.json"
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": r} for r in everything]}
    path.write_text(json.dumps(bundle), encoding="utf-8")
    return path


def order_sign_fetching(fhir_base: str) -> dict[str, Any]:
    """The order-sign call without prefetch: the service fetches every key from `fhir_base`."""
    request, _ = _scenario()
    return fetching(request, fhir_base, "bench-token")


def prefetch_queries(fhir_base: str) -> list[str]:
    """The URLs of the service's prefetch queries for the scenario, as it would ask them."""
    from cpt64640_cds.protocol.prefetch.templates import resolve_template

    request, _ = _scenario()
    queries = (resolve_template(t, request["context"]) for t in templates_of(ORDER_SIGN).values())
    return [f"{fhir_base}/{q}" for q in queries if q is not None]
