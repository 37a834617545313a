"""A field longer than the characters read per field (reading.findings.MAX_TEXT_CHARS) is read that far, and the
facts and every card say which resource and field was read only in part; a shorter one is read whole."""

from __future__ import annotations

from cpt64640_cds.cards.context import CardContext
from cpt64640_cds.cards.render import render
from cpt64640_cds.facts.model import Evidence
from cpt64640_cds.reading.findings import MAX_TEXT_CHARS
from cpt64640_cds.rules.catalogue import run_all

from ..factory import KB, inputs
from .test_episodes import _bundle, _note
from .test_extract import _facts, _order

PROCEDURE = "Procedure: US-guided L LFCN neurolysis, 6% aqueous phenol 3 mL, stimulation confirmed placement."


def _details(facts) -> list[str]:
    cards = render(run_all(facts, inputs(facts)), CardContext(KB, facts, {}))
    assert cards
    return [card["detail"] for card in cards]


def test_an_op_note_longer_than_the_cut_is_named_on_every_card():
    order = _order("Left LFCN", "Neurolysis")
    note = _note(PROCEDURE + " " * MAX_TEXT_CHARS + "Confirmation: contrast spread.", related="ServiceRequest/sr")
    facts = _facts(order, prefetch={"documents": _bundle(note)})
    unread = Evidence("DocumentReference/op", ("content[0].attachment.data",))
    assert facts.unread == [unread]
    [episode] = facts.episodes
    assert episode.unread == (unread,)
    assert "stimulation" in episode.confirmation and "contrast" not in episode.confirmation  # past the cut
    for detail in _details(facts):
        assert "**Text read only in part:** only the first 1,000,000 characters" in detail
        assert "`DocumentReference/op` (content[0].attachment.data)" in detail


def test_an_order_note_longer_than_the_cut_is_named_too():
    facts = _facts(_order("Left LFCN", "Neurolysis", note=PROCEDURE + "\n" + "x" * MAX_TEXT_CHARS))
    assert facts.unread == [Evidence("ServiceRequest/sr", ("note[0].text",))]
    assert all("`ServiceRequest/sr` (note[0].text)" in detail for detail in _details(facts))


def test_a_long_note_within_the_cut_is_read_whole_and_says_nothing():
    rows = "\n".join(f"11/24/2026 | {i % 24:02d}:00 | BP 128/76 | HR 72 | SpO2 98% | Pain 3/10" for i in range(1800))
    note = _note(rows + "\n" + PROCEDURE, related="ServiceRequest/sr")
    facts = _facts(_order("Left LFCN", "Neurolysis"), prefetch={"documents": _bundle(note)})
    assert facts.unread == []
    [episode] = facts.episodes
    assert [(d.agent, d.volume_ml) for d in episode.doses] == [("phenol", 3.0)]
    assert episode.guidance == {"ultrasound"} and "stimulation" in episode.confirmation
    assert not any("read only in part" in detail for detail in _details(facts))
