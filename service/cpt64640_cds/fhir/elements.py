"""Reading FHIR elements the same way everywhere: references as "Type/id", codeable concepts and their
words, the codes of some systems, the first date of several date-ish elements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from .models import Resource

# The type starts at the first capital of a run of letters: the search tries each run once, where trying every
# letter of a long run (each reading to the run's end) was quadratic in a hostile reference.
_TYPE_AND_ID = re.compile(
    r"(?<![A-Za-z])[a-z]*+([A-Z][A-Za-z]++/[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?/?$"
)
# The usual form, "Type/id" and nothing else, is its own "Type/id": one anchored match, no search.
_RELATIVE = re.compile(r"[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}")


def reference_to(resource: Resource) -> str:
    return f"{resource.get_resource_type()}/{resource.id}"


def relative(reference: Any) -> str | None:
    """The "Type/id" a Reference points at, written relative, absolute or versioned
    ("https://ehr/fhir/Condition/1/_history/2" → "Condition/1"); other forms as written."""
    text = getattr(reference, "reference", None)
    if not text:
        return None
    if _RELATIVE.fullmatch(text):
        return text
    match = _TYPE_AND_ID.search(text)
    return match.group(1) if match else text


def concepts(resource: Any, name: str) -> Iterator[tuple[Any, str]]:
    value = getattr(resource, name, None)
    if isinstance(value, list):
        for i, concept in enumerate(value):
            yield concept, f"{name}[{i}]"
    elif value is not None:
        yield value, name


def texts_of(concept: Any, path: str) -> Iterator[tuple[str, str]]:
    if concept is None:
        return
    if getattr(concept, "text", None):
        yield concept.text, f"{path}.text"
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
        if coding.display:
            yield coding.display, f"{path}.coding[{i}].display"


def codes_in(concept: Any, path: str, systems: frozenset[str]) -> tuple[list[str], list[str]]:
    """The codes of a concept in any of `systems` (upper-cased, as billing codes are) and where each stood."""
    codes, fields = [], []
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
        if coding.system in systems and coding.code:
            codes.append(coding.code.strip().upper())
            fields.append(f"{path}.coding[{i}]")
    return codes, fields


def first_date(*values: Any) -> date | None:
    for value in values:
        if value is None:
            continue
        start = getattr(value, "start", None)
        value = start if start is not None else value
        if hasattr(value, "date") and callable(value.date):
            return value.date()
        if isinstance(value, date):
            return value
        if isinstance(value, str) and len(value) >= 10:
            try:
                return date.fromisoformat(value[:10])
            except ValueError:
                continue
    return None
