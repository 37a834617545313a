"""Facts: one normalised record per nerve episode (one nerve, one side, one date of service).

Episodes come from the draft ServiceRequests in focus and from completed Procedures of the current
encounter, with the MedicationAdministrations given as part of them. A resource is a neurolysis episode when
it claims destruction (a CPT destruction code, neurolysis words, the SNOMED CT radiofrequency-ablation
procedure), or when it names a nerve and a destructive or look-alike treatment (a neurolytic agent,
radiofrequency, pulsed RF, cryoneurolysis) under another code or none. Separately ordered or performed
image-guidance services are facts of their own. Each fact keeps the resources and fields it was read
from, so every card can say why it fired. Rules only ever see `Facts`; they never read FHIR or JSON.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from fhir.resources.R4B.resource import Resource

from .clinicaltext import AgentMention, TextFindings, read
from .knowledge import Knowledge, Nerve
from .record import Dropped, Record
from .textmatch import Match, normalize

# CPT appears under its FHIR URI and, in older feeds, under its OID.
CPT_SYSTEMS = frozenset({"http://www.ama-assn.org/go/cpt", "urn:oid:2.16.840.1.113883.6.12"})
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
SKIPPED_ORDER_STATUSES = frozenset({"revoked", "entered-in-error", "completed"})
_NERVE_WORDS = frozenset({"nerve", "nerves", "branch", "branches"})
DESTRUCTIVE = frozenset({"chemical", "thermal"})
_TYPE_AND_ID = re.compile(r"([A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?/?$")

Stage = Literal["order", "performed"]
# What was done to the nerve, read from agents, modality words and codes.
Treatment = Literal["chemical", "thermal", "pulsed-rf", "cryo", "botulinum-toxin", "block"]


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
    """A diagnosis: a reason on the order or procedure, or one of the patient's conditions."""

    codings: tuple[Coding, ...]
    text: str | None
    reference: str | None = None  # Condition/id when it came from reasonReference or the problem list
    group: str | None = None  # the indication group it supports (knowledge/indications.json)
    by_text: bool = False  # the group was recognised from words, not from a code


@dataclass(frozen=True)
class ConditionFact:
    indication: Indication
    active: bool


@dataclass(frozen=True)
class ConservativeCare:
    """Evidence of a less invasive treatment tried before: a medication, a procedure, words in a note."""

    reference: str
    kind: str  # medication:<class> | procedure:<kind> | phrase | relief
    field: str


@dataclass(frozen=True)
class ImagingFact:
    reference: str
    guidance: frozenset[str]  # ultrasound | fluoroscopy | ct | mr (from DICOM modalities)
    date: date | None
    encounter: str | None
    based_on: tuple[str, ...]


@dataclass(frozen=True)
class EmService:
    """An evaluation and management service (99202-99215) as a Procedure, ServiceRequest or ChargeItem."""

    reference: str
    code: str
    modifiers: frozenset[str]
    date: date | None
    encounter: str | None
    evidence: Evidence


@dataclass(frozen=True)
class Dose:
    agent: str  # knowledge-base agent id
    klass: str  # neurolytic | local-anaesthetic | steroid | botulinum-toxin
    concentration_pct: float | None
    volume_ml: float | None
    source: str  # Type/id the dose was read from
    field: str


