"""Concepts validated once per call (fhir/models.py `Concepts`): the same models and the same failing locations
as validating every concept on its own, over the whole corpus, its mutants and broken concepts met after valid
ones of the same text."""

from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from cpt64640_cds.fhir.models import MODELS, CodeableConcept, Concepts

from .test_checks import CORPUS, MUTANTS


def _outcome(raw: dict[str, Any], context: Concepts | None) -> Any:
    try:
        return MODELS[raw["resourceType"]].model_validate(raw, context=context).model_dump()
    except ValidationError as exc:
        return [(error["loc"], error["type"]) for error in exc.errors()]


def _broken(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """A resource's concepts broken in ways that look alike once written out loosely."""
    if not isinstance(raw.get("code"), dict):
        return []
    out = []
    for text in (None, "", 5, 5.0, True, float("nan"), ["x"]):
        broken = copy.deepcopy(raw)
        broken["code"]["text"] = text
        out.append(broken)
    out.append({**raw, "code": OrderedDict(raw["code"])})  # not marshalled: validated on its own
    out.append({**raw, "code": {**raw["code"], "coding": tuple(raw["code"].get("coding", ()))}})
    return out


CASES = [*CORPUS, *(mutant for _, mutant in MUTANTS), *(b for raw in CORPUS for b in _broken(raw))]


def test_a_call_s_concepts_give_what_each_validated_alone_gives():
    seen = Concepts()
    shared = [_outcome(raw, seen) for raw in CASES]
    assert shared == [_outcome(raw, None) for raw in CASES]
    assert 0 < len(seen) < sum(isinstance(raw.get("code"), dict) for raw in CASES)


def test_a_repeated_concept_is_one_model():
    status = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
    seen = Concepts()
    first, second = (
        MODELS["Condition"].model_validate({"resourceType": "Condition", "clinicalStatus": dict(status)}, context=seen)
        for _ in range(2)
    )
    assert first.clinicalStatus is second.clinicalStatus
    assert isinstance(first.clinicalStatus, CodeableConcept) and len(seen) == 1
    alone = MODELS["Condition"].model_validate({"resourceType": "Condition", "clinicalStatus": status})
    assert alone.clinicalStatus is not first.clinicalStatus
