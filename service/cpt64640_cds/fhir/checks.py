"""The whole-resource rules fhir.resources applies, kept without building every element: no element the type
does not have, every element in its shape (a list, an object or a primitive value), every required element
present, at most one value per choice (`performed[x]`). Inside an element the facts do not read, nothing more is
looked at: a malformed `dosageInstruction[0].doseAndRate` no longer costs the medication its reading.

Each type's rules are read once from fhir.resources' own R4B model metadata, so they follow the package; the
elements the facts read are validated by fhir/models.py. tests/unit/fhir/test_checks.py holds both against
fhir.resources over every fixture and the shared invalid examples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhir_core.utils import is_list_type, is_primitive_type


@dataclass(frozen=True)
class TypeRules:
    elements: frozenset[str]  # every key a resource of the type may carry, `_x` siblings included
    shapes: dict[str, type | None]  # element -> list (repeats), dict (complex) or None (primitive: neither)
    required: tuple[tuple[str, ...], ...]  # each tuple: keys of which one must be present
    choices: tuple[frozenset[str], ...]  # each set: keys of which at most one may be present
    # The signatures of resources found clean: keys in order and their values' types, all the rules look at.
    # Only known element names, no values: nothing of a patient is kept.
    clean: set[tuple[Any, ...]] = field(default_factory=set)


@cache
def rules_for(resource_type: str) -> TypeRules:
    model = get_fhir_model_class(resource_type)
    elements = {"resourceType"}
    shapes: dict[str, type | None] = {}
    required: list[tuple[str, ...]] = []
    choices: dict[str, set[str]] = {}
    choice_required: set[str] = set()
    for name, element in model.model_fields.items():
        key = element.alias or name
        elements.add(key)
        if not key.startswith("_") and name != "fhir_comments":
            shapes[key] = list if is_list_type(element) else None if is_primitive_type(element) else dict
        extra = element.json_schema_extra if isinstance(element.json_schema_extra, dict) else {}
        if element.is_required():
            required.append((key,))
        elif extra.get("element_required"):
            required.append((key, f"_{key}"))  # a required primitive may be carried by its extension alone
        if prefix := extra.get("one_of_many"):
            choices.setdefault(str(prefix), set()).add(key)
            if extra.get("one_of_many_required"):
                choice_required.add(str(prefix))
    required += [tuple(sorted(choices[prefix])) for prefix in sorted(choice_required)]
    return TypeRules(
        frozenset(elements),
        shapes,
        tuple(required),
        tuple(frozenset(keys) for keys in choices.values()),
    )


MAX_CLEAN = 1024  # signatures kept per type; a type's element names allow more, a history shows a few dozen


def problems(raw: Mapping[str, Any], rules: TypeRules) -> list[str]:
    """The names of the elements that break the type's whole-resource rules ("" for a choice given twice).

    What breaks depends only on the keys, in order, and the types of their values (None is NoneType): a history
    repeats a few such signatures, and one already found clean is not looked at again.
    """
    signature = (*raw, *map(type, raw.values()))
    if signature in rules.clean:
        return []
    found = _walk(raw, rules) + _missing(raw, rules) + _twice(raw, rules)
    if not found and len(rules.clean) < MAX_CLEAN:
        rules.clean.add(signature)
    return found


def _walk(raw: Mapping[str, Any], rules: TypeRules) -> list[str]:
    """Unknown and misshapen elements, in the resource's order."""
    found = []
    for key, value in raw.items():
        if key not in rules.shapes:
            if key not in rules.elements:
                found.append(key)
        elif value is not None and _misshapen(value, rules.shapes[key]):
            found.append(key)
    return found


def _missing(raw: Mapping[str, Any], rules: TypeRules) -> list[str]:
    return [one_of[0] for one_of in rules.required if all(raw.get(key) is None for key in one_of)]


def _twice(raw: Mapping[str, Any], rules: TypeRules) -> list[str]:
    return ["" for choice in rules.choices if len(raw.keys() & choice) > 1]


def _misshapen(value: Any, shape: type | None) -> bool:
    return isinstance(value, dict | list) if shape is None else not isinstance(value, shape)
