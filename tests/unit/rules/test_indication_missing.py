"""indication-missing: a 64640 line without a diagnosis from one of the seed's indication groups."""

from __future__ import annotations

from cpt64640_cds.rules.indication_missing import run

from ..factory import condition, episode, findings_of, indication


def test_no_supporting_diagnosis_says_what_was_looked_at():
    essential_hypertension = indication("I10")
    assert essential_hypertension.group is None
    lfcn = episode(indications=(), reasons=(essential_hypertension,))
    [finding] = findings_of(run, lfcn, conditions=[condition("I10")])
    assert finding.indicator == "warning"
    assert finding.summary == "No supporting diagnosis for 64640 (lateral femoral cutaneous nerve, left)"
    assert finding.missing == ("a supporting diagnosis",)
    assert "1 reason(s) on `ServiceRequest/sr-1`, 1 active condition(s)" in finding.detail
    assert "Severe focal spasticity" in finding.detail  # the indications are listed
    assert finding.options == ()  # the diagnosis is the clinician's to add


def test_an_unreadable_problem_list_is_said():
    [finding] = findings_of(run, episode(indications=()), unavailable=["conditions"])
    assert "no reason on `ServiceRequest/sr-1`" in finding.detail
    assert "the problem list could not be read" in finding.detail


def test_no_card_with_a_supporting_diagnosis_or_for_another_code():
    assert findings_of(run, episode()) == []
    assert findings_of(run, episode(nerve="genicular", codes=(), indications=())) == []  # 64624, not 64640
