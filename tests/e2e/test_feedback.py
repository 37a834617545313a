"""Feedback: both shapes accepted, validated, stored once, linked to the rule of the card and to the coded
override reason the card offered."""

from __future__ import annotations

import copy

import pytest

from cpt64640_cds.tools.hook_requests import null_prefetch, with_prefetch
from cpt64640_cds.web.app import create_app

from ..conftest import EXAMPLES, FIXTURES, SIGN, fixture_request, load
from .conftest import call, prefetch_from


def _post(client, body, service_id=SIGN):
    return client.post(f"/cds-services/{service_id}/feedback", json=body)


def _rows(app):
    return app.extensions["cpt64640"].store.feedback_rows()


def _cards_recorded(app):
    """Card records are written off the response path; feedback normally arrives long after."""
    assert app.extensions["cpt64640"].store.card_writer.flush(5)


def test_feedback_for_an_issued_card_is_stored_with_its_rule(app, client):
    card = call(client, SIGN, null_prefetch(fixture_request("order-sign-lfcn-left"))).get_json()["cards"][0]
    _cards_recorded(app)
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-27T10:05:31Z",
            }
        ]
    }
    response = _post(client, feedback)
    assert response.status_code == 200
    assert response.get_json() == {"received": 1, "stored": 1}
    [row] = _rows(app)
    assert row["rule_id"] == "line-suggestion"
    assert row["card_uuid"] == card["uuid"]
    assert row["outcome"] == "accepted"
    assert card["suggestions"][0]["uuid"] in row["accepted_suggestions"]


def test_override_reason_is_stored_with_the_rule(app, client):
    request = load(FIXTURES / "scenarios" / "documentation-order-no-agent" / "request.json")
    cards = call(client, SIGN, with_prefetch(request, prefetch_from(None, request))).get_json()["cards"]
    card = next(c for c in cards if c["source"]["topic"]["code"] == "documentation-incomplete")
    _cards_recorded(app)
    reason = card["overrideReasons"][0]
    feedback = {
        "card": card["uuid"],
        "outcome": "overridden",
        "overrideReason": {"reason": {"system": reason["system"], "code": reason["code"]}},
        "outcomeTimestamp": "2026-11-27T12:00:00Z",
    }
    assert client.post(f"/cds-services/{SIGN}/feedback", json=feedback).status_code == 200
    [row] = app.extensions["cpt64640"].store.feedback_rows()
    assert (row["rule_id"], row["override_code"]) == ("documentation-incomplete", reason["code"])


def test_replayed_feedback_stores_nothing_new(app, client):
    body = load(EXAMPLES / "feedback-accepted.json")
    assert _post(client, body).get_json() == {"received": 1, "stored": 1}
    assert _post(client, body).get_json() == {"received": 1, "stored": 0}
    assert len(_rows(app)) == 1


def test_bare_feedback_object_as_hapi_sends_it(app, client):
    body = load(EXAMPLES / "feedback-overridden-with-reason.json")["feedback"][0]
    response = _post(client, body)
    assert response.status_code == 200
    [row] = _rows(app)
    assert (row["override_system"], row["override_code"]) == (
        "https://example.com/cds-hooks/override-reason-system",
        "d7ecf885",
    )
    assert row["override_comment"] == "A comment entered by the clinician."
    assert row["rule_id"] is None  # not a card this deployment issued


@pytest.mark.parametrize(
    "name", ["feedback-accepted.json", "feedback-overridden.json", "feedback-overridden-with-reason.json"]
)
def test_official_feedback_examples_are_accepted(client, name):
    assert _post(client, load(EXAMPLES / name)).status_code == 200


def _broken(change):
    body = copy.deepcopy(load(EXAMPLES / "feedback-accepted.json"))
    change(body["feedback"][0])
    return body


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_broken(lambda f: f.update(outcome="ignored")), "feedback[0].outcome"),
        (_broken(lambda f: f.pop("outcomeTimestamp")), "feedback[0].outcomeTimestamp"),
        (_broken(lambda f: f.update(outcomeTimestamp="yesterday")), "feedback[0].outcomeTimestamp"),
        (_broken(lambda f: f.pop("card")), "feedback[0].card"),
        (_broken(lambda f: f.pop("acceptedSuggestions")), "feedback[0].acceptedSuggestions"),
        ({"feedback": []}, "feedback"),
    ],
)
def test_invalid_feedback_is_400_naming_the_field(app, client, body, field):
    response = _post(client, body)
    assert response.status_code == 400
    text = str(response.get_json())
    assert "OperationOutcome" in text
    assert field in text
    assert _rows(app) == []


def test_feedback_for_unknown_service_is_404(client):
    assert _post(client, load(EXAMPLES / "feedback-accepted.json"), "nope").status_code == 404


def test_batch_feedback_is_stored_per_item(app, client):
    items = [
        {"card": f"card-{i}", "outcome": "overridden", "outcomeTimestamp": f"2026-11-27T10:0{i}:00Z"} for i in range(5)
    ]
    assert _post(client, {"feedback": items}).get_json() == {"received": 5, "stored": 5}
    assert len(_rows(app)) == 5


def test_more_items_than_the_limit_is_413_naming_feedback(tmp_path):
    app = create_app({"database_url": f"sqlite:///{tmp_path / 'limit.sqlite3'}", "max_feedback_items": 3})
    item = {"outcome": "overridden", "outcomeTimestamp": "2026-11-27T10:00:00Z"}
    items = [{"card": f"card-{i}", **item} for i in range(4)]
    response = _post(app.test_client(), {"feedback": items})
    assert response.status_code == 413
    [issue] = response.get_json()["issue"]
    assert issue["expression"] == ["feedback"] and "CDS_MAX_FEEDBACK_ITEMS" in issue["diagnostics"]
    assert _rows(app) == []
    assert _post(app.test_client(), {"feedback": items[:3]}).get_json() == {"received": 3, "stored": 3}
