"""encounter-discharge: the encounter is closing; its completed procedures, notes and medications given are
reviewed against what was billed for it (ChargeItems, Claims). No order is in focus: there are none."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..declarations import CdsService, Prefetch
from .prefetch import PREFETCH


def _no_orders(context: Mapping[str, Any]) -> frozenset[str] | None:
    return frozenset()


SERVICE = CdsService(
    id="cpt64640-encounter-discharge",
    hook="encounter-discharge",
    title="CPT 64640 neurolysis coding review (encounter-discharge)",
    description=(
        "When an encounter closes, compares the peripheral nerve destructions it documents with what was billed: "
        "missing or extra lines, units, modifiers, a more specific code, separately billed image guidance, and "
        "gaps in the documentation or the indication."
    ),
    usage_requirements=(
        "Send context.encounterId. Conditions and Procedures are required (prefetch or fhirServer with a token); "
        "ChargeItems and Claims say what was billed, notes and MedicationAdministrations what was done."
    ),
    prefetch={
        **PREFETCH,
        "claims": Prefetch(
            "Claim?patient={{context.patientId}}&_count=100",
            required=False,
            purpose="what was billed for the encounter (claim items)",
        ),
    },
    request_schema="encounter-discharge-request",
    focus=_no_orders,
    review=True,
)
