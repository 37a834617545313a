"""Facts: one normalised record per nerve episode (one nerve, one side, one date of service).

Episodes come from the draft ServiceRequests in focus and from completed Procedures of the current
encounter. Each episode keeps the resources and fields it was read from, so every card can say why it fired.
Rules only ever see `Facts`; they never read FHIR resources or JSON.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from fhir.resources.R4B.resource import Resource

from .knowledge import Knowledge, Nerve
from .record import Dropped, Record
from .textmatch import Match, normalize

# CPT appears under its FHIR URI and, in older feeds, under its OID.
CPT_SYSTEMS = frozenset({"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"})
NEUROLYSIS_CPT = "64640"
SKIPPED_ORDER_STATUSES = frozenset({"revoked", "entered-in-error", "completed"})
_NERVE_WORDS = frozenset({"nerve", "nerves", "branch", "branches"})

Stage = Literal["order", "performed"]


@dataclass(frozen=True)
class Evidence:
    reference: str  # Type/id
    fields: tuple[str, ...]


@dataclass(frozen=True)
class Coding:
    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True)
class Indication:
    """A reason written on the order or procedure (reasonCode, or a Condition it references)."""

    codings: tuple[Coding, ...]
    text: str | None
    reference: str | None = None  # Condition/id when it came from reasonReference


@dataclass(frozen=True)
class NerveEpisode:
    nerve: Nerve | None  # None: the record names no nerve the knowledge base knows
    nerve_text: str | None  # the words the record used (normalised), or None when no nerve is named
    side: str | None  # left | right; None for an unsided nerve or when no side is written
    date: date | None
    encounter: str | None  # Encounter/id
    stage: Stage
    cpt_codes: tuple[str, ...]  # CPT codes written on the source resource
    indications: tuple[Indication, ...]
    evidence: tuple[Evidence, ...]

    @property
    def source(self) -> str:
        return self.evidence[0].reference


@dataclass
class Facts:
    patient: str  # Patient/id
    encounter: str | None  # Encounter/id of the hook context
    user: str | None  # Practitioner/id or PractitionerRole/id
    today: date
    episodes: list[NerveEpisode] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


def _ref(resource: Resource) -> str:
    return f"{resource.get_resource_type()}/{resource.id}"


def _cpt_codes(concept: Any, path: str) -> tuple[list[str], list[str]]:
    codes, fields = [], []
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
        if coding.system in CPT_SYSTEMS and coding.code:
            codes.append(coding.code.strip())
            fields.append(f"{path}.coding[{i}]")
    return codes, fields


def _texts(concept: Any, path: str) -> Iterable[tuple[str, str]]:
    if concept is None:
        return
    if concept.text:
        yield concept.text, f"{path}.text"
    for i, coding in enumerate(concept.coding or []):
        if coding.display:
            yield coding.display, f"{path}.coding[{i}].display"


def _coded_sides(concepts: list[Any], kb: Knowledge) -> list[str]:
    sides = []
    for concept in concepts:
        for coding in concept.coding or []:
            if coding.system == kb.snomed_system and coding.code:
                side = kb.side_for_snomed(coding.code)
                if side:
                    sides.append(side)
    return sides


@dataclass(frozen=True)
class _Mention:
    nerve: Nerve | None
    text: str | None
    side: str | None  # left | right | bilateral | None
    field: str


def _qualified(normal: str, match: Match, kb: Knowledge) -> bool:
    """True when a qualifier next to the match names another nerve ("posterior femoral cutaneous")."""
    before = normal[: match.start].split()[-1:]
    after = normal[match.end :].split()[:1]
    return bool(kb.qualifiers_before.intersection(before) or kb.qualifiers_after.intersection(after))


def _mentions_in(text: str, field_name: str, kb: Knowledge) -> list[_Mention]:
    """Nerves named in one text, each with the side written closest to it (before, else after)."""
    normal = normalize(text)
    nerves = [m for m in kb.nerve_index.find(normal) if not _qualified(normal, m, kb)]
    sides = kb.side_index.find(normal)
    mentions = []
    for index, match in enumerate(nerves):
        previous_end = nerves[index - 1].end if index else 0
        next_start = nerves[index + 1].start if index + 1 < len(nerves) else len(normal)
        before = [s for s in sides if previous_end <= s.start < match.start]
        after = [s for s in sides if match.end <= s.start < next_start]
        side = before[-1].key if before else (after[0].key if after else None)
        if side is None and len(nerves) == 1 and sides:
            side = sides[0].key
        mentions.append(_Mention(kb.nerves[match.key], normal[match.start : match.end], side, field_name))
    return mentions


def _nerve_mentions(resource: Any, kb: Knowledge) -> tuple[list[_Mention], list[str]]:
    """Nerves and sides: bodySite first (known nerves, else the nerve words written), then the code's words."""
    body_sites = list(getattr(resource, "bodySite", None) or [])
    side_fields = [f"bodySite[{i}]" for i, bs in enumerate(body_sites) if _coded_sides([bs], kb)]
    fallback_sides = _coded_sides(body_sites, kb)
    mentions: list[_Mention] = []
    unmatched: list[tuple[str, str]] = []  # body-site words that name no known nerve
    for i, concept in enumerate(body_sites):
        texts = list(_texts(concept, f"bodySite[{i}]"))
        found = next((m for text, path in texts if (m := _mentions_in(text, path, kb))), [])
        mentions.extend(found)
        if found or not texts:
            continue
        text, path = texts[0]
        written = kb.side_index.find(normalize(text))
        if written:
            fallback_sides.extend(m.key for m in written)
            side_fields.append(path)
        rest = normalize(text)
        for match in reversed(written):
            rest = rest[: match.start] + rest[match.end :]
        rest = " ".join(rest.split())
        if _NERVE_WORDS.intersection(rest.split()):
            unmatched.append((rest, path))
    if not mentions and unmatched:
        # bodySite names a nerve the knowledge base does not know: keep the words written.
        mentions = [_Mention(None, text, None, path) for text, path in unmatched[:1]]
    if not mentions:
        code = getattr(resource, "code", None)
        mentions = next((m for text, path in _texts(code, "code") if (m := _mentions_in(text, path, kb))), [])
    mentions = mentions or [_Mention(None, None, None, "")]
    resolved = [
        _Mention(m.nerve, m.text, m.side or (fallback_sides[0] if fallback_sides else None), m.field) for m in mentions
    ]
    return resolved, side_fields


