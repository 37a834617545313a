"""The playground's routes: served in development mode (CDS_PLAYGROUND=auto), never in production unless enabled,
and then without a token for its static parts only; the order vocabulary comes from the knowledge base; the stored
feedback of a card is shown in development mode only."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from cpt64640_cds.config import ConfigError, Settings
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.web.app import create_app
from cpt64640_cds.web.playground import order_vocabulary

STATIC = ("/", "/playground/static/playground.js", "/playground/static/playground.css", "/playground/vocabulary.json")


def _app(tmp_path: Path, **config: object):
    return create_app({"database_url": f"sqlite:///{tmp_path / 'test.sqlite3'}", **config}, announce=False)


def _production(tmp_path: Path, **config: object):
    issuers = tmp_path / "issuers.json"
    issuers.write_text(json.dumps({"https://ehr.example": {"jwks_urls": ["https://ehr.example/jwks"]}}))
    return _app(
        tmp_path,
        auth="required",
        trusted_issuers=str(issuers),
        public_base_urls=("https://cds.example",),
        **config,
    )


def test_served_in_development_mode_with_a_strict_content_policy(tmp_path):
    client = _app(tmp_path, auth="off", playground_fhir_url="http://127.0.0.1:8090").test_client()
    for path in STATIC:
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
    page = client.get("/").get_data(as_text=True)
    assert 'data-fhir-url="http://127.0.0.1:8090"' in page
    assert "<script>" not in page  # no inline script: the policy forbids it


@pytest.mark.parametrize("path", STATIC)
def test_off_in_production_by_default(tmp_path, path):
    assert _production(tmp_path).test_client().get(path).status_code in (401, 404)


def test_enabled_in_production_serves_the_page_but_no_development_helpers(tmp_path):
    client = _production(tmp_path, playground="on").test_client()
    for path in STATIC:
        assert client.get(path).status_code == 200, path
    assert "paste a token" in client.get("/").get_data(as_text=True)
    # Hooks still need a token, and the development helpers do not exist.
    assert client.post("/cds-services/cpt64640-order-sign", json={}).status_code == 401
    audience = {"audience": "http://localhost/cds-services/cpt64640-order-sign"}
    assert client.post("/playground/token", json=audience).status_code in (401, 404)
    assert client.get(f"/playground/feedback/{uuid.uuid4()}").status_code in (401, 404)


def test_off_when_disabled_in_development_mode(tmp_path):
    client = _app(tmp_path, auth="off", playground="off").test_client()
    assert client.get("/").status_code == 404
    assert client.get("/playground/static/playground.js").status_code == 404


def test_a_bad_setting_stops_start_up():
    with pytest.raises(ConfigError, match="CDS_PLAYGROUND must be auto, on or off"):
        Settings.from_env({"CDS_AUTH": "off", "CDS_PLAYGROUND": "yes"})


def test_vocabulary_is_the_knowledge_bases():
    kb = load()
    vocabulary = order_vocabulary(kb)
    codes = {c["code"]: c["display"] for group in vocabulary["procedures"] for c in group["codes"]}
    assert codes["64640"] == kb.codes["64640"].display and "64624" in codes and "64450" in codes
    assert set(codes) <= set(kb.codes)
    assert {n["id"] for n in vocabulary["nerves"]} == set(kb.nerves)
    assert vocabulary["agents"][0]["class"] == "neurolytic"  # neurolytic agents offered first
    assert {s["side"] for s in vocabulary["sides"]} == {"left", "right", "bilateral"}
    assert {g["id"] for g in vocabulary["guidance"]} == set(kb.guidance)


def test_stored_feedback_of_a_card(tmp_path):
    client = _app(tmp_path, auth="off").test_client()
    card = str(uuid.uuid4())
    assert client.get(f"/playground/feedback/{card}").json == {"card": card, "feedback": []}
    item = {"card": card, "outcome": "overridden", "outcomeTimestamp": "2026-12-02T10:00:00Z"}
    item["overrideReason"] = {"reason": {"code": "billed-separately", "system": "urn:cpt64640-cds:override-reason"}}
    assert client.post("/cds-services/cpt64640-order-sign/feedback", json=item).json["stored"] == 1
    [row] = client.get(f"/playground/feedback/{card}").json["feedback"]
    assert row["outcome"] == "overridden" and row["override_code"] == "billed-separately"
    assert re.match(r"\d{4}-\d\d-\d\d", row["received_at"])
    answer = client.get("/playground/feedback/not-a-uuid")
    assert answer.status_code == 400 and answer.json["issue"][0]["expression"] == ["card"]
