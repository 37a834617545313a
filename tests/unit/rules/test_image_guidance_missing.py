"""image-guidance-missing: nothing at all shows that image guidance is or was used for a 64640 service."""

from __future__ import annotations

from datetime import timedelta

from cpt64640_cds.rules.image_guidance_missing import run

from ..factory import TODAY, episode, findings_of, guidance_service, imaging_study, performed


def test_an_order_with_no_guidance_anywhere():
    [finding] = findings_of(run, episode(guidance=()))
    assert finding.indicator == "warning"
    assert finding.summary == "No image guidance documented for 64640 (lateral femoral cutaneous nerve, left)"
    assert finding.missing == ("image guidance",)
    assert "the order, its details and notes" in finding.detail


def test_a_procedure_with_no_guidance_and_a_study_on_another_day():
    study = imaging_study(when=TODAY - timedelta(days=30), encounter="Encounter/enc-old")
    [finding] = findings_of(run, performed(guidance=()), imaging=[study])
    assert "the procedure, its notes and documents" in finding.detail


def test_no_card_when_guidance_is_named_studied_or_ordered_separately():
    assert findings_of(run, episode(guidance=("unspecified",))) == []  # untyped: documentation-incomplete's to say
    assert findings_of(run, episode(guidance=()), imaging=[imaging_study(when=None)]) == []  # a study in the encounter
    assert findings_of(run, episode(guidance=()), guidance_services=[guidance_service()]) == []  # imaging-bundled fires
    assert findings_of(run, episode(nerve="genicular", codes=(), guidance=())) == []  # 64624, not 64640
