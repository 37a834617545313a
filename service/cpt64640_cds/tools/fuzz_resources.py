"""Hypothesis strategies for FHIR-ish resources as EHRs send them, valid and adversarial: ServiceRequests and
Procedures that look like neurolysis orders, Conditions, MedicationAdministrations, DocumentReferences with
text attachments, Bundles."""

from __future__ import annotations

import base64
from typing import Any

from hypothesis import strategies as st

from .fuzz_values import (
    AGENT_WORDS,
    CPT,
    ICD10,
    ICD_CODES,
    KB,
    KNOWN_CODES,
    MODALITY_WORDS,
    NERVE_WORDS,
    PHRASE,
    SIDE_CODES,
    SIDE_WORDS,
    SIDES,
    SNOMED,
    SNOMED_PROCEDURES,
    TEXT,
    WORD,
    enum,
    number,
    obj,
    rarely,
    weighted,
)


def resource(
    resource_type: str,
    required: dict[str, st.SearchStrategy[Any]] | None = None,
    choice: dict[str, st.SearchStrategy[Any]] | None = None,
    **fields: st.SearchStrategy[Any],
) -> st.SearchStrategy[dict[str, Any]]:
    """A resource with its required fields, optional ones (each may be absent) and at most one of a choice[x]
    (value[x] both ways is invalid FHIR: that is left to `mutated`)."""
    choices: list[st.SearchStrategy[dict[str, Any]]] = [st.just({})] + [
        st.fixed_dictionaries({k: v}) for k, v in (choice or {}).items()
    ]
    return st.tuples(st.fixed_dictionaries(required or {}), obj(**fields), st.one_of(choices)).map(
        lambda parts: {"resourceType": resource_type, **parts[0], **parts[1], **parts[2]}
    )


FULL_WIDTH_64640 = "\uff16\uff14\uff16\uff14\uff10"

CODE = weighted(
    (4, st.sampled_from(["64640", "64640", "64630", "64632", "64633", "64635", "64642", "64644", "64650", "64680"])),
    (3, st.sampled_from(KNOWN_CODES)),
    (2, st.integers(64600, 64699).map(str)),
    (
        1,
        st.sampled_from(
            [
                "064640",
                "6464O",
                "64640-50",
                "64640RT",
                "\uff16\uff14\uff16\uff14\uff10",
                "0440T",
                "99999",
                "1",
                "64640.0",
            ]
        ),
    ),
    (1, st.sampled_from(SNOMED_PROCEDURES)),
    (1, st.sampled_from(["64640 ", " 64640", "", "64 640"]) | st.text(max_size=8)),  # not a FHIR code
)

SYSTEM = weighted(
    (12, st.sampled_from([CPT, CPT, SNOMED, ICD10, CPT + "/", "urn:oid:2.16.840.1.113883.6.12"])),
    (1, st.text(max_size=12)),
)

VALID_DATE = st.one_of(
    st.dates().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.datetimes().map(lambda d: d.isoformat(timespec="seconds") + "+05:30"),
    st.sampled_from(["2026-11-20", "2026-11-20T09:30:00Z", "2026", "2026-11", "9999-12-31T23:59:59+14:00"]),
)

INVALID_DATE = st.sampled_from(
    ["2026-02-30", "2026-13-01", "2026-11-20T25:00:00Z", "20261120", "0000-00-00", "-2026-01-01", "yesterday", ""]
)

DATE = rarely(VALID_DATE, INVALID_DATE, 30)

ID = rarely(
    st.sampled_from(["sr-1", "sr-2", "p-1", "p-2", "c-1", "ma-1", "doc-1", "enc-1", "x"])
    | st.from_regex(r"[A-Za-z0-9\-.]{1,64}", fullmatch=True),
    st.sampled_from(["", "a" * 65, "ü", "sr 1", "sr/1", "Procedure/p-1"]),
    30,
)

REFERENCE = st.builds(
    lambda t, i: {"reference": f"{t}/{i}"},
    st.sampled_from(["Patient", "Encounter", "Procedure", "Condition", "ServiceRequest", "Practitioner", "X"]),
    ID,
) | st.sampled_from([{"reference": "Encounter/enc-1"}, {"reference": "#contained"}, {"display": "somewhere"}])

CODING = obj(system=SYSTEM, code=CODE, display=TEXT)

CONCEPT = obj(coding=st.lists(CODING, max_size=3), text=TEXT)

