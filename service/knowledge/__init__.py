"""The knowledge base: codes, nerves, agents and modalities, guidance, modifiers, laterality — versioned data.

Each JSON file here is checked against schemas/<file>.schema.json when loaded; a broken file stops start-up
with a `KnowledgeError` naming the file and the field. Cross-file references (a nerve's destruction code must
be a known code, ...) are checked too. Rules receive the loaded `Knowledge` and never read files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

from ..contract import SchemaSet
from ..textmatch import PhraseIndex

KNOWLEDGE_DIR = Path(__file__).parent
FILES = (
    "ruleset",
    "codes",
    "nerves",
    "modifiers",
    "laterality",
    "agents",
    "guidance",
    "chemodenervation",
    "indications",
    "conservative",
    "documentation",
    "overrides",
)


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
    laterality: bool  # RT/LT (or 50) apply to its lines
    add_on_to: str | None
    confirmed: bool
    source: tuple[str, ...]


@dataclass(frozen=True)
class DestructionOption:
    """One way to code destroying a nerve; the first option whose conditions hold is the code."""

    code: str
    unit: str  # nerve | branch | knee | joint | vertebral-body | procedure
    modalities: frozenset[str]  # chemical, thermal
    add_on: str | None
    base_units: int
    spinal_regions: frozenset[str]
    imaging_required: bool
    choose: tuple[str, ...]  # when the record does not say enough: the codes to offer
    confirmed: bool
    source: tuple[str, ...]


@dataclass(frozen=True)
class Nerve:
    id: str
    name: str
    synonyms: tuple[str, ...]
    sided: bool
    region: str  # upper-extremity | lower-extremity | truncal | head-neck | spine
    destruction: tuple[DestructionOption, ...]
    block_code: str | None
    snomed: str | None
    source: tuple[str, ...]

    @property
    def destruction_codes(self) -> frozenset[str]:
        return frozenset(o.code for o in self.destruction)


@dataclass(frozen=True)
class Agent:
    id: str
    name: str
    klass: str  # neurolytic | local-anaesthetic | steroid | botulinum-toxin
    words: tuple[str, ...]
    exclude: frozenset[str]
    rxnorm: tuple[str, ...]
    snomed: tuple[str, ...]


@dataclass(frozen=True)
class Modality:
    id: str
    name: str
    klass: str  # neurolytic | non-destructive | cryo
    modality: str  # thermal | pulsed-rf | cryo
    words: tuple[str, ...]
    code: str | None
    codes_by_region: dict[str, str]


@dataclass(frozen=True)
class GuidanceModality:
    id: str  # ultrasound | fluoroscopy | ct | mr
    name: str
    words: tuple[str, ...]
    codes: tuple[str, ...]
    dicom: tuple[str, ...]
    snomed: tuple[str, ...]


@dataclass(frozen=True)
class ChemoTarget:
    region: str
    label: str  # what a line's body site says, e.g. "muscles of one upper extremity"
    few: str
    many: str | None
    many_from: int | None
    words: tuple[str, ...]


@dataclass(frozen=True)
class IndicationGroup:
    id: str
    name: str
    listed: tuple[str, ...]  # ICD-10-CM codes and categories as written in indications.json
    codes: frozenset[str]  # the listed ones and all their descendants, dotted (simple-icd-10-cm)
    snomed: frozenset[str]
    words: tuple[str, ...]
    failed_conservative_required: bool
    source: tuple[str, ...]


@dataclass(frozen=True)
class DocumentationElement:
    id: str  # nerve | agent | volume | guidance-type | confirmation | failed-treatment
    label: str
    stages: frozenset[str]  # order | performed


@dataclass(frozen=True)
class OverrideReason:
    rule: str
    code: str
    display: str


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
    agents: dict[str, Agent]
    modalities: dict[str, Modality]
    neurolysis_words: tuple[str, ...]
    procedure_snomed: dict[str, str]  # SNOMED CT procedure code -> modality
    volume_units: tuple[str, ...]
    dicom_system: str
    guidance: dict[str, GuidanceModality]
    unspecified_guidance_words: tuple[str, ...]
    guidance_order_words: tuple[str, ...]
    chemo_targets: tuple[ChemoTarget, ...]
    chemo_nerve_regions: dict[str, str]
    icd10cm_system: str
    indication_groups: tuple[IndicationGroup, ...]
    conservative_medications: dict[str, tuple[str, ...]]  # class -> words
    conservative_procedures: dict[str, tuple[str, ...]]  # kind -> words
    conservative_phrases: tuple[str, ...]
    relief_pattern: re.Pattern[str]
    documentation: dict[str, DocumentationElement]
    confirmation_words: dict[str, tuple[str, ...]]  # kind -> words
    uncertainty_words: frozenset[str]
    negation_before: frozenset[str]
    negation_after: tuple[str, ...]
    override_system: str
    override_reasons: tuple[OverrideReason, ...]

    @cached_property
    def nerve_index(self) -> PhraseIndex:
        return PhraseIndex((name, n.id) for n in self.nerves.values() for name in (n.name, *n.synonyms))

    @cached_property
    def side_index(self) -> PhraseIndex:
        return PhraseIndex((word, side.side) for side in self.sides.values() for word in side.words)

    @cached_property
    def agent_index(self) -> PhraseIndex:
        return PhraseIndex((word, agent.id) for agent in self.agents.values() for word in agent.words)

    @cached_property
    def modality_index(self) -> PhraseIndex:
        return PhraseIndex((word, m.id) for m in self.modalities.values() for word in m.words)

    @cached_property
    def neurolysis_index(self) -> PhraseIndex:
        return PhraseIndex((word, "neurolysis") for word in self.neurolysis_words)

    @cached_property
    def guidance_index(self) -> PhraseIndex:
        phrases = [(word, g.id) for g in self.guidance.values() for word in g.words]
        phrases += [(word, "unspecified") for word in self.unspecified_guidance_words]
        return PhraseIndex(phrases)

    @cached_property
    def guidance_order_index(self) -> PhraseIndex:
        return PhraseIndex((word, "guidance") for word in self.guidance_order_words)

    @cached_property
    def chemo_index(self) -> PhraseIndex:
        return PhraseIndex((word, t.region) for t in self.chemo_targets for word in t.words)

    @cached_property
    def indication_index(self) -> PhraseIndex:
        return PhraseIndex((word, g.id) for g in self.indication_groups for word in g.words)

    @cached_property
    def conservative_index(self) -> PhraseIndex:
        phrases = [(w, f"medication:{k}") for k, words in self.conservative_medications.items() for w in words]
        phrases += [(w, f"procedure:{k}") for k, words in self.conservative_procedures.items() for w in words]
        phrases += [(w, "phrase") for w in self.conservative_phrases]
        return PhraseIndex(phrases)

    @cached_property
    def confirmation_index(self) -> PhraseIndex:
        return PhraseIndex((w, kind) for kind, words in self.confirmation_words.items() for w in words)

    @cached_property
    def negation_after_index(self) -> PhraseIndex:
        return PhraseIndex((w, "negated") for w in self.negation_after)

    def indication_group(self, system: str, code: str) -> IndicationGroup | None:
        """The group a coded diagnosis supports: ICD-10-CM by code and descendants, SNOMED CT where listed."""
        if system == self.icd10cm_system:
            dotted = _dotted(code)
            return next((g for g in self.indication_groups if dotted in g.codes), None)
        if system == self.snomed_system:
            return next((g for g in self.indication_groups if code in g.snomed), None)
        return None

    def overrides_for(self, rule_id: str) -> tuple[OverrideReason, ...]:
        return tuple(r for r in self.override_reasons if r.rule == rule_id)

    def side_for_snomed(self, code: str) -> str | None:
        return next((s.side for s in self.sides.values() if s.snomed == code), None)

    def guidance_for_code(self, code: str) -> str | None:
        return next((g.id for g in self.guidance.values() if code in g.codes), None)

    def guidance_for_dicom(self, code: str) -> str | None:
        return next((g.id for g in self.guidance.values() if code in g.dicom), None)

    def family(self, code: str) -> str | None:
        entry = self.codes.get(code)
        return entry.family if entry else None


@cache
def load(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    """The knowledge base in `directory`, loaded once per process (it is immutable)."""
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
    knowledge = _build(raw, directory)
    _check_references(knowledge, directory)
    return knowledge


def _dotted(code: str) -> str:
    code = code.strip().upper()
    return code if "." in code or len(code) <= 3 else f"{code[:3]}.{code[3:]}"


def _indication_groups(data: dict[str, Any], path: Path) -> tuple[IndicationGroup, ...]:
    import simple_icd_10_cm as icd  # imported here: its code tables take a moment to load

    groups = []
    for index, g in enumerate(data["groups"]):
        codes: set[str] = set()
        for code in g["icd10cm"]:
            if not icd.is_valid_item(code):
                raise KnowledgeError(f"{path}: groups[{index}].icd10cm: {code} is not an ICD-10-CM code")
            codes.add(code)
            codes.update(icd.get_descendants(code))
        groups.append(
            IndicationGroup(
                id=g["id"],
                name=g["name"],
                listed=tuple(g["icd10cm"]),
                codes=frozenset(codes),
                snomed=frozenset(g.get("snomed", ())),
                words=tuple(g["words"]),
                failed_conservative_required=g["failedConservativeRequired"],
                source=tuple(g["source"]),
            )
        )
    return tuple(groups)


def _option(o: dict[str, Any]) -> DestructionOption:
    return DestructionOption(
        code=o["code"],
        unit=o["unit"],
        modalities=frozenset(o["modalities"]),
        add_on=o.get("addOn"),
        base_units=o.get("baseUnits", 1),
        spinal_regions=frozenset(o.get("spinalRegions", ())),
        imaging_required=o.get("imaging") == "required",
        choose=tuple(o.get("choose", ())),
        confirmed=o["confirmed"],
        source=tuple(o["source"]),
    )


def _build(raw: dict[str, Any], directory: Path) -> Knowledge:
    ruleset, codes, nerves, agents, guidance = (raw[k] for k in ("ruleset", "codes", "nerves", "agents", "guidance"))
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
                code=c["code"],
                family=c["family"],
                display=c["display"],
                descriptor=c["descriptor"],
                imaging_included=c["imagingIncluded"],
                global_days=c["globalDays"],
                unit_rule=c["unitRule"],
                daily_unit_limit=c["dailyUnitLimit"],
                laterality=c["laterality"],
                add_on_to=c.get("addOnTo"),
                confirmed=c["confirmed"],
                source=tuple(c["source"]),
            )
            for c in codes["codes"]
        },
        nerves={
            n["id"]: Nerve(
                id=n["id"],
                name=n["name"],
                synonyms=tuple(n["synonyms"]),
                sided=n["sided"],
                region=n["region"],
                destruction=tuple(_option(o) for o in n["destruction"]),
                block_code=n.get("blockCode"),
                snomed=n.get("snomed"),
                source=tuple(n["source"]),
            )
            for n in nerves["nerves"]
        },
        qualifiers_before=frozenset(nerves["qualifiers"]["before"]),
        qualifiers_after=frozenset(nerves["qualifiers"]["after"]),
        modifiers={m["code"]: Modifier(m["code"], m["system"], m["meaning"]) for m in raw["modifiers"]["modifiers"]},
        snomed_system=raw["laterality"]["system"],
        sides={s["side"]: Side(s["side"], s["snomed"], tuple(s["words"])) for s in raw["laterality"]["sides"]},
        agents={
            a["id"]: Agent(
                a["id"],
                a["name"],
                a["class"],
                tuple(a["words"]),
                frozenset(a.get("exclude", ())),
                tuple(a.get("rxnorm", ())),
                tuple(a.get("snomed", ())),
            )
            for a in agents["agents"]
        },
        modalities={
            m["id"]: Modality(
                m["id"],
                m["name"],
                m["class"],
                m["modality"],
                tuple(m["words"]),
                m.get("code"),
                m.get("codesByRegion", {}),
            )
            for m in agents["modalities"]
        },
        neurolysis_words=tuple(agents["procedureWords"]["neurolysis"]),
        procedure_snomed={p["code"]: p["modality"] for p in agents["procedureSnomed"]},
        volume_units=tuple(agents["volumeUnits"]),
        dicom_system=guidance["dicomSystem"],
        guidance={
            g["id"]: GuidanceModality(
                g["id"], g["name"], tuple(g["words"]), tuple(g["codes"]), tuple(g["dicom"]), tuple(g.get("snomed", ()))
            )
            for g in guidance["modalities"]
        },
        unspecified_guidance_words=tuple(guidance["unspecified"]["words"]),
        guidance_order_words=tuple(guidance["guidanceOrderWords"]["words"]),
        chemo_targets=tuple(
            ChemoTarget(
                t["region"], t["label"], t["codes"]["few"], t["codes"].get("many"), t.get("manyFrom"), tuple(t["words"])
            )
            for t in raw["chemodenervation"]["targets"]
        ),
        chemo_nerve_regions=dict(raw["chemodenervation"]["nerveRegions"]),
        icd10cm_system=raw["indications"]["system"],
        indication_groups=_indication_groups(raw["indications"], directory / "indications.json"),
        conservative_medications={m["class"]: tuple(m["words"]) for m in raw["conservative"]["medications"]},
        conservative_procedures={p["kind"]: tuple(p["words"]) for p in raw["conservative"]["procedures"]},
        conservative_phrases=tuple(raw["conservative"]["phrases"]["words"]),
        relief_pattern=re.compile(raw["conservative"]["reliefPattern"]),
        documentation={
            e["id"]: DocumentationElement(e["id"], e["label"], frozenset(e["stages"]))
            for e in raw["documentation"]["elements"]
        },
        confirmation_words={c["kind"]: tuple(c["words"]) for c in raw["documentation"]["confirmation"]},
        uncertainty_words=frozenset(raw["documentation"]["uncertainty"]["words"]),
        negation_before=frozenset(raw["documentation"]["negationBefore"]["words"]),
        negation_after=tuple(raw["documentation"]["negationAfter"]["words"]),
        override_system=raw["overrides"]["system"],
        override_reasons=tuple(OverrideReason(r["rule"], r["code"], r["display"]) for r in raw["overrides"]["reasons"]),
    )


def _check_references(kb: Knowledge, directory: Path) -> None:
    problems = []

    def known(code: str | None, where: str) -> None:
        if code and code not in kb.codes:
            problems.append(f"{where}: code {code} is not in codes.json")

    for nerve in kb.nerves.values():
        known(nerve.block_code, f"nerves.json: nerve {nerve.id} blockCode")
        for option in nerve.destruction:
            for code in (option.code, option.add_on, *option.choose):
                known(code, f"nerves.json: nerve {nerve.id} destruction")
    for code in kb.codes.values():
        known(code.add_on_to, f"codes.json: {code.code} addOnTo")
    for modality in kb.modalities.values():
        for code in (modality.code, *modality.codes_by_region.values()):
            known(code, f"agents.json: modality {modality.id}")
    for guidance in kb.guidance.values():
        for code in guidance.codes:
            known(code, f"guidance.json: {guidance.id}")
    for target in kb.chemo_targets:
        for code in (target.few, target.many):
            known(code, f"chemodenervation.json: {target.region}")
    for modifier in ("RT", "LT", "59", "XS", "50"):
        if modifier not in kb.modifiers:
            problems.append(f"modifiers.json: modifier {modifier} is required by the modifier policy")
    if "line-suggestion" not in kb.rules:
        problems.append("ruleset.json: rule line-suggestion is missing")
    for reason in kb.override_reasons:
        if reason.rule not in kb.rules:
            problems.append(f"overrides.json: reason {reason.code} names unknown rule {reason.rule}")
    for label, entries in (
        ("nerves.json", [(p, n.id) for n in kb.nerves.values() for p in (n.name, *n.synonyms)]),
        ("agents.json", [(p, a.id) for a in kb.agents.values() for p in a.words]),
    ):
        owners: dict[str, str] = {}
        for phrase, owner in entries:
            other = owners.setdefault(phrase.lower(), owner)
            if other != owner:
                problems.append(f"{label}: phrase {phrase!r} names both {other} and {owner}")
    if problems:
        raise KnowledgeError(f"{directory}: " + "; ".join(problems))
