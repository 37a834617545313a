"""Hypothesis strategies for FHIR-ish CDS Hooks requests, valid and adversarial (tests/e2e/test_fuzz_bundles.py,
benchmarks/fuzz_census.py).

`hook_request(service_id)` builds order-sign and order-select requests from the knowledge base's own words
(nerves, sides, agents, modalities, guidance, negations), CPT codes around 64640, SNOMED CT laterality, dates
valid and not; `mutated(service_id)` then breaks them: wrong JSON types, nulls, empty arrays, huge and unicode
strings, lone surrogates, undecodable attachments. Needs `hypothesis` (the dev extra).
"""

from __future__ import annotations

import base64
import copy
import re
from typing import Any

from hypothesis import strategies as st

from ..knowledge.loader import load as load_knowledge
from ..protocol.services import all_services

KB = load_knowledge()
SERVICES = all_services()
CPT = KB.cpt_system
SNOMED = KB.snomed_system
ICD10 = KB.icd10cm_system


def _words(*groups: Any) -> list[str]:
    return sorted({w for group in groups for w in group if isinstance(w, str) and w})


NERVE_WORDS = _words([n.name for n in KB.nerves.values()], *(n.synonyms for n in KB.nerves.values()))
SIDE_WORDS = _words(*(s.words for s in KB.sides.values()))
AGENT_WORDS = _words([a.name for a in KB.agents.values()], *(a.words for a in KB.agents.values()))
MODALITY_WORDS = _words([m.name for m in KB.modalities.values()], *(m.words for m in KB.modalities.values()))
GUIDANCE_WORDS = _words(*(g.words for g in KB.guidance.values()), KB.unspecified_guidance_words)
OTHER_WORDS = _words(
    KB.neurolysis_words,
    KB.negation_before,
    KB.negation_after,
    KB.confirmation_words,
    KB.uncertainty_words,
    KB.conservative_phrases,
    KB.volume_units,
    ["no", "not", "without", "and", "with", "under", "of", "the", "s/p", "x2", "then", ",", ".", ";", "\n", "-", "/"],
)
SIDES = sorted(KB.sides.values(), key=lambda s: s.side)
SIDE_CODES = [s.snomed for s in SIDES]
KNOWN_CODES = sorted(KB.codes)
ICD_CODES = [*sorted({c for g in KB.indication_groups for c in g.listed}), "G57.12", "M79.2", "R52", "Z00.00"]
SNOMED_PROCEDURES = sorted(KB.procedure_snomed) + sorted({c for g in KB.guidance.values() for c in g.snomed})

# Strings no clinician types but a client may still send.
ADVERSARIAL = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: valid in a JSON \u escape, not encodable as UTF-8
    "\udfff phenol \ud83d",
    "🧠💉" * 200,
    "\uff50\uff48\uff45\uff4e\uff4f\uff4c\u3000\uff16\uff05\u3000\uff4c\uff45\uff46\uff54"  # full-width,
    "phe\u200bnol le\u00adft",
    "right\u202eleft",
    "\u216c4-5 L\u0664-\u0665"  # Roman numeral L, Arabic-Indic digits,
    "phenol " * 300,  # longer runs of agent mentions are slow (docs/reliability.md, open findings)
    "a" * 100_000,
    "L" + "-".join(["5"] * 2_000),
    "%" * 5_000,
    "6% " * 3_000,
    "99999999999999999999999% phenol 1e400 mL",
    "-1 mL of 0% phenol",
    "NaN mL",
    "{{context.patientId}}",
    "<script>alert(1)</script>",
    "'; DROP TABLE feedback; --",
    "\\u0000\\\\",
    "\n\n\n\t\r",
]


def _number() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-5, 50),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.sampled_from([0, -0.0, 1e308, 10**30, 0.000001]),
    )


def _concentration() -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, unit, agent: f"{n}{unit} {agent}",
        _number(),
        st.sampled_from(["%", " %", " mL", "ml", " cc", " mg/mL", " units"]),
        st.sampled_from(AGENT_WORDS),
    )


def _level() -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, i, b, j: f"{a}{i}-{b}{j}",
        st.sampled_from("CTLS"),
        st.integers(0, 14),
        st.sampled_from(["", "C", "T", "L", "S"]),
        st.integers(0, 14),
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Each strategy drawn in proportion to its weight (st.one_of merges repeated branches, so it cannot)."""
    slots = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(slots))).flatmap(lambda i: slots[i])


def rarely(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any], one_in: int = 12) -> st.SearchStrategy[Any]:
    """`usual`, and one time in about `one_in`, `unusual`."""
    return weighted((one_in - 1, usual), (1, unusual))


WORD = st.one_of(
    st.sampled_from(NERVE_WORDS),
    st.sampled_from(SIDE_WORDS),
    st.sampled_from(AGENT_WORDS),
    st.sampled_from(MODALITY_WORDS),
    st.sampled_from(GUIDANCE_WORDS),
    st.sampled_from(OTHER_WORDS),
    st.sampled_from(KNOWN_CODES),
    _concentration(),
    _level(),
    st.text(min_size=1, max_size=6),
)
PHRASE = st.lists(WORD, min_size=1, max_size=20).map(" ".join)
# Mostly words a clinician might write; now and then any text, or a string built to hurt.
TEXT = weighted((20, PHRASE), (1, st.text(max_size=40)), (1, st.sampled_from(ADVERSARIAL)))

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["", "\ud800", 10**40]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)

ABSENT = object()


def fuzzy(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field of a well-typed resource: mostly present, sometimes absent. Wrong types come from `mutate`."""
    return rarely(strategy, st.just(ABSENT), 4)


