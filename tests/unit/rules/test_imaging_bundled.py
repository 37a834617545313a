"""imaging-bundled: separate image guidance on the date of a code that includes it is not reported."""

from __future__ import annotations

from datetime import timedelta

from cpt64640_cds.rules.imaging_bundled import run

from ..factory import TODAY, episode, findings_of, guidance_service


def test_a_separate_ultrasound_guidance_order_on_the_date_is_to_be_removed():
    [finding] = findings_of(run, episode(), guidance_services=[guidance_service("76942")])
    assert finding.indicator == "warning"
    assert finding.summary == "Do not bill 76942: image guidance is included in 64640"
    [option] = finding.options
    assert option.deletes == ("ServiceRequest/sr-guidance",)
    assert [e.reference for e in finding.evidence] == ["ServiceRequest/sr-guidance"]


def test_performed_fluoroscopy_is_left_off_the_claim_with_nothing_to_delete():
    performed = guidance_service("77002", "fluoroscopy", stage="performed", reference="Procedure/fluoro")
    [finding] = findings_of(run, episode(), guidance_services=[performed])
    assert finding.options == ()
    assert "already performed" in finding.detail


def test_no_card_for_guidance_on_another_date_or_with_a_block():
    tomorrow = guidance_service(when=TODAY + timedelta(days=1))
    assert findings_of(run, episode(), guidance_services=[tomorrow]) == []
    block = episode(agent="bupivacaine", concentration_pct=0.25)  # 64450 does not include guidance
    assert findings_of(run, block, guidance_services=[guidance_service()]) == []
