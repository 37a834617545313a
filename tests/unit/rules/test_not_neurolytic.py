"""not-neurolytic: blocks, botulinum toxin, pulsed radiofrequency and cryoneurolysis are not 64640."""

from __future__ import annotations

from dataclasses import replace

from cpt64640_cds.facts.model import Dose
from cpt64640_cds.rules.findings import OrderUpdate
from cpt64640_cds.rules.not_neurolytic import run

from ..factory import KB, episode, findings_of, lines


def test_anaesthetic_only_on_a_64640_order_is_the_nerves_block_code():
    [finding] = findings_of(run, episode(agent="bupivacaine", concentration_pct=0.25, volume_ml=5.0))
    assert finding.indicator == "warning"
    assert finding.summary == "Bupivacaine is not neurolytic: bill 64450, not 64640"
    assert lines(finding) == [("64450", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [option] = finding.options
    assert option.updates == (OrderUpdate("ServiceRequest/sr-1", "64450", ("64640",)),)


def test_cryoneurolysis_of_a_lower_extremity_nerve_is_0441T():
    [finding] = findings_of(run, episode(agent=None, treatment="cryo"))
    assert finding.summary == "Cryoneurolysis is not neurolytic: bill 0441T, not 64640"
    assert lines(finding) == [("0441T", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]


def test_pulsed_radiofrequency_is_the_unlisted_code():
    [finding] = findings_of(run, episode(nerve="greater-occipital", side="right", agent=None, treatment="pulsed-rf"))
    assert [line.label for line in finding.lines] == ["64999-RT"]


def test_botulinum_toxin_is_one_chemodenervation_line_without_laterality():
    toxin = episode(nerve="musculocutaneous", agent="onabotulinumtoxina", volume_ml=None, concentration_pct=None)
    [finding] = findings_of(run, toxin)
    assert lines(finding) == [("64642", (), 1, "muscles of one upper extremity", None)]
    assert "chemodenervation" in finding.detail


def test_no_card_for_a_block_coded_as_a_block_or_for_phenol():
    block = episode(agent="bupivacaine", codes=("64450",), claims_destruction=False)
    assert findings_of(run, block) == []
    assert findings_of(run, episode()) == []


def test_several_agents_are_named_together_and_the_verb_agrees():
    block = episode(agent="lidocaine")
    steroid = Dose("triamcinolone", KB.agents["triamcinolone"].klass, None, 1.0, "ServiceRequest/sr-1", "note[0].text")
    [finding] = findings_of(run, replace(block, doses=(*block.doses, steroid)))
    assert finding.summary.startswith("Lidocaine and triamcinolone are not neurolytic: bill 64450")
