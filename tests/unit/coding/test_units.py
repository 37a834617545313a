"""Units from each code's unit rule, and chemodenervation counted by distinct muscles per extremity.

Every row reads a realistic sentence with the reading stage (so levels, joints, muscles and their sides come
from the words), builds the episode the facts stage would build, and checks the code choice: its code, its
units, and its add-ons as (code, units).
"""

from __future__ import annotations

import dataclasses
import typing

import pytest

from cpt64640_cds.cards.context import CardContext
from cpt64640_cds.cards.render import render
from cpt64640_cds.coding.choice import AddOn, Choice, choose
from cpt64640_cds.coding.coded import code
from cpt64640_cds.coding.lines import ModifierPolicy
from cpt64640_cds.facts.extract import extract
from cpt64640_cds.facts.model import NerveEpisode, Treatment
from cpt64640_cds.fhir.record import build
from cpt64640_cds.knowledge.codes import CodesFile, Unit
from cpt64640_cds.knowledge.loader import KNOWLEDGE_DIR
from cpt64640_cds.protocol import contract
from cpt64640_cds.protocol.prefetch.completion import PrefetchResult
from cpt64640_cds.reading.text import read
from cpt64640_cds.rules import line_suggestion, more_specific_code, not_neurolytic
from cpt64640_cds.rules.inputs import RuleInputs

from ..factory import KB, episode, facts, findings_of, inputs, lines

NOTE = "note[0].text"


def _destruction(text: str, nerve: str, treatment: Treatment = "chemical", side: str | None = "left") -> NerveEpisode:
    found = read(text, NOTE, KB)
    agent = "phenol" if treatment == "chemical" else None
    return episode(
        nerve=nerve,
        side=side,
        agent=agent,
        treatment=None if agent else treatment,
        guidance=("fluoroscopy",),
        codes=(),
        levels=found.levels,
        joints=found.joints,
        spinal_regions=found.spinal_regions,
    )


def _summary(choice: Choice | None) -> tuple[str | None, int, tuple[tuple[str, int], ...]]:
    assert choice is not None
    return choice.code, choice.units, tuple((a.code, a.units) for a in choice.add_ons)


@pytest.mark.parametrize(
    ("text", "nerve", "treatment", "expected"),
    [
        # 64640: one unit per nerve and side, whatever levels are written near it.
        (
            "Phenol 6% 3 mL to the left genitofemoral nerve at L1-L2 under fluoroscopy.",
            "genitofemoral",
            "chemical",
            ("64640", 1, ()),
        ),
        (
            "Needle advanced to the L2-L3 level; LFCN neurolysis with 6% phenol.",
            "lateral-femoral-cutaneous",
            "chemical",
            ("64640", 1, ()),
        ),
        ("Cluneal nerves at L3, L4 and L5 crests, alcohol 50% 2 mL each.", "cluneal", "chemical", ("64640", 1, ())),
        ("Genitofemoral neurolysis, L1 and L2 roots targeted.", "genitofemoral", "chemical", ("64640", 1, ())),
        ("Ilioinguinal nerve (T12-L1) phenol neurolysis.", "ilioinguinal", "chemical", ("64640", 1, ())),
        ("Pudendal nerve (S2-S4) alcohol neurolysis.", "pudendal", "chemical", ("64630", 1, ())),
        # 64620: each intercostal level named is its own nerve.
        ("Phenol to the intercostal nerves T7, T8 and T9.", "intercostal", "chemical", ("64620", 3, ())),
        ("T8-T10 intercostal neurolysis with alcohol.", "intercostal", "chemical", ("64620", 3, ())),
        ("Intercostal nerve neurolysis at T6.", "intercostal", "chemical", ("64620", 1, ())),
        ("Intercostal nerve neurolysis, level per diagram.", "intercostal", "chemical", ("64620", 1, ())),
        # 64633-64636: the first joint, then the add-on per further joint.
        ("RFA of the L3-L5 medial branches at 80 C.", "facet", "thermal", ("64635", 1, (("64636", 1),))),
        ("Radiofrequency ablation L4-5 and L5-S1 facets.", "facet", "thermal", ("64635", 1, (("64636", 1),))),
        ("Cervical medial branch RFA C3-C6.", "facet", "thermal", ("64633", 1, (("64634", 2),))),
        ("Lumbar facet RFA L4-L5.", "facet", "thermal", ("64635", 1, ())),
        # 64628/+64629: the first two vertebral bodies, then the add-on per body.
        ("Basivertebral nerve ablation L4 and L5.", "basivertebral", "thermal", ("64628", 1, ())),
        ("Basivertebral nerve ablation L3, L4 and L5.", "basivertebral", "thermal", ("64628", 1, (("64629", 1),))),
        ("Basivertebral nerve ablation L3-S1.", "basivertebral", "thermal", ("64628", 1, (("64629", 2),))),
        # Per knee and per procedure: levels add nothing.
        (
            "Genicular nerve neurolysis, superomedial, superolateral and inferomedial.",
            "genicular",
            "chemical",
            ("64624", 1, ()),
        ),
        ("Celiac plexus neurolysis at T12-L1 with 50% alcohol.", "celiac-plexus", "chemical", ("64680", 1, ())),
    ],
)
def test_units_follow_the_codes_unit_rule(text, nerve, treatment, expected):
    side = "left" if KB.nerves[nerve].sided else None
    assert _summary(choose(_destruction(text, nerve, treatment, side), KB)) == expected


