"""What was billed for the encounter under review: its ChargeItems, or the items of its Claims.

A Claim is what went to the payer, so when one covers the encounter its items are the bill and the
encounter's ChargeItems (the charges it was built from) are not counted again. Only codes the knowledge base
knows are kept (destruction, blocks, chemodenervation, cryoablation, unlisted, image guidance), except E/M
visits, which are the global-period rule's; every other code is none of ours.
"""

from __future__ import annotations

from typing import Any

from ..fhir.elements import codes_in, first_date, reference_to, relative
from ..fhir.models import ChargeItem, Claim, Quantity
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from .model import BilledLine, Evidence
from .services import modifier_codes

# ChargeItem.status values that are not (or no longer) a charge; Claim.status likewise.
_NOT_CHARGED = frozenset({"not-billable", "aborted", "entered-in-error"})
_NOT_CLAIMED = frozenset({"cancelled", "entered-in-error", "draft"})
_VISITS = "evaluation-management"


def billed_lines(record: Record, kb: Knowledge, encounter: str | None) -> list[BilledLine]:
    if encounter is None:
        return []
    claimed = _claim_lines(record, kb, encounter)
    return claimed if claimed else _charge_lines(record, kb, encounter)


def _units(quantity: Quantity | None) -> int:
    if quantity is None or quantity.value is None or quantity.value < 1:
        return 1
    return int(quantity.value)


def _compared(code: str, kb: Knowledge) -> bool:
    return kb.family(code) not in (None, _VISITS)


def _charge_lines(record: Record, kb: Knowledge, encounter: str) -> list[BilledLine]:
    lines = []
    for item in record.of_type(ChargeItem):
        if item.status in _NOT_CHARGED or relative(item.context) != encounter:
            continue
        codes, fields = codes_in(item.code, "code", kb.cpt_systems)
        for code, field in zip(codes, fields, strict=True):
            if not _compared(code, kb):
                continue
            modifiers = modifier_codes(item) | modifier_codes(item.code)
            reference = reference_to(item)
            lines.append(
                BilledLine(
                    reference,
                    None,
                    code,
                    tuple(sorted(modifiers)),
                    _units(item.quantity),
                    first_date(item.occurrenceDateTime, item.occurrencePeriod),
                    Evidence(reference, (field,)),
                )
            )
    return lines


def _claim_lines(record: Record, kb: Knowledge, encounter: str) -> list[BilledLine]:
    lines = []
    for claim in record.of_type(Claim):
        if claim.status in _NOT_CLAIMED or claim.use not in (None, "claim"):
            continue  # a preauthorization or a predetermination is not a bill
        reference = reference_to(claim)
        for i, item in enumerate(claim.item or []):
            if encounter not in {relative(r) for r in item.encounter or []}:
                continue
            path = f"item[{i}].productOrService"
            codes, fields = codes_in(item.productOrService, path, kb.cpt_systems)
            for code, field in zip(codes, fields, strict=True):
                if not _compared(code, kb):
                    continue
                lines.append(
                    BilledLine(
                        reference,
                        item.sequence if item.sequence is not None else i + 1,
                        code,
                        tuple(sorted(_item_modifiers(item))),
                        _units(item.quantity),
                        first_date(item.servicedDate, item.servicedPeriod),
                        Evidence(reference, (field,)),
                    )
                )
    return lines


def _item_modifiers(item: Any) -> set[str]:
    return {c.code.strip().upper() for m in item.modifier or [] for c in m.coding or [] if c.code}
