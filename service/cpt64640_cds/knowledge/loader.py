"""Loading the knowledge base: each file under data/ validated by its model (model.py), the entries indexed
into `Knowledge`, the references between files checked. A broken file stops start-up with a
`KnowledgeError` naming the file and the field. Rules receive the loaded `Knowledge` and never read files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .assertion import AssertionFile
from .base import Knowledge
from .codes import ChemodenervationFile, CodesFile, GuidanceFile, LateralityFile, ModifiersFile, NervesFile, RuleSet
from .icd10cm import Icd10cmFile, icd10cm_json
from .words import AgentsFile, ConservativeFile, DocumentationFile, IndicationGroup, IndicationsFile, TextFile

KNOWLEDGE_DIR = Path(__file__).parent / "data"
SCHEMA_DIR = Path(__file__).parent / "schemas"
# data/<name>.json → the model that validates it (and generates schemas/<name>.schema.json).
FILES: dict[str, type[BaseModel]] = {
    "ruleset": RuleSet,
    "codes": CodesFile,
    "nerves": NervesFile,
    "modifiers": ModifiersFile,
    "laterality": LateralityFile,
    "agents": AgentsFile,
    "guidance": GuidanceFile,
    "chemodenervation": ChemodenervationFile,
    "indications": IndicationsFile,
    "conservative": ConservativeFile,
    "documentation": DocumentationFile,
    "text": TextFile,
    "assertion": AssertionFile,
    "icd10cm": Icd10cmFile,  # generated (`make icd10cm`)
}
MAX_REPORTED = 5  # problems named per broken file


class KnowledgeError(ValueError):
    """A knowledge file is missing, not JSON, or breaks its model; the message names file and field."""


@cache
def load(directory: Path = KNOWLEDGE_DIR) -> Knowledge:
    """The knowledge base in `directory`, loaded once per process (it is immutable)."""
    files = {name: _read(directory / f"{name}.json", model) for name, model in FILES.items()}
    knowledge = _index(files, directory)
    _check_references(knowledge, directory)
    return knowledge


def _read(path: Path, model: type[BaseModel]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KnowledgeError(f"{path}: file is missing") from None
    try:
        return model.model_validate_json(text)
    except ValidationError as exc:
        errors = exc.errors()
        if errors and errors[0]["type"] == "json_invalid":
            raise KnowledgeError(f"{path}: not valid JSON ({errors[0]['msg']})") from None
        problems = [f"{_field(e['loc'])}: {e['msg']}" for e in errors[:MAX_REPORTED]]
        raise KnowledgeError(f"{path}: " + "; ".join(problems)) from None


def _field(location: tuple[int | str, ...]) -> str:
    """('nerves', 2, 'sided') → nerves[2].sided, as the files are written."""
    out = ""
    for part in location:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(file)"


_TITLE_SIDES = {"bilateral": "bilateral", "right": "right", "left": "left"}


def _title_side(title: str) -> str | None:
    """The side an ICD-10-CM title names ("..., left lower limb" → left); None when unsided or unspecified."""
    words = set(re.findall(r"[a-z]+", title.lower()))
    sides = [side for word, side in _TITLE_SIDES.items() if word in words]
    return sides[0] if len(sides) == 1 else None


@dataclass(frozen=True)
class _Icd10cmIndex:
    groups: dict[str, IndicationGroup]
    sides: dict[str, str]
    nerves: dict[str, frozenset[str]]
    titles: dict[str, str]
    billable: frozenset[str]
    family_history: frozenset[str]


def _icd10cm_index(indications: IndicationsFile, icd10cm: Icd10cmFile, path: Path) -> _Icd10cmIndex:
    """Every code a group lists and all its descendants → its group, the most specific listing winning (G57.6
    in one group over G57 in another); the side each title names; the nerves a code names (nerveSpecific);
    titles and billable (leaf) codes; the family-history codes. Codes, titles and leaves come from
    icd10cm.json, generated from the package's ICD-10-CM tables: none is typed in by hand."""

    def expanded(code: str, where: str) -> list[str]:
        descendants = icd10cm.descendants.get(code)
        if descendants is None:
            raise KnowledgeError(f"{path}: {where}: {code} is not in icd10cm.json (run `make icd10cm`)")
        return [code, *descendants]

    listed: dict[str, tuple[int, IndicationGroup]] = {}  # code -> (length of the listing, group)
    for index, group in enumerate(indications.groups):
        for code in group.icd10cm:
            for each in expanded(code, f"groups[{index}].icd10cm"):
                earlier = listed.get(each)
                if earlier is not None and earlier[0] == len(code) and earlier[1].id != group.id:
                    raise KnowledgeError(f"{path}: groups[{index}].icd10cm: {code} is also in {earlier[1].id}")
                if earlier is None or len(code) > earlier[0]:
                    listed[each] = (len(code), group)
    nerves: dict[str, frozenset[str]] = {}
    for index, fit in enumerate(indications.nerve_specific):
        for code in fit.icd10cm:
            for each in expanded(code, f"nerveSpecific[{index}].icd10cm"):
                if each not in listed:
                    raise KnowledgeError(f"{path}: nerveSpecific[{index}].icd10cm: {each} is in no group")
                nerves[each] = nerves.get(each, frozenset()) | set(fit.nerves)
    untitled = sorted(code for code in listed if code not in icd10cm.titles)
    if untitled:
        raise KnowledgeError(f"{path}: no title in icd10cm.json for {', '.join(untitled[:MAX_REPORTED])}")
    titles = {code: icd10cm.titles[code] for code in listed}
    sides = {code: side for code, title in titles.items() if (side := _title_side(title)) is not None}
    return _Icd10cmIndex(
        groups={code: group for code, (_, group) in listed.items()},
        sides=sides,
        nerves=nerves,
        titles=titles,
        billable=frozenset(listed) & icd10cm.billable,
        family_history=frozenset(
            each for code in indications.family_history.icd10cm for each in expanded(code, "familyHistory.icd10cm")
        ),
    )


