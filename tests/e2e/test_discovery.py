"""Discovery: generated from the service declarations, valid CDS Hooks 2.0, only 2.0 prefetch tokens."""

from __future__ import annotations

import re

import cpt64640_cds
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.protocol import contract
from cpt64640_cds.tools.hook_requests import null_prefetch

from ..conftest import SELECT, SIGN, fixture_request

TOKEN = re.compile(r"\{\{([^}]*)\}\}")
ALLOWED = re.compile(r"^(context\.(patientId|encounterId|userId)|userPractitionerId|userPractitionerRoleId)$")

KB = load()


def test_discovery_lists_both_services(client):
    response = client.get("/cds-services")
    assert response.status_code == 200
    body = response.get_json()
    assert contract.issues("discovery", body) == []
    services = {s["id"]: s for s in body["services"]}
    assert services[SIGN]["hook"] == "order-sign"
    assert services[SELECT]["hook"] == "order-select"
    version = client.get("/healthz").get_json()["ruleSetVersion"]
    for service in services.values():
        assert service["extension"]["cpt64640-cds.version"] == cpt64640_cds.__version__
        assert service["extension"]["cpt64640-cds.ruleSetVersion"] == version == KB.version
        # The rules whose cards the service issues: the topic codes an integrator will see, in card order.
        rules = service["extension"]["cpt64640-cds.rules"]
        assert [r["id"] for r in rules] == [r.id for r in KB.rules.values() if r.status == "active"]
        assert all(r["title"] and r["indicator"] in ("info", "warning", "critical") for r in rules)


def test_a_trailing_slash_reaches_the_same_routes(client):
    assert client.get("/cds-services/").get_json() == client.get("/cds-services").get_json()
    response = client.post(f"/cds-services/{SIGN}/", json=null_prefetch(fixture_request("order-sign-lfcn-left")))
    assert response.status_code == 200 and response.get_json()["cards"]


def test_prefetch_asks_for_what_the_rules_read_with_2_0_tokens_only(client):
    for service in client.get("/cds-services").get_json()["services"]:
        prefetch = service["prefetch"]
        assert {"patient", "encounter", "conditions", "procedures", "imagingStudies"} <= set(prefetch)
        assert {"medicationAdministrations", "documentReferences"} <= set(prefetch)
        for template in prefetch.values():
            tokens = TOKEN.findall(template)
            assert tokens, template
            assert all(ALLOWED.match(token.strip()) for token in tokens), template
            assert "draftOrders" not in template
        # userId is already Type/id: a template must never prefix it.
        assert not any("Practitioner/{{context.userId}}" in t for t in prefetch.values())


def test_healthz_names_the_package_and_rule_set_versions(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "version": cpt64640_cds.__version__, "ruleSetVersion": KB.version}