def _toxin(text: str, side: str | None = None) -> NerveEpisode:
    found = read(text, NOTE, KB)
    return episode(
        nerve=None,
        side=side,
        agent="onabotulinumtoxina",
        volume_ml=None,
        concentration_pct=None,
        codes=("64640",),
        chemo_sites=found.chemo_sites,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # One extremity: 1-4 distinct muscles are 64642, 5 or more 64644.
        ("Botox 100 units into the left biceps.", ("64642", ())),
        ("Left biceps 100 U and brachialis 50 U.", ("64642", ())),
        ("Onabotulinumtoxin A to left biceps, brachialis and brachioradialis.", ("64642", ())),
        ("Left UE: biceps, brachialis, brachioradialis, FCR.", ("64642", ())),
        ("Left UE: biceps, brachialis, brachioradialis, FCR, FCU.", ("64644", ())),
        ("Left UE: biceps, brachialis, brachioradialis, FCR, FCU, FDS.", ("64644", ())),
        (
            "Dysport 500 U into left gastrocnemius (medial and lateral heads), soleus and tibialis posterior.",
            ("64642", ()),
        ),
        # Repeats of one muscle (several sites, heads) are one muscle.
        ("Biceps 50 U proximal, biceps 50 U distal, brachialis 50 U.", ("64642", ())),
        ("Biceps x3 sites. Biceps again under EMG. Biceps total 150 U.", ("64642", ())),
        ("Medial gastrocnemius 75 U, lateral gastrocnemius 75 U, soleus 100 U.", ("64642", ())),
        ("Med gastroc, lat gastroc, soleus, tib post, FDL, FHL.", ("64644", ())),
        # Abbreviations clinicians write.
        ("RUE: FCR 25U, FCU 25U, FDS 40U, FDP 40U, FPL 20U.", ("64644", ())),
        ("FDS/FDP 40 U each, FCR/FCU 25 U each.", ("64642", ())),
        ("R TP 50 U, FHL 40 U, FDL 40 U.", ("64642", ())),
        # Group words count once, and not at all when a member is named.
        ("Hamstrings 100 U.", ("64642", ())),
        ("Hamstrings: semitendinosus and semimembranosus, biceps femoris, adductor longus, gracilis.", ("64644", ())),
        ("Wrist flexors (FCR, FCU), finger flexors (FDS, FDP), biceps.", ("64644", ())),
        ("Wrist flexors, finger flexors and biceps.", ("64642", ())),
        # Two extremities: the base code for the one with more muscles, an add-on for the other.
        ("Left biceps 100 U, brachialis 50 U. Left gastrocnemius 100 U, soleus 50 U.", ("64642", (("64643", 1),))),
        ("Toxin 400 U: LUE biceps 100, brachialis 50; LLE gastroc 150, soleus 100.", ("64642", (("64643", 1),))),
        ("Right biceps 100 U, left biceps 100 U.", ("64642", (("64643", 1),))),
        ("Bilateral gastrocnemius and soleus, 100 U each.", ("64642", (("64643", 1),))),
        ("RUE: biceps, brachialis, brachioradialis, FCR, FCU, FDS. LUE: biceps, FCR.", ("64644", (("64643", 1),))),
        ("LUE: biceps, FCR. RUE: biceps, brachialis, brachioradialis, FCR, FCU, FDS.", ("64644", (("64643", 1),))),
        ("RUE: biceps, brachialis, FCR, FCU, FDS. LUE: biceps, brachialis, FCR, FCU, FDP.", ("64644", (("64645", 1),))),
        (
            "RUE: biceps, brachialis, FCR, FCU, FDS. LUE: biceps, brachialis, FCR, FCU, FDP. "
            "RLE: gastrocnemius, soleus.",
            ("64644", (("64645", 1), ("64643", 1))),
        ),
        ("Right:\n- biceps 50 U\n- FCR 25 U\nLeft:\n- biceps 50 U", ("64642", (("64643", 1),))),
        ("Botox to the left arm and the right leg.", ("64642", (("64643", 1),))),
        ("Botox 200 U to the right forearm.", ("64642", ())),
        # Words around the injection do not add limbs when muscles are named.
        ("Right knee OA. Gastrocnemius 100 U, soleus 50 U.", ("64642", ())),
        ("Left gastrocnemius and soleus; also has elbow flexion contracture.", ("64642", ())),
        ("Gastrocnemius 100 U; no soleus injection.", ("64642", ())),
        # Trunk: distinct muscles, both sides together; 6 or more is 64647.
        ("Bilateral lumbar paraspinals and quadratus lumborum.", ("64646", ())),
        ("Left paraspinals 100 U, right paraspinals 100 U.", ("64646", ())),
        (
            "Erector spinae, multifidus, rectus abdominis, external oblique, internal oblique, quadratus lumborum.",
            ("64647", ()),
        ),
        # Other regions keep their own codes.
        ("Cervical dystonia: sternocleidomastoid and splenius capitis.", ("64616", ())),
    ],
)
def test_chemodenervation_counts_distinct_muscles_per_extremity(text, expected):
    choice = choose(_toxin(text), KB)
    assert (choice.code, tuple((a.code, a.units) for a in choice.add_ons)) == expected