def _index(files: dict[str, Any], directory: Path) -> Knowledge:
    ruleset: RuleSet = files["ruleset"]
    codes: CodesFile = files["codes"]
    nerves: NervesFile = files["nerves"]
    agents: AgentsFile = files["agents"]
    guidance: GuidanceFile = files["guidance"]
    chemo: ChemodenervationFile = files["chemodenervation"]
    indications: IndicationsFile = files["indications"]
    conservative: ConservativeFile = files["conservative"]
    documentation: DocumentationFile = files["documentation"]
    text: TextFile = files["text"]
    laterality: LateralityFile = files["laterality"]
    modifiers: ModifiersFile = files["modifiers"]
    icd10cm = _icd10cm_index(indications, files["icd10cm"], directory / "indications.json")
    return Knowledge(
        version=ruleset.version,
        topic_system=ruleset.topic_system,
        rules={r.id: r for r in ruleset.rules},
        cpt_system=codes.system,
        cpt_systems=frozenset((codes.system, *codes.system_aliases.systems)),
        families={f.id: f for f in codes.families},
        hcpcs_systems=frozenset(codes.services.hcpcs_systems),
        code_ranges=codes.services.ranges,
        other_service_categories=frozenset((c.system, c.code) for c in codes.services.categories),
        other_service_systems=frozenset(codes.services.other_systems.words),
        other_service_category_words=frozenset(codes.services.category_words.words),
        other_service_words=codes.services.service_words.words,
        fallbacks=codes.fallbacks,
        codes={c.code: c for c in codes.codes},
        nerves={n.id: n for n in nerves.nerves},
        qualifiers_before=frozenset(nerves.qualifiers.before),
        qualifiers_after=frozenset(nerves.qualifiers.after),
        nerve_words=frozenset(nerves.nerve_words.words),
        list_words=nerves.list_words.words,
        landmarks=nerves.landmarks,
        modifiers={m.code: m for m in modifiers.modifiers},
        snomed_system=laterality.system,
        sides={s.side: s for s in laterality.sides},
        laterality_extensions=tuple(e.lower() for e in laterality.extensions.url_endings),
        rxnorm_system=agents.rxnorm_system,
        agents={a.id: a for a in agents.agents},
        modalities={m.id: m for m in agents.modalities},
        neurolysis_words=agents.procedure_words.neurolysis,
        procedure_snomed={p.code: p.modality for p in agents.procedure_snomed},
        radiofrequency=agents.radiofrequency,
        volume_units=agents.volume_units,
        concentration_units=agents.concentration_units,
        dicom_system=guidance.dicom_system,
        guidance={g.id: g for g in guidance.modalities},
        unspecified_guidance_words=guidance.unspecified.words,
        guidance_order_words=guidance.guidance_order_words.words,
        chemo_targets=chemo.targets,
        chemo_muscles={m.id: m for m in chemo.muscles},
        chemo_limbs=chemo.limbs,
        chemo_nerve_regions=chemo.nerve_regions,
        icd10cm_system=indications.system,
        indication_groups=indications.groups,
        icd10cm_groups=icd10cm.groups,
        icd10cm_sides=icd10cm.sides,
        icd10cm_nerves=icd10cm.nerves,
        icd10cm_titles=icd10cm.titles,
        icd10cm_billable=icd10cm.billable,
        family_history_icd10cm=icd10cm.family_history,
        family_history_words=indications.family_history.words,
        conservative_medications={m.klass: m.words for m in conservative.medications},
        conservative_procedures={p.kind: p.words for p in conservative.procedures},
        conservative_phrases=conservative.phrases.words,
        relief_pattern=re.compile(conservative.relief_pattern),
        documentation={e.id: e for e in documentation.elements},
        confirmation_words={c.kind: c.words for c in documentation.confirmation},
        injectates=frozenset(c.kind for c in documentation.confirmation if c.injectate),
        assertion=files["assertion"],
        override_system=ruleset.override_system,
        sentence_abbreviations=text.sentence_abbreviations.words,
        injection_stems=text.injection.stems,
        injection_words=text.injection.words,
        blood_loss_words=text.blood_loss.words,
        spine=text.spine,
    )


