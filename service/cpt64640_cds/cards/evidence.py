"""The evidence line in coders' words: which records were read and what in them ("procedure order: nerve and
side, agent"), not FHIR field paths. The paths stay machine-readable in the card's `extension`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..facts.model import Evidence
from ..knowledge.grammar import count

RESOURCE_WORDS = {
    "ServiceRequest": "procedure order",
    "Procedure": "procedure record",
    "MedicationRequest": "medication order",
    "MedicationAdministration": "medication record",
    "Condition": "condition",
    "Encounter": "encounter",
    "ImagingStudy": "imaging study",
    "ChargeItem": "billing line",
    "Observation": "observation",
    "DocumentReference": "note",
}

# What `code` holds, by resource; "procedure code" elsewhere.
CODE_WORDS = {"Condition": "diagnosis", "Observation": "finding", "ChargeItem": "billing code"}

# The first step of a FHIR path, as a coder names what it holds.
FIELD_WORDS = {
    "bodySite": "nerve and side",
    "reasonCode": "reason",
    "reasonReference": "reason",
    "note": "notes",
    "occurrenceDateTime": "date",
    "occurrencePeriod": "date",
    "performedDateTime": "date",
    "performedPeriod": "date",
    "authoredOn": "date",
    "encounter": "encounter",
    "status": "status",
    "orderDetail": "order details",
    "quantity": "units",
    "extension": "modifiers",
    "usedCode": "devices and agents",
    "focalDevice": "devices and agents",
    "modality": "imaging type",
    "procedureCode": "imaging procedure",
}


def resource_word(reference: str) -> str:
    kind = reference.split("/", 1)[0]
    return RESOURCE_WORDS.get(kind, _words(kind))


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _field_word(kind: str, path: str) -> str:
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if head == "code":
        return CODE_WORDS.get(kind, "procedure code")
    return FIELD_WORDS.get(head, _words(head))


def found_in(evidence: Iterable[Evidence]) -> str:
    """ "procedure order (nerve and side, notes); 2 conditions (diagnosis)": grouped by kind of record."""
    kinds: dict[str, tuple[list[str], dict[str, None]]] = {}
    for item in evidence:
        refs, fields = kinds.setdefault(resource_word(item.reference), ([], {}))
        refs.append(item.reference)
        fields.update(dict.fromkeys(_field_word(item.reference.split("/", 1)[0], f) for f in item.fields))
    parts = []
    for word, (refs, fields) in kinds.items():
        named = word if len(refs) == 1 else count(len(refs), word)
        parts.append(f"{named} ({', '.join(fields)})" if fields else named)
    return "; ".join(parts)