@dataclass(frozen=True)
class NerveEpisode:
    nerve: Nerve | None  # None: the record names no nerve the knowledge base knows
    nerve_text: str | None  # the words the record used (normalised), or None when no nerve is named
    side: str | None  # left | right; None for an unsided nerve or when no side is written
    date: date | None
    encounter: str | None  # Encounter/id
    stage: Stage
    cpt_codes: tuple[str, ...]  # CPT codes written on the source resource
    claims_destruction: bool  # coded or described as neurolytic destruction
    treatment: Treatment | None  # None: the record does not say which agent or modality
    doses: tuple[Dose, ...]
    guidance: frozenset[str]  # ultrasound | fluoroscopy | ct | mr | unspecified
    spinal_regions: frozenset[str]
    joints: frozenset[tuple[str, str]]  # facet joints as adjacent levels
    levels: frozenset[str]  # single spinal levels named
    chemo_regions: tuple[str, ...]  # botulinum toxin targets named
    confirmation: frozenset[str]  # how needle placement was confirmed: stimulation | test-dose | contrast | confirmed
    conservative: frozenset[str]  # conservative care named in the episode's own words and notes
    reasons: tuple[Indication, ...]  # as written on the source
    indications: tuple[Indication, ...]  # the supporting ones: reasons in an indication group, else active conditions
    evidence: tuple[Evidence, ...]

    @property
    def source(self) -> str:
        return self.evidence[0].reference

    @property
    def draft_order(self) -> str | None:
        """Type/id of the draft ServiceRequest this episode comes from, if it is one."""
        return self.source if self.stage == "order" else None

    @property
    def nerve_key(self) -> str | None:
        if self.nerve is not None:
            return self.nerve.id
        return f"text:{self.nerve_text}" if self.nerve_text else None


@dataclass(frozen=True)
class GuidanceService:
    """Image guidance ordered or performed as a service of its own (e.g. a 77002 draft order)."""

    reference: str
    code: str | None
    modality: str  # ultrasound | fluoroscopy | ct | mr
    date: date | None
    encounter: str | None
    stage: Stage
    evidence: Evidence


@dataclass
class Facts:
    patient: str  # Patient/id
    encounter: str | None  # Encounter/id of the hook context
    user: str | None  # Practitioner/id or PractitionerRole/id
    today: date
    episodes: list[NerveEpisode] = field(default_factory=list)
    guidance_services: list[GuidanceService] = field(default_factory=list)
    conditions: list[ConditionFact] = field(default_factory=list)
    conservative: list[ConservativeCare] = field(default_factory=list)
    imaging: list[ImagingFact] = field(default_factory=list)
    em_services: list[EmService] = field(default_factory=list)
    unavailable: list[str] = field(default_factory=list)
    incomplete: list[str] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)


def _ref(resource: Resource) -> str:
    return f"{resource.get_resource_type()}/{resource.id}"


def _concepts(resource: Any, name: str) -> Iterator[tuple[Any, str]]:
    value = getattr(resource, name, None)
    if isinstance(value, list):
        for i, concept in enumerate(value):
            yield concept, f"{name}[{i}]"
    elif value is not None:
        yield value, name


def _cpt_codes(concept: Any, path: str) -> tuple[list[str], list[str]]:
    codes, fields = [], []
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
        if coding.system in CPT_SYSTEMS and coding.code:
            codes.append(coding.code.strip().upper())
            fields.append(f"{path}.coding[{i}]")
    return codes, fields


def _texts(concept: Any, path: str) -> Iterator[tuple[str, str]]:
    if concept is None:
        return
    if getattr(concept, "text", None):
        yield concept.text, f"{path}.text"
    for i, coding in enumerate(getattr(concept, "coding", None) or []):
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
    # One nerve written twice ("LFCN (lateral femoral cutaneous nerve)", "genicular nerves (SMGN, SLGN)") is
    # one mention; a repeat without a side takes the side written with the nerve elsewhere in the text.
    unique: dict[tuple[str, str | None], _Mention] = {}
    for mention in mentions:
        unique.setdefault((mention.nerve.id if mention.nerve else "", mention.side), mention)
    sided = {nerve for nerve, side in unique if side is not None}
    return [m for (nerve, side), m in unique.items() if side is not None or nerve not in sided]