def _check_references(kb: Knowledge, directory: Path) -> None:
    """What one file says of another holds: codes exist, add-ons belong to their base, every use is covered."""
    problems = []
    fallbacks = kb.fallbacks
    cited: list[tuple[str | None, str]] = [(c.add_on_to, f"codes.json: {c.code} addOnTo") for c in kb.codes.values()]
    cited += [(code, "codes.json: fallbacks") for code in (fallbacks.other_nerve, fallbacks.other_nerve_block)]
    cited += [(code, "codes.json: fallbacks") for code in (fallbacks.unlisted, *fallbacks.chemodenervation)]
    for nerve in kb.nerves.values():
        cited.append((nerve.block_code, f"nerves.json: nerve {nerve.id} blockCode"))
        for option in nerve.destruction:
            cited += [(code, f"nerves.json: nerve {nerve.id} destruction") for code in (option.code, option.add_on)]
            cited += [(code, f"nerves.json: nerve {nerve.id} destruction") for code in option.choose]
            add_on = kb.codes.get(option.add_on or "")
            if add_on is not None and add_on.add_on_to != option.code:
                problems.append(f"nerves.json: nerve {nerve.id}: {add_on.code} is not an add-on to {option.code}")
    for modality in kb.modalities.values():
        cited += [(code, f"agents.json: modality {modality.id}") for code in modality.codes_by_region.values()]
        cited.append((modality.code, f"agents.json: modality {modality.id}"))
    cited += [(code, f"guidance.json: {g.id}") for g in kb.guidance.values() for code in g.codes]
    for target in kb.chemo_targets:
        codes = target.codes
        chemo_codes = (codes.few, codes.many, codes.each_added_few, codes.each_added_many)
        cited += [(code, f"chemodenervation.json: {target.region}") for code in chemo_codes]
    problems += _chemo_problems(kb)
    units: dict[str, str] = {}
    for nerve in kb.nerves.values():
        for option in nerve.destruction:
            if units.setdefault(option.code, option.unit) != option.unit:
                problems.append(
                    f"nerves.json: nerve {nerve.id}: {option.code} counts by {units[option.code]} elsewhere"
                )
    problems += [f"{where}: code {code} is not in codes.json" for code, where in cited if code and code not in kb.codes]
    problems += [
        f"codes.json: {c.code} family {c.family} is not in families"
        for c in kb.codes.values()
        if c.family not in kb.families
    ]
    uses = {m.use for m in kb.modifiers.values()}
    for use in ("right", "left", "bilateral", "distinct", "separate-evaluation"):
        if use not in uses:
            problems.append(f"modifiers.json: no modifier for use {use}")
    problems += [
        f"indications.json: nerveSpecific names nerve {nerve}, not in nerves.json"
        for nerve in sorted({n for fit in kb.icd10cm_nerves.values() for n in fit} - set(kb.nerves))
    ]
    if "line-suggestion" not in kb.rules:
        problems.append("ruleset.json: rule line-suggestion is missing")
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


