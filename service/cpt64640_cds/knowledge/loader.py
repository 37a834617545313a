"""Loading the knowledge base: each JSON file under data/ checked against schemas/<file>.schema.json, the
entities built, cross-file references checked. A broken file stops start-up with a `KnowledgeError` naming
the file and the field. Rules receive the loaded `Knowledge` and never read files.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from ..protocol.contract import SchemaSet
from .model import (
    Agent,
    ChemoTarget,
    Code,
    DestructionOption,
    DocumentationElement,
    GuidanceModality,
    IndicationGroup,
    Knowledge,
    Modality,
    Modifier,
    Nerve,
    OverrideReason,
    Rule,
    Side,
)

KNOWLEDGE_DIR = Path(__file__).parent / "data"
SCHEMA_DIR = Path(__file__).parent / "schemas"

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


@cache
def load(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    """The knowledge base in `directory`, loaded once per process (it is immutable)."""
    schemas = SchemaSet(SCHEMA_DIR, "urn:cpt64640-cds:knowledge:")
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
