"""Which nerves a resource names and on which side: bodySite first (coded laterality, the knowledge base's
names and synonyms, else the nerve words as written), then the code's words, order details and notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..fhir.elements import concepts, texts_of
from ..knowledge.base import Knowledge
from ..knowledge.codes import Nerve
from ..reading.lexicon import lexicon
from ..reading.phrases import Match, normalize


def coded_sides(concepts: list[Any], kb: Knowledge) -> list[str]:
    sides = []
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.system == kb.snomed_system and coding.code:
                side = kb.side_for_snomed(coding.code)
                if side:
                    sides.append(side)
    return sides


@dataclass(frozen=True)
class Mention:
    nerve: Nerve | None
    text: str | None
    side: str | None  # left | right | bilateral | None
    field: str


def _qualified(normal: str, match: Match, kb: Knowledge) -> bool:
    """True when a qualifier next to the match names another nerve ("posterior femoral cutaneous")."""
    before = normal[: match.start].split()[-1:]
    after = normal[match.end :].split()[:1]
    return bool(kb.qualifiers_before.intersection(before) or kb.qualifiers_after.intersection(after))


def _mentions_in(text: str, field_name: str, kb: Knowledge) -> list[Mention]:
    """Nerves named in one text, each with the side written closest to it (before, else after)."""
    normal = normalize(text)
    nerves = [m for m in lexicon(kb).nerves.find(normal) if not _qualified(normal, m, kb)]
    sides = lexicon(kb).sides.find(normal)
    mentions = []
    for index, match in enumerate(nerves):
        previous_end = nerves[index - 1].end if index else 0
        next_start = nerves[index + 1].start if index + 1 < len(nerves) else len(normal)
        before = [s for s in sides if previous_end <= s.start < match.start]
        after = [s for s in sides if match.end <= s.start < next_start]
        side = before[-1].key if before else (after[0].key if after else None)
        if side is None and len(nerves) == 1 and sides:
            side = sides[0].key
        mentions.append(Mention(kb.nerves[match.key], normal[match.start : match.end], side, field_name))
    # One nerve written twice ("LFCN (lateral femoral cutaneous nerve)", "genicular nerves (SMGN, SLGN)") is
    # one mention; a repeat without a side takes the side written with the nerve elsewhere in the text.
    unique: dict[tuple[str, str | None], Mention] = {}
    for mention in mentions:
        unique.setdefault((mention.nerve.id if mention.nerve else "", mention.side), mention)
    sided = {nerve for nerve, side in unique if side is not None}
    return [m for (nerve, side), m in unique.items() if side is not None or nerve not in sided]


def nerve_mentions(resource: Any, kb: Knowledge) -> tuple[list[Mention], list[str]]:
    """Nerves and sides: bodySite first (known nerves, else the nerve words written), then the other words."""
    body_sites = list(getattr(resource, "bodySite", None) or [])
    side_fields = [f"bodySite[{i}]" for i, bs in enumerate(body_sites) if coded_sides([bs], kb)]
    fallback_sides = coded_sides(body_sites, kb)
    mentions: list[Mention] = []
    unmatched: list[tuple[str, str]] = []  # body-site words that name a nerve the knowledge base does not know
    for i, concept in enumerate(body_sites):
        texts = list(texts_of(concept, f"bodySite[{i}]"))
        found = next((m for text, path in texts if (m := _mentions_in(text, path, kb))), [])
        mentions.extend(found)
        if found or not texts:
            continue
        text, path = texts[0]
        written = lexicon(kb).sides.find(normalize(text))
        if written:
            fallback_sides.extend(m.key for m in written)
            side_fields.append(path)
        rest = normalize(text)
        for match in reversed(written):
            rest = rest[: match.start] + rest[match.end :]
        rest = " ".join(rest.split())
        if kb.nerve_words.intersection(rest.split()):
            unmatched.append((rest, path))
    if not mentions and unmatched:
        mentions = [Mention(None, text, None, path) for text, path in unmatched[:1]]
    if not mentions:
        # Then the code's words, the order details and the notes, in that order.
        texts = [*texts_of(getattr(resource, "code", None), "code")]
        for concept, path in concepts(resource, "orderDetail"):
            texts.extend(texts_of(concept, path))
        texts += [(n.text, f"note[{i}].text") for i, n in enumerate(getattr(resource, "note", None) or []) if n.text]
        mentions = next((m for text, path in texts if (m := _mentions_in(text, path, kb))), [])
    mentions = mentions or [Mention(None, None, None, "")]  # no nerve named: the side may still be written
    resolved = [
        Mention(m.nerve, m.text, m.side or (fallback_sides[0] if fallback_sides else None), m.field) for m in mentions
    ]
    return resolved, side_fields


def split_sides(mention: Mention) -> list[str | None]:
    if mention.nerve is not None and not mention.nerve.sided:
        return [None]
    if mention.side == "bilateral":
        return ["right", "left"]
    return [mention.side]
