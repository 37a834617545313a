"""line-suggestion: one 64640 line per distinct nerve and side, and a recoding when the order is not coded 64640."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cpt64640_cds.coding.lines import ModifierPolicy
from cpt64640_cds.facts.indications import supporting
from cpt64640_cds.facts.model import Coding, ConditionFact, Indication, NerveEpisode
from cpt64640_cds.rules.findings import OrderUpdate
from cpt64640_cds.rules.line_suggestion import run

from ..factory import KB, MERALGIA, condition, episode, findings_of, indication, lines


def test_a_64640_order_for_a_sided_nerve_is_one_line_with_its_side():
    [finding] = findings_of(run, episode())
    assert finding.indicator == "info"
    assert finding.summary == "Bill 64640-LT for the lateral femoral cutaneous nerve, left"
    assert lines(finding) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [line] = finding.lines
    assert line.services == ("ServiceRequest/sr-1",) and line.reasons == (MERALGIA,) and not line.performed
    assert [option.updates for option in finding.options] == [()]  # already coded 64640: nothing to recode
    assert [e.reference for e in finding.evidence] == ["ServiceRequest/sr-1"]


def test_a_performed_procedure_is_a_billable_line():
    [finding] = findings_of(run, episode(stage="performed", side="right", nerve="greater-occipital"))
    [line] = finding.lines
    assert (line.label, line.performed, line.services) == ("64640-RT", True, ("Procedure/proc-1",))


def test_two_nerves_on_one_side_the_second_line_carries_59_or_the_configured_modifier():
    obturator = episode(nerve="obturator", source="ServiceRequest/sr-1")
    musculocutaneous = episode(nerve="musculocutaneous", source="ServiceRequest/sr-2")
    [finding] = findings_of(run, obturator, musculocutaneous)
    assert [line.label for line in finding.lines] == ["64640-LT", "64640-LT-59"]
    assert finding.summary == "Bill 2 lines of 64640: 64640-LT, 64640-LT-59"
    [finding] = findings_of(run, obturator, musculocutaneous, policy=ModifierPolicy.of(KB, "XS"))
    assert [line.label for line in finding.lines] == ["64640-LT", "64640-LT-XS"]


def test_a_look_alike_block_code_with_phenol_gets_the_line_and_a_recoding():
    [finding] = findings_of(run, episode(codes=("64450",)))
    assert lines(finding) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [_, recode] = finding.options
    assert recode.updates == (OrderUpdate("ServiceRequest/sr-1", "64640", ("64450",)),)
    assert "the second suggestion recodes it" in finding.detail


def test_a_nerve_the_knowledge_base_does_not_know_is_billed_as_written_with_a_caution():
    [finding] = findings_of(run, episode(nerve=None, nerve_text="medial antebrachial cutaneous nerve", side="right"))
    assert lines(finding) == [("64640", ("RT",), 1, "medial antebrachial cutaneous nerve", "right")]
    assert "Not in the knowledge base, billed as written: medial antebrachial cutaneous nerve" in finding.detail


def test_no_line_for_a_sided_nerve_without_its_side():
    assert findings_of(run, episode(side=None)) == []


def test_no_line_for_a_block_or_a_nerve_with_its_own_code():
    assert findings_of(run, episode(agent="bupivacaine", concentration_pct=0.25, volume_ml=5.0)) == []
    assert findings_of(run, episode(nerve="genicular", codes=())) == []


# A diagnosis per line: each line carries the billable ICD-10-CM diagnoses that support its nerve and side.

OCCIPITAL = indication("M54.81", "Occipital neuralgia")
SNOMED_ONLY = Indication((Coding(KB.snomed_system, "test-meralgia", "Meralgia paresthetica"),), None)


def supported(*reasons: Indication, conditions: tuple[ConditionFact, ...] = (), **changes: Any) -> NerveEpisode:
    """An episode whose supporting diagnoses the facts stage would find for its nerve and side."""
    base = episode(**changes)
    found = supporting(tuple(reasons), list(conditions), base.nerve, base.side, KB)
    return replace(base, reasons=tuple(reasons), indications=found)


def test_the_line_carries_the_diagnosis_of_its_nerve_not_an_unrelated_one():
    [finding] = findings_of(run, supported(OCCIPITAL, MERALGIA))
    [line] = finding.lines
    assert [c.code for i in line.reasons for c in i.codings] == ["G57.12"]
    [listed] = [part for part in finding.detail.split("\n\n") if part.startswith("- **64640\u2011LT**")]
    assert "Diagnosis: G57.12 Meralgia paresthetica, left lower limb" in listed
    assert "M54.81" not in listed


def test_each_line_its_own_diagnosis():
    lfcn = supported(MERALGIA, source="ServiceRequest/sr-1")
    gon = supported(OCCIPITAL, nerve="greater-occipital", side="right", source="ServiceRequest/sr-2")
    [finding] = findings_of(run, lfcn, gon)
    assert [[c.code for i in line.reasons for c in i.codings] for line in finding.lines] == [["G57.12"], ["M54.81"]]
    assert len(finding.summary) < 140


def test_the_same_diagnosis_from_two_orders_is_on_the_line_once():
    first = supported(MERALGIA, source="ServiceRequest/sr-1")
    second = supported(conditions=(condition("G57.12"),), source="ServiceRequest/sr-2")
    [finding] = findings_of(run, first, second)
    [line] = finding.lines
    assert [c.code for i in line.reasons for c in i.codings] == ["G57.12"]


def test_a_line_without_a_billable_diagnosis_says_so_and_keeps_the_snomed_reason_as_context():
    [finding] = findings_of(run, supported(SNOMED_ONLY, OCCIPITAL))
    [line] = finding.lines
    assert line.reasons == ()
    assert "Diagnosis: none linked" in finding.detail
    assert "No billable ICD-10-CM diagnosis is linked to 64640-LT (lateral femoral cutaneous nerve, left)" in (
        finding.detail
    )
    assert "stays on the order as context: SNOMED CT test-meralgia Meralgia paresthetica" in finding.detail
    assert "Not for this nerve or side: M54.81 Occipital neuralgia" in finding.detail


def test_a_category_supports_but_the_card_asks_for_the_complete_code():
    [finding] = findings_of(run, supported(indication("G57.1")))
    assert finding.lines[0].reasons == ()
    assert "G57.1 is a category" in finding.detail


def test_bilateral_50_lines_carry_both_sides_diagnoses():
    left = supported(indication("G57.12"), source="ServiceRequest/sr-1")
    right = supported(indication("G57.11"), side="right", source="ServiceRequest/sr-2")
    [finding] = findings_of(run, left, right, policy=ModifierPolicy.of(KB, bilateral_as_50=True))
    [line] = finding.lines
    assert [c.code for i in line.reasons for c in i.codings] == ["G57.12", "G57.11"]


def test_an_icd_10_cm_reason_outside_the_groups_is_neither_billed_nor_called_uncoded():
    [finding] = findings_of(run, supported(indication("I10")))
    assert finding.lines[0].reasons == ()
    assert "No billable ICD-10-CM diagnosis is linked" in finding.detail
    assert "Without an ICD-10-CM code" not in finding.detail and "Not for this nerve" not in finding.detail
