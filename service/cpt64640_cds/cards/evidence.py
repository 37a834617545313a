"""The evidence line in coders' words: which records were read and what was found in them ("procedure order
(phenol 6% 3 mL, left lateral femoral cutaneous nerve, ultrasound guidance)"), else what in them was read
("condition (diagnosis)"), never FHIR field paths. The paths stay machine-readable in the card's `extension`."""

from __future__ import annotations

import re
from collections.abc import Iterable

from ..facts.model import Evidence, NerveEpisode
from ..knowledge.base import Knowledge
from ..knowledge.grammar import count

RESOURCE_WORDS = {
    "ServiceRequest": "procedure order",
    "Procedure": "procedure record",
    "MedicationRequest": "medication order",
    "MedicationAdministration": "medication record",
    "Condition": "condition",
    "Encounter": "encounter",
    "ImagingStudy": "imaging study",
    "ChargeItem": "billing line",
    "Observation": "observation",
    "DocumentReference": "note",
}

# What `code` holds, by resource; "procedure code" elsewhere.
CODE_WORDS = {"Condition": "diagnosis", "Observation": "finding", "ChargeItem": "billing code"}

# The first step of a FHIR path, as a coder names what it holds.
FIELD_WORDS = {
    "bodySite": "nerve and side",
    "reasonCode": "reason",
    "reasonReference": "reason",
    "note": "notes",
    "occurrenceDateTime": "date",
    "occurrencePeriod": "date",
    "performedDateTime": "date",
    "performedPeriod": "date",
    "authoredOn": "date",
    "encounter": "encounter",
    "status": "status",
    "orderDetail": "order details",
    "quantity": "units",
    "extension": "modifiers",
    "usedCode": "devices and agents",
    "focalDevice": "devices and agents",
    "modality": "imaging type",
    "procedureCode": "imaging procedure",
    "medicationCodeableConcept": "medication",
    "dosageInstruction": "dose instructions",
    "dosage": "dose",
}


GUIDANCE_WORDS = {
    "ultrasound": "ultrasound guidance",
    "fluoroscopy": "fluoroscopic guidance",
    "ct": "CT guidance",
    "mr": "MR guidance",
    "unspecified": "image guidance",
}


def resource_word(reference: str) -> str:
    kind = reference.split("/", 1)[0]
    return RESOURCE_WORDS.get(kind, _words(kind))


def _words(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", " ", name).lower()


def _field_word(kind: str, path: str) -> str:
    head = re.split(r"[.\[]", path, maxsplit=1)[0]
    if head == "code":
        return CODE_WORDS.get(kind, "procedure code")
    return FIELD_WORDS.get(head, _words(head))


def _number(value: float | None, unit: str) -> str:
    return f" {value:g}{unit}" if value is not None else ""


def what_was_found(episode: NerveEpisode, kb: Knowledge) -> list[str]:
    """A nerve episode as a coder would summarise its record: agent and dose, side and nerve, guidance."""
    # A dose another one of the same agent says more about ("phenol 6%" beside "phenol 6% 3 mL") is left out.
    facts = list(dict.fromkeys((d.agent, d.concentration_pct, d.volume_ml) for d in episode.doses))
    doses = [
        f"{kb.agents[agent].name}{_number(pct, '%')}{_number(ml, ' mL')}"
        for agent, pct, ml in facts
        if not any(
            other != (agent, pct, ml) and other[0] == agent and pct in (None, other[1]) and ml in (None, other[2])
            for other in facts
        )
    ]
    name = episode.nerve.name if episode.nerve else episode.nerve_text
    nerve = [f"{f'{episode.side} ' if episode.side else ''}{name}"] if name else []
    guidance = [GUIDANCE_WORDS.get(g, f"{g} guidance") for g in sorted(episode.guidance)]
    return doses + nerve + guidance


def found_in(evidence: Iterable[Evidence], episodes: Iterable[NerveEpisode], kb: Knowledge) -> str:
    """ "procedure order (phenol 6% 3 mL, left ... nerve, ultrasound guidance); 2 conditions (diagnosis)": a record
    a nerve episode came from says what was found; the others are grouped by kind, with what in them was read."""
    sources = {e.source: e for e in episodes}
    found: list[str] = []
    kinds: dict[str, tuple[list[str], dict[str, None]]] = {}
    for item in evidence:
        kind = item.reference.split("/", 1)[0]
        episode = sources.get(item.reference)
        if episode is not None and (what := what_was_found(episode, kb)):
            found.append(f"{resource_word(item.reference)} ({', '.join(what)})")
            continue
        refs, fields = kinds.setdefault(resource_word(item.reference), ([], {}))
        refs.append(item.reference)
        fields.update(dict.fromkeys(_field_word(kind, f) for f in item.fields))
    for word, (refs, fields) in kinds.items():
        named = word if len(refs) == 1 else count(len(refs), word)
        found.append(f"{named} ({', '.join(fields)})" if fields else named)
    return "; ".join(found)
