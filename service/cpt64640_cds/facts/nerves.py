"""Which nerves an order or procedure targets and on which side, read across its fields in a stated order.

Precedence (docs/architecture.md, "Nerve and side resolution"), highest first:

1. `bodySite` codes: a SNOMED CT nerve concept, a SNOMED CT side coding, or a laterality extension on the
   body site (an url ending in `laterality` or `laterality-qualifier`, knowledge data) with a coded value;
2. `bodySite` words (its text, else its codings' displays);
3. order questions (`orderDetail`: "Laterality: Left", "Side: Rt", "Site: L LFCN", or a coded answer);
4. the code's text and displays;
5. notes, sentence by sentence;
6. the side the linked reasons' ICD-10-CM codes name (G57.12 → left), only when nothing above states one.

The nerves are those of the first of fields 1-5 that names one (body-site words naming a nerve the knowledge
base does not know are an unknown nerve, billed as the "other" nerve). Each nerve's side is the one the first
field that states a side for it gives: a side written with the nerve, or a side written in a field that names
no nerve at all ("Laterality: Left", a body site coded Left), which holds for every nerve; within a field a
side written with the nerve comes before such a resource-wide one. A later field that states another side for
the same nerve is a conflict: the episode gets no side and `side_conflict` names the fields, so the record is
asked to say which side — never guessed. Structured fields must agree exactly; notes may name fewer sides (a
bilateral order whose note describes the right side first). Reasons' sides only fill in: a diagnosis of the
other side may be a second problem, and which diagnosis fits each line is the line's diagnosis question.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..fhir.elements import concepts, texts_of
from ..knowledge.base import Knowledge
from ..knowledge.codes import Nerve
from ..reading.context import split, status_at
from ..reading.findings import MAX_TEXT_CHARS
from ..reading.lexicon import lexicon
from ..reading.sites import NerveMention, SiteReading, names_nerve, read_sentences, read_sites
from .model import Indication

_LEVELS = ("bodySite code", "bodySite words", "orderDetail", "code", "note")
_NOTES = _LEVELS.index("note")


@dataclass(frozen=True)
class Target:
    nerve: Nerve | None  # None: no nerve the knowledge base knows
    text: str | None  # the words the record used (normalised); None when no nerve is named
    side: str | None  # left | right | bilateral; None: unsided nerve, no side stated, or conflicting sides
    fields: tuple[str, ...]  # where the nerve and its side were read
    side_conflict: tuple[str, ...] = ()  # the fields that state different sides for the nerve


@dataclass(frozen=True)
class _Field:
    level: int  # index in _LEVELS
    path: str
    mentions: tuple[NerveMention, ...]  # target nerves named, each with the side written with it
    sides: tuple[str, ...]  # sides of a field that names no nerve: they hold for every nerve


def nerve_targets(resource: Any, kb: Knowledge, reasons: Sequence[Indication] = ()) -> list[Target]:
    """The nerves the resource targets, each with its side resolved across fields (module docstring)."""
    fields = list(_fields(resource, kb))
    named: list[tuple[str, NerveMention | None, str | None]] = [*_named(fields)] or [("", None, None)]
    targets = []
    for key, mention, nerve_path in named:
        nerve = kb.nerves[mention.nerve] if mention is not None and mention.nerve else None
        paths = (nerve_path,) if nerve_path else ()
        if nerve is not None and not nerve.sided:
            targets.append(Target(nerve, mention.words if mention else None, None, paths))
            continue
        side, side_paths, conflict = _side(key, fields, reasons, kb)
        text = mention.words if mention else None
        targets.append(Target(nerve, text, side, tuple(dict.fromkeys((*paths, *side_paths, *conflict))), conflict))
    return targets


def split_sides(target: Target) -> list[str | None]:
    if target.side == "bilateral":
        return ["right", "left"]
    return [target.side]


def _key(mention: NerveMention) -> str:
    return mention.nerve or f"text:{mention.words}"


def _named(fields: list[_Field]) -> list[tuple[str, NerveMention, str]]:
    """The target nerves of the first level that names one: known nerves, else (in the body site's words)
    the first nerve the knowledge base does not know."""
    for level in range(len(_LEVELS)):
        mentions = [(m, f.path) for f in fields if f.level == level for m in f.mentions]
        known = {_key(m): (_key(m), m, path) for m, path in reversed(mentions) if m.nerve is not None}
        if known:
            return sorted(known.values(), key=lambda named: mentions.index((named[1], named[2])))
        unknown = [(_key(m), m, path) for m, path in mentions if m.nerve is None]
        if unknown:
            return unknown[:1]
    return []


def _side(
    key: str, fields: list[_Field], reasons: Sequence[Indication], kb: Knowledge
) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """The side of one nerve, the fields that state it, and the fields that conflict (then no side)."""
    statements: list[tuple[int, str, str]] = []  # (rank, path, side): with the nerve before resource-wide
    for field in fields:
        rank = 2 * field.level
        statements += [(rank, field.path, m.side) for m in field.mentions if m.side and _key(m) == key]
        statements += [(rank + 1, field.path, side) for side in field.sides]
    if not statements:
        return _reason_side(reasons, kb)
    ranks = sorted({rank for rank, _, _ in statements})
    first = {side for rank, _, side in statements if rank == ranks[0]}
    resolved = _expand(first)
    agreeing = [path for rank, path, _ in statements if rank == ranks[0]]
    conflicting: list[str] = []
    for rank in ranks[1:]:
        stated = {side for r, _, side in statements if r == rank}
        paths = [path for r, path, _ in statements if r == rank]
        notes = rank // 2 == _NOTES
        if (_expand(stated) <= resolved) if notes else (_expand(stated) == resolved):
            agreeing += paths
        else:
            conflicting += paths
    if conflicting:
        return None, (), tuple(dict.fromkeys((*agreeing, *conflicting)))
    side = next(iter(first)) if len(resolved) == 1 else "bilateral"
    return side, tuple(dict.fromkeys(agreeing)), ()


def _expand(sides: set[str]) -> frozenset[str]:
    return frozenset(s for side in sides for s in (("right", "left") if side == "bilateral" else (side,)))


def _reason_side(reasons: Sequence[Indication], kb: Knowledge) -> tuple[str | None, tuple[str, ...], tuple[str, ...]]:
    """The one side the reasons' ICD-10-CM codes name; none when they name none or several."""
    found = {
        side: "reasonReference" if reason.reference else "reasonCode"
        for reason in reasons
        for coding in reason.codings
        if (side := kb.diagnosis_side(coding.system, coding.code))
    }
    if len(found) != 1:
        return None, (), ()
    [(side, path)] = found.items()
    return side, (path,), ()


def _fields(resource: Any, kb: Knowledge) -> Iterator[_Field]:
    """Every field that may name a nerve or a side, in precedence order (module docstring)."""
    body_sites = list(concepts(resource, "bodySite"))
    readings = [_words(concept, path, kb, unknown=True) for concept, path in body_sites]
    for (concept, path), (reading, _) in zip(body_sites, readings, strict=True):
        nerves = [
            n for c in concept.coding or [] if c.system == kb.snomed_system and (n := kb.nerve_for_snomed(c.code))
        ]
        named = [NerveMention(n.id, n.name.lower(), None) for n in nerves] or list(reading.targets)
        for side_path, side in _coded_sides(concept, path, kb):
            if named:
                yield _Field(0, side_path, tuple(NerveMention(m.nerve, m.words, side) for m in named), ())
            else:
                yield _Field(0, side_path, (), (side,))
        if nerves:
            yield _Field(0, f"{path}.coding", tuple(named), ())
    for (reading, text_path), (_, path) in zip(readings, body_sites, strict=True):
        yield _from_reading(1, text_path or path, reading)
    for concept, path in concepts(resource, "orderDetail"):
        for side_path, side in _coded_sides(concept, path, kb):
            yield _Field(2, side_path, (), (side,))
        reading, text_path = _words(concept, path, kb)
        yield _from_reading(2, text_path or path, reading)
    for text, path in texts_of(getattr(resource, "code", None), "code"):
        yield _from_reading(3, path, read_sites(text, kb, fuzzy=True))
    for i, note in enumerate(getattr(resource, "note", None) or []):
        text = (note.text or "")[:MAX_TEXT_CHARS]
        if names_nerve(text, kb, fuzzy=True):
            reading = read_sentences(_present_sentences(text, kb), kb, fuzzy=True)
            yield _Field(_NOTES, f"note[{i}].text", reading.targets, ())


def _present_sentences(text: str, kb: Knowledge) -> list[str]:
    """The sentences of a note that state what is done now: a history, a plan, a negation or someone else's
    nerve ("s/p right LFCN neurolysis 2024") names no target and no side (reading/context.py)."""
    kept = []
    for sentence in split(text, kb):
        nerves = lexicon(kb).nerves.find(sentence.normal)
        if nerves:
            sentence = sentence.with_cues(kb)  # its cues scanned once for all its nerves, not once per nerve
            present = any(status_at(sentence, m.start, m.end, kb) == "present" for m in nerves)
        else:  # a misspelt nerve: the sentence's section decides
            present = sentence.section == "present"
        if present:
            kept.append(sentence.normal)
    return kept


def _from_reading(level: int, path: str, reading: SiteReading) -> _Field:
    return _Field(level, path, reading.targets, () if reading.names_nerve else reading.sides)


def _words(concept: Any, path: str, kb: Knowledge, unknown: bool = False) -> tuple[SiteReading, str | None]:
    """The first of a concept's text and displays that names a nerve, else the first that states a side."""
    sided: tuple[SiteReading, str | None] = (SiteReading((), (), ()), None)
    for text, text_path in texts_of(concept, path):
        reading = read_sites(text, kb, unknown=unknown, fuzzy=True)
        if reading.names_nerve:
            return reading, text_path
        if reading.sides and sided[1] is None:
            sided = (reading, text_path)
    return sided


def _coded_sides(concept: Any, path: str, kb: Knowledge) -> Iterator[tuple[str, str]]:
    """Sides coded on a concept: SNOMED CT side codings, and laterality extensions with a coded value."""
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
        if coding.system == kb.snomed_system and coding.code and (side := kb.side_for_snomed(coding.code)):
            yield f"{path}.coding[{i}]", side
    for i, extension in enumerate(getattr(concept, "extension", None) or []):
        if not (extension.url or "").lower().endswith(kb.laterality_extensions):
            continue
        value = extension.valueCodeableConcept
        codings = list(value.coding or []) if value is not None else []
        codings += [extension.valueCoding] if extension.valueCoding is not None else []
        for coding in codings:
            if coding.system == kb.snomed_system and coding.code and (side := kb.side_for_snomed(coding.code)):
                yield f"{path}.extension[{i}]", side
