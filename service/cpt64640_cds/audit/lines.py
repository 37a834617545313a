"""One NDJSON line to one resource, and the patient a resource belongs to: the two pure functions every engine
applies to every line, so the engines cannot read an export differently."""

from __future__ import annotations

import json
from typing import Any

from .model import MalformedLine

# Where a resource names its patient, in the order looked at (FHIR R4 search parameter `patient` paths).
_PATIENT_FIELDS = ("subject", "patient", "beneficiary")


def parse_line(file: str, number: int, text: str) -> dict[str, Any] | MalformedLine | None:
    """The resource on line `number` (1-based) of `file`; None for a blank line; a MalformedLine saying what is
    wrong (never quoting the line, which holds patient data)."""
    if not text.strip():
        return None
    try:
        value = json.loads(text.removeprefix("\ufeff"))  # a byte-order mark opening a file is not content
    except json.JSONDecodeError as exc:
        return MalformedLine(file, number, f"not JSON ({exc.msg} at column {exc.colno})")
    except RecursionError:
        return MalformedLine(file, number, "not JSON (nested too deeply)")
    if not isinstance(value, dict):
        return MalformedLine(file, number, "not a JSON object")
    kind = value.get("resourceType")
    if not isinstance(kind, str) or not kind:
        return MalformedLine(file, number, "no resourceType")
    return value


def patient_of(resource: dict[str, Any]) -> str | None:
    """The id of the patient a resource belongs to: a Patient's own id, else its subject / patient /
    beneficiary reference ("Patient/123" → "123"); None when it names none (Practitioner, Organization...)."""
    if resource.get("resourceType") == "Patient":
        value = resource.get("id")
        return value if isinstance(value, str) and value else None
    for name in _PATIENT_FIELDS:
        reference = resource.get(name)
        if isinstance(reference, dict):
            target = reference.get("reference")
            if isinstance(target, str) and target.startswith("Patient/") and len(target) > len("Patient/"):
                return target.split("/", 2)[1]
            if isinstance(target, str) and target.startswith("urn:uuid:"):
                return target.removeprefix("urn:uuid:")
    return None
