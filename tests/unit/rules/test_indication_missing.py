"""indication-missing: a 64640 line without a diagnosis from one of the seed's indication groups."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from cpt64640_cds.facts.indications import supporting
from cpt64640_cds.facts.model import Coding, ConditionFact, Indication, NerveEpisode
from cpt64640_cds.rules.indication_missing import run

from ..factory import ICD10CM, KB, condition, episode, findings_of, indication


def test_no_supporting_diagnosis_says_what_was_looked_at():
    essential_hypertension = indication("I10")
    assert essential_hypertension.group is None
    lfcn = episode(indications=(), reasons=(essential_hypertension,))
    [finding] = findings_of(run, lfcn, conditions=[condition("I10")])
    assert finding.indicator == "warning"
    assert finding.summary == "No supporting diagnosis for 64640 (lateral femoral cutaneous nerve, left)"
    assert finding.missing == ("a supporting diagnosis",)
    assert "1 reason(s) on `ServiceRequest/sr-1`, 1 active, confirmed condition(s)" in finding.detail
    assert "Severe focal spasticity" in finding.detail  # the indications are listed
    assert finding.options == ()  # the diagnosis is the clinician's to add


def test_an_unreadable_problem_list_is_said():
    [finding] = findings_of(run, episode(indications=()), unavailable=["conditions"])
    assert "no reason on `ServiceRequest/sr-1`" in finding.detail
    assert "the problem list could not be read" in finding.detail


def test_no_card_with_a_supporting_diagnosis_or_for_another_code():
    assert findings_of(run, episode()) == []
    assert findings_of(run, episode(nerve="genicular", codes=(), indications=())) == []  # 64624, not 64640


def _supported(*reasons: Indication, conditions: tuple[ConditionFact, ...] = (), **changes: Any) -> NerveEpisode:
    """An episode whose supporting diagnoses the facts stage would find for its nerve and side."""
    base = episode(**changes)
    found = supporting(tuple(reasons), list(conditions), base.nerve, base.side, KB)
    return replace(base, reasons=tuple(reasons), indications=found)


def test_only_an_unrelated_diagnosis_is_no_indication_and_the_card_names_it():
    occipital = condition("M54.81")
    lfcn = _supported(conditions=(occipital,))
    [finding] = findings_of(run, lfcn, conditions=[occipital])
    assert finding.summary == "No supporting diagnosis for 64640 (lateral femoral cutaneous nerve, left)"
    assert "For another nerve or side: M54.81 Occipital neuralgia." in finding.detail


def test_a_diagnosis_of_the_other_side_is_no_indication():
    right = _supported(indication("G57.12"), side="right")
    [finding] = findings_of(run, right)
    assert "For another nerve or side: G57.12 Meralgia paresthetica, left lower limb." in finding.detail


def test_one_order_two_sides_the_unsupported_side_is_named():
    left = _supported(indication("G57.12"))
    right = _supported(indication("G57.12"), side="right")
    [finding] = findings_of(run, left, right)
    assert finding.summary == "No supporting diagnosis for 64640 (lateral femoral cutaneous nerve, right)"


def test_a_diagnosis_in_words_or_snomed_only_is_an_indication():
    words = Indication((), "spastic hemiplegia after stroke", group="spasticity", by_text=True)
    assert findings_of(run, _supported(words, nerve="obturator")) == []


def test_a_refuted_or_family_history_condition_is_no_indication():
    family = ConditionFact(Indication((Coding(ICD10CM, "Z82.0"),), "Family history of multiple sclerosis"), True)
    refuted = condition("G57.12", active=False)
    lfcn = _supported(conditions=(family, refuted))
    [finding] = findings_of(run, lfcn, conditions=[family, refuted])
    assert "no active, confirmed condition" not in finding.detail  # the family history is an active entry
    assert "For another nerve or side" not in finding.detail
