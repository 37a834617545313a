"""protocol.declarations: a service declaration refuses what CDS Hooks 2.0 forbids."""

from __future__ import annotations

import pytest

from cpt64640_cds.protocol.declarations import CdsService, Prefetch


def test_declaration_rejects_a_token_cds_hooks_2_0_forbids():
    with pytest.raises(ValueError, match="forbids"):
        CdsService(
            id="x",
            hook="order-sign",
            title="t",
            description="d",
            usage_requirements="u",
            prefetch={"sr": Prefetch("ServiceRequest?_id={{context.draftOrders.ServiceRequest.id}}", True, "p")},
            request_schema="order-sign-request",
            focus=lambda context: None,
        )