def test_muscles_without_a_side_take_the_episodes_side():
    choice = choose(_toxin("Biceps 100 U, brachialis 50 U, FCR 25 U.", side="left"), KB)
    assert (choice.code, choice.add_ons) == ("64642", ())
    assert choice.target == "left upper extremity: biceps brachii, brachialis, flexor carpi radialis"


def test_muscles_of_both_sides_and_one_without_a_side_are_not_counted_twice():
    # "FCR" has no side and both arms were treated: it is counted in neither (the record does not say which).
    choice = choose(_toxin("Right biceps 100 U. Left biceps 100 U. FCR 25 U."), KB)
    assert (choice.code, [(a.code, a.units) for a in choice.add_ons]) == ("64642", [("64643", 1)])


def test_the_reason_names_each_extremity_and_its_muscles():
    choice = choose(_toxin("Left biceps, brachialis. Left gastrocnemius, soleus, tib post."), KB)
    assert choice.reason == (
        "botulinum toxin is chemodenervation, not nerve destruction, counted by distinct muscles per extremity: "
        "left lower extremity, 3 muscles (gastrocnemius, soleus, tibialis posterior); "
        "left upper extremity, 2 muscles (biceps brachii, brachialis)"
    )
    assert choice.add_ons == (AddOn("64643", 1, "left upper extremity: biceps brachii, brachialis"),)


def test_trunk_muscles_beside_limbs_are_said_to_be_coded_apart():
    choice = choose(_toxin("Left biceps. Lumbar paraspinals."), KB)
    assert choice.code == "64642"
    assert choice.reason.endswith("(muscles of the trunk are coded apart)")


@pytest.mark.parametrize(
    ("text", "sites"),
    [
        (
            "Botox to left biceps, brachialis and FCR.",
            [("biceps-brachii", "left"), ("brachialis", "left"), ("flexor-carpi-radialis", "left")],
        ),
        ("biceps (R) 50 units, FCR (L) 20 units", [("biceps-brachii", "right"), ("flexor-carpi-radialis", "left")]),
        ("left biceps and right FCR", [("biceps-brachii", "left"), ("flexor-carpi-radialis", "right")]),
        ("RLE: gastroc 100 U", [("lower-extremity", "right"), ("gastrocnemius", "right")]),
        ("Left:", [("side", "left")]),
        ("FDS/FDP 40 U", [("flexor-digitorum-superficialis", None), ("flexor-digitorum-profundus", None)]),
        ("no soleus injection", []),
    ],
)
def test_the_reader_records_each_site_with_the_side_written_for_it(text, sites):
    assert read(text, NOTE, KB).chemo_sites == sites


def test_a_toxin_card_bills_the_add_on_for_each_further_extremity():
    toxin = _toxin("RUE: biceps, brachialis, FCR, FCU, FDS. LLE: gastrocnemius, soleus.")
    [finding] = findings_of(not_neurolytic.run, toxin)
    assert lines(finding) == [
        (
            "64644",
            (),
            1,
            "right upper extremity: biceps brachii, brachialis, flexor carpi radialis, "
            "flexor carpi ulnaris, flexor digitorum superficialis",
            None,
        ),
        ("64643", (), 1, "left lower extremity: gastrocnemius, soleus", None),
    ]


def test_a_64640_line_is_one_unit_whatever_levels_are_written():
    genitofemoral = _destruction("Left genitofemoral nerve at L1-L2, phenol 6% 2 mL.", "genitofemoral")
    [finding] = findings_of(line_suggestion.run, dataclasses.replace(genitofemoral, cpt_codes=("64640",)))
    assert lines(finding) == [("64640", ("LT",), 1, "genitofemoral nerve", "left")]


