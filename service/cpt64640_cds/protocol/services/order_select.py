"""order-select: a clinician picked orders; only the selections are in focus, the rest is context."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..declarations import CdsService
from .prefetch import PREFETCH


def _selections(context: Mapping[str, Any]) -> frozenset[str] | None:
    return frozenset(context.get("selections") or ())


SERVICE = CdsService(
    id="cpt64640-order-select",
    hook="order-select",
    title="CPT 64640 neurolysis coding assistant (order-select)",
    description=(
        "As soon as a neurolysis order is selected, shows the billing lines it will produce (64640 per "
        "distinct nerve and side, or the more specific code) so the order can be completed before signing."
    ),
    usage_requirements=(
        "Send context.selections (Type/id) and the session's draftOrders. Conditions and Procedures are "
        "required (prefetch or fhirServer with a token)."
    ),
    prefetch=PREFETCH,
    request_schema="order-select-request",
    focus=_selections,
)