def _split_sides(mention: _Mention) -> list[str | None]:
    if mention.nerve is not None and not mention.nerve.sided:
        return [None]
    if mention.side == "bilateral":
        return ["right", "left"]
    return [mention.side]


def _date(*values: Any) -> date | None:
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


def _indications(resource: Any, record: Record) -> tuple[Indication, ...]:
    found = []
    for concept in getattr(resource, "reasonCode", None) or []:
        codings = tuple(Coding(c.system or "", c.code or "", c.display) for c in concept.coding or [] if c.code)
        found.append(Indication(codings, concept.text))
    conditions = {_ref(c): c for c in record.of_type("Condition")}
    for reference in getattr(resource, "reasonReference", None) or []:
        condition = conditions.get(reference.reference or "")
        if condition is not None and condition.code is not None:
            concept = condition.code
            codings = tuple(Coding(c.system or "", c.code or "", c.display) for c in concept.coding or [] if c.code)
            found.append(Indication(codings, concept.text, reference.reference))
    return tuple(found)


def _episodes_of(resource: Any, stage: Stage, context_encounter: str | None, record: Record, kb: Knowledge):
    codes, code_fields = _cpt_codes(getattr(resource, "code", None), "code")
    if NEUROLYSIS_CPT not in codes:
        return []
    mentions, side_fields = _nerve_mentions(resource, kb)
    if stage == "order":
        when = _date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
    else:
        when = _date(resource.performedDateTime, resource.performedPeriod)
    encounter = (resource.encounter.reference if resource.encounter else None) or context_encounter
    indications = _indications(resource, record)
    reason_fields = ["reasonCode"] if getattr(resource, "reasonCode", None) else []
    reason_fields += ["reasonReference"] if getattr(resource, "reasonReference", None) else []
    episodes = []
    for mention in mentions:
        fields = (*code_fields, *([mention.field] if mention.field else []), *side_fields, *reason_fields)
        for side in _split_sides(mention):
            episodes.append(
                NerveEpisode(
                    nerve=mention.nerve,
                    nerve_text=mention.text,
                    side=side,
                    date=when,
                    encounter=encounter,
                    stage=stage,
                    cpt_codes=tuple(codes),
                    indications=indications,
                    evidence=(Evidence(_ref(resource), tuple(dict.fromkeys(fields))),),
                )
            )
    return episodes


def extract(record: Record, kb: Knowledge, today: date) -> Facts:
    encounter = f"Encounter/{record.encounter_id}" if record.encounter_id else None
    facts = Facts(
        patient=f"Patient/{record.patient_id}",
        encounter=encounter,
        user=record.user_id,
        today=today,
        unavailable=list(record.unavailable),
        incomplete=list(record.incomplete),
        dropped=list(record.dropped),
    )
    for order in record.draft_orders:
        if order.get_resource_type() != "ServiceRequest" or not record.in_focus(order):
            continue
        if order.status in SKIPPED_ORDER_STATUSES:
            continue
        facts.episodes.extend(_episodes_of(order, "order", encounter, record, kb))
    if encounter:
        for procedure in record.of_type("Procedure"):
            reference = procedure.encounter.reference if procedure.encounter else None
            if procedure.status == "completed" and reference and _same_reference(reference, encounter):
                facts.episodes.extend(_episodes_of(procedure, "performed", encounter, record, kb))
    return facts


def _same_reference(reference: str, expected: str) -> bool:
    """'Encounter/1' matches 'Encounter/1' and absolute 'https://ehr/fhir/Encounter/1'."""
    return reference == expected or reference.endswith("/" + expected)