def _nerve_mentions(resource: Any, kb: Knowledge) -> tuple[list[_Mention], list[str]]:
    """Nerves and sides: bodySite first (known nerves, else the nerve words written), then the other words."""
    body_sites = list(getattr(resource, "bodySite", None) or [])
    side_fields = [f"bodySite[{i}]" for i, bs in enumerate(body_sites) if _coded_sides([bs], kb)]
    fallback_sides = _coded_sides(body_sites, kb)
    mentions: list[_Mention] = []
    unmatched: list[tuple[str, str]] = []  # body-site words that name a nerve the knowledge base does not know
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
        mentions = [_Mention(None, text, None, path) for text, path in unmatched[:1]]
    if not mentions:
        # Then the code's words, the order details and the notes, in that order.
        texts = [*_texts(getattr(resource, "code", None), "code")]
        for concept, path in _concepts(resource, "orderDetail"):
            texts.extend(_texts(concept, path))
        texts += [(n.text, f"note[{i}].text") for i, n in enumerate(getattr(resource, "note", None) or []) if n.text]
        mentions = next((m for text, path in texts if (m := _mentions_in(text, path, kb))), [])
    mentions = mentions or [_Mention(None, None, None, "")]  # no nerve named: the side may still be written
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


def _codings(concept: Any) -> tuple[Coding, ...]:
    return tuple(Coding(c.system or "", c.code or "", c.display) for c in concept.coding or [] if c.code)


def _indication(concept: Any, kb: Knowledge, reference: str | None = None) -> Indication:
    codings = _codings(concept)
    group = next((g.id for c in codings if (g := kb.indication_group(c.system, c.code))), None)
    by_text = False
    if group is None:
        words = [t for t, _ in _texts(concept, "code")]
        found = next((f.indications for w in words if (f := read(w, "code", kb)).indications), set())
        group, by_text = (sorted(found)[0], True) if found else (None, False)
    return Indication(codings, concept.text, reference, group, by_text)


def _active(condition: Any) -> bool:
    clinical = {c.code for c in (condition.clinicalStatus.coding or [])} if condition.clinicalStatus else set()
    verification = (
        {c.code for c in (condition.verificationStatus.coding or [])} if condition.verificationStatus else set()
    )
    if verification & {"refuted", "entered-in-error"}:
        return False
    return not clinical or bool(clinical & {"active", "recurrence", "relapse"})


def _conditions(record: Record, kb: Knowledge) -> list[ConditionFact]:
    return [ConditionFact(_indication(c.code, kb, _ref(c)), _active(c)) for c in record.of_type("Condition") if c.code]


def _reasons(resource: Any, conditions: dict[str, ConditionFact], kb: Knowledge) -> tuple[Indication, ...]:
    found = [_indication(concept, kb) for concept in getattr(resource, "reasonCode", None) or []]
    for reference in getattr(resource, "reasonReference", None) or []:
        condition = conditions.get(_relative(reference) or "")
        if condition is not None:
            found.append(condition.indication)
    return tuple(found)


def _supporting(reasons: tuple[Indication, ...], conditions: list[ConditionFact]) -> tuple[Indication, ...]:
    """Reasons on the order count first, then the patient's active conditions."""
    written = tuple(r for r in reasons if r.group)
    if written:
        return written
    return tuple(dict.fromkeys(c.indication for c in conditions if c.active and c.indication.group))


def _reading(resource: Any, kb: Knowledge) -> TextFindings:
    """Everything the resource's own words and codes say about agents, modality, guidance and levels."""
    found = TextFindings()
    sources: list[tuple[str, str]] = []
    for name in ("code", "orderDetail", "usedCode", "bodySite"):
        for concept, path in _concepts(resource, name):
            sources.extend(_texts(concept, path))
    for i, note in enumerate(getattr(resource, "note", None) or []):
        if note.text:
            sources.append((note.text, f"note[{i}].text"))
    if getattr(resource, "patientInstruction", None):
        sources.append((resource.patientInstruction, "patientInstruction"))
    for text, path in sources:
        found.merge(read(text, path, kb))
    found.agents.extend(_coded_agents(resource, kb))
    return found


def _coded_agents(resource: Any, kb: Knowledge) -> Iterator[AgentMention]:
    for concept, path in _concepts(resource, "usedCode"):
        for i, coding in enumerate(concept.coding or []):
            agent = next(
                (
                    a
                    for a in kb.agents.values()
                    if (coding.system == RXNORM and coding.code in a.rxnorm)
                    or (coding.system == kb.snomed_system and coding.code in a.snomed)
                ),
                None,
            )
            if agent is not None:
                yield AgentMention(agent.id, agent.klass, None, None, f"{path}.coding[{i}]")


