"""Episode detection, structured first: the resource's own codes say what service it is; only a look-alike,
local or missing code leaves it to the resource's own words. Then what was done is decided once, from the
closest documentation that says it (the resource, medications given or ordered with it, linked notes, notes of
its encounter), and radiofrequency is thermal or pulsed only when the record says which."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from .test_extract import CPT, SCT, _facts, _order

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
LOCAL = "urn:oid:1.2.840.114350.1.13.861.1.7.2.696580"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _coded(site: str | None, text: str, *codings: tuple[str, str], note: str | None = None, **extra: Any) -> dict:
    order = _order(site, text, note=note, code=None, **extra)
    order["code"]["coding"] = [{"system": system, "code": code} for system, code in codings]
    return order


# (order, episodes expected, why)
DETECTION = [
    # Another service's code: never an episode, whatever its words recall or plan.
    (_coded("Left LFCN", "Gait training", (CPT, "97116"), note="s/p phenol neurolysis L LFCN last month"), 0, "PT"),
    (_coded(None, "PT eval", (CPT, "97161"), note="Neurolysis of the left obturator nerve 2 weeks ago"), 0, "PT eval"),
    (_coded("Left LFCN", "Nerve conduction study", (CPT, "95908"), note="before neurolysis"), 0, "NCS"),
    (_coded("Left tibial nerve", "EMG", (CPT, "95886"), note="phenol neurolysis planned"), 0, "EMG"),
    (_coded(None, "Office visit", (CPT, "99214"), note="discuss alcohol neurolysis"), 0, "E/M"),
    (_coded("Left LFCN", "MRI pelvis", (CPT, "72195"), note="pre-neurolysis planning"), 0, "imaging"),
    (_coded(None, "CBC", (CPT, "85025"), note="prior to phenol neurolysis"), 0, "lab"),
    (_coded("Left LFCN", "Phenol 6% vial", (HCPCS, "J3490"), note="for neurolysis"), 0, "HCPCS drug"),
    (_coded("Left knee", "Knee brace", (HCPCS, "L1833"), note="after genicular neurolysis"), 0, "HCPCS brace"),
    (_coded("Left ulnar nerve", "Ulnar nerve neuroplasty", (CPT, "64718"), note="open neurolysis"), 0, "neuroplasty"),
    (_coded("Left sciatic nerve", "Neuroma excision", (CPT, "64784"), note="phenol to stump"), 0, "excision"),
    (_coded(None, "Epidural neurolytic", (CPT, "62281"), note="phenol 6% epidural"), 0, "spinal neurolysis"),
    (_coded("Left knee", "Arthrocentesis", (CPT, "20610"), note="after RF ablation"), 0, "joint"),
    (_coded("Left LFCN", "Spinal cord stimulator trial", (CPT, "63650"), note="failed neurolysis"), 0, "SCS"),
    (_coded("Left LFCN", "Depression screen", (CPT, "96127"), note="neurolysis next week"), 0, "medicine"),
    (_coded("Left LFCN", "Quality measure", (CPT, "1125F"), note="neurolysis"), 0, "Category II"),
    (_coded("Left LFCN", "Unlisted Cat III", (CPT, "0213T"), note="neurolysis"), 0, "Category III"),
    (
        {
            **_order("Left LFCN", "Lab draw", note="phenol neurolysis", code=None),
            "category": [{"coding": [{"system": SCT, "code": "108252007", "display": "Laboratory procedure"}]}],
        },
        0,
        "lab category",
    ),
    (
        {
            **_order("Left LFCN", "Teaching", note="explained phenol neurolysis", code=None),
            "category": [{"coding": [{"system": SCT, "code": "409073007", "display": "Education"}]}],
        },
        0,
        "education category",
    ),
    (_coded(None, "CBC", ("http://loinc.org", "58410-2"), note="Pre-neurolysis labs"), 0, "LOINC lab"),
    (
        {
            **_order("Left LFCN", "INR", note="before phenol neurolysis", code=None),
            "category": [{"text": "Laboratory"}],
        },
        0,
        "category in words",
    ),
    (
        {
            **_order("Left LFCN", "Gait training", note="after phenol neurolysis", code=None),
            "category": [{"text": "Physical therapy"}],
        },
        0,
        "therapy category in words",
    ),
    (
        _order("Left LFCN", "Referral to pain management", note="for evaluation of phenol neurolysis", code=None),
        0,
        "referral by name",
    ),
    (_order("Left LFCN", "Pain consult - neurolysis", code=None), 0, "consult by name"),
    (_order(None, "Nerve conduction study", note="L LFCN, before alcohol neurolysis", code=None), 0, "test by name"),
    (
        {**_coded("Left LFCN", "Neurolysis", (CPT, "64640"), note="6% phenol 3 mL"), "doNotPerform": True},
        0,
        "do not perform",
    ),
    # A destruction code: an episode, even with few words.
    (_coded("Left LFCN", "Neurolysis", (CPT, "64640")), 1, "64640"),
    (_coded("Left LFCN", "Proc 4471", (LOCAL, "4471"), (CPT, "64640")), 1, "local code with CPT second coding"),
    (_coded("Left genicular nerves", "Cryo", (CPT, "0441T")), 1, "cryoablation code"),
    (_coded("Left LFCN", "RFA", (SCT, "879916008")), 1, "SNOMED RF ablation"),
    # Its own words withdraw what its code says; a block done instead is still an episode (not-neurolytic).
    (
        _coded("Left LFCN", "Neurolysis", (CPT, "64640"), note="Phenol neurolysis not performed, anxiety"),
        0,
        "called off",
    ),
    (_coded("Left LFCN", "Neurolysis", (CPT, "64640"), note="Patient declined phenol"), 0, "declined"),
    (
        _coded("Left LFCN", "Neurolysis", (CPT, "64640"), note="Declined neurolysis; lidocaine 1% 5 mL block today"),
        1,
        "declined, block instead",
    ),
    (
        _coded("Left LFCN", "Neurolysis", (CPT, "64640"), note="No complications. 6% phenol 3 mL"),
        1,
        "negation elsewhere",
    ),
    # Look-alike, local or no code: the resource's own words decide, present tense only.
    (_coded("Left LFCN", "LFCN block", (CPT, "64450"), note="lidocaine 1% 3 mL"), 0, "block coded as block"),
    (_coded("Left LFCN", "LFCN block", (CPT, "64450"), note="6% phenol 3 mL"), 1, "block code, phenol now"),
    (_coded("Left LFCN", "Proc 4471", (LOCAL, "4471"), note="alcohol neurolysis, US guided"), 1, "local code, words"),
    (_coded("Left LFCN", "Proc 4471", (LOCAL, "4471"), note="bupivacaine 0.25% 5 mL"), 0, "local code, block words"),
    (_coded("Left LFCN", "Unlisted", (CPT, "64999"), note="pulsed RF 42 C"), 1, "unlisted, pulsed RF"),
    (_coded("Left gastrocnemius", "Botox", (CPT, "64642"), note="onabotulinumtoxinA 100 units"), 0, "toxin coded"),
    (_order("Left LFCN", "LFCN nerve block", code=None, note="ropivacaine 0.5% 4 mL"), 0, "uncoded block"),
]


@pytest.mark.parametrize(("order", "episodes"), [(o, n) for o, n, _ in DETECTION], ids=[why for _, _, why in DETECTION])
def test_structured_codes_decide_before_words(order, episodes):
    assert len(_facts(order).episodes) == episodes


# (the resource's words, treatment decided)
RADIOFREQUENCY = [
    ("Radiofrequency of the left LFCN, pulsed, 42 °C x 120 s", "pulsed-rf"),
    ("Pulsed radiofrequency 42C, 2 cycles", "pulsed-rf"),
    ("PRF to L LFCN", "pulsed-rf"),
    ("RF to L LFCN", "radiofrequency"),
    ("Radiofrequency treatment of the left LFCN", "radiofrequency"),
    ("RF lesioning 80 °C x 90 s", "thermal"),
    ("Radiofrequency at 85 degrees C for 90 seconds", "thermal"),
    ("Conventional RF ablation", "thermal"),
    ("Thermal RF neurotomy", "thermal"),
    ("Cooled radiofrequency ablation", "thermal"),
    ("Pulsed RF followed by conventional RF ablation", "thermal"),
    ("RF ablation, pulsed mode, 42 °C", "pulsed-rf"),  # the temperature decides first
    ("RF ablation, pulsed mode", "radiofrequency"),
    ("Radiofrequency of L LFCN ... pulsed, 42 °C, 2 cycles of 120 s.", "pulsed-rf"),  # across sentences
    ("R LFCN radiofrequency, US-guided.\nLesion: pulsed mode, 42 C, 2 x 120 s.", "pulsed-rf"),
    ("Radiofrequency. Skin lesion noted at the entry site.", "radiofrequency"),
    ("Radiofrequency at 60 °C", "radiofrequency"),
    ("Radiofrequency, settings not recorded", "radiofrequency"),
]


@pytest.mark.parametrize(("words", "treatment"), RADIOFREQUENCY, ids=[w for w, _ in RADIOFREQUENCY])
def test_radiofrequency_is_thermal_or_pulsed_only_when_the_record_says(words, treatment):
    [episode] = _facts(_order("Left LFCN", note=words)).episodes
    assert episode.treatment == treatment


def _note(text: str, related: str | None = None, encounter: str | None = None, note_id: str = "op") -> dict:
    context: dict[str, Any] = {}
    if related:
        context["related"] = [{"reference": related}]
    if encounter:
        context["encounter"] = [{"reference": encounter}]
    return {
        "resourceType": "DocumentReference",
        "id": note_id,
        "status": "current",
        "subject": {"reference": "Patient/p"},
        "content": [{"attachment": {"contentType": "text/plain", "data": base64.b64encode(text.encode()).decode()}}],
        **({"context": context} if context else {}),
    }


def _medication(name: str, med_id: str = "mr", **extra: Any) -> dict:
    return {
        "resourceType": "MedicationRequest",
        "id": med_id,
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": name},
        **extra,
    }


def _bundle(*resources: dict) -> dict:
    return {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": r} for r in resources]}


def test_an_agent_only_in_the_linked_op_note_decides_the_treatment():
    order = _order("Left LFCN", "Neurolysis")
    note = _note("Procedure: 6% aqueous phenol 3 mL injected at the left LFCN.", related="ServiceRequest/sr")
    [episode] = _facts(order, prefetch={"documents": _bundle(note)}).episodes
    assert episode.treatment == "chemical"
    assert [(d.agent, d.volume_ml, d.source) for d in episode.doses] == [("phenol", 3.0, "DocumentReference/op")]
    assert "DocumentReference/op" in {e.reference for e in episode.evidence}


def test_a_draft_medication_signed_beside_the_order_names_its_agent():
    order = _order("Left LFCN", "Neurolysis")
    [episode] = _facts(order, _medication("Phenol 6% aqueous injection, 3 mL")).episodes
    assert episode.treatment == "chemical"
    assert episode.doses[0].source == "MedicationRequest/mr"


def test_a_medication_request_based_on_a_block_order_makes_it_neurolysis():
    order = _order("Left LFCN", "LFCN block", code="64450")
    medication = _medication("Dehydrated alcohol injection", basedOn=[{"reference": "ServiceRequest/sr"}])
    [episode] = _facts(order, medication).episodes
    assert episode.treatment == "chemical"


def test_a_draft_medication_is_not_guessed_onto_one_of_several_orders():
    first = _order("Left LFCN", "Neurolysis")
    second = {**_order("Right LFCN", "Neurolysis"), "id": "sr2"}
    episodes = _facts(first, second, _medication("Phenol 6% 3 mL")).episodes
    assert [e.treatment for e in episodes] == [None, None]


def test_the_resource_s_own_words_outrank_a_note_of_its_encounter():
    order = _order("Left LFCN", "Neurolysis", note="6% phenol 2 mL", encounter={"reference": "Encounter/e1"})
    note = _note("Right GON block: bupivacaine 0.5% 2 mL.", encounter="Encounter/e1")
    [episode] = _facts(order, prefetch={"documents": _bundle(note)}).episodes
    assert episode.treatment == "chemical"


def test_a_note_of_the_encounter_counts_when_closer_documentation_is_silent():
    order = _order("Left LFCN", "Neurolysis", encounter={"reference": "Encounter/e1"})
    note = _note("Left LFCN: 50% dehydrated alcohol 2 mL under ultrasound.", encounter="Encounter/e1")
    [episode] = _facts(order, prefetch={"documents": _bundle(note)}).episodes
    assert (episode.treatment, episode.guidance) == ("chemical", frozenset({"ultrasound"}))


def test_a_local_anaesthetic_in_linked_documentation_never_makes_a_neurolysis_order_a_block():
    """Lidocaine beside a neurolysis order is as often the skin wheal as a block: only the order's own words say so."""
    order = _order("Left LFCN", "Neurolysis")
    [episode] = _facts(order, _medication("Lidocaine 1% injection, 5 mL")).episodes
    assert episode.treatment is None  # documentation-incomplete asks for the agent; no 64450 is proposed


def test_a_linked_note_never_turns_another_service_into_an_episode():
    order = _coded("Left LFCN", "Gait training", (CPT, "97116"))
    note = _note("6% phenol 3 mL to the left LFCN today.", related="ServiceRequest/sr")
    assert _facts(order, prefetch={"documents": _bundle(note)}).episodes == []
