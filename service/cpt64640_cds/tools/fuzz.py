"""Hypothesis strategies for FHIR-ish CDS Hooks requests, valid and adversarial (tests/e2e/test_fuzz_bundles.py,
benchmarks/fuzz_census.py).

`hook_request(service_id)` builds order-sign and order-select requests from the knowledge base's own words
(nerves, sides, agents, modalities, guidance, negations), CPT codes around 64640, SNOMED CT laterality, dates
valid and not; `mutated(service_id)` then breaks them: wrong JSON types, nulls, empty arrays, huge and unicode
strings, lone surrogates, undecodable attachments. Needs `hypothesis` (the dev extra).
"""

from __future__ import annotations

import copy
import re
from typing import Any

from hypothesis import strategies as st

from ..protocol.services import all_services
from .fuzz_resources import (
    ANY_RESOURCE,
    CONDITION,
    DOCUMENT_REFERENCE,
    ENCOUNTER,
    MEDICATION_ADMINISTRATION,
    OPERATION_OUTCOME,
    PATIENT,
    PROCEDURE,
    SERVICE_REQUEST,
    bundle,
    likely_order,
)
from .fuzz_values import ABSENT, JSON, TEXT, rarely, weighted

SERVICES = all_services()


PREFETCH_RESOURCES = {
    "patient": PATIENT,
    "encounter": ENCOUNTER,
    "conditions": bundle(CONDITION),
    "procedures": bundle(weighted((2, PROCEDURE), (2, likely_order("Procedure")), (1, ANY_RESOURCE))),
    "medicationAdministrations": bundle(MEDICATION_ADMINISTRATION),
    "documentReferences": bundle(DOCUMENT_REFERENCE),
}


def prefetch_value(key: str) -> st.SearchStrategy[Any]:
    value = PREFETCH_RESOURCES.get(key, bundle(ANY_RESOURCE, max_size=3))
    return weighted((12, value), (6, st.none()), (1, st.just(ABSENT)), (1, OPERATION_OUTCOME))


def prefetch(service_id: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = SERVICES[service_id].prefetch
    return st.fixed_dictionaries({key: prefetch_value(key) for key in keys}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )


DRAFT_ORDERS = bundle(
    weighted(
        (4, likely_order("ServiceRequest")),
        (4, SERVICE_REQUEST),
        (1, likely_order("Procedure")),
        (1, PROCEDURE),
        (1, ANY_RESOURCE),
    ),
    6,
)

SELECTION = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


@st.composite
def hook_request(draw: st.DrawFn, service_id: str) -> dict[str, Any]:
    """A request whose envelope passes the hook's schema (mostly); its resources are what gets fuzzed."""
    service = SERVICES[service_id]
    context: dict[str, Any] = {
        "userId": draw(st.sampled_from(["Practitioner/dr-1", "PractitionerRole/r-1"])),
        "patientId": draw(st.sampled_from(["p-1", "neuro-1"])),
        "encounterId": draw(st.sampled_from(["enc-1", "enc-1", "enc-2", ABSENT])),
        "draftOrders": draw(DRAFT_ORDERS),
    }
    if service.hook == "order-select":
        ids = [
            f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
            for e in context["draftOrders"]["entry"]
            if isinstance(e.get("resource"), dict)
        ]
        ids = [i for i in ids if SELECTION.match(i)] or ["ServiceRequest/sr-1"]
        selection = rarely(st.sampled_from(ids), st.sampled_from(["ServiceRequest/none", "Procedure/p-1"]), 5)
        context["selections"] = draw(st.lists(selection, min_size=1, max_size=3))
    body: dict[str, Any] = {
        "hook": service.hook,
        "hookInstance": draw(rarely(st.uuids().map(str), st.sampled_from(["h-1", "\ud800", "x" * 256]), 4)),
        "context": {k: v for k, v in context.items() if v is not ABSENT},
        "prefetch": draw(prefetch(service_id)),
    }
    if draw(rarely(st.just(False), st.just(True), 15)):
        # A loopback FHIR server nobody listens on: the refused-fetch path (loopback is allowed in development).
        body["fhirServer"] = "http://127.0.0.1:9/fhir"
        body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
    return body


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _in_resource(path: tuple[Any, ...]) -> bool:
    """Below a resource's resourceType: what the schema leaves to the typed FHIR layer."""
    if "resource" in path:
        rest = path[path.index("resource") + 1 :]
    elif path[:1] == ("prefetch",) and len(path) >= 2:
        rest = path[2:]
    else:
        return False
    return bool(rest) and rest != ("resourceType",)


WRONG = st.one_of(JSON, st.sampled_from([None, [], {}, "", 0, -1, True, 1e308, ABSENT]), TEXT)


@st.composite
def mutated(draw: st.DrawFn, service_id: str, anywhere: bool = True, most: int = 3) -> Any:
    """A hook request with up to `most` values replaced by something of the wrong kind, or removed."""
    # A copy: strategies such as st.just hand out the same object every time, and it must stay as it was.
    body: Any = copy.deepcopy(draw(hook_request(service_id)))
    for _ in range(draw(st.integers(0, most))):
        paths = [p for p in _paths(body) if anywhere or _in_resource(p)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        replacement = draw(WRONG)
        if not path:
            body = None if replacement is ABSENT else copy.deepcopy(replacement)
            continue
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if replacement is ABSENT:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(replacement)
    return body