def _document_texts(document: Any) -> Iterator[tuple[str, str]]:
    """Plain-text attachments of a DocumentReference (base64 `data`); other content types are not read."""
    for i, content in enumerate(document.content or []):
        attachment = content.attachment
        if attachment is None or not attachment.data:
            continue
        if attachment.contentType and not attachment.contentType.lower().startswith("text/"):
            continue
        data = attachment.data
        try:
            raw = data if isinstance(data, bytes) else base64.b64decode(data)
            yield raw.decode("utf-8", errors="replace"), f"content[{i}].attachment.data"
        except (ValueError, TypeError):
            continue


@dataclass(frozen=True)
class _Document:
    reference: str
    related: frozenset[str]
    encounters: frozenset[str]
    date: date | None
    found: TextFindings


def _documents(record: Record, kb: Knowledge) -> list[_Document]:
    documents = []
    for document in record.of_type("DocumentReference"):
        if document.status == "entered-in-error":
            continue
        found = TextFindings()
        for text, path in _document_texts(document):
            found.merge(read(text, path, kb))
        context = document.context
        related = frozenset(r for r in map(_relative, context.related or []) if r) if context else frozenset()
        encounters = frozenset(e for e in map(_relative, context.encounter or []) if e) if context else frozenset()
        documents.append(_Document(_ref(document), related, encounters, _date(document.date), found))
    return documents


def _linked(document: _Document, reference: str, encounter: str | None, when: date | None) -> bool:
    if reference in document.related:
        return True
    if encounter and encounter in document.encounters:
        return True
    return not document.related and not document.encounters and when is not None and document.date == when


def _administrations(record: Record, kb: Knowledge) -> dict[str, list[tuple[str, TextFindings, float | None]]]:
    """MedicationAdministrations by the Procedure they are part of: (reference, what they say, volume in mL)."""
    by_procedure: dict[str, list[tuple[str, TextFindings, float | None]]] = {}
    for administration in record.of_type("MedicationAdministration"):
        if administration.status in ("entered-in-error", "not-done"):
            continue
        found = TextFindings()
        medication = administration.medicationCodeableConcept
        for text, path in _texts(medication, "medicationCodeableConcept"):
            found.merge(read(text, path, kb))
        if medication is not None and not found.agents:
            for i, coding in enumerate(medication.coding or []):
                agent = next(
                    (a for a in kb.agents.values() if coding.system == RXNORM and coding.code in a.rxnorm), None
                )
                if agent is not None:
                    found.agents.append(
                        AgentMention(agent.id, agent.klass, None, None, f"medicationCodeableConcept.coding[{i}]")
                    )
        dosage = administration.dosage
        volume = None
        if dosage is not None:
            if dosage.text:
                found.merge(read(dosage.text, "dosage.text", kb))
            dose = dosage.dose
            if dose is not None and dose.value is not None and (dose.unit or dose.code or "").lower() in ("ml", "cc"):
                volume = float(dose.value)
        for part in administration.partOf or []:
            procedure = _relative(part)
            if procedure and procedure.startswith("Procedure/"):
                by_procedure.setdefault(procedure, []).append((_ref(administration), found, volume))
    return by_procedure


def _treatment(found: TextFindings, doses: Iterable[Dose], codes: Iterable[str], kb: Knowledge) -> Treatment | None:
    classes = {d.klass for d in doses}
    if "cryo" in found.modalities:
        return "cryo"
    if "neurolytic" in classes:
        return "chemical"
    if "thermal" in found.modalities:
        return "thermal"
    if "pulsed-rf" in found.modalities:
        return "pulsed-rf"
    if "botulinum-toxin" in classes:
        return "botulinum-toxin"
    if classes & {"local-anaesthetic", "steroid"}:
        return "block"
    families = {kb.family(code) for code in codes}
    if "cryoablation" in families:
        return "cryo"
    if "chemodenervation" in families:
        return "botulinum-toxin"
    return None


