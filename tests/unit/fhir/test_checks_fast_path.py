"""problems' shortcut (the signatures of resources found clean) gives exactly what walking every rule gives."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from cpt64640_cds.fhir import checks
from cpt64640_cds.fhir.checks import _missing, _twice, _walk, problems, rules_for

from .test_checks import CORPUS, MUTANTS


def _edges(raw: dict[str, Any]) -> list[dict[str, Any]]:
    """Inputs near the fast path's border: nulls, extension siblings, dict subclasses, required elements carried
    by their extension alone, two choices, a wrongly typed resourceType."""
    first = next(iter(k for k in raw if k != "resourceType"), "id")
    return [
        {**raw, first: None},
        {**raw, "_id": {"extension": []}},
        {**raw, "fhir_comments": ["x"]},
        {**raw, "code": OrderedDict(raw.get("code") or {})},
        {**raw, "code": "a string"},
        {**raw, "id": 5, "subject": []},
        {**raw, "resourceType": 1},
        {**{k: v for k, v in raw.items() if k != "status"}, "_status": {"extension": []}},
        {k: v for k, v in raw.items() if k not in ("status", "subject", "intent")},
        {**raw, "onsetString": "x", "abatementString": "y"},
        {**raw, "onsetString": "x", "onsetAge": {}},
        {**raw, "medicationReference": {}, "reportedBoolean": True},
        {**raw, "subject": None},
        {**raw, "status": ""},
    ]


CASES = [*CORPUS, *(mutant for _, mutant in MUTANTS), *(edge for raw in CORPUS[::7] for edge in _edges(raw))]


@pytest.mark.parametrize("raw", CASES, ids=range(len(CASES)))
def test_the_fast_path_agrees_with_the_walk(raw):
    rules = rules_for(raw["resourceType"] if isinstance(raw["resourceType"], str) else "Condition")
    assert problems(raw, rules) == _walk(raw, rules) + _missing(raw, rules) + _twice(raw, rules)


def test_a_resource_shaped_like_one_walked_clean_is_not_walked_again(monkeypatch):
    clean = [raw for raw in CORPUS if not problems(raw, rules_for(raw["resourceType"]))]
    monkeypatch.setattr(checks, "_walk", lambda raw, rules: pytest.fail("looked at again"))
    assert len(clean) > len(CORPUS) // 2
    assert all(problems(dict(raw), rules_for(raw["resourceType"])) == [] for raw in clean)


def test_a_value_of_another_type_is_walked():
    raw = next(raw for raw in CORPUS if raw["resourceType"] == "Condition" and "code" in raw)
    assert problems(raw, rules_for("Condition")) == []
    assert problems({**raw, "code": [raw["code"]]}, rules_for("Condition")) == ["code"]
    assert problems({**raw, "code": None}, rules_for("Condition")) == []