LATERALITY = obj(
    coding=st.lists(
        obj(
            system=st.sampled_from([SNOMED, SNOMED, "http://snomed.info/sct/", "urn:x"]),
            code=st.sampled_from([*SIDE_CODES, *SIDE_CODES, "7771000 ", "0", "272741003", "182353008"]),
            display=st.sampled_from([*SIDE_WORDS, "Left", "Right", "Bilateral", ""]),
        ),
        max_size=3,
    ),
    text=TEXT,
)

BODY_SITE = st.lists(st.one_of(CONCEPT, LATERALITY, obj(text=TEXT)), max_size=4)

NOTES = st.lists(obj(text=TEXT, time=DATE), max_size=3)

DIAGNOSIS = obj(coding=st.lists(obj(system=SYSTEM | st.just(ICD10), code=st.sampled_from(ICD_CODES)), max_size=2))

PERIOD = obj(start=DATE, end=DATE)

QUANTITY = obj(value=number(), unit=st.sampled_from(["mL", "ml", "mg", "%", "units"]) | TEXT)

PROCEDURE_REFERENCE = st.sampled_from(["p-1", "p-2", "sr-1", "x"]).map(lambda i: {"reference": f"Procedure/{i}"})

SUBJECT = rarely(st.just({"reference": "Patient/p-1"}), REFERENCE, 4)

SERVICE_REQUEST = resource(
    "ServiceRequest",
    required={
        "status": enum("draft", "active", "completed", "revoked"),
        "intent": enum("order", "proposal", "plan", "original-order"),
        "subject": SUBJECT,
    },
    choice={"occurrenceDateTime": DATE, "occurrencePeriod": PERIOD},
    id=ID,
    code=CONCEPT,
    encounter=REFERENCE,
    authoredOn=DATE,
    bodySite=BODY_SITE,
    note=NOTES,
    orderDetail=st.lists(CONCEPT, max_size=3),
    quantityQuantity=QUANTITY,
    reasonCode=st.lists(st.one_of(DIAGNOSIS, CONCEPT), max_size=2),
    reasonReference=st.lists(REFERENCE, max_size=2),
)

PROCEDURE = resource(
    "Procedure",
    required={
        "status": enum("completed", "completed", "in-progress", "preparation", "not-done", "entered-in-error"),
        "subject": SUBJECT,
    },
    choice={"performedDateTime": DATE, "performedPeriod": PERIOD},
    id=ID,
    code=CONCEPT,
    encounter=REFERENCE,
    bodySite=BODY_SITE,
    note=NOTES,
    usedCode=st.lists(CONCEPT, max_size=3),
    reasonCode=st.lists(st.one_of(DIAGNOSIS, CONCEPT), max_size=2),
    reasonReference=st.lists(REFERENCE, max_size=2),
    partOf=st.lists(REFERENCE, max_size=2),
)


@st.composite
def likely_order(draw: st.DrawFn, resource_type: str) -> dict[str, Any]:
    """An order or procedure a clinician could have written: a CPT code near 64640, a named nerve, a side,
    an agent or modality with numbers, some guidance, on a real date; the rules have something to say."""
    nerve = draw(st.sampled_from(NERVE_WORDS))
    side = draw(st.sampled_from(SIDES))
    words = draw(st.lists(WORD, max_size=6).map(" ".join))
    text = f"{draw(st.sampled_from(AGENT_WORDS + MODALITY_WORDS + list(KB.neurolysis_words)))} {nerve} {words}"
    sites: list[dict[str, Any]] = [{"text": draw(st.sampled_from([nerve, f"{side.side} {nerve}"]))}]
    if draw(st.booleans()):
        sites.append({"coding": [{"system": SNOMED, "code": side.snomed, "display": side.side.title()}]})
    out: dict[str, Any] = {
        "resourceType": resource_type,
        "id": draw(st.sampled_from(["sr-1", "sr-2", "sr-3", "p-1", "p-2"])),
        "status": "draft" if resource_type == "ServiceRequest" else "completed",
        "subject": {"reference": "Patient/p-1"},
        "encounter": {"reference": draw(st.sampled_from(["Encounter/enc-1", "Encounter/enc-1", "Encounter/enc-2"]))},
        "code": {"coding": [{"system": CPT, "code": draw(CODE)}], "text": text},
        "bodySite": sites,
        "note": [{"text": t} for t in draw(st.lists(TEXT, max_size=2))],
    }
    date = draw(st.sampled_from(["2026-11-20", "2026-11-20T09:30:00Z"]) | VALID_DATE)
    if resource_type == "ServiceRequest":
        out.update(intent="order", occurrenceDateTime=date)
        out["orderDetail"] = [{"text": t} for t in draw(st.lists(PHRASE, max_size=2))]
    else:
        out.update(performedDateTime=date, usedCode=draw(st.lists(CONCEPT, max_size=1)))
    if draw(st.booleans()):
        out["reasonCode"] = [draw(DIAGNOSIS)]
    return out