@dataclass(frozen=True)
class _Context:
    """What every episode is read against: the patient's data, parsed once per hook call."""

    record: Record
    kb: Knowledge
    encounter: str | None
    administrations: dict[str, list[tuple[str, TextFindings, float | None]]]
    documents: list[_Document]
    conditions: list[ConditionFact]


def _episodes_of(resource: Any, stage: Stage, ctx: _Context) -> list[NerveEpisode]:
    kb, context_encounter, administrations = ctx.kb, ctx.encounter, ctx.administrations
    codes, code_fields = [], []
    for concept, path in _concepts(resource, "code"):
        found_codes, found_fields = _cpt_codes(concept, path)
        codes += found_codes
        code_fields += found_fields
    snomed_modalities = {
        kb.procedure_snomed[c.code]
        for c in (resource.code.coding or [] if resource.code else [])
        if c.system == kb.snomed_system and c.code in kb.procedure_snomed
    }
    found = _reading(resource, kb)
    found.modalities |= snomed_modalities
    reference = _ref(resource)
    doses = [Dose(a.agent, a.klass, a.concentration_pct, a.volume_ml, reference, a.field) for a in found.agents]
    extra_evidence = []
    for ma_reference, ma_found, volume in administrations.get(reference, []) if stage == "performed" else []:
        found.merge(ma_found)
        for a in ma_found.agents:
            doses.append(Dose(a.agent, a.klass, a.concentration_pct, volume or a.volume_ml, ma_reference, a.field))
        extra_evidence.append(Evidence(ma_reference, tuple(sorted(ma_found.fields)) or ("medicationCodeableConcept",)))
    treatment = _treatment(found, doses, codes, kb)
    claims = (
        any(kb.family(code) == "neurolytic-destruction" for code in codes)
        or found.neurolysis
        or bool(snomed_modalities)
    )
    mentions, side_fields = _nerve_mentions(resource, kb)
    named = any(m.nerve is not None or m.text for m in mentions)
    if not claims and not (named and treatment in ("chemical", "thermal", "pulsed-rf", "cryo")):
        return []
    if stage == "order":
        when = _date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
    else:
        when = _date(resource.performedDateTime, resource.performedPeriod)
    encounter = _relative(resource.encounter) or context_encounter
    reasons = _reasons(resource, {c.indication.reference or "": c for c in ctx.conditions}, kb)
    indications = _supporting(reasons, ctx.conditions)
    reason_fields = [name for name in ("reasonCode", "reasonReference") if getattr(resource, name, None)]
    # Notes linked to the resource document it (agent, volume, guidance, confirmation); they do not change
    # what the resource itself says was done.
    documented = TextFindings()
    for document in ctx.documents:
        if _linked(document, reference, encounter, when):
            documented.merge(document.found)
            doses += [
                Dose(a.agent, a.klass, a.concentration_pct, a.volume_ml, document.reference, a.field)
                for a in document.found.agents
            ]
            extra_evidence.append(Evidence(document.reference, tuple(sorted(document.found.fields))))
    episodes = []
    for mention in mentions:
        fields = (
            *code_fields,
            *([mention.field] if mention.field else []),
            *side_fields,
            *sorted(found.fields),
            *reason_fields,
        )
        for side in _split_sides(mention):
            episodes.append(
                NerveEpisode(
                    nerve=mention.nerve,
                    nerve_text=mention.text,
                    side=side,
                    date=when,
                    encounter=encounter,
                    stage=stage,
                    cpt_codes=tuple(dict.fromkeys(codes)),
                    claims_destruction=claims,
                    treatment=treatment,
                    doses=tuple(doses),
                    guidance=frozenset(found.guidance | documented.guidance),
                    spinal_regions=frozenset(found.spinal_regions),
                    joints=frozenset(found.joints),
                    levels=frozenset(found.levels),
                    chemo_regions=tuple(found.chemo_regions),
                    confirmation=frozenset(found.confirmation | documented.confirmation),
                    conservative=frozenset(found.conservative | documented.conservative),
                    reasons=reasons,
                    indications=indications,
                    evidence=(Evidence(reference, tuple(dict.fromkeys(fields))), *extra_evidence),
                )
            )
    return episodes


