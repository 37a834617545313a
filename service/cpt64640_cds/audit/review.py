"""The per-patient review both engines ship: each encounter of one patient that has something to review (a
completed Procedure, a ChargeItem or a Claim item) goes through the same pipeline as an `encounter-discharge`
hook call, with its prefetch answered from the patient's resources, and every finding becomes a row. The hook,
the discharge review and the audit can therefore never disagree.

A process loads the knowledge base once (the first review it runs); nothing about one patient outlives it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from .. import pipeline
from ..coding.lines import Line, ModifierPolicy
from ..config import Settings
from ..errors import ApiError
from ..fhir.elements import first_date
from ..knowledge.base import Knowledge
from ..knowledge.loader import load as load_knowledge
from ..logs import LOGGER_NAME, event
from ..protocol.declarations import CdsService
from ..protocol.prefetch.allowlist import FhirAllowlist
from ..protocol.prefetch.deadline import Deadline
from ..protocol.services.encounter_discharge import SERVICE
from ..rules.findings import Finding
from .model import FindingRow

USER = "Practitioner/cpt64640-audit"  # who the review runs as: the context requires a user
DEADLINE_MS = 600_000  # nothing is fetched; a bound only a pathological record reaches
UNDATED = date(1970, 1, 1)  # "today" for an encounter without any date
_READ = re.compile(r"^([A-Za-z]+)/\{\{context\.(\w+)\}\}$")
_SEARCH = re.compile(r"^([A-Za-z]+)\?")


@dataclass(frozen=True)
class _Reviewer:
    kb: Knowledge
    policy: ModifierPolicy
    settings: Settings
    allowlist: FhirAllowlist
    logger: logging.Logger


@cache
def _reviewer() -> _Reviewer:
    kb = load_knowledge()
    # No client is involved: no prefetch limit but memory's, and the modifier policy's defaults.
    settings = Settings(auth="off", max_prefetch_resources=10**9)
    policy = ModifierPolicy.of(kb, settings.distinct_modifier, settings.bilateral_modifier_50)
    return _Reviewer(kb, policy, settings, FhirAllowlist.from_settings(settings), logging.getLogger(LOGGER_NAME))


def review_patient(patient_id: str, resources: list[dict[str, Any]]) -> tuple[list[FindingRow], int]:
    reviewer = _reviewer()
    by_type: dict[str, list[dict[str, Any]]] = {}
    for resource in resources:
        by_type.setdefault(resource["resourceType"], []).append(resource)
    encounters = {r.get("id"): r for r in by_type.get("Encounter", []) if isinstance(r.get("id"), str)}
    rows: list[FindingRow] = []
    reviewed = 0
    for encounter_id in sorted(_to_review(by_type)):
        body = _request(SERVICE, patient_id, encounter_id, encounters.get(encounter_id), by_type)
        try:
            result = pipeline.run(
                SERVICE,
                body,
                kb=reviewer.kb,
                policy=reviewer.policy,
                settings=reviewer.settings,
                deadline=Deadline.after_ms(DEADLINE_MS),
                today=_day_of(encounters.get(encounter_id), by_type, encounter_id) or UNDATED,
                logger=reviewer.logger,
                allowlist=reviewer.allowlist,
            )
        except ApiError as exc:  # a record the contract refuses: counted in the log, the other encounters go on
            event(reviewer.logger, "audit-encounter-refused", logging.WARNING, issues=[i.code for i in exc.issues])
            continue
        reviewed += 1
        day = _day_of(encounters.get(encounter_id), by_type, encounter_id)
        rows += [_row(patient_id, encounter_id, finding, day, reviewer.kb.version) for finding in result.findings]
    return rows, reviewed


def _relative(reference: Any) -> str | None:
    target = reference.get("reference") if isinstance(reference, dict) else None
    if isinstance(target, str) and target.startswith("Encounter/"):
        return target.split("/")[1]
    return None


def _to_review(by_type: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Encounters a completed procedure, a charge or a claim item points to."""
    found = {_relative(p.get("encounter")) for p in by_type.get("Procedure", []) if p.get("status") == "completed"}
    found |= {_relative(c.get("context")) for c in by_type.get("ChargeItem", [])}
    for claim in by_type.get("Claim", []):
        for item in claim.get("item") or []:
            if isinstance(item, dict):
                found |= {_relative(r) for r in item.get("encounter") or []}
    return {e for e in found if e}


def _bundle(resources: Iterable[dict[str, Any]]) -> dict[str, Any]:
    entry = [{"resource": r} for r in resources]
    return {"resourceType": "Bundle", "type": "searchset", "total": len(entry), "entry": entry}


def _request(
    service: CdsService,
    patient_id: str,
    encounter_id: str,
    encounter: dict[str, Any] | None,
    by_type: dict[str, list[dict[str, Any]]],
) -> dict[str, Any]:
    """The discharge hook call an EHR would make for the encounter, its prefetch answered from the record: a read
    by its resource, a search by every resource of the type (a patient's record is whole in an export)."""
    patient = next((p for p in by_type.get("Patient", []) if p.get("id") == patient_id), None)
    reads = {"Patient": patient, "Encounter": encounter}
    prefetch: dict[str, Any] = {}
    for key, spec in service.prefetch.items():
        if read := _READ.match(spec.template):
            prefetch[key] = reads.get(read.group(1))  # null: not in the export (the card says so)
        elif search := _SEARCH.match(spec.template):
            prefetch[key] = _bundle(by_type.get(search.group(1), []))
    context = {"userId": USER, "patientId": patient_id, "encounterId": encounter_id}
    return {
        "hook": service.hook,
        "hookInstance": "00000000-0000-4000-8000-00000000a0d1",
        "context": context,
        "prefetch": prefetch,
    }


def _day_of(
    encounter: dict[str, Any] | None, by_type: dict[str, list[dict[str, Any]]], encounter_id: str
) -> date | None:
    """The encounter's day, the review's "today", so a rerun next year finds the same (nothing in the export says
    when it was billed): its period, else the latest procedure date of the encounter."""
    period = (encounter or {}).get("period") or {}
    when = first_date(period.get("start"), period.get("end"))
    if when is None:
        dates = [
            first_date(p.get("performedDateTime"), (p.get("performedPeriod") or {}).get("start"))
            for p in by_type.get("Procedure", [])
            if _relative(p.get("encounter")) == encounter_id
        ]
        when = max((d for d in dates if d), default=None)
    return when


def _row(patient_id: str, encounter_id: str, finding: Finding, day: date | None, version: str) -> FindingRow:
    documented: Line | None = next(iter(finding.documented or finding.lines), None)
    billed = next(iter(finding.billed), None)
    when = documented.date if documented else billed.date if billed and billed.date else day
    return FindingRow(
        patient_id=patient_id,
        encounter_id=encounter_id,
        date_of_service=when.isoformat() if when else None,
        rule_id=finding.rule_id,
        indicator=finding.indicator,
        proposed_code=documented.code if documented else None,
        proposed_modifiers=" ".join(documented.modifiers) or None if documented else None,
        proposed_units=documented.units if documented else None,
        nerve=documented.nerve_name if documented else None,
        side=documented.side if documented else None,
        billed_code=billed.code if billed else None,
        billed_modifiers=" ".join(billed.modifiers) or None if billed else None,
        billed_units=billed.units if billed else None,
        evidence=" ".join(e.reference for e in finding.evidence),
        rule_set_version=version,
    )
