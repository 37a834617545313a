"""Code selection end to end: one draft order written the way clinicians write it → the lines and topics.

Each case is a 64640-coded draft order whose only description is its code text, with a supporting
diagnosis on the order, sent through the HTTP app with every prefetch key null.
"""

from __future__ import annotations

import copy

import pytest

from cpt64640_cds.tools.cards import proposed_lines, topics
from cpt64640_cds.tools.hook_requests import null_prefetch

from ..conftest import SIGN, fixture_request
from .conftest import call

ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _order(text: str, reason: str) -> dict:
    body = copy.deepcopy(fixture_request("order-sign-lfcn-left"))
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"]["text"] = text
    order.pop("bodySite")
    order.pop("reasonReference")
    order["reasonCode"] = [{"coding": [{"system": ICD10, "code": reason}]}]
    return null_prefetch(body)


# (code text, ICD-10-CM reason, expected (code, modifiers, units, nerve, side) lines, expected topics)
CASES = [
    (
        "Phenol neurolysis greater occipital nerves bilaterally under ultrasound guidance",
        "M54.81",
        [
            ("64640", ("RT",), 1, "greater occipital nerve", "right"),
            ("64640", ("LT",), 1, "greater occipital nerve", "left"),
        ],
        ["line-suggestion"],
    ),
    (
        "Phenol neurolysis L GON and R LON, US guided",
        "M54.81",
        [
            ("64640", ("LT",), 1, "greater occipital nerve", "left"),
            ("64640", ("RT",), 1, "lesser occipital nerve", "right"),
        ],
        ["line-suggestion"],
    ),
    (
        "Neurolysis with absolute alcohol, right sural nerve, C-arm guidance",
        "G57.71",
        [("64640", ("RT",), 1, "sural nerve", "right")],
        ["line-suggestion"],
    ),
    (
        "Left genitofemoral nerve, lidocaine test dose then phenol 6% 1.5 mL, CT-guided",
        "G89.29",
        [("64640", ("LT",), 1, "genitofemoral nerve", "left")],
        ["line-suggestion"],
    ),
    (
        "L obturator nerve: bupivacaine 0.25% 5 mL + dexamethasone 4 mg, US",
        "G80.1",
        [("64450", ("LT",), 1, "obturator nerve", "left")],
        ["not-neurolytic"],
    ),
    (
        "Phenol neurolysis intercostal nerves T8-T10 right, fluoroscopy",
        "G89.29",
        [("64620", ("RT",), 3, "intercostal nerve", "right")],
        ["more-specific-code"],
    ),
    (
        "RF ablation L3-L5 medial branches left, fluoroscopy",
        "M47.816",
        [
            ("64635", ("LT",), 1, "facet joint nerves (medial branches)", "left"),
            ("64636", ("LT",), 1, "facet joint nerves (medial branches)", "left"),
        ],
        ["more-specific-code"],
    ),
    (
        "Cryoablation left superficial radial nerve under US",
        "G56.32",
        [("0440T", ("LT",), 1, "radial nerve", "left")],
        ["not-neurolytic"],
    ),
    (
        "Rt hyperhidrosis axillary botox",
        "L74.510",
        [("64650", (), 1, "sweat glands of both axillae", None)],
        ["not-neurolytic"],
    ),
    (
        "Phenol neurolysis of the right tibial nerve; no ultrasound available, landmark technique",
        "G80.0",
        [("64640", ("RT",), 1, "tibial nerve", "right")],
        ["line-suggestion", "image-guidance-missing"],
    ),
    # A 64640 order that names no nerve: no line, and the documentation card says so.
    ("Phenol neurolysis of occipital nerves, bilat, US guided", "M54.81", [], ["documentation-incomplete"]),
]


@pytest.mark.parametrize(("text", "reason", "lines", "expected_topics"), CASES, ids=[c[0][:40] for c in CASES])
def test_order_text_to_lines(client, text, reason, lines, expected_topics):
    response = call(client, SIGN, _order(text, reason))
    assert response.status_code == 200
    cards = response.get_json()["cards"]
    assert sorted(topics(cards)) == sorted(expected_topics)
    assert proposed_lines(cards) == lines


def test_an_order_without_id_is_billed_and_referenced_by_a_local_id(client):
    body = _order("Phenol 6% neurolysis L LFCN, 3 mL, US guided", "G57.12")
    del body["context"]["draftOrders"]["entry"][0]["resource"]["id"]
    cards = call(client, SIGN, body).get_json()["cards"]
    assert proposed_lines(cards) == [("64640", ("LT",), 1, "lateral femoral cutaneous nerve", "left")]
    [action] = cards[0]["suggestions"][0]["actions"]  # a line, and no update of an order the EHR cannot match
    assert action["resource"]["service"] == [{"reference": "ServiceRequest/no-id-draftOrders-0"}]


def test_empty_elements_on_the_order_do_not_cost_the_card(client):
    """Some EHRs send [] and {} (invalid FHIR JSON); the update echoes the order without them."""
    body = _order("Phenol neurolysis, right genicular nerves, US", "M17.11")
    order = body["context"]["draftOrders"]["entry"][0]["resource"]
    order.update(note=[], orderDetail=[{}], bodySite=[{"text": "right knee"}, {}])
    cards = call(client, SIGN, body).get_json()["cards"]
    assert topics(cards) == ["more-specific-code"]
    update = next(a for a in cards[0]["suggestions"][0]["actions"] if a["type"] == "update")
    assert "note" not in update["resource"] and "orderDetail" not in update["resource"]
    assert update["resource"]["bodySite"] == [{"text": "right knee"}]


def test_an_order_that_is_not_valid_fhir_without_its_empty_elements_is_not_echoed(client):
    body = _order("Phenol neurolysis, right genicular nerves, US", "M17.11")
    body["context"]["draftOrders"]["entry"][0]["resource"]["subject"] = {}  # required, and empty
    cards = call(client, SIGN, body).get_json()["cards"]
    assert topics(cards) == ["more-specific-code"]
    [action] = cards[0]["suggestions"][0]["actions"]  # the line; no update carrying an invalid order
    assert action["type"] == "create"