def _chemo_problems(kb: Knowledge) -> list[str]:
    """Muscles and limbs name a target region, groups name muscles of their own region, and no word or id is
    claimed twice (a muscle id is never a region id: the reader records either)."""
    regions = {t.region for t in kb.chemo_targets}
    problems = [
        f"chemodenervation.json: muscle {m.id} is also a region" for m in kb.chemo_muscles.values() if m.id in regions
    ]
    for entry, region in [(f"muscle {m.id}", m.region) for m in kb.chemo_muscles.values()] + [
        (f"limb {' '.join(limb.words[:1])}", limb.region) for limb in kb.chemo_limbs
    ]:
        if region not in regions:
            problems.append(f"chemodenervation.json: {entry}: region {region} is not a target")
    for muscle in kb.chemo_muscles.values():
        for member in muscle.members:
            other = kb.chemo_muscles.get(member)
            if other is None or other.region != muscle.region or other.members:
                problems.append(
                    f"chemodenervation.json: muscle {muscle.id}: member {member} is not a muscle of its region"
                )
    owners: dict[str, str] = {}
    words = [(w, t.region) for t in kb.chemo_targets for w in t.words]
    words += [(w, m.id) for m in kb.chemo_muscles.values() for w in m.words]
    words += [(w, f"{limb.side}-{limb.region}") for limb in kb.chemo_limbs for w in limb.words]
    for word, owner in words:
        first = owners.setdefault(word.lower(), owner)
        if first != owner:
            problems.append(f"chemodenervation.json: {word!r} names both {first} and {owner}")
    return problems


def json_schemas() -> dict[str, dict[str, Any]]:
    """schemas/<name>.schema.json as generated from the models: for people and editors, never read at run time."""
    schemas = {}
    for name, model in FILES.items():
        schema = model.model_json_schema(by_alias=True)
        schemas[name] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"urn:cpt64640-cds:knowledge:{name}",
            **schema,
        }
    return schemas


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Regenerate schemas/ from the models (`make schemas`); returns the files written."""
    for old in directory.glob("*.schema.json"):
        old.unlink()
    written = []
    for name, schema in json_schemas().items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


def write_icd10cm(directory: Path = KNOWLEDGE_DIR) -> Path:
    """Regenerate data/icd10cm.json from indications.json and the installed simple-icd-10-cm (`make icd10cm`)."""
    indications = _read(directory / "indications.json", IndicationsFile)
    path = directory / "icd10cm.json"
    path.write_text(icd10cm_json(indications), encoding="utf-8")
    return path
