"""Typed FHIR: R4 data through the R4B models, entry by entry, one bad entry never loses the Bundle."""

from __future__ import annotations

import copy

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.procedure import Procedure

from cpt64640_cds.fhir.record import build
from cpt64640_cds.protocol.prefetch.completion import KeyResult, PrefetchResult

from ...conftest import EXAMPLES, FIXTURES, load

CONTEXT = {"patientId": "neuro-1", "userId": "Practitioner/dr-1", "draftOrders": {"resourceType": "Bundle"}}


def _prefetch(**values) -> PrefetchResult:
    result = PrefetchResult()
    for key, value in values.items():
        result.keys[key] = KeyResult(key, "prefetch", value)
    return result


def test_patient_record_parses_every_entry():
    bundle = load(FIXTURES / "ehr" / "neuro-1.json")
    record = build(CONTEXT, None, _prefetch(everything=bundle))
    assert record.dropped == []
    assert {t: len(v) for t, v in record.resources.items()} == {
        "Patient": 1,
        "Encounter": 2,
        "Condition": 3,
        "Procedure": 2,
        "ImagingStudy": 1,
        "MedicationAdministration": 1,
        "DocumentReference": 1,
    }


def test_one_bad_entry_is_dropped_and_noted_the_rest_survive():
    bundle = copy.deepcopy(load(FIXTURES / "ehr" / "neuro-1.json"))
    procedure = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Procedure")
    procedure["resource"]["performedDateTime"] = "last tuesday"
    procedure["resource"]["occuranceDateTime"] = "2026-11-10"  # a real-world typo: unknown field
    record = build(CONTEXT, None, _prefetch(procedures=bundle))
    [dropped] = record.dropped
    assert dropped.resource_type == "Procedure"
    assert dropped.where.startswith("prefetch.procedures.entry[")
    assert set(dropped.fields) == {"performedDateTime", "occuranceDateTime"}
    assert len(record.of_type(Procedure)) == 1
    assert len(record.of_type(Condition)) == 3


def test_unused_resource_types_are_skipped_without_parsing():
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {"resource": {"resourceType": "Observation", "status": "bogus", "nonsense": 1}},
            {"resource": {"resourceType": "Coverage", "id": "c"}},
        ],
    }
    record = build(CONTEXT, None, _prefetch(other=bundle))
    assert record.dropped == [] and record.resources == {} and record.skipped == 2


def test_the_same_resource_through_two_keys_is_kept_once():
    condition = next(
        e["resource"] for e in load(FIXTURES / "ehr" / "neuro-1.json")["entry"] if e["resource"]["id"] == "cond-htn"
    )
    record = build(
        CONTEXT, None, _prefetch(a=condition, b={"resourceType": "Bundle", "entry": [{"resource": condition}]})
    )
    assert len(record.of_type(Condition)) == 1


def test_hook_library_example_with_an_invalid_draft_order_keeps_the_valid_one():
    # order-select-context-r4.json carries doseAndRate as an object where R4 wants an array.
    context = load(EXAMPLES / "order-select-context-r4.json")["context"]
    context = {**context, "draftOrders": copy.deepcopy(context["draftOrders"])}
    context["draftOrders"]["entry"].append(
        {
            "resource": {
                "resourceType": "ServiceRequest",
                "id": "ok",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/1288992"},
            }
        }
    )
    record = build(context, None, PrefetchResult())
    assert [r.id for r in record.draft_orders] == ["ok"]
    assert record.skipped == 1  # the NutritionOrder is not read by the rules
    # The example's MedicationRequest is malformed only inside dosageInstruction[0].doseAndRate, which the facts do
    # not read: it is kept (it may name an agent). Malformed where the facts read, it is dropped and noted.
    assert [m.id for m in record.draft_medications] and not record.dropped
    [entry] = [e for e in context["draftOrders"]["entry"] if e["resource"]["resourceType"] == "MedicationRequest"]
    entry["resource"] = {**entry["resource"], "dosageInstruction": [{"text": ["not", "a", "string"]}]}
    [dropped] = build(context, None, PrefetchResult()).dropped
    assert dropped.resource_type == "MedicationRequest" and dropped.fields == ("dosageInstruction.0.text",)


def test_resources_without_an_id_get_a_local_one_and_are_never_updated():
    order = {"resourceType": "ServiceRequest", "status": "draft", "intent": "order", "subject": {"reference": "x"}}
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/neuro-1"}}
    context = {**CONTEXT, "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]}}
    record = build(context, None, _prefetch(conditions={"resourceType": "Bundle", "entry": [{"resource": condition}]}))
    assert [o.id for o in record.draft_orders] == ["no-id-draftOrders-0"]
    assert [c.id for c in record.of_type(Condition)] == ["no-id-conditions-0"]
    assert record.raw == {}  # nothing to send back in an update action


def test_an_id_longer_than_fhir_allows_drops_the_entry():
    bundle = copy.deepcopy(load(FIXTURES / "ehr" / "neuro-1.json"))
    condition = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Condition")
    condition["resource"]["id"] = "c" * 65  # the R4B models accept it; FHIR allows 64 characters
    record = build(CONTEXT, None, _prefetch(conditions=bundle))
    assert [(d.resource_type, d.fields) for d in record.dropped] == [("Condition", ("id",))]
    assert len(record.of_type(Condition)) == 2
