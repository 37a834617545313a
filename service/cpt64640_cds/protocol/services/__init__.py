"""The CDS services this package offers: one module per hook, each a declaration next to its behaviour."""

from __future__ import annotations

from ..declarations import CdsService
from . import encounter_discharge, order_select, order_sign


def all_services() -> dict[str, CdsService]:
    """By service id, in the order discovery lists them."""
    return {service.id: service for service in (order_sign.SERVICE, order_select.SERVICE, encounter_discharge.SERVICE)}