def enum(*valid: str) -> st.SearchStrategy[str]:
    """A FHIR code: one of the valid ones, now and then one the value set does not have."""
    return rarely(st.sampled_from(valid), st.sampled_from(["x", "", "ACTIVE", "completed "]), 40)


def obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: fuzzy(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
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
QUANTITY = obj(value=_number(), unit=st.sampled_from(["mL", "ml", "mg", "%", "units"]) | TEXT)

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


PREFETCH_RESOURCES = {
    "patient": PATIENT,
    "encounter": ENCOUNTER,
    "conditions": bundle(CONDITION),
    "procedures": bundle(weighted((2, PROCEDURE), (2, likely_order("Procedure")), (1, ANY_RESOURCE))),
    "medicationAdministrations": bundle(MEDICATION_ADMINISTRATION),
    "documentReferences": bundle(DOCUMENT_REFERENCE),
}


def prefetch_value(key: str) -> st.SearchStrategy[Any]:
    value = PREFETCH_RESOURCES.get(key, bundle(ANY_RESOURCE, max_size=3))
    return weighted((12, value), (6, st.none()), (1, st.just(ABSENT)), (1, OPERATION_OUTCOME))


def prefetch(service_id: str) -> st.SearchStrategy[dict[str, Any]]:
    keys = SERVICES[service_id].prefetch
    return st.fixed_dictionaries({key: prefetch_value(key) for key in keys}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )


DRAFT_ORDERS = bundle(
    weighted(
        (4, likely_order("ServiceRequest")),
        (4, SERVICE_REQUEST),
        (1, likely_order("Procedure")),
        (1, PROCEDURE),
        (1, ANY_RESOURCE),
    ),
    6,
)
SELECTION = re.compile(r"^[A-Z][A-Za-z]+/[A-Za-z0-9\-.]{1,64}$")


@st.composite
def hook_request(draw: st.DrawFn, service_id: str) -> dict[str, Any]:
    """A request whose envelope passes the hook's schema (mostly); its resources are what gets fuzzed."""
    service = SERVICES[service_id]
    context: dict[str, Any] = {
        "userId": draw(st.sampled_from(["Practitioner/dr-1", "PractitionerRole/r-1"])),
        "patientId": draw(st.sampled_from(["p-1", "neuro-1"])),
        "encounterId": draw(st.sampled_from(["enc-1", "enc-1", "enc-2", ABSENT])),
        "draftOrders": draw(DRAFT_ORDERS),
    }
    if service.hook == "order-select":
        ids = [
            f"{e['resource']['resourceType']}/{e['resource'].get('id')}"
            for e in context["draftOrders"]["entry"]
            if isinstance(e.get("resource"), dict)
        ]
        ids = [i for i in ids if SELECTION.match(i)] or ["ServiceRequest/sr-1"]
        selection = rarely(st.sampled_from(ids), st.sampled_from(["ServiceRequest/none", "Procedure/p-1"]), 5)
        context["selections"] = draw(st.lists(selection, min_size=1, max_size=3))
    body: dict[str, Any] = {
        "hook": service.hook,
        "hookInstance": draw(rarely(st.uuids().map(str), st.sampled_from(["h-1", "\ud800", "x" * 256]), 4)),
        "context": {k: v for k, v in context.items() if v is not ABSENT},
        "prefetch": draw(prefetch(service_id)),
    }
    if draw(rarely(st.just(False), st.just(True), 15)):
        # A loopback FHIR server nobody listens on: the refused-fetch path (loopback is allowed in development).
        body["fhirServer"] = "http://127.0.0.1:9/fhir"
        body["fhirAuthorization"] = {"access_token": "t", "token_type": "Bearer", "expires_in": 300}
    return body


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*path, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*path, index))
    return found


def _in_resource(path: tuple[Any, ...]) -> bool:
    """Below a resource's resourceType: what the schema leaves to the typed FHIR layer."""
    if "resource" in path:
        rest = path[path.index("resource") + 1 :]
    elif path[:1] == ("prefetch",) and len(path) >= 2:
        rest = path[2:]
    else:
        return False
    return bool(rest) and rest != ("resourceType",)


WRONG = st.one_of(JSON, st.sampled_from([None, [], {}, "", 0, -1, True, 1e308, ABSENT]), TEXT)


@st.composite
def mutated(draw: st.DrawFn, service_id: str, anywhere: bool = True, most: int = 3) -> Any:
    """A hook request with up to `most` values replaced by something of the wrong kind, or removed."""
    # A copy: strategies such as st.just hand out the same object every time, and it must stay as it was.
    body: Any = copy.deepcopy(draw(hook_request(service_id)))
    for _ in range(draw(st.integers(0, most))):
        paths = [p for p in _paths(body) if anywhere or _in_resource(p)]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        replacement = draw(WRONG)
        if not path:
            body = None if replacement is ABSENT else copy.deepcopy(replacement)
            continue
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if replacement is ABSENT:
            del parent[path[-1]]
        else:
            parent[path[-1]] = copy.deepcopy(replacement)
    return body