CONDITION = resource(
    "Condition",
    required={"subject": SUBJECT},
    id=ID,
    code=st.one_of(DIAGNOSIS, CONCEPT),
    clinicalStatus=obj(coding=st.lists(obj(code=enum("active", "resolved")), max_size=1)),
    onsetDateTime=DATE,
    recordedDate=DATE,
    bodySite=BODY_SITE,
)

MEDICATION_ADMINISTRATION = resource(
    "MedicationAdministration",
    required={
        "status": enum("completed", "in-progress", "not-done"),
        "medicationCodeableConcept": CONCEPT,
        "subject": SUBJECT,
        "effectiveDateTime": DATE,
    },
    id=ID,
    context=REFERENCE,
    partOf=st.lists(rarely(PROCEDURE_REFERENCE, REFERENCE, 4), max_size=2),
    dosage=obj(text=TEXT, dose=QUANTITY, route=CONCEPT, site=CONCEPT),
    note=NOTES,
)


def _base64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8", "surrogatepass")).decode("ascii")


ATTACHMENT_DATA = weighted(
    (6, TEXT.map(_base64)),
    (1, st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode("ascii"))),
    (1, st.sampled_from(["!!!not base64!!!", "YQ", "=", "", base64.b64encode(b"\xff\xfe\x00phenol").decode()])),
)

DOCUMENT_REFERENCE = resource(
    "DocumentReference",
    required={
        "status": enum("current", "superseded"),
        "content": st.lists(
            st.fixed_dictionaries(
                {
                    "attachment": obj(
                        contentType=rarely(
                            st.sampled_from(["text/plain", "text/plain; charset=utf-8"]),
                            st.sampled_from(["application/pdf", "text/html", "text/plain; charset=latin-1"]),
                            4,
                        ),
                        data=ATTACHMENT_DATA,
                        title=TEXT,
                    )
                }
            ),
            min_size=1,
            max_size=3,
        ),
    },
    id=ID,
    subject=SUBJECT,
    date=rarely(VALID_DATE.map(lambda d: d if "T" in d else d + "T10:00:00Z"), DATE, 4),
    context=obj(encounter=st.lists(REFERENCE, max_size=2), related=st.lists(PROCEDURE_REFERENCE, max_size=2)),
)

OPERATION_OUTCOME = st.just(
    {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "processing", "diagnostics": "x"}]}
)

PATIENT = resource("Patient", id=ID, gender=enum("female", "male"), birthDate=DATE)

ENCOUNTER = resource(
    "Encounter",
    required={
        "status": enum("in-progress", "finished"),
        "class": st.just({"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}),
    },
    id=rarely(st.sampled_from(["enc-1", "enc-2"]), ID, 3),
    period=PERIOD,
    subject=REFERENCE,
)

ANY_RESOURCE = st.one_of(
    SERVICE_REQUEST, PROCEDURE, CONDITION, MEDICATION_ADMINISTRATION, DOCUMENT_REFERENCE, PATIENT, ENCOUNTER
)


def bundle(entries: st.SearchStrategy[Any], max_size: int = 5) -> st.SearchStrategy[dict[str, Any]]:
    entry = rarely(
        st.one_of(
            st.builds(lambda r: {"resource": r}, entries),
            st.builds(lambda r: {"fullUrl": f"http://localhost/{r['resourceType']}/1", "resource": r}, entries),
        ),
        st.sampled_from([{}, {"fullUrl": "urn:uuid:1"}, {"resource": {"resourceType": "Bundle"}}]),
    )
    return obj(
        type=enum("searchset", "collection"),
        link=st.lists(obj(relation=st.sampled_from(["self", "next"]), url=TEXT), max_size=2),
        total=st.integers(-1, 10_000),
    ).flatmap(
        lambda fields: st.lists(entry, max_size=max_size).map(
            lambda e: {"resourceType": "Bundle", **fields, "entry": e}
        )
    )
