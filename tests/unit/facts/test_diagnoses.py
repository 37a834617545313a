"""A diagnosis per line: which of an order's reasons and the patient's conditions support one nerve and side,
and which of them a billing line carries (facts/indications.py `supporting`, `billable`).

Each row is an order for one nerve and side, its reasons (reasonCode, or reasonReference to a condition) and
the patient's conditions, with the ICD-10-CM codes the line must carry and whether an indication exists at
all (a diagnosis placed in a group by words or a SNOMED CT code shows one, but never goes on the line).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from types import SimpleNamespace
from typing import Any

import pytest
from fhir.resources.R4B.codeableconcept import CodeableConcept
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.reference import Reference

from cpt64640_cds.facts.extract import extract
from cpt64640_cds.facts.indications import (
    asserted,
    billable,
    conditions_of,
    indication_of,
    reasons_of,
    supporting,
)
from cpt64640_cds.facts.model import ConditionFact
from cpt64640_cds.fhir.record import build
from cpt64640_cds.protocol.prefetch.completion import KeyResult, PrefetchResult

from ..factory import KB

ICD = KB.icd10cm_system
SCT = KB.snomed_system
CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
# A SNOMED CT coding stands for any concept the knowledge base does not map: its value is test data only.
SNOMED_MERALGIA = {"system": SCT, "code": "test-meralgia", "display": "Meralgia paresthetica"}


def concept(spec: str) -> CodeableConcept:
    """ "G57.12" an ICD-10-CM code with its package title; "sct:words" a SNOMED CT-only coding; "text:words"."""
    kind, _, rest = spec.partition(":")
    if kind == "sct":
        return CodeableConcept(coding=[{**SNOMED_MERALGIA, "display": rest or SNOMED_MERALGIA["display"]}])
    if kind == "text":
        return CodeableConcept(text=rest)
    title = KB.diagnosis_title(ICD, spec)
    return CodeableConcept(coding=[{"system": ICD, "code": spec, **({"display": title} if title else {})}])


def condition(spec: str, clinical: str | None = "active", verification: str | None = "confirmed", **more: Any):
    resource: dict[str, Any] = {"resourceType": "Condition", "id": "c-1", "subject": {"reference": "Patient/p-1"}}
    resource["code"] = concept(spec).model_dump(exclude_none=True)
    if clinical:
        resource["clinicalStatus"] = {"coding": [{"system": CLINICAL, "code": clinical}]}
    if verification:
        resource["verificationStatus"] = {"coding": [{"system": VERIFICATION, "code": verification}]}
    return Condition(**resource, **more)


def fact(resource: Condition) -> ConditionFact:
    return ConditionFact(indication_of(resource.code, KB, "Condition/c-1"), asserted(resource))


@dataclass(frozen=True)
class Row:
    nerve: str | None
    side: str | None
    reasons: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    line: tuple[str, ...] = ()  # the ICD-10-CM codes the line carries
    indicated: bool | None = None  # an indication exists; None: exactly when the line has a code


ROWS: dict[str, Row] = {
    # The order's own ICD-10-CM reason: nerve and side.
    "own reason names this nerve and side": Row("lateral-femoral-cutaneous", "left", ("G57.12",), line=("G57.12",)),
    "own reason on the other side": Row("lateral-femoral-cutaneous", "right", ("G57.12",)),
    "own reason bilateral fits either side": Row("lateral-femoral-cutaneous", "right", ("G57.13",), line=("G57.13",)),
    "own reason, side unspecified": Row("lateral-femoral-cutaneous", "left", ("G57.10",), line=("G57.10",)),
    "occipital neuralgia on an LFCN line": Row("lateral-femoral-cutaneous", "left", ("M54.81",)),
    "occipital neuralgia, greater occipital": Row("greater-occipital", "right", ("M54.81",), line=("M54.81",)),
    "occipital neuralgia, lesser occipital": Row("lesser-occipital", "left", ("M54.81",), line=("M54.81",)),
    "of two reasons only the fitting one": Row(
        "lateral-femoral-cutaneous", "left", ("M54.81", "G57.12"), line=("G57.12",)
    ),
    "carpal tunnel, median, same side": Row("median", "right", ("G56.01",), line=("G56.01",)),
    "carpal tunnel, median, other side": Row("median", "left", ("G56.01",)),
    "carpal tunnel is not the ulnar nerve's": Row("ulnar", "left", ("G56.02",)),
    "ulnar lesion, ulnar nerve": Row("ulnar", "left", ("G56.22",), line=("G56.22",)),
    "lateral popliteal lesion, superficial peroneal": Row(
        "superficial-peroneal", "right", ("G57.31",), line=("G57.31",)
    ),
    "tarsal tunnel, tibial": Row("tibial", "left", ("G57.52",), line=("G57.52",)),
    "tarsal tunnel is not the sural nerve's": Row("sural", "left", ("G57.52",)),
    "post-stroke hemiplegia, left side": Row("obturator", "left", ("I69.354",), line=("I69.354",)),
    "post-stroke hemiplegia, other side": Row("obturator", "right", ("I69.354",)),
    "cerebral palsy, unsided, any nerve": Row("musculocutaneous", "right", ("G80.1",), line=("G80.1",)),
    "postprocedural pain, any nerve": Row("ilioinguinal", "right", ("G89.28",), line=("G89.28",)),
    "a category supports but is not billable": Row("lateral-femoral-cutaneous", "left", ("G57.1",), indicated=True),
    "a nerve the knowledge base does not know": Row(None, "left", ("M54.81",), line=("M54.81",)),
    "an ICD-10-CM reason in no group": Row("lateral-femoral-cutaneous", "left", ("I10",)),
    # SNOMED CT-only and words-only reasons stay as context.
    "SNOMED-only reason, no condition": Row("lateral-femoral-cutaneous", "left", ("sct:",), indicated=True),
    "SNOMED-only reason, a fitting condition": Row(
        "lateral-femoral-cutaneous", "left", ("sct:",), (condition("G57.12"),), line=("G57.12",)
    ),
    "SNOMED-only reason, an unrelated condition": Row(
        "lateral-femoral-cutaneous", "left", ("sct:",), (condition("M54.81"),), indicated=True
    ),
    "SNOMED-only reason outside the groups": Row("lateral-femoral-cutaneous", "left", ("sct:Essential hypertension",)),
    "words only": Row("obturator", "left", ("text:spastic hemiplegia after stroke",), indicated=True),
    "own unrelated reason, the fitting condition": Row(
        "lateral-femoral-cutaneous", "left", ("M54.81",), (condition("G57.12"),), line=("G57.12",)
    ),
    "own fitting reason wins over conditions": Row(
        "lateral-femoral-cutaneous", "left", ("G57.13",), (condition("G57.12"),), line=("G57.13",)
    ),
    # The patient's conditions: active and confirmed only, never the family's.
    "condition active, confirmed": Row("lateral-femoral-cutaneous", "left", (), (condition("G57.12"),), ("G57.12",)),
    "condition recurrence": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", "recurrence"),), ("G57.12",)
    ),
    "of two fitting conditions the one naming this nerve": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("I69.354"), condition("G57.12")), ("G57.12",)
    ),
    "a condition naming another nerve leaves the generic one": Row(
        "tibial", "left", (), (condition("I69.354"), condition("G57.12")), ("I69.354",)
    ),
    "condition relapse": Row("lateral-femoral-cutaneous", "left", (), (condition("G57.12", "relapse"),), ("G57.12",)),
    "condition resolved": Row("lateral-femoral-cutaneous", "left", (), (condition("G57.12", "resolved"),)),
    "condition inactive": Row("lateral-femoral-cutaneous", "left", (), (condition("G57.12", "inactive"),)),
    "condition in remission": Row("lateral-femoral-cutaneous", "left", (), (condition("G57.12", "remission"),)),
    "condition refuted": Row("lateral-femoral-cutaneous", "left", (), (condition("G57.12", verification="refuted"),)),
    "condition provisional": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", verification="provisional"),)
    ),
    "condition differential": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", verification="differential"),)
    ),
    "condition unconfirmed": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", verification="unconfirmed"),)
    ),
    "condition entered in error": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", verification="entered-in-error"),)
    ),
    "condition without a verification status counts": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", verification=None),), ("G57.12",)
    ),
    "condition without a clinical status counts": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", clinical=None),), ("G57.12",)
    ),
    "condition without a clinical status but abated": Row(
        "lateral-femoral-cutaneous", "left", (), (condition("G57.12", clinical=None, abatementDateTime="2025-03-01"),)
    ),
    "family history Z82.0": Row("obturator", "left", (), (condition("Z82.0"),)),
    "family history Z80.0": Row("obturator", "left", (), (condition("Z80.0"),)),
    "words say family history": Row("obturator", "left", (), (condition("text:Family history of multiple sclerosis"),)),
    "words say FHx": Row("obturator", "left", ("text:FHx: multiple sclerosis (mother)",)),
    # Localized hyperhidrosis is the focal codes, not R61.
    "generalized hyperhidrosis R61": Row("median", "left", ("R61",)),
    "primary focal hyperhidrosis L74.510": Row("median", "left", ("L74.510",), line=("L74.510",)),
    "secondary focal hyperhidrosis L74.52": Row("median", "left", ("L74.52",), line=("L74.52",)),
    "generalized hyperhidrosis in words": Row("median", "left", ("text:generalized hyperhidrosis",)),
    "axillary hyperhidrosis in words": Row("median", "left", ("text:axillary hyperhidrosis",), indicated=True),
}


@pytest.mark.parametrize("name", ROWS)
def test_diagnosis_per_line(name: str):
    row = ROWS[name]
    reasons = tuple(indication_of(concept(spec), KB) for spec in row.reasons)
    conditions = [fact(c) for c in row.conditions]
    nerve = KB.nerves[row.nerve] if row.nerve else None
    found = supporting(reasons, conditions, nerve, row.side, KB)
    on_line = [c.code for i in found if (b := billable(i, KB)) for c in b.codings]
    assert on_line == list(row.line)
    assert bool(found) == (bool(row.line) if row.indicated is None else row.indicated)


def test_a_line_carries_only_the_icd_10_cm_coding_of_a_reason_coded_twice():
    both = CodeableConcept(
        coding=[SNOMED_MERALGIA, {"system": ICD, "code": "G57.12", "display": "Meralgia paresthetica, left"}],
        text="Left meralgia paresthetica",
    )
    [found] = supporting((indication_of(both, KB),), [], KB.nerves["lateral-femoral-cutaneous"], "left", KB)
    line = billable(found, KB)
    assert line is not None and [(c.system, c.code) for c in line.codings] == [(ICD, "G57.12")]
    assert line.text == "Left meralgia paresthetica"


def test_a_reason_referring_to_a_refuted_condition_is_no_reason():
    record = SimpleNamespace(of_type=lambda _: [condition("G57.12", verification="refuted")])
    conditions = {c.indication.reference or "": c for c in conditions_of(record, KB)}  # type: ignore[arg-type]
    order = SimpleNamespace(reasonCode=None, reasonReference=[Reference(reference="Condition/c-1")])
    assert reasons_of(order, conditions, KB) == ()
    record = SimpleNamespace(of_type=lambda _: [condition("G57.12")])
    conditions = {c.indication.reference or "": c for c in conditions_of(record, KB)}  # type: ignore[arg-type]
    assert [i.codings[0].code for i in reasons_of(order, conditions, KB)] == ["G57.12"]


def test_the_nerve_table_names_known_nerves_and_only_codes_of_a_group():
    named = {nerve for nerves in KB.icd10cm_nerves.values() for nerve in nerves}
    assert named <= set(KB.nerves)
    assert KB.diagnosis_nerves(ICD, "G57.12") == {"lateral-femoral-cutaneous"}
    assert KB.diagnosis_nerves(ICD, "G89.28") is None  # fits any nerve of its group
    assert KB.indication_group(ICD, "R61") is None
    assert {KB.indication_group(ICD, c).id for c in ("L74.510", "L74.513", "L74.52")} == {"hyperhidrosis"}  # type: ignore[union-attr]
    assert KB.indication_group(ICD, "G57.61").id == "neuroma-nerve-injury"  # type: ignore[union-attr]  # listed over G57


def test_the_facts_stage_decides_support_per_nerve_and_side_of_one_order():
    """One order for the left LFCN and the right greater occipital nerve, both diagnoses on the problem list
    (one of them refuted, one a relative's): each episode gets its own."""
    conditions = [
        condition("G57.12").model_copy(update={"id": "c-mp"}),
        condition("M54.81").model_copy(update={"id": "c-on"}),
        condition("G57.11", verification="refuted").model_copy(update={"id": "c-refuted"}),
        condition("Z82.0").model_copy(update={"id": "c-family"}),
    ]
    order = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p-1"},
        "code": {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "64640"}]},
        "bodySite": [{"text": "left lateral femoral cutaneous nerve"}, {"text": "right greater occipital nerve"}],
        "reasonCode": [concept("sct:").model_dump(exclude_none=True)],
        "note": [{"text": "Phenol 6% 3 mL under ultrasound"}],
    }
    context = {
        "patientId": "p-1",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
    }
    result = PrefetchResult()
    bundle = {"resourceType": "Bundle", "entry": [{"resource": c.model_dump(mode="json")} for c in conditions]}
    result.keys["conditions"] = KeyResult("conditions", "prefetch", bundle)
    facts = extract(build(context, None, result), KB, date(2026, 11, 27))
    supported = {
        (e.nerve.id if e.nerve else None, e.side): [c.code for i in e.indications for c in i.codings]
        for e in facts.episodes
    }
    assert supported == {
        ("lateral-femoral-cutaneous", "left"): ["G57.12"],
        ("greater-occipital", "right"): ["M54.81"],
    }
    assert [c.code for e in facts.episodes[:1] for r in e.reasons for c in r.codings] == ["test-meralgia"]  # context


def test_a_problem_list_that_repeats_concepts_places_each_condition_as_if_alone():
    """conditions_of places each distinct concept once per call: conditions that differ only in their words, a
    display or their status still get their own placement, status and reference."""
    listed = [
        condition("sct:Meralgia paresthetica"),
        condition("sct:Meralgia paresthetica", clinical="resolved"),
        condition("sct:Essential hypertension"),  # the same SNOMED CT code, other words: placed in no group
        condition("G57.12"),
        condition("G57.12", verification="refuted"),
        condition("text:meralgia paresthetica"),
        condition("text:family history of meralgia paresthetica"),
        condition("sct:Meralgia paresthetica"),
    ]
    listed = [c.model_copy(update={"id": f"c-{i}"}) for i, c in enumerate(listed)]
    record = SimpleNamespace(of_type=lambda _: listed)
    alone = [ConditionFact(indication_of(c.code, KB, f"Condition/{c.id}"), asserted(c)) for c in listed]
    assert conditions_of(record, KB) == alone  # type: ignore[arg-type]
    assert [(f.indication.group is not None, f.active) for f in alone] == [
        (True, True),
        (True, False),
        (False, True),
        (True, True),
        (True, False),
        (True, True),
        (False, True),
        (True, True),
    ]
