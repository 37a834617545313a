"""documentation-incomplete: the elements a 64640 order or procedure must state, by stage."""

from __future__ import annotations

from dataclasses import replace

from cpt64640_cds.rules.documentation_incomplete import run

from ..factory import episode, findings_of, imaging_study, indication, performed


def test_an_order_without_its_agent():
    [finding] = findings_of(run, episode(agent=None, volume_ml=None))
    assert finding.indicator == "info"
    assert finding.summary == "The order lacks: the neurolytic agent"
    assert finding.missing == ("the neurolytic agent",)
    assert "Only what an order can state is asked of it." in finding.detail


def test_an_order_without_the_side_of_a_sided_nerve_or_the_type_of_guidance():
    [finding] = findings_of(run, episode(side=None, guidance=("unspecified",)))
    assert finding.missing == ("the specific nerve(s) injected, with side", "the type of image guidance")


def test_a_procedure_without_volume_confirmation_or_failed_conservative_care():
    [finding] = findings_of(run, performed(volume_ml=None, confirmation=(), conservative=()))
    assert finding.indicator == "warning"
    assert finding.missing == (
        "the volume of agent injected",
        "confirmation of needle placement (stimulation, test dose, contrast)",
        "failed less invasive treatment (medical necessity)",
    )
    assert finding.summary.startswith("The procedure record lacks: the volume of agent injected")


def test_no_card_for_a_complete_order_or_procedure():
    assert findings_of(run, episode()) == []  # volume and confirmation are never asked of an order
    assert findings_of(run, episode(volume_ml=None)) == []
    assert findings_of(run, performed()) == []


def test_failed_conservative_care_is_asked_only_where_the_indication_group_asks():
    spasticity = indication("G80.0")  # cerebral palsy: the spasticity group does not ask for failed care
    assert findings_of(run, performed(conservative=(), indications=(spasticity,))) == []


def test_the_guidance_type_can_come_from_an_imaging_study_of_the_order():
    study = imaging_study(("ultrasound",), based_on=("ServiceRequest/sr-1",))
    assert findings_of(run, episode(guidance=("unspecified",)), imaging=[study]) == []


def test_conflicting_sides_are_asked_for_not_the_nerve():
    conflicted = replace(episode(side=None), side_conflict=("bodySite[0].text", "orderDetail[0].text"))
    [finding] = findings_of(run, conflicted)
    assert finding.missing == ("a single side: the record names conflicting sides",)
