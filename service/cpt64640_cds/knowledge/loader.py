"""Loading the knowledge base: each file under data/ validated by its model (model.py), the entries indexed
into `Knowledge`, the references between files checked. A broken file stops start-up with a
`KnowledgeError` naming the file and the field. Rules receive the loaded `Knowledge` and never read files.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from .assertion import AssertionFile
from .base import Knowledge, dotted_icd10cm
from .codes import ChemodenervationFile, CodesFile, GuidanceFile, LateralityFile, ModifiersFile, NervesFile, RuleSet
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


def _icd10cm_groups(
    groups: tuple[IndicationGroup, ...], path: Path
) -> tuple[dict[str, IndicationGroup], dict[str, str]]:
    """Every code a group lists and all its descendants (the package's ICD-10-CM tables) → the first group; and
    the side each such code's title names (the package's titles, so no side is typed in by hand)."""
    import simple_icd_10_cm as icd  # here, not at the top: its tables cost seconds and ~170 MB, only for loading

    covered: dict[str, IndicationGroup] = {}
    sides: dict[str, str] = {}
    for index, group in enumerate(groups):
        for code in group.icd10cm:
            if not icd.is_valid_item(code):
                raise KnowledgeError(f"{path}: groups[{index}].icd10cm: {code} is not an ICD-10-CM code")
            for each in (code, *icd.get_descendants(code)):
                dotted = dotted_icd10cm(each)
                covered.setdefault(dotted, group)
                if (side := _title_side(icd.get_description(each))) is not None:
                    sides[dotted] = side
    return covered, sides


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
    icd10cm_groups, icd10cm_sides = _icd10cm_groups(indications.groups, directory / "indications.json")
    return Knowledge(
        version=ruleset.version,
        topic_system=ruleset.topic_system,
        rules={r.id: r for r in ruleset.rules},
        cpt_system=codes.system,
        cpt_systems=frozenset((codes.system, *codes.system_aliases.systems)),
        families={f.id: f for f in codes.families},
        fallbacks=codes.fallbacks,
        codes={c.code: c for c in codes.codes},
        nerves={n.id: n for n in nerves.nerves},
        qualifiers_before=frozenset(nerves.qualifiers.before),
        qualifiers_after=frozenset(nerves.qualifiers.after),
        nerve_words=frozenset(nerves.nerve_words.words),
        modifiers={m.code: m for m in modifiers.modifiers},
        snomed_system=laterality.system,
        sides={s.side: s for s in laterality.sides},
        rxnorm_system=agents.rxnorm_system,
        agents={a.id: a for a in agents.agents},
        modalities={m.id: m for m in agents.modalities},
        neurolysis_words=agents.procedure_words.neurolysis,
        procedure_snomed={p.code: p.modality for p in agents.procedure_snomed},
        volume_units=agents.volume_units,
        concentration_units=agents.concentration_units,
        dicom_system=guidance.dicom_system,
        guidance={g.id: g for g in guidance.modalities},
        unspecified_guidance_words=guidance.unspecified.words,
        guidance_order_words=guidance.guidance_order_words.words,
        chemo_targets=chemo.targets,
        chemo_nerve_regions=chemo.nerve_regions,
        icd10cm_system=indications.system,
        indication_groups=indications.groups,
        icd10cm_groups=icd10cm_groups,
        icd10cm_sides=icd10cm_sides,
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
        cited += [(code, f"chemodenervation.json: {target.region}") for code in (target.codes.few, target.codes.many)]
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
