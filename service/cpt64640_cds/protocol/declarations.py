"""Service declarations: what discovery advertises and what the pipeline needs, kept as data.

Each module in `protocol/services/` declares its `CdsService` next to the function that picks the orders
it looks at (HAPI's pattern). Discovery is generated from these declarations, never written by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import __version__
from ..knowledge.base import Knowledge
from .prefetch.templates import ALLOWED_TOKEN, tokens


@dataclass(frozen=True)
class Prefetch:
    """One prefetch key: a FHIR read or search relative to fhirServer.

    `required` keys answer 412 when neither the client nor its FHIR server can supply them; optional keys
    degrade (the cards say which data were unavailable).
    """

    template: str
    required: bool
    purpose: str

    def tokens(self) -> list[str]:
        return tokens(self.template)


@dataclass(frozen=True)
class CdsService:
    id: str
    hook: str
    title: str
    description: str
    usage_requirements: str
    prefetch: Mapping[str, Prefetch]
    request_schema: str  # hooks/<name>.schema.json $id suffix
    # Which draft orders the rules focus on: order-sign looks at all, order-select at the selections.
    focus: Callable[[Mapping[str, Any]], frozenset[str] | None]
    # A review after the fact (encounter-discharge): what was billed is compared with what is documented.
    review: bool = False

    def __post_init__(self) -> None:
        for key, spec in self.prefetch.items():
            for token in spec.tokens():
                if not ALLOWED_TOKEN.match(token):
                    raise ValueError(f"service {self.id}: prefetch {key} uses a token CDS Hooks 2.0 forbids: {token}")

    def discovery(self, kb: Knowledge) -> dict[str, Any]:
        """This service in discovery: the declaration, the package and rule-set versions and the rules whose cards
        it issues."""
        rules = [
            {"id": r.id, "title": r.title, "indicator": r.indicator} for r in kb.rules.values() if r.status == "active"
        ]
        return {
            "hook": self.hook,
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "usageRequirements": self.usage_requirements,
            "prefetch": {key: spec.template for key, spec in self.prefetch.items()},
            "extension": {
                "cpt64640-cds.version": __version__,
                "cpt64640-cds.ruleSetVersion": kb.version,
                "cpt64640-cds.rules": rules,
                "cpt64640-cds.requiredPrefetch": [k for k, spec in self.prefetch.items() if spec.required],
            },
        }
