"""Reading FHIR elements the same way everywhere: references as "Type/id", codeable concepts and their
words, CPT codes under either of their system names, the first date of several date-ish elements."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date
from typing import Any

from fhir.resources.R4B.resource import Resource

# CPT appears under its FHIR URI and, in older feeds, under its OID.
CPT_SYSTEMS = frozenset({"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"})

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"

_TYPE_AND_ID = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?/?$")


def reference_to(resource: Resource) -> str:
    return f"{resource.get_resource_type()}/{resource.id}"


def relative(reference: Any) -> str | None:
    """The "Type/id" a Reference points at, written relative, absolute or versioned
    ("https://ehr/fhir/Condition/1/_history/2" → "Condition/1"); other forms as written."""
    text = getattr(reference, "reference", None)
    if not text:
        return None
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


def cpt_codes(concept: Any, path: str) -> tuple[list[str], list[str]]:
    codes, fields = [], []
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
        if coding.system in CPT_SYSTEMS and coding.code:
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
