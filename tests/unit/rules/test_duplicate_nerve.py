"""duplicate-nerve: the same nerve and side twice in one encounter is one line; duplicate orders can go."""

from __future__ import annotations

from cpt64640_cds.rules.duplicate_nerve import run

from ..factory import episode, findings_of


def test_two_orders_for_the_left_lfcn_in_one_encounter():
    [finding] = findings_of(run, episode(source="ServiceRequest/sr-1"), episode(source="ServiceRequest/sr-2"))
    assert finding.indicator == "info"
    assert (
        finding.summary == "The left lateral femoral cutaneous nerve appears 2 times in this encounter: report it once"
    )
    [option] = finding.options
    assert option.deletes == ("ServiceRequest/sr-2",)  # the first order is kept
    assert "The 2 records of it are merged into one line." in finding.detail
    assert "ServiceRequest/" not in finding.detail  # the records are named in the card's extension


def test_the_performed_procedure_is_kept_and_the_order_removed():
    order, done = episode(source="ServiceRequest/sr-1"), episode(stage="performed", source="Procedure/proc-1")
    [finding] = findings_of(run, order, done)
    assert finding.options[0].deletes == ("ServiceRequest/sr-1",)


def test_no_card_for_left_and_right_different_nerves_or_different_encounters():
    assert findings_of(run, episode(side="left"), episode(side="right", source="ServiceRequest/sr-2")) == []
    assert findings_of(run, episode(), episode(nerve="obturator", source="ServiceRequest/sr-2")) == []
    other_visit = episode(source="ServiceRequest/sr-2", encounter="Encounter/enc-2")
    assert findings_of(run, episode(), other_visit) == []
