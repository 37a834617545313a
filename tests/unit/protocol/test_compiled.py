"""protocol.contract's two engines: the compiled validator (jsonschema-rs) that gives every verdict and the Python
`jsonschema` that words the issues of an invalid body. Same verdicts on every example, fixture, rendered card and
broken variant of them; where the engines' regex or format rules differ, the compiled one is the stricter and the
answer is still the Python engine's; and the card guard drops exactly the broken card."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from cpt64640_cds import pipeline
from cpt64640_cds.cards.context import CardContext
from cpt64640_cds.cards.render import render
from cpt64640_cds.protocol import contract
from cpt64640_cds.rules.catalogue import run_all

from ...conftest import EXAMPLES, FIXTURES, ROOT, fixture_request, load
from ..factory import KB, episode, facts, inputs

# Every schema a document is checked against (fhir-common only holds definitions for the others).
SCHEMAS = sorted(
    name
    for name in (load(path)["$id"].rpartition(":")[2] for path in contract.CONTRACT_DIR.glob("*.schema.json"))
    if name != "fhir-common"
)


def _python_says_valid(name: str, instance: Any) -> bool:
    return contract.hooks().validator(name).is_valid(instance)


def _documents() -> Iterator[tuple[str, Any]]:
    for path in sorted((ROOT / "tests" / "examples").rglob("*.json")):
        yield str(path.relative_to(ROOT)), load(path)
    for path in sorted(FIXTURES.glob("scenarios/**/request.json")) + sorted((FIXTURES / "requests").glob("*.json")):
        yield str(path.relative_to(ROOT)), load(path)
    for label, cards in _rendered().items():
        yield label, {"cards": cards}


def _rendered() -> dict[str, list[dict[str, Any]]]:
    records = {
        "line": facts(episode()),
        "missing": facts(episode(agent=None, volume_ml=None, side=None)),
        "recoding": facts(episode(codes=("64450",))),
    }
    return {f"cards:{label}": render(run_all(r, inputs(r)), CardContext(KB, r)) for label, r in records.items()}


DOCUMENTS = dict(_documents())


@cache
def _python_verdict(name: str, label: str) -> bool:
    return _python_says_valid(name, DOCUMENTS[label])


def test_the_corpus_holds_both_verdicts_for_every_schema():
    assert len(DOCUMENTS) > 300
    for name in SCHEMAS:
        assert {_python_verdict(name, label) for label in DOCUMENTS} == {True, False}, name


@pytest.mark.parametrize("name", SCHEMAS)
def test_both_engines_agree_on_every_example_fixture_and_card(name):
    disagreements = [
        label
        for label, document in DOCUMENTS.items()
        if contract.conforms(name, document) != _python_verdict(name, label)
    ]
    assert disagreements == []


# Broken variants: every value of a document in turn deleted or replaced by one of these (each taken in turn:
# the Python engine takes tens of milliseconds over a card).
REPLACEMENTS = (None, True, 0, -1, 2.5, "", "x", "Patient/p-1", [], {}, [None], {"resourceType": 7})


def _paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    children = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in children:
        yield (*path, key)
        yield from _paths(child, (*path, key))


def _broken(document: Any) -> Iterator[Any]:
    for number, path in enumerate(_paths(document)):
        variant = copy.deepcopy(document)
        parent = variant
        for key in path[:-1]:
            parent = parent[key]
        if number % 2:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(REPLACEMENTS[number // 2 % len(REPLACEMENTS)])
        yield variant


def _sign_request() -> dict[str, Any]:
    body = fixture_request("order-sign-lfcn-left")
    body["fhirServer"] = "https://ehr.example.org/fhir"
    body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300, "scope": "s"}
    condition = {"resourceType": "Condition", "id": "c-1", "subject": {"reference": "Patient/neuro-1"}}
    body["prefetch"] = {
        "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": condition}]},
        "patient": {"resourceType": "Patient", "id": "neuro-1"},
        "procedures": None,
    }
    return body


BROKEN = {
    "order-sign-request": _sign_request(),
    "order-select-request": fixture_request("order-select-lfcn-left"),
    "cpt64640-response": {"cards": _rendered()["cards:line"]},
    "feedback": load(EXAMPLES / "feedback-overridden-with-reason.json"),
    "discovery": load(EXAMPLES / "discovery-response.json"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_both_engines_agree_on_every_broken_variant(name):
    document = BROKEN[name]
    assert _python_says_valid(name, document)
    verdicts = [(contract.conforms(name, v), _python_says_valid(name, v)) for v in _broken(document)]
    assert [v for v in verdicts if v[0] != v[1]] == []
    assert sum(not python for _, python in verdicts) >= len(verdicts) / 5  # a fifth of them break it, at least


# Where the engines differ: the compiled one reads `$` as the end of the text (the Python one also before a final
# newline), `\d` as ASCII digits, and checks "uri" formats (the Python one only with rfc3987 installed).
STRICTER = [
    ("order-sign-request", ("fhirServer",), "https://ehr.example.org/fhir\n"),
    ("order-sign-request", ("fhirAuthorization", "token_type"), "Bearer\n"),
    ("order-sign-request", ("prefetch", "patient", "resourceType"), "Patient\n"),
    ("order-sign-request", ("prefetch", "conditions", "entry", 0, "resource", "resourceType"), "Condition\n"),
    ("feedback", ("feedback", 0, "outcomeTimestamp"), "٢٠٢٦-11-27T10:00:00Z"),
    ("cpt64640-response", ("cards", 0, "source", "topic", "code"), "line-suggestion\n"),
    ("cpt64640-response", ("cards", 0, "source", "url"), "not a uri"),
]


@pytest.mark.parametrize(
    ("name", "path", "value"), STRICTER, ids=[f"{name}:{'.'.join(map(str, path))}" for name, path, _ in STRICTER]
)
def test_where_the_compiled_engine_is_stricter_the_python_verdict_decides(name, path, value):
    document = copy.deepcopy(BROKEN[name])
    parent = document
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    assert not contract.conforms(name, document)
    assert _python_says_valid(name, document)
    assert contract.issues(name, document) == []


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("hookInstance",), "\ud800"),  # only from a caller in the process: read_json refuses lone surrogates
        (("context", "patientId"), "\udc00"),
        (("prefetch",), {7: None}),
        (("context", "draftOrders", "entry"), ({"resource": "ServiceRequest/1"},)),
    ],
)
def test_values_json_cannot_carry_get_the_python_engines_answer(path, value):
    body = _sign_request()
    parent = body
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    validator = contract.hooks().validator("order-sign-request")
    assert contract.issues("order-sign-request", body) == contract.issues_for(validator, body)
    assert not contract.conforms("order-sign-request", body) or validator.is_valid(body)


def test_an_invalid_body_gets_the_python_engines_issues():
    body = _sign_request()
    del body["context"]["userId"]
    body["fhirAuthorization"]["token_type"] = "MAC"
    validator = contract.hooks().validator("order-sign-request")
    assert contract.issues("order-sign-request", body) == contract.issues_for(validator, body)
    assert {i.expression for i in contract.issues("order-sign-request", body)} == {
        "context.userId",
        "fhirAuthorization.token_type",
    }


@pytest.mark.parametrize("name", ["cds-response", "cpt64640-response"])
def test_the_response_schemas_constrain_each_card_on_its_own(name):
    # What lets the guard clear all cards with one check: no keyword relates one card to another.
    schema = load(contract.CONTRACT_DIR / f"{name}.schema.json")
    assert set(schema["properties"]["cards"]) <= {"type", "items"}


class _Events(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _logger() -> tuple[logging.Logger, _Events]:
    logger = logging.getLogger("test-compiled-guard")
    logger.propagate = False
    events = _Events()
    logger.handlers = [events]
    return logger, events


def test_the_guard_passes_conforming_cards_as_they_are():
    cards = _rendered()["cards:line"] + _rendered()["cards:missing"]
    logger, events = _logger()
    assert pipeline._guard(cards, logger) == cards
    assert events.records == []


def test_the_guard_drops_only_the_broken_card_and_names_its_field():
    good, broken, last = (*_rendered()["cards:line"], *_rendered()["cards:missing"], *_rendered()["cards:recoding"])
    broken = json.loads(json.dumps(broken))
    del broken["detail"]
    logger, events = _logger()
    assert pipeline._guard([good, broken, last], logger) == [good, last]
    [record] = events.records
    assert record.getMessage() == "card-dropped"
    assert record.__dict__["fields"]["fields"] == ["cards[0].detail"]
