"""The fixtures themselves: valid FHIR R4 (R4B models), and ICD-10-CM titles from simple-icd-10-cm."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import simple_icd_10_cm as icd
from fhir.resources.R4B import get_fhir_model_class

from cpt64640_cds.tools.fhirserver import resources_in

from ..conftest import FIXTURES, load

ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
# Ours only: fhir-fixtures/external holds third-party records (HL7 examples, SMART sandbox) used as they are.
FILES = sorted(
    p
    for p in FIXTURES.rglob("*.json")
    if p.name not in ("expected.json", "scenario.json", "replay.json")
    and "external" not in p.relative_to(FIXTURES).parts
)


def _walk(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        yield value
        for item in value.values():
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _resources(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict) and "resourceType" not in data and "context" in data:  # a hook request
        return resources_in(data["context"].get("draftOrders"))
    return resources_in(data)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_fixture_resources_are_valid_fhir(path: Path):
    data = load(path)
    resources = list(_resources(data))
    assert resources or data.get("hook") == "encounter-discharge"  # its context names the encounter only
    for resource in resources:
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(FIXTURES)))
def test_icd10cm_titles_come_from_the_package(path: Path):
    for coding in _walk(load(path)):
        if coding.get("system") == ICD10CM:
            assert icd.is_valid_item(coding["code"]), coding["code"]
            if "display" in coding:
                assert coding["display"] == icd.get_description(coding["code"])
