"""Facts: nerve and side read from the ways clinicians write them (bodySite text, codings, code text)."""

from __future__ import annotations

from datetime import date

import pytest

from service.facts import extract
from service.knowledge import load
from service.prefetch import PrefetchResult
from service.record import build

KB = load()
CPT = {"system": "http://www.ama-assn.org/go/cpt", "code": "64640"}
LEFT = {"coding": [{"system": "http://snomed.info/sct", "code": "7771000", "display": "Left"}]}
RIGHT = {"coding": [{"system": "http://snomed.info/sct", "code": "24028007"}]}
BOTH = {"coding": [{"system": "http://snomed.info/sct", "code": "51440002"}]}


def _episodes(body_sites=None, text="Chemical neurolysis", **extra):
    order = {
        "resourceType": "ServiceRequest",
        "id": "sr",
        "status": "draft",
        "intent": "order",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [CPT], **({"text": text} if text else {})},
        **extra,
    }
    if body_sites is not None:
        order["bodySite"] = body_sites
    context = {"patientId": "p", "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]}}
    facts = extract(build(context, None, PrefetchResult()), KB, date(2026, 11, 27))
    return [(e.nerve.id if e.nerve else None, e.side) for e in facts.episodes]


@pytest.mark.parametrize(
    ("body_sites", "text", "expected"),
    [
        ([{"text": "Left lateral femoral cutaneous nerve"}], "", [("lateral-femoral-cutaneous", "left")]),
        ([{"text": "L LFCN"}], "", [("lateral-femoral-cutaneous", "left")]),
        ([{"text": "lat. fem. cutaneous n., rt"}], "", [("lateral-femoral-cutaneous", "right")]),
        ([{"text": "lateral cutaneous nerve of the thigh"}, LEFT], "", [("lateral-femoral-cutaneous", "left")]),
        (
            [{"coding": [{"system": "urn:local", "code": "x", "display": "Right GON"}]}],
            "",
            [("greater-occipital", "right")],
        ),
        ([{"text": "musculocutaneous n. (R)"}], "", [("musculocutaneous", "right")]),
        ([{"text": "Rt tib nerve"}], "", [("tibial", "right")]),
        ([{"text": "obturator nn."}, BOTH], "", [("obturator", "right"), ("obturator", "left")]),
        ([{"text": "bilat suprascapular"}], "", [("suprascapular", "right"), ("suprascapular", "left")]),
        (
            [{"text": "Left obturator and right musculocutaneous"}],
            "",
            [("obturator", "left"), ("musculocutaneous", "right")],
        ),
        ([{"text": "genitofemoral nerve"}, RIGHT], "", [("genitofemoral", "right")]),
        (None, "Phenol neurolysis, left ilioinguinal nerve", [("ilioinguinal", "left")]),
        ([{"text": "Left"}], "Alcohol neurolysis of the sural nerve", [("sural", "left")]),
        ([{"text": "Left thumb"}], "", [(None, "left")]),
        ([{"text": "posterior femoral cutaneous nerve, left"}], "", [(None, "left")]),
        (None, "Chemical neurolysis", [(None, None)]),
        ([{"text": "lateral femoral cutaneous nerve"}], "", [("lateral-femoral-cutaneous", None)]),
    ],
)
def test_nerve_and_side(body_sites, text, expected):
    assert _episodes(body_sites, text) == expected


def test_no_cpt_64640_no_episode():
    order_text = [{"text": "Left LFCN"}]
    context = {
        "patientId": "p",
        "draftOrders": {
            "resourceType": "Bundle",
            "entry": [
                {
                    "resource": {
                        "resourceType": "ServiceRequest",
                        "id": "sr",
                        "status": "draft",
                        "intent": "order",
                        "subject": {"reference": "Patient/p"},
                        "code": {"text": "Nerve block"},
                        "bodySite": order_text,
                    }
                }
            ],
        },
    }
    assert extract(build(context, None, PrefetchResult()), KB, date(2026, 11, 27)).episodes == []