def test_facet_joints_give_the_add_on_its_own_line():
    facet = _destruction("Lumbar medial branch RFA L3-L5 at 80 C.", "facet", "thermal")
    [finding] = findings_of(more_specific_code.run, facet)
    assert [(x.code, x.units) for x in finding.lines] == [("64635", 1), ("64636", 1)]


def test_every_unit_has_a_rule_with_a_source():
    codes_file = CodesFile.model_validate_json((KNOWLEDGE_DIR / "codes.json").read_text())
    rules = {rule.unit: rule for rule in codes_file.unit_rules}
    assert set(rules) == set(typing.get_args(Unit))
    assert all(rule.source for rule in rules.values())
    units = {(o.code, o.unit) for n in KB.nerves.values() for o in n.destruction}
    assert ("64640", "nerve-side") in units and ("64620", "level") in units
    assert {u for c, u in units if c == "64640"} == {"nerve-side"}


def test_a_daily_unit_limit_on_64640_is_a_warning_on_a_card_that_renders():
    codes = dict(KB.codes)
    codes["64640"] = codes["64640"].model_copy(update={"daily_unit_limit": 1})
    kb = dataclasses.replace(KB, codes=codes)
    record = facts(
        episode(nerve="obturator", source="ServiceRequest/sr-1"),
        episode(nerve="musculocutaneous", source="ServiceRequest/sr-2"),
    )
    policy = ModifierPolicy.of(kb)
    [finding] = line_suggestion.run(record, RuleInputs(kb, policy, code(record, kb, policy)))
    assert finding.indicator == "warning"
    assert "**2 units of 64640 on 2026-11-20 exceed its daily limit of 1**" in finding.detail
    cards = render([finding], CardContext(kb, record))
    assert contract.issues("cpt64640-response", {"cards": cards}) == []
    assert "exceed its daily limit of 1" in cards[0]["detail"]


def test_six_intercostal_levels_exceed_the_known_limit_of_64620():
    intercostal = _destruction("Intercostal nerve neurolysis T3-T8 with 6% phenol.", "intercostal")
    [finding] = findings_of(more_specific_code.run, intercostal)
    assert [(x.code, x.units) for x in finding.lines] == [("64620", 6)]
    assert "**6 units of 64620 on 2026-11-20 exceed its daily limit of 5**" in finding.detail


def test_a_toxin_card_with_add_on_lines_meets_the_card_contract():
    toxin = _toxin("RUE: biceps, brachialis. LUE: biceps. RLE: gastrocnemius, soleus.")
    record = facts(toxin)
    findings = not_neurolytic.run(record, inputs(record))
    cards = render(findings, CardContext(KB, record))
    assert contract.issues("cpt64640-response", {"cards": cards}) == []
    [suggestion] = cards[0]["suggestions"]
    quantities = [
        (a["resource"]["code"]["coding"][0]["code"], a["resource"]["quantity"]["value"])
        for a in suggestion["actions"]
        if a["type"] == "create"
    ]
    assert quantities == [("64642", 1), ("64643", 2)]


def _toxin_order(site: str, note: str) -> dict[str, object]:
    return {
        "resourceType": "ServiceRequest",
        "id": "sr-toxin",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": KB.cpt_system, "code": "64640"}], "text": "Chemodenervation"},  # miscoded
        "bodySite": [{"text": site}],
        "note": [{"text": note}],
    }


@pytest.mark.parametrize(
    ("site", "note", "expected"),
    [
        # The side of the body site carries to the muscles the note lists without one.
        (
            "Left upper extremity",
            "OnabotulinumtoxinA 200 U: biceps 80 U, brachialis 60 U, FCR 30 U, FCU 30 U.",
            [("64642", 1)],
        ),
        (
            "Bilateral lower extremities",
            "Botox 100 U each side: gastrocnemius and soleus.",
            [("64642", 1), ("64643", 1)],
        ),
        (
            "Right arm and left leg",
            "Dysport: RUE biceps, FCR; LLE gastroc, soleus, tib post.",
            [("64642", 1), ("64643", 1)],
        ),
        ("Left arm", "Botox: biceps, brachialis, brachioradialis, pronator teres, FCR, FDS.", [("64644", 1)]),
    ],
)
def test_a_toxin_order_is_coded_from_its_body_site_and_note(site, note, expected):
    context = {
        "patientId": "p",
        "encounterId": "e1",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": _toxin_order(site, note)}]},
    }
    record = extract(build(context, None, PrefetchResult()), KB, facts().today)
    policy = ModifierPolicy.of(KB)
    coded = code(record, KB, policy)
    [proposal] = coded.proposals_of("not-neurolytic") or [None]
    assert proposal is not None, [c.choice for c in coded.episodes]
    assert [(x.code, x.units) for x in proposal.lines[proposal.choice.codes[0]]] == expected
