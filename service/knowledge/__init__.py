"""The knowledge base: codes, nerves, modifiers and laterality as versioned data.

Each JSON file here is checked against schemas/<file>.schema.json when loaded; a broken file stops start-up
with a `KnowledgeError` naming the file and the field. Cross-file references (a nerve's destruction code must
be a known code, ...) are checked too. Rules receive the loaded `Knowledge` and never read files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from ..contract import SchemaSet
from ..textmatch import PhraseIndex

KNOWLEDGE_DIR = Path(__file__).parent
FILES = ("ruleset", "codes", "nerves", "modifiers", "laterality")


class KnowledgeError(ValueError):
    """A knowledge file is missing, not JSON, or breaks its schema; the message names file and field."""


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    indicator: str
    status: str
    source: tuple[str, ...]


@dataclass(frozen=True)
class Code:
    code: str
    family: str
    display: str  # short paraphrase for Coding.display
    descriptor: str
    imaging_included: bool
    global_days: int | None
    unit_rule: str
    daily_unit_limit: int | None
    source: tuple[str, ...]


@dataclass(frozen=True)
class Nerve:
    id: str
    name: str
    synonyms: tuple[str, ...]
    sided: bool
    destruction_code: str
    block_code: str | None
    snomed: str | None
    source: tuple[str, ...]


@dataclass(frozen=True)
class Modifier:
    code: str
    system: str  # CPT for 59/50, HCPCS Level II for RT/LT/XS
    meaning: str


@dataclass(frozen=True)
class Side:
    side: str  # left | right | bilateral
    snomed: str
    words: tuple[str, ...]


@dataclass(frozen=True)
class Knowledge:
    version: str
    code_set: str
    topic_system: str
    rules: dict[str, Rule]
    cpt_system: str
    codes: dict[str, Code]
    nerves: dict[str, Nerve]
    qualifiers_before: frozenset[str]  # words that turn a bare nerve word into another nerve
    qualifiers_after: frozenset[str]
    modifiers: dict[str, Modifier]
    snomed_system: str
    sides: dict[str, Side]

    @cached_property
    def nerve_index(self) -> PhraseIndex:
        phrases = [(name, nerve.id) for nerve in self.nerves.values() for name in (nerve.name, *nerve.synonyms)]
        return PhraseIndex(phrases)

    @cached_property
    def side_index(self) -> PhraseIndex:
        return PhraseIndex((word, side.side) for side in self.sides.values() for word in side.words)

    def side_for_snomed(self, code: str) -> str | None:
        return next((s.side for s in self.sides.values() if s.snomed == code), None)


def load(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    schemas = SchemaSet(KNOWLEDGE_DIR / "schemas", "urn:cpt64640-cds:knowledge:")
    raw: dict[str, Any] = {}
    for name in FILES:
        path = directory / f"{name}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise KnowledgeError(f"{path}: file is missing") from None
        except ValueError as exc:
            raise KnowledgeError(f"{path}: not valid JSON ({exc})") from None
        problems = schemas.issues(name, data)
        if problems:
            raise KnowledgeError(f"{path}: " + "; ".join(p.diagnostics for p in problems))
        raw[name] = data
    knowledge = _build(raw)
    _check_references(knowledge, directory)
    return knowledge


def _build(raw: dict[str, Any]) -> Knowledge:
    ruleset, codes, nerves = raw["ruleset"], raw["codes"], raw["nerves"]
    return Knowledge(
        version=ruleset["version"],
        code_set=ruleset["codeSet"],
        topic_system=ruleset["topicSystem"],
        rules={
            r["id"]: Rule(r["id"], r["title"], r["indicator"], r["status"], tuple(r["source"]))
            for r in ruleset["rules"]
        },
        cpt_system=codes["system"],
        codes={
            c["code"]: Code(
                c["code"],
                c["family"],
                c["display"],
                c["descriptor"],
                c["imagingIncluded"],
                c["globalDays"],
                c["unitRule"],
                c["dailyUnitLimit"],
                tuple(c["source"]),
            )
            for c in codes["codes"]
        },
        nerves={
            n["id"]: Nerve(
                n["id"],
                n["name"],
                tuple(n["synonyms"]),
                n["sided"],
                n["destructionCode"],
                n.get("blockCode"),
                n.get("snomed"),
                tuple(n["source"]),
            )
            for n in nerves["nerves"]
        },
        qualifiers_before=frozenset(nerves["qualifiers"]["before"]),
        qualifiers_after=frozenset(nerves["qualifiers"]["after"]),
        modifiers={m["code"]: Modifier(m["code"], m["system"], m["meaning"]) for m in raw["modifiers"]["modifiers"]},
        snomed_system=raw["laterality"]["system"],
        sides={s["side"]: Side(s["side"], s["snomed"], tuple(s["words"])) for s in raw["laterality"]["sides"]},
    )


def _check_references(kb: Knowledge, directory: Path) -> None:
    problems = []
    for nerve in kb.nerves.values():
        for field, code in (("destructionCode", nerve.destruction_code), ("blockCode", nerve.block_code)):
            if code and code not in kb.codes:
                problems.append(f"nerves.json: nerve {nerve.id} {field} {code} is not in codes.json")
    for modifier in ("RT", "LT", "59", "XS", "50"):
        if modifier not in kb.modifiers:
            problems.append(f"modifiers.json: modifier {modifier} is required by the modifier policy")
    if "line-suggestion" not in kb.rules:
        problems.append("ruleset.json: rule line-suggestion is missing")
    owners: dict[str, str] = {}
    for nerve in kb.nerves.values():
        for phrase in (nerve.name, *nerve.synonyms):
            other = owners.setdefault(phrase.lower(), nerve.id)
            if other != nerve.id:
                problems.append(f"nerves.json: phrase {phrase!r} names both {other} and {nerve.id}")
    if problems:
        raise KnowledgeError(f"{directory}: " + "; ".join(problems))
