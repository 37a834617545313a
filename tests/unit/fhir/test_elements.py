"""`relative`'s shortcut for a plain "Type/id" gives what the search over every written form gives."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from cpt64640_cds.fhir.elements import _TYPE_AND_ID, reference_to, relative
from cpt64640_cds.fhir.models import MODELS

FORMS = [
    "Condition/1",
    "Encounter/c91df90c-bc2d-4aea-8815-2855bb57f540",
    "Condition/1\n",
    "Condition/1/",
    "Condition/1/_history/2",
    "https://ehr/fhir/Condition/1/_history/2",
    "condition/1",
    "xCondition/1",
    "C/1",
    "Condition/" + "a" * 64,
    "Condition/" + "a" * 65,
    "Condition/a b",
    "Condition/",
    "#contained-1",
    "urn:uuid:8a2f",
    "Condition/1?x=y",
]


def _searched(text: str) -> str:
    match = _TYPE_AND_ID.search(text)
    return match.group(1) if match else text


@pytest.mark.parametrize("text", FORMS)
def test_relative_is_the_search_s_answer(text):
    assert relative(SimpleNamespace(reference=text)) == _searched(text)


def test_reference_to_names_the_type_and_id():
    condition = MODELS["Condition"].model_validate({"resourceType": "Condition", "id": "c-1"})
    assert reference_to(condition) == "Condition/c-1"
