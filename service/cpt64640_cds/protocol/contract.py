"""Contract check: the JSON Schemas in hooks/ applied to what comes in (and, as a guard, what goes out).

`protocol/schemas` is a symlink to the repository's hooks/ (a built wheel carries copies), so the files an
integrator reads in the repository are exactly the ones enforced at run time.

Two engines read the same schemas: the compiled one (jsonschema-rs) gives the verdict in microseconds, and only
when it says invalid does the Python `jsonschema` run, to word the issues. Where the engines differ, the compiled
one is the stricter (its `$` does not match before a final newline, its `\\d` is ASCII, it checks "uri"
formats), so its "valid" is the Python verdict too and the Python engine decides the rest: the answers are
exactly those of the Python engine alone (tests/unit/protocol/test_compiled.py).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource

from ..errors import ApiError, Issue

CONTRACT_DIR = Path(__file__).parent / "schemas"
MAX_ISSUES = 20  # enough to fix a payload; a hostile one must not make the error body huge


class SchemaSet:
    """All *.schema.json files of one folder, cross-referenced by their $id (prefix + name)."""

    def __init__(self, directory: Path, prefix: str):
        self.prefix = prefix
        self._schemas: dict[str, dict[str, Any]] = {}
        for path in sorted(directory.glob("*.schema.json")):
            schema = json.loads(path.read_text(encoding="utf-8"))
            Draft202012Validator.check_schema(schema)
            self._schemas[schema["$id"]] = schema
        self._registry = Registry().with_resources(
            (schema_id, Resource.from_contents(schema)) for schema_id, schema in self._schemas.items()
        )
        self._validators: dict[str, Draft202012Validator] = {}
        self._compiled_registry = jsonschema_rs.Registry(self._schemas.items())
        self._compiled: dict[str, jsonschema_rs.Validator] = {}
        self.names = frozenset(_property_names(self._schemas.values()))

    def validator(self, name: str) -> Draft202012Validator:
        if name not in self._validators:
            self._validators[name] = Draft202012Validator(
                self._schemas[self.prefix + name],
                registry=self._registry,
                format_checker=Draft202012Validator.FORMAT_CHECKER,
            )
        return self._validators[name]

    def compiled(self, name: str) -> jsonschema_rs.Validator:
        if name not in self._compiled:
            self._compiled[name] = jsonschema_rs.Draft202012Validator(
                self._schemas[self.prefix + name],
                registry=self._compiled_registry,
                validate_formats=True,  # stricter than the Python engine, which checks "uri" only with rfc3987
                offline=True,  # every $ref is one of our files: nothing is ever fetched
            )
        return self._compiled[name]

    def conforms(self, name: str, instance: Any) -> bool:
        """The compiled verdict: True means valid for both engines; False means "ask the Python engine"."""
        try:
            return self.compiled(name).is_valid(instance)
        except (ValueError, UnicodeError):  # not JSON (a lone surrogate, a non-text key): the Python engine judges
            return False

    def issues(self, name: str, instance: Any) -> list[Issue]:
        if self.conforms(name, instance):
            return []
        return issues_for(self.validator(name), instance)


def _property_names(node: Any) -> Iterable[str]:
    """Every property name the schemas declare: the words a field path may use in a log."""
    if isinstance(node, dict):
        for keyword, value in node.items():
            if keyword in ("properties", "required", "dependentRequired"):
                yield from (value if isinstance(value, list) else value.keys())
            yield from _property_names(value)
    elif isinstance(node, list | type({}.values())):
        for item in node:
            yield from _property_names(item)


_SEGMENT = re.compile(r"\[(\d{1,6})\]|([^.\[\]]+)")


def loggable(expression: str) -> str:
    """A field path with every name the contract does not declare replaced by `*`: a path may carry names
    the client chose (an unknown prefetch key, say), and those never reach the log."""
    if expression == "(body)":
        return expression
    names = hooks().names
    out = ""
    for match in _SEGMENT.finditer(expression):
        index, name = match.groups()
        if index is not None:
            out += f"[{index}]"
        else:
            out += ("." if out else "") + (name if name in names else "*")
    return out


@cache
def hooks() -> SchemaSet:
    return SchemaSet(CONTRACT_DIR, "urn:cpt64640-cds:hooks:")


def field_path(path: Iterable[Any]) -> str:
    """jsonschema's absolute_path as a FHIRPath-like expression: context.draftOrders.entry[0].resource."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


_MISSING = re.compile(r"^'([^']+)' is a (?:required property|dependency of)")


def issues_for(validator: Draft202012Validator, instance: Any) -> list[Issue]:
    found: list[Issue] = []
    seen: set[str] = set()
    # Errors are taken lazily and only the first few hundred sorted: a hostile body can hold millions.
    first = itertools.islice(validator.iter_errors(instance), MAX_ISSUES * 10)
    for error in sorted(first, key=lambda e: list(map(str, e.absolute_path))):
        # anyOf/oneOf hide the useful cause in their context; best_match picks the most specific one.
        leaf = best_match([error]) if error.context else error
        path = list(leaf.absolute_path)
        missing = _MISSING.match(leaf.message) if leaf.validator in ("required", "dependentRequired") else None
        if missing:
            path.append(missing.group(1))
        where = field_path(path) or "(body)"
        text = f"{where}: {_describe(leaf)}"
        if text in seen:
            continue
        seen.add(text)
        found.append(Issue("required" if missing else "invalid", text, where))
        if len(found) >= MAX_ISSUES:
            break
    return found


def issues(name: str, instance: Any) -> list[Issue]:
    """Problems of `instance` against hooks/<name>.schema.json, each naming its field."""
    return hooks().issues(name, instance)


def conforms(name: str, instance: Any) -> bool:
    """Whether `instance` meets hooks/<name>.schema.json, without wording why not (compiled: microseconds)."""
    return hooks().conforms(name, instance)


def check(name: str, instance: Any, status: int = 400) -> None:
    found = issues(name, instance)
    if found:
        raise ApiError(status, found)


def _describe(error: ValidationError) -> str:
    schema = error.schema if isinstance(error.schema, dict) else {}
    if error.validator == "pattern" and "description" in schema:
        return f"{schema['description']} (pattern {error.validator_value})"
    if error.validator == "const":
        return f"must be {error.validator_value!r}"
    if error.validator == "required":
        return "is required"
    if error.validator == "dependentRequired":
        dependency = re.search(r"dependency of '([^']+)'", error.message)
        return f"is required when {dependency.group(1) if dependency else 'a related field'} is present"
    if error.validator == "type":
        return f"must be of type {error.validator_value}"
    return error.message
