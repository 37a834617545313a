"""order-sign: the clinician is about to sign; every draft order in the session is in focus."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..declarations import CdsService
from .prefetch import PREFETCH


def _all_orders(context: Mapping[str, Any]) -> frozenset[str] | None:
    return None


SERVICE = CdsService(
    id="cpt64640-order-sign",
    hook="order-sign",
    title="CPT 64640 neurolysis coding assistant (order-sign)",
    description=(
        "Proposes the billing lines for peripheral nerve neurolysis orders and performed procedures: "
        "64640 per distinct nerve and side with RT/LT/59 modifiers, or the more specific code that applies."
    ),
    usage_requirements=(
        "Send draft ServiceRequests in context.draftOrders. Conditions and Procedures are required (prefetch "
        "or fhirServer with a token); other prefetch keys improve the cards."
    ),
    prefetch=PREFETCH,
    request_schema="order-sign-request",
    focus=_all_orders,
)
