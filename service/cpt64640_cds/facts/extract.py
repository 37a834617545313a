"""Facts: one normalised record per nerve episode (one nerve, one side, one date of service).

Episodes come from the draft ServiceRequests in focus and from completed Procedures of the current
encounter (facts/episodes.py says which of them are neurolysis: structured codes first, then their own words),
with the medications given or ordered with them and the notes linked to them. Separately ordered or performed
image-guidance services are facts of their own. Each fact keeps the resources and fields it was read
from, so every card can say why it fired. Rules only ever see `Facts`; they never read FHIR or JSON.
"""

from __future__ import annotations

from datetime import date

from ..fhir.elements import relative
from ..fhir.models import ChargeItem, Procedure
from ..fhir.record import Record
from ..knowledge.base import Knowledge
from ..reading.session import reading_session
from .billing import billed_lines
from .conservative import conservative_care
from .documents import administrations_by_procedure, medication_orders, read_documents
from .episodes import EpisodeContext, episodes_of
from .indications import conditions_of
from .model import Evidence, Facts
from .services import em_service, guidance_service, imaging_of

SKIPPED_ORDER_STATUSES = frozenset({"revoked", "entered-in-error", "completed"})


@reading_session()  # each distinct text read once per call
def extract(record: Record, kb: Knowledge, today: date, *, review: bool = False) -> Facts:
    """`review`: an encounter reviewed after the fact (encounter-discharge): what was billed for it is read too."""
    encounter = f"Encounter/{record.encounter_id}" if record.encounter_id else None
    facts = Facts(
        patient=f"Patient/{record.patient_id}",
        encounter=encounter,
        user=record.user_id,
        today=today,
        conditions=conditions_of(record, kb),
        imaging=imaging_of(record, kb),
        unavailable=list(record.unavailable),
        incomplete=list(record.incomplete),
        dropped=list(record.dropped),
        review=review,
        billed=billed_lines(record, kb, encounter) if review else [],
    )
    procedure_orders = []
    for order in record.draft_orders:
        if order.status in SKIPPED_ORDER_STATUSES or order.doNotPerform:
            continue  # a "do not perform" order forbids the service: nothing is billed for it
        service = guidance_service(order, "order", encounter, kb)
        em = em_service(order, "order", kb)
        if service is not None:
            facts.guidance_services.append(service)  # guidance orders matter in the whole session
        elif em is not None:
            facts.em_services.append(em)
        else:
            procedure_orders.append(order)
    ctx = EpisodeContext(
        record,
        kb,
        encounter,
        administrations_by_procedure(record, kb),
        read_documents(record, kb),
        medication_orders(record, kb),
        facts.conditions,
        single_draft=len(procedure_orders) == 1,
    )
    for order in procedure_orders:
        if record.in_focus(order):
            facts.episodes.extend(episodes_of(order, "order", ctx))
    for procedure in record.of_type(Procedure):
        if procedure.status != "completed":
            continue
        em = em_service(procedure, "performed", kb)
        if em is not None:
            facts.em_services.append(em)
            continue
        if not encounter or relative(procedure.encounter) != encounter:
            continue
        service = guidance_service(procedure, "performed", encounter, kb)
        if service is not None:
            facts.guidance_services.append(service)
        else:
            facts.episodes.extend(episodes_of(procedure, "performed", ctx))
    for item in record.of_type(ChargeItem):
        if item.status not in ("entered-in-error", "not-billable"):
            em = em_service(item, "performed", kb)
            if em is not None:
                facts.em_services.append(em)
    facts.conservative, unread = conservative_care(record, kb, ctx.documents, {e.source for e in facts.episodes}, today)
    unread += [Evidence(d.reference, tuple(sorted(d.found.unread))) for d in ctx.documents if d.found.unread]
    facts.unread = _merged([*(e for episode in facts.episodes for e in episode.unread), *unread])
    return facts


def _merged(evidence: list[Evidence]) -> list[Evidence]:
    """One entry per resource, its fields in order of first mention."""
    fields: dict[str, dict[str, None]] = {}
    for item in evidence:
        fields.setdefault(item.reference, {}).update(dict.fromkeys(item.fields))
    return [Evidence(reference, tuple(names)) for reference, names in fields.items()]