def _guidance_service(
    resource: Any, stage: Stage, context_encounter: str | None, kb: Knowledge
) -> GuidanceService | None:
    concept = getattr(resource, "code", None)
    codes, fields = _cpt_codes(concept, "code")
    encounter = _relative(resource.encounter) or context_encounter
    if stage == "order":
        when = _date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
    else:
        when = _date(resource.performedDateTime, resource.performedPeriod)
    for code, path in zip(codes, fields, strict=True):
        modality = kb.guidance_for_code(code) if kb.family(code) == "imaging-guidance" else None
        if modality:
            return GuidanceService(
                _ref(resource), code, modality, when, encounter, stage, Evidence(_ref(resource), (path,))
            )
    if codes:
        return None
    for text, path in _texts(concept, "code"):
        normal = normalize(text)
        modalities = [m.key for m in kb.guidance_index.find(normal) if m.key != "unspecified"]
        if modalities and kb.guidance_order_index.find(normal) and not read(text, path, kb).agents:
            return GuidanceService(
                _ref(resource), None, modalities[0], when, encounter, stage, Evidence(_ref(resource), (path,))
            )
    return None


def extract(record: Record, kb: Knowledge, today: date) -> Facts:
    encounter = f"Encounter/{record.encounter_id}" if record.encounter_id else None
    facts = Facts(
        patient=f"Patient/{record.patient_id}",
        encounter=encounter,
        user=record.user_id,
        today=today,
        conditions=_conditions(record, kb),
        imaging=_imaging(record, kb),
        unavailable=list(record.unavailable),
        incomplete=list(record.incomplete),
        dropped=list(record.dropped),
    )
    ctx = _Context(record, kb, encounter, _administrations(record, kb), _documents(record, kb), facts.conditions)
    for order in record.draft_orders:
        if order.get_resource_type() != "ServiceRequest" or order.status in SKIPPED_ORDER_STATUSES:
            continue
        service = _guidance_service(order, "order", encounter, kb)
        em = _em_service(order, "order", kb)
        if service is not None:
            facts.guidance_services.append(service)  # guidance orders matter in the whole session
        elif em is not None:
            facts.em_services.append(em)
        elif record.in_focus(order):
            facts.episodes.extend(_episodes_of(order, "order", ctx))
    for procedure in record.of_type("Procedure"):
        if procedure.status != "completed":
            continue
        em = _em_service(procedure, "performed", kb)
        if em is not None:
            facts.em_services.append(em)
            continue
        if not encounter or _relative(procedure.encounter) != encounter:
            continue
        service = _guidance_service(procedure, "performed", encounter, kb)
        if service is not None:
            facts.guidance_services.append(service)
        else:
            facts.episodes.extend(_episodes_of(procedure, "performed", ctx))
    for item in record.of_type("ChargeItem"):
        if item.status not in ("entered-in-error", "not-billable"):
            em = _em_service(item, "performed", kb)
            if em is not None:
                facts.em_services.append(em)
    facts.conservative = _conservative(record, kb, ctx.documents, {e.source for e in facts.episodes}, today)
    return facts


def _imaging(record: Record, kb: Knowledge) -> list[ImagingFact]:
    studies = []
    for study in record.of_type("ImagingStudy"):
        if study.status in ("entered-in-error", "cancelled"):
            continue
        codes = [c for c in study.modality or [] if c.system in (kb.dicom_system, None)]
        codes += [s.modality for s in study.series or [] if s.modality is not None]
        guidance = frozenset(g for c in codes if c.code and (g := kb.guidance_for_dicom(c.code)))
        studies.append(
            ImagingFact(
                _ref(study),
                guidance,
                _date(study.started),
                _relative(study.encounter),
                tuple(r for r in map(_relative, study.basedOn or []) if r),
            )
        )
    return studies


_EM_MODIFIER_TEXT = re.compile(r"\b(992\d\d)\s*-\s*(25)\b|\bmodifier\s*25\b|-25\b")


