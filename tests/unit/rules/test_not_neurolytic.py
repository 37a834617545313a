"""not-neurolytic: blocks, botulinum toxin, pulsed radiofrequency and cryoneurolysis are not 64640."""

from __future__ import annotations

from cpt64640_cds.rules import not_neurolytic
from cpt64640_cds.rules.findings import OrderUpdate

from ..factory import episode, facts, inputs


def _run(*episodes):
    record = facts(*episodes)
    return not_neurolytic.run(record, inputs(record))


def _lines(finding):
    return [(line.code, line.modifiers, line.nerve_name, line.side) for line in finding.lines]


def test_anaesthetic_only_on_a_64640_order_is_the_nerves_block_code():
    [finding] = _run(episode(agent="bupivacaine", concentration_pct=0.25, volume_ml=5.0))
    assert finding.indicator == "warning"
    assert finding.summary == "Bupivacaine is not neurolytic: bill 64450, not 64640"
    assert _lines(finding) == [("64450", ("LT",), "lateral femoral cutaneous nerve", "left")]
    [option] = finding.options
    assert option.updates == (OrderUpdate("ServiceRequest/sr-1", "64450", ("64640",)),)


def test_cryoneurolysis_of_a_lower_extremity_nerve_is_0441T():
    [finding] = _run(episode(agent=None, treatment="cryo"))
    assert finding.summary == "Cryoneurolysis is not neurolytic: bill 0441T, not 64640"
    assert _lines(finding) == [("0441T", ("LT",), "lateral femoral cutaneous nerve", "left")]


def test_pulsed_radiofrequency_is_the_unlisted_code():
    [finding] = _run(episode(nerve="greater-occipital", side="right", agent=None, treatment="pulsed-rf"))
    assert [line.label for line in finding.lines] == ["64999-RT"]


def test_botulinum_toxin_is_one_chemodenervation_line_without_laterality():
    toxin = episode(nerve="musculocutaneous", agent="onabotulinumtoxina", volume_ml=None, concentration_pct=None)
    [finding] = _run(toxin)
    assert _lines(finding) == [("64642", (), "muscles of one upper extremity", None)]
    assert "chemodenervation" in finding.detail


def test_no_card_for_a_block_coded_as_a_block_or_for_phenol():
    block = episode(agent="bupivacaine", codes=("64450",), claims_destruction=False)
    assert _run(block) == []
    assert _run(episode()) == []
