"""Facts: nerve, side, agent, concentration, volume, modality and guidance read from the ways clinicians write
them — bodySite text and codings, the code's words, orderDetail, notes, usedCode, MedicationAdministration."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from cpt64640_cds.facts.extract import extract
from cpt64640_cds.fhir.record import build
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.protocol.prefetch.completion import KeyResult, PrefetchResult

KB = load()
CPT = "http://www.ama-assn.org/go/cpt"
SCT = "http://snomed.info/sct"
LEFT = {"coding": [{"system": SCT, "code": "7771000", "display": "Left"}]}
RIGHT = {"coding": [{"system": SCT, "code": "24028007"}]}
BOTH = {"coding": [{"system": SCT, "code": "51440002"}]}
TODAY = date(2026, 11, 27)


def _order(site=None, text=None, note=None, detail=None, code="64640", **extra) -> dict[str, Any]:
    order: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "code": {**({"coding": [{"system": CPT, "code": code}]} if code else {}), **({"text": text} if text else {})},
        **extra,
    }
    if site is not None:
        order["bodySite"] = [{"text": site}] if isinstance(site, str) else site
    if note:
        order["note"] = [{"text": note}]
    if detail:
        order["orderDetail"] = [{"text": detail}]
    return order


def _facts(*orders, prefetch=None):
    context = {
        "patientId": "p",
        "encounterId": "e1",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]},
    }
    result = PrefetchResult()
    for key, value in (prefetch or {}).items():
        result.keys[key] = KeyResult(key, "prefetch", value)
    return extract(build(context, None, result), KB, TODAY)


def _summary(order) -> list[dict[str, Any]]:
    out = []
    for e in _facts(order).episodes:
        dose = next((d for d in e.doses if d.klass == "neurolytic"), e.doses[0] if e.doses else None)
        out.append(
            {
                "nerve": e.nerve.id if e.nerve else e.nerve_text,
                "side": e.side,
                "treatment": e.treatment,
                "agent": dose.agent if dose else None,
                "pct": dose.concentration_pct if dose else None,
                "ml": dose.volume_ml if dose else None,
                "guidance": set(e.guidance),
            }
        )
    return out


# (order, expected episodes: only the keys given are compared)
CASES = [
    # Nerve and side from bodySite text, in the many ways it is written.
    (_order("Left lateral femoral cutaneous nerve"), [{"nerve": "lateral-femoral-cutaneous", "side": "left"}]),
    (_order("L LFCN"), [{"nerve": "lateral-femoral-cutaneous", "side": "left"}]),
    (_order("LFCN - LT"), [{"nerve": "lateral-femoral-cutaneous", "side": "left"}]),
    (_order("lat. fem. cutaneous n., rt"), [{"nerve": "lateral-femoral-cutaneous", "side": "right"}]),
    (_order("lateral cutaneous nerve of the thigh (right)"), [{"nerve": "lateral-femoral-cutaneous", "side": "right"}]),
    (
        _order([{"text": "lateral cutaneous nerve of the thigh"}, LEFT]),
        [{"nerve": "lateral-femoral-cutaneous", "side": "left"}],
    ),
    (
        _order([{"coding": [{"system": "urn:local", "code": "x", "display": "Right GON"}]}]),
        [{"nerve": "greater-occipital", "side": "right"}],
    ),
    (_order("greater occipital n, L"), [{"nerve": "greater-occipital", "side": "left"}]),
    (_order("Rt. greater occipital nerve"), [{"nerve": "greater-occipital", "side": "right"}]),
    (_order("musculocutaneous n. (R)"), [{"nerve": "musculocutaneous", "side": "right"}]),
    (_order("Rt tib nerve"), [{"nerve": "tibial", "side": "right"}]),
    (_order("posterior tibial nerve, left"), [{"nerve": "tibial", "side": "left"}]),
    (
        _order([{"text": "obturator nn."}, BOTH]),
        [{"nerve": "obturator", "side": "right"}, {"nerve": "obturator", "side": "left"}],
    ),
    (
        _order("bilat suprascapular"),
        [{"nerve": "suprascapular", "side": "right"}, {"nerve": "suprascapular", "side": "left"}],
    ),
    (
        _order(None, "Phenol neurolysis greater occipital nerves bilaterally, US guided"),
        [{"nerve": "greater-occipital", "side": "right"}, {"nerve": "greater-occipital", "side": "left"}],
    ),
    (
        _order(None, "Phenol neurolysis L GON and R LON"),
        [{"nerve": "greater-occipital", "side": "left"}, {"nerve": "lesser-occipital", "side": "right"}],
    ),
    (
        _order("B/L GON"),
        [{"nerve": "greater-occipital", "side": "right"}, {"nerve": "greater-occipital", "side": "left"}],
    ),
    (
        _order("Left obturator and right musculocutaneous"),
        [{"nerve": "obturator", "side": "left"}, {"nerve": "musculocutaneous", "side": "right"}],
    ),
    (_order([{"text": "genitofemoral nerve"}, RIGHT]), [{"nerve": "genitofemoral", "side": "right"}]),
    (_order("ilio-inguinal nerve L"), [{"nerve": "ilioinguinal", "side": "left"}]),
    (_order("superficial fibular nerve, left"), [{"nerve": "superficial-peroneal", "side": "left"}]),
    (_order("infrapatellar branch of the saphenous nerve rt"), [{"nerve": "saphenous", "side": "right"}]),
    (_order("Left sural"), [{"nerve": "sural", "side": "left"}]),
    (_order("anterior branch of the obturator nerve, right"), [{"nerve": "obturator", "side": "right"}]),
    (_order("Left thumb"), [{"nerve": None, "side": "left"}]),
    (
        _order("medial antebrachial cutaneous nerve, left"),
        [{"nerve": "medial antebrachial cutaneous nerve", "side": "left"}],
    ),
    (_order("lateral femoral cutaneous nerve"), [{"nerve": "lateral-femoral-cutaneous", "side": None}]),
    # No bodySite: the nerve is in the code's words.
    (
        _order(None, "Phenol neurolysis, left ilioinguinal nerve"),
        [{"nerve": "ilioinguinal", "side": "left", "agent": "phenol"}],
    ),
    (
        _order("Left", "Alcohol neurolysis of the sural nerve"),
        [{"nerve": "sural", "side": "left", "agent": "dehydrated-alcohol"}],
    ),
    (_order(None, "Chemical neurolysis"), [{"nerve": None, "side": None}]),
    (
        _order(None, "Chemical neurolysis", note="Target: right musculocutaneous nerve, 3 mL phenol 6%"),
        [{"nerve": "musculocutaneous", "side": "right", "ml": 3.0}],
    ),
    (_order(None, "Neurolysis", detail="L obturator n. anterior branch"), [{"nerve": "obturator", "side": "left"}]),
    # Agent, concentration and volume, in notes and order details, units and word order varied.
    (
        _order("L obturator", note="6% aqueous phenol 3ml"),
        [{"agent": "phenol", "pct": 6.0, "ml": 3.0, "treatment": "chemical"}],
    ),
    (_order("L obturator", note="3cc of 6 percent phenol"), [{"agent": "phenol", "pct": 6.0, "ml": 3.0}]),
    (_order("L obturator", note="6% aq. phenol, vol 2.5 ml"), [{"agent": "phenol", "pct": 6.0, "ml": 2.5}]),
    (_order("L obturator", note="phenol 6 % 1,5 ml"), [{"agent": "phenol", "pct": 6.0, "ml": 1.5}]),
    (_order("L obturator", note="phenol in water 7%; volume: 3 ml"), [{"agent": "phenol", "pct": 7.0, "ml": 3.0}]),
    (
        _order("L obturator", note="Lidocaine 1% 2 mL test dose. Phenol 6%. Total 3 mL injected."),
        [{"agent": "phenol", "pct": 6.0, "ml": 3.0}],
    ),
    # A volume on its own that is not the agent's: blood loss, contrast.
    (_order("L obturator", note="Phenol 6%. EBL 5 mL. Contrast 2 mL injected."), [{"agent": "phenol", "ml": None}]),
    (
        _order("L obturator", note="dehydrated alcohol 50%, 2 cc"),
        [{"agent": "dehydrated-alcohol", "pct": 50.0, "ml": 2.0}],
    ),
    (_order("L obturator", note="3 mL of 6% phenol"), [{"agent": "phenol", "pct": 6.0, "ml": 3.0}]),
    (_order("L obturator", detail="Phenol 5 % 4 mL"), [{"agent": "phenol", "pct": 5.0, "ml": 4.0}]),
    (_order("L obturator", detail="phenol 6%, 2.5 mls per site"), [{"agent": "phenol", "pct": 6.0, "ml": 2.5}]),
    (_order("L obturator", note="ethanol 99.5% 1.5cc"), [{"agent": "dehydrated-alcohol", "pct": 99.5, "ml": 1.5}]),
    (_order("L obturator", note="Absolute alcohol 1 milliliter"), [{"agent": "dehydrated-alcohol", "ml": 1.0}]),
    (_order("L obturator", note="EtOH 100% 2mL"), [{"agent": "dehydrated-alcohol", "pct": 100.0, "ml": 2.0}]),
    (_order("L obturator", note="phenol in glycerin 5%"), [{"agent": "phenol", "pct": 5.0, "ml": None}]),
    (_order("L obturator", note="glycerol 1 ml"), [{"agent": "glycerol", "ml": 1.0, "treatment": "chemical"}]),
    (
        _order("L obturator", note="Skin prepped with alcohol. Phenol 6% 3 mL injected."),
        [{"agent": "phenol", "ml": 3.0}],
    ),
    (
        _order("L obturator", note="Test dose of lidocaine, then 2 ml phenol"),
        [{"agent": "phenol", "ml": 2.0, "treatment": "chemical"}],
    ),
    (_order("L obturator", note="lidocaine 1% for skin wheal; phenol 6% 4 mL"), [{"agent": "phenol", "ml": 4.0}]),
    (
        _order("L obturator", note="No phenol available; dehydrated alcohol 3 mL used"),
        [{"agent": "dehydrated-alcohol", "ml": 3.0}],
    ),
    (_order("L obturator", note="Without complication, phenol 6% 2ml"), [{"agent": "phenol", "ml": 2.0}]),
    (_order("L obturator", note="patient reports alcohol use daily"), [{"agent": None, "treatment": None}]),
    # Not neurolytic: the treatment says so.
    (
        _order("Left LFCN", note="bupivacaine 0.25% 5 ml + triamcinolone 40 mg"),
        [{"agent": "bupivacaine", "treatment": "block"}],
    ),
    (_order("Left LFCN", note="Depo-Medrol 80 mg with Marcaine"), [{"treatment": "block"}]),
    (
        _order("L musculocutaneous", note="Botox 100 units into biceps"),
        [{"agent": "onabotulinumtoxina", "treatment": "botulinum-toxin"}],
    ),
    (_order("L musculocutaneous", note="Dysport 300 U"), [{"treatment": "botulinum-toxin"}]),
    (_order("Right GON", note="pulsed RF 42C for 120 s"), [{"treatment": "pulsed-rf"}]),
    (_order("Right GON", note="PRF x 4 min"), [{"treatment": "pulsed-rf"}]),
    (_order("Left LFCN", note="cryoneurolysis with iovera"), [{"treatment": "cryo"}]),
    (_order("Left LFCN", note="Conventional RF lesioning 80 C x 90 s"), [{"treatment": "thermal"}]),
    (_order("Left LFCN", note="cooled radiofrequency ablation"), [{"treatment": "thermal"}]),
    (_order("Left LFCN", note="pulsed RF followed by conventional RF ablation"), [{"treatment": "thermal"}]),
    # Image guidance, with its type.
    (_order("L obturator", "US-guided phenol neurolysis"), [{"guidance": {"ultrasound"}}]),
    (_order("L obturator", note="Under ultrasound guidance"), [{"guidance": {"ultrasound"}}]),
    (_order("L obturator", note="sonographically guided"), [{"guidance": {"ultrasound"}}]),
    (_order("L obturator", note="fluoroscopic guidance, AP view"), [{"guidance": {"fluoroscopy"}}]),
    (_order("L obturator", note="C-arm confirmation"), [{"guidance": {"fluoroscopy"}}]),
    (_order("L obturator", note="CT-guided"), [{"guidance": {"ct"}}]),
    (_order("L obturator", note="image-guided injection"), [{"guidance": {"unspecified"}}]),
    (_order("L obturator", note="no fluoroscopy used; ultrasound guided"), [{"guidance": {"ultrasound"}}]),
    (_order("L obturator", note="landmark based"), [{"guidance": set()}]),
]


@pytest.mark.parametrize(("order", "expected"), CASES, ids=[f"{i:02d}" for i in range(len(CASES))])
def test_episode_facts(order, expected):
    found = _summary(order)
    assert len(found) == len(expected), found
    for got, want in zip(found, expected, strict=True):
        assert {k: got[k] for k in want} == want, got


def test_at_least_sixty_phrasings():
    assert len(CASES) >= 60


@pytest.mark.parametrize(
    ("order", "episodes"),
    [
        (_order("Left LFCN", "Nerve block", code=None), 0),  # no code, no neurolysis words, no agent
        (_order("Left LFCN", "LFCN block", code="64450", note="bupivacaine 0.5% 3 mL"), 0),  # a block coded as a block
        (
            _order("Left LFCN", "LFCN block", code="64450", note="phenol 6% 3 mL"),
            1,
        ),  # look-alike code, neurolytic agent
        (_order("Left LFCN", "Chemical neurolysis", code=None), 1),  # text
        (_order("Left LFCN", "Phenol block", code=None), 1),
        (_order("Left LFCN", "Alcohol neurolysis, US guided", code=None), 1),
        (_order(None, "Ethanol level, serum", code=None), 0),  # a lab test, not a nerve
        (_order(None, "Alcohol septal ablation", code=None), 0),
        ({**_order("Left LFCN"), "code": {"coding": [{"system": SCT, "code": "879916008"}]}}, 1),
    ],
    ids=[
        "no-claim",
        "block-coded-block",
        "block-code-phenol",
        "text",
        "phenol-block",
        "alcohol-neurolysis",
        "lab",
        "septal",
        "snomed-rfa",
    ],
)
def test_what_counts_as_a_neurolysis_episode(order, episodes):
    assert len(_facts(order).episodes) == episodes


def test_spinal_levels_for_facet_and_intercostal():
    [facet] = _facts(_order("Right medial branches", "RFA L4-5 and L5-S1 facets")).episodes
    assert facet.joints == {("l4", "l5"), ("l5", "s1")}
    assert facet.spinal_regions == {"lumbar", "sacral"}
    [intercostal] = _facts(_order("Left T7, T8, T9 intercostal nerves", "Phenol neurolysis")).episodes
    assert intercostal.levels == {"t7", "t8", "t9"}


def test_procedure_agent_and_volume_from_its_medication_administration():
    procedure = {
        "resourceType": "Procedure",
        "id": "proc",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "encounter": {"reference": "Encounter/e1"},
        "performedDateTime": "2026-11-20",
        "code": {"coding": [{"system": CPT, "code": "64450"}], "text": "Nerve injection"},
        "bodySite": [{"text": "right tibial nerve motor branches"}],
    }
    administration = {
        "resourceType": "MedicationAdministration",
        "id": "ma",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "medicationCodeableConcept": {"text": "Phenol 6% aqueous"},
        "partOf": [{"reference": "Procedure/proc"}],
        "effectiveDateTime": "2026-11-20",
        "dosage": {"dose": {"value": 4, "unit": "mL"}},
    }
    bundle = {"resourceType": "Bundle", "entry": [{"resource": procedure}, {"resource": administration}]}
    [episode] = _facts(prefetch={"procedures": bundle}).episodes
    assert (episode.nerve.id, episode.side, episode.treatment, episode.stage) == (
        "tibial",
        "right",
        "chemical",
        "performed",
    )
    [dose] = episode.doses
    assert (dose.agent, dose.volume_ml, dose.source) == ("phenol", 4.0, "MedicationAdministration/ma")
    assert [e.reference for e in episode.evidence] == ["Procedure/proc", "MedicationAdministration/ma"]


def test_absolute_and_versioned_references_link_like_relative_ones():
    base = "https://ehr.example.org/fhir"
    order = _order(
        "Left tibial nerve",
        "Phenol neurolysis",
        encounter={"reference": f"{base}/Encounter/e1"},
        reasonReference=[{"reference": f"{base}/Condition/c1/_history/3"}],
    )
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "G80.0"}]},
    }
    procedure = {
        "resourceType": "Procedure",
        "id": "proc",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "encounter": {"reference": f"{base}/Encounter/e1/_history/1"},
        "performedDateTime": "2026-11-20",
        "code": {"coding": [{"system": CPT, "code": "64640"}], "text": "Phenol neurolysis"},
        "bodySite": [{"text": "right obturator nerve"}],
    }
    facts = _facts(
        order,
        prefetch={
            "conditions": {"resourceType": "Bundle", "entry": [{"resource": condition}]},
            "procedures": {"resourceType": "Bundle", "entry": [{"resource": procedure}]},
        },
    )
    by_source = {e.source: e for e in facts.episodes}
    assert set(by_source) == {"ServiceRequest/sr", "Procedure/proc"}  # the procedure is of this encounter
    assert by_source["ServiceRequest/sr"].encounter == "Encounter/e1"
    assert [i.reference for i in by_source["ServiceRequest/sr"].reasons] == ["Condition/c1"]


def test_used_code_rxnorm_names_the_agent():
    procedure = {
        "resourceType": "Procedure",
        "id": "proc",
        "status": "completed",
        "subject": {"reference": "Patient/p"},
        "encounter": {"reference": "Encounter/e1"},
        "code": {"coding": [{"system": CPT, "code": "64640"}]},
        "bodySite": [{"text": "left obturator nerve"}],
        "usedCode": [{"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "2048982"}]}],
    }
    [episode] = _facts(prefetch={"procedures": {"resourceType": "Bundle", "entry": [{"resource": procedure}]}}).episodes
    assert episode.doses[0].agent == "dehydrated-alcohol"


def test_guidance_orders_are_their_own_facts():
    guidance = _order(None, "Fluoroscopic guidance for needle placement", code="77002")
    guidance["id"] = "sr-fluoro"
    uncoded = _order(None, "Ultrasound guidance for needle placement", code=None)
    uncoded["id"] = "sr-us"
    facts = _facts(_order("Left LFCN"), guidance, uncoded)
    assert [(g.reference, g.code, g.modality) for g in facts.guidance_services] == [
        ("ServiceRequest/sr-fluoro", "77002", "fluoroscopy"),
        ("ServiceRequest/sr-us", None, "ultrasound"),
    ]
    assert len(facts.episodes) == 1