def _modifier_codes(element: Any) -> set[str]:
    """Modifiers carried as extensions whose url ends in "modifier" (as our own lines write them)."""
    found = set()
    for extension in getattr(element, "extension", None) or []:
        if not (extension.url or "").lower().endswith("modifier"):
            continue
        if extension.valueCoding is not None and extension.valueCoding.code:
            found.add(extension.valueCoding.code)
        for value in (extension.valueCode, extension.valueString):
            if value:
                found.add(str(value))
        if extension.valueCodeableConcept is not None:
            found |= {c.code for c in extension.valueCodeableConcept.coding or [] if c.code}
    return found


def _em_service(resource: Any, stage: Stage, kb: Knowledge) -> EmService | None:
    concept = getattr(resource, "code", None)
    codes, fields = _cpt_codes(concept, "code")
    em = next(((c, f) for c, f in zip(codes, fields, strict=True) if kb.family(c) == "evaluation-management"), None)
    if em is None:
        return None
    modifiers = _modifier_codes(resource) | _modifier_codes(concept)
    for coding in concept.coding or []:
        modifiers |= _modifier_codes(coding)
    if concept.text and _EM_MODIFIER_TEXT.search(concept.text):
        modifiers.add("25")
    if resource.get_resource_type() == "ChargeItem":
        when = _date(resource.occurrenceDateTime, resource.occurrencePeriod)
        encounter = _relative(resource.context)
    elif stage == "order":
        when = _date(resource.occurrenceDateTime, resource.occurrencePeriod, resource.authoredOn)
        encounter = _relative(resource.encounter)
    else:
        when = _date(resource.performedDateTime, resource.performedPeriod)
        encounter = _relative(resource.encounter)
    return EmService(_ref(resource), em[0], frozenset(modifiers), when, encounter, Evidence(_ref(resource), (em[1],)))


def _conservative(
    record: Record, kb: Knowledge, documents: list[_Document], episode_sources: set[str], today: date
) -> list[ConservativeCare]:
    """Less invasive care tried before: earlier procedures, pain and spasticity medications, notes."""
    found: list[ConservativeCare] = []
    for procedure in record.of_type("Procedure"):
        reference = _ref(procedure)
        if reference in episode_sources or procedure.status not in ("completed", "in-progress"):
            continue
        when = _date(procedure.performedDateTime, procedure.performedPeriod)
        if when is not None and when > today:
            continue
        codes, _ = _cpt_codes(procedure.code, "code")
        if any(kb.family(code) == "nerve-block" for code in codes):
            found.append(ConservativeCare(reference, "procedure:diagnostic-block", "code"))
        for text, path in _texts(procedure.code, "code"):
            found += [ConservativeCare(reference, kind, path) for kind in sorted(read(text, path, kb).conservative)]
        for i, note in enumerate(procedure.note or []):
            if note.text:
                kinds = read(note.text, f"note[{i}].text", kb).conservative
                found += [ConservativeCare(reference, kind, f"note[{i}].text") for kind in sorted(kinds)]
    for resource_type in ("MedicationStatement", "MedicationRequest"):
        for medication in record.of_type(resource_type):
            if medication.status == "entered-in-error" or medication.medicationCodeableConcept is None:
                continue
            for text, path in _texts(medication.medicationCodeableConcept, "medicationCodeableConcept"):
                kinds = {k for k in read(text, path, kb).conservative if k.startswith("medication:")}
                found += [ConservativeCare(_ref(medication), kind, path) for kind in sorted(kinds)]
    for document in documents:
        found += [ConservativeCare(document.reference, kind, "content") for kind in sorted(document.found.conservative)]
    return list(dict.fromkeys(found))


def _relative(reference: Any) -> str | None:
    """The "Type/id" a Reference points at, written relative, absolute or versioned
    ("https://ehr/fhir/Condition/1/_history/2" → "Condition/1"); other forms as written."""
    text = getattr(reference, "reference", None)
    if not text:
        return None
    match = _TYPE_AND_ID.search(text)
    return match.group(1) if match else text
