"""The facts' models and whole-resource checks against fhir.resources, the oracle they replace on the hot path.

Over every resource the project holds (fixtures, recorded examples) and mutations of them: a resource the
service drops, fhir.resources rejects too; a resource fhir.resources rejects, the service drops too, unless
every failing location lies in the value of an element the facts do not read, or read only in part
(fhir/checks.py's documented difference: there only names, shapes, required elements and choices are checked).
"""

from __future__ import annotations

import copy
import json
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from cpt64640_cds.fhir.models import MODELS, Partial, UndeclaredElement
from cpt64640_cds.fhir.record import Dropped, _parse

ROOT = Path(__file__).resolve().parents[3]


def _resources(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("resourceType") in MODELS:
            yield value
        for child in value.values():
            yield from _resources(child)
    elif isinstance(value, list):
        for child in value:
            yield from _resources(child)


def _corpus() -> list[dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted([*ROOT.glob("fhir-fixtures/**/*.json"), *ROOT.glob("tests/examples/**/*.json")]):
        for resource in _resources(json.loads(path.read_text(encoding="utf-8"))):
            found.setdefault(json.dumps(resource, sort_keys=True), resource)
    return list(found.values())


CORPUS = _corpus()


def _oracle(raw: dict[str, Any]) -> list[str] | None:
    """fhir.resources' failing locations, or None when it accepts the resource."""
    try:
        get_fhir_model_class(raw["resourceType"]).model_validate(raw)
    except ValidationError as exc:
        return [".".join(str(p) for p in error["loc"]) for error in exc.errors()]
    return None


def _ours(raw: dict[str, Any]) -> Dropped | None:
    dropped: list[Dropped] = []
    _parse(raw, "prefetch.test", dropped)
    return dropped[0] if dropped else None


def _read_in_part(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, Partial):
        return True
    return any(_read_in_part(arg) for arg in typing.get_args(annotation))


def _unread_depth(location: str, raw: dict[str, Any]) -> bool:
    """The location lies inside an element the facts do not read, or read only in part."""
    top, _, below = location.partition(".")
    field = MODELS[raw["resourceType"]].model_fields.get(top)
    return field is None or (bool(below) and _read_in_part(field.annotation))


def test_the_corpus_is_large_and_varied():
    kinds = {r["resourceType"] for r in CORPUS}
    assert len(CORPUS) > 500 and kinds >= {"Condition", "Procedure", "ServiceRequest", "MedicationRequest"}


@pytest.mark.parametrize("raw", CORPUS, ids=lambda r: f"{r['resourceType']}/{r.get('id')}")
def test_verdicts_agree_with_fhir_resources(raw):
    oracle, ours = _oracle(raw), _ours(raw)
    if ours is not None:
        assert oracle is not None, f"dropped what fhir.resources accepts: {ours.fields}"
    elif oracle is not None:
        assert all(_unread_depth(location, raw) for location in oracle), oracle


def _mutations(raw: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield "unknown element", {**raw, "occuranceDateTime": "2026-11-20"}
    yield "element in the wrong shape", {**raw, "id": ["x"]}
    if "code" in raw:
        yield "unknown element in a concept", {**raw, "code": {**raw["code"], "codng": []}}
        broken = copy.deepcopy(raw)
        for coding in broken["code"].get("coding", []):
            coding["code"] = " padded "
        if broken["code"].get("coding"):
            yield "code with spaces", broken
        yield "empty text", {**raw, "code": {**raw["code"], "text": ""}}
    for name in ("performedDateTime", "occurrenceDateTime", "authoredOn", "started", "date"):
        if name in raw and name in MODELS[raw["resourceType"]].model_fields:  # a date the facts read
            yield "bad date", {**raw, name: "20th November"}
    if raw["resourceType"] == "Procedure":
        yield "two choices", {**raw, "performedDateTime": "2026-11-20", "performedString": "today"}
        yield "required missing", {k: v for k, v in raw.items() if k != "status"}


def _sample(per_kind: int) -> list[tuple[str, dict[str, Any]]]:
    """Up to `per_kind` mutants of each resource type and mutation."""
    kept: dict[tuple[str, str], list[tuple[str, dict[str, Any]]]] = {}
    for raw in CORPUS:
        for why, mutant in _mutations(raw):
            kept.setdefault((raw["resourceType"], why), []).append((why, mutant))
    return [pair for pairs in kept.values() for pair in pairs[:per_kind]]


MUTANTS = _sample(per_kind=20)


@pytest.mark.parametrize(("why", "raw"), MUTANTS, ids=[f"{m['resourceType']}-{why}" for why, m in MUTANTS])
def test_mutants_are_dropped_as_fhir_resources_rejects_them(why, raw):
    assert _oracle(raw) is not None
    assert _ours(raw) is not None, why


def test_an_undeclared_element_is_an_error_not_none():
    condition = MODELS["Condition"].model_validate({"resourceType": "Condition", "id": "c", "subject": {}})
    with pytest.raises(UndeclaredElement):
        getattr(condition, "onsetDateTime", None)
    assert getattr(condition, "no_such_element", None) is None
