"""Typed FHIR: the draft orders and the completed prefetch read into the facts' models, entry by entry.

Each entry is checked on its own against the R4B rules (fhir/checks.py for the whole resource, fhir/models.py
for the elements the facts read): a bad entry is dropped and noted (type, position and the failing field names,
never values), the rest of the Bundle survives. Resource types the rules do not read are skipped unparsed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from pydantic import ValidationError

from ..protocol.prefetch.bundles import bundle_entries
from ..protocol.prefetch.completion import PrefetchResult
from .checks import problems, rules_for
from .models import MODELS, Concepts, MedicationRequest, Resource, ServiceRequest

# What the facts and rules read. Everything else in a prefetch Bundle is skipped cheaply.
USED_TYPES = frozenset(MODELS)
# Draft orders the rules read: procedures, and medications that may name the agent of one (an order set's
# "phenol 6% 3 mL" beside its "neurolysis, left LFCN"); other draft types (NutritionOrder, ...) are skipped.
USED_DRAFT_TYPES = frozenset({"ServiceRequest", "MedicationRequest"})
# Prefetched resources a card may send back in an update action (a ChargeItem that needs modifier 25).
UPDATABLE_TYPES = frozenset({"ChargeItem"})
MAX_NOTED_FIELDS = 5
R = TypeVar("R", bound=Resource)
MAX_ID_CHARS = 64


@dataclass(frozen=True)
class Dropped:
    where: str  # e.g. "prefetch.procedures.entry[3]" or "context.draftOrders.entry[0]"
    resource_type: str
    fields: tuple[str, ...]


@dataclass
class Record:
    """Everything the facts layer sees for one hook call."""

    patient_id: str
    encounter_id: str | None
    user_id: str | None
    draft_orders: list[ServiceRequest]  # the draft procedure orders
    focus: frozenset[str] | None  # Type/id of the orders in focus; None = all draft orders
    raw: dict[str, dict[str, Any]] = field(default_factory=dict)  # Type/id -> JSON of resources cards may update
    resources: dict[str, list[Resource]] = field(default_factory=dict)
    dropped: list[Dropped] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)  # optional prefetch keys that could not be had
    incomplete: list[str] = field(default_factory=list)  # prefetch keys of which only some pages were read
    skipped: int = 0  # entries of types the rules do not read
    draft_medications: list[MedicationRequest] = field(default_factory=list)

    def of_type(self, kind: type[R]) -> list[R]:
        """The prefetched resources of one R4B model class (record.of_type(Procedure) is a list of Procedures)."""
        return cast(list[R], self.resources.get(kind.get_resource_type(), []))

    def in_focus(self, resource: Resource) -> bool:
        return self.focus is None or f"{resource.get_resource_type()}/{resource.id}" in self.focus


def _parse(
    raw: Mapping[str, Any], where: str, dropped: list[Dropped], concepts: Concepts | None = None
) -> Resource | None:
    resource_type = str(raw.get("resourceType"))
    model = MODELS[resource_type]
    fields = problems(raw, rules_for(resource_type))
    try:
        parsed = model.model_validate(raw, context=concepts)
    except ValidationError as exc:
        fields += [".".join(str(p) for p in err["loc"]) for err in exc.errors()]
    else:
        if parsed.id is not None and len(parsed.id) > MAX_ID_CHARS:  # FHIR's limit, which the models do not check
            fields.append("id")
    if fields:
        dropped.append(
            Dropped(where, resource_type, tuple(dict.fromkeys(f or "(resource)" for f in fields))[:MAX_NOTED_FIELDS])
        )
        return None
    return parsed


def _local_id(where: str) -> str:
    """An id for a resource the client sent without one, from where it stood ("no-id-draftOrders-0").

    Evidence and ChargeItem.service need a reference; a "Type/None" would point nowhere. The id says what it
    is, and such a resource is never put in `raw`, so no card proposes to update it.
    """
    parts = re.findall(r"[A-Za-z]+|\d+", where.removeprefix("context.").removeprefix("prefetch."))
    return "-".join(["no-id", *[p for p in parts if p != "entry"]])[:MAX_ID_CHARS]


def _entries(value: Mapping[str, Any], where: str) -> Iterable[tuple[str, Mapping[str, Any]]]:
    if value.get("resourceType") == "Bundle":
        for index, entry in enumerate(bundle_entries(value)):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict):
                yield f"{where}.entry[{index}]", resource
    else:
        yield where, value


def build(context: Mapping[str, Any], focus: frozenset[str] | None, prefetch: PrefetchResult) -> Record:
    record = Record(
        patient_id=context["patientId"],
        encounter_id=context.get("encounterId"),
        user_id=context.get("userId"),
        draft_orders=[],
        focus=focus,
        unavailable=prefetch.unavailable(),
        incomplete=prefetch.incomplete(),
    )
    concepts = Concepts()  # each distinct concept of the call validated once
    for where, raw in _entries(context.get("draftOrders") or {}, "context.draftOrders"):
        if not isinstance(raw.get("resourceType"), str) or raw["resourceType"] not in USED_DRAFT_TYPES:
            record.skipped += 1  # NutritionOrder, DeviceRequest, DSTU2 types, ...
            continue
        parsed = _parse(raw, where, record.dropped, concepts)
        if parsed is None:
            continue
        if isinstance(parsed, MedicationRequest):
            record.draft_medications.append(parsed)
        else:
            record.draft_orders.append(cast(ServiceRequest, parsed))
        if parsed.id:
            record.raw[f"{raw['resourceType']}/{parsed.id}"] = dict(raw)
        else:
            parsed.id = _local_id(where)

    seen: set[str] = set()
    for key, result in prefetch.keys.items():
        if not result.value:
            continue
        for where, raw in _entries(result.value, f"prefetch.{key}"):
            resource_type = raw.get("resourceType")
            if not isinstance(resource_type, str) or resource_type not in USED_TYPES:
                record.skipped += 1  # includes search-outcome OperationOutcomes inside Bundles
                continue
            identity = f"{resource_type}/{raw.get('id')}"
            if raw.get("id") and identity in seen:
                continue  # the same resource reached through two keys
            parsed = _parse(raw, where, record.dropped, concepts)
            if parsed is None:
                continue
            record.resources.setdefault(str(resource_type), []).append(parsed)
            if not parsed.id:
                parsed.id = _local_id(where)
                continue
            seen.add(identity)
            if resource_type in UPDATABLE_TYPES:
                record.raw[identity] = dict(raw)
    return record
