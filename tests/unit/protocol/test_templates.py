"""protocol.prefetch.templates: CDS Hooks 2.0 prefetch tokens filled from the hook context."""

from __future__ import annotations

from cpt64640_cds.protocol.prefetch.templates import resolve_template


def test_resolve_template_fills_context_tokens():
    context = {"patientId": "p1", "encounterId": "e1", "userId": "Practitioner/u"}
    assert resolve_template("Condition?patient={{context.patientId}}", context) == "Condition?patient=p1"
    assert resolve_template("Encounter/{{ context.encounterId }}", context) == "Encounter/e1"
    assert resolve_template("Encounter/{{context.encounterId}}", {"patientId": "p1"}) is None
    assert resolve_template("X?u={{context.draftOrders}}", {"draftOrders": {"a": 1}}) is None
