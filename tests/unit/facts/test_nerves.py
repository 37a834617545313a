"""facts.nerves: nerves and sides resolved across an order's or procedure's fields in the stated precedence —
bodySite codes and laterality extensions, bodySite words, order questions, the code's words, notes, and the
side of the reasons' ICD-10-CM codes — with conflicting sides reported, never guessed. Resources are written
the way EHRs send them and parsed with the R4B models, as the facts stage reads them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.procedure import Procedure
from fhir.resources.R4B.servicerequest import ServiceRequest

from cpt64640_cds.facts.extract import extract
from cpt64640_cds.facts.indications import reasons_of
from cpt64640_cds.facts.nerves import nerve_targets
from cpt64640_cds.fhir.record import build
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.protocol.prefetch.completion import KeyResult, PrefetchResult

KB = load()
CPT = "http://www.ama-assn.org/go/cpt"
SCT = "http://snomed.info/sct"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition/mcode-laterality-qualifier"
LEFT = {"system": SCT, "code": "7771000", "display": "Left"}
RIGHT = {"system": SCT, "code": "24028007", "display": "Right"}
BOTH = {"system": SCT, "code": "51440002", "display": "Right and left"}
LFCN, GON, LON = "lateral-femoral-cutaneous", "greater-occipital", "lesser-occipital"


def _site(text: str | None = None, *codings: dict[str, str], laterality: dict[str, Any] | None = None) -> dict:
    site: dict[str, Any] = {}
    if text:
        site["text"] = text
    if codings:
        site["coding"] = list(codings)
    if laterality:
        site["extension"] = [laterality]
    return site


def _mcode(side: dict[str, str]) -> dict[str, Any]:
    return {"url": MCODE, "valueCodeableConcept": {"coding": [side]}}


def _order(
    sites: list[dict] | str | None = None,
    details: list[str | dict] = (),  # type: ignore[assignment]
    code_text: str | None = None,
    notes: list[str] = (),  # type: ignore[assignment]
    reasons: list[str] = (),  # type: ignore[assignment]
    kind: str = "ServiceRequest",
) -> Any:
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": "r1",
        "status": "draft" if kind == "ServiceRequest" else "completed",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": CPT, "code": "64640"}], **({"text": code_text} if code_text else {})},
    }
    if kind == "ServiceRequest":
        resource["intent"] = "order"
    if sites is not None:
        resource["bodySite"] = [{"text": sites}] if isinstance(sites, str) else sites
    if details:
        resource["orderDetail"] = [{"text": d} if isinstance(d, str) else d for d in details]
    if notes:
        resource["note"] = [{"text": n} for n in notes]
    if reasons:
        resource["reasonCode"] = [{"coding": [{"system": ICD, "code": c}]} for c in reasons]
    model = ServiceRequest if kind == "ServiceRequest" else Procedure
    return model.model_validate(resource)


def _procedure(*args: Any, **kwargs: Any) -> Any:
    return _order(*args, **kwargs, kind="Procedure")


def _resolved(resource: Any) -> tuple[list[tuple[str | None, str | None]], list[tuple[str, ...]]]:
    targets = nerve_targets(resource, KB, reasons_of(resource, {}, KB))
    found = [(t.nerve.id if t.nerve else t.text, t.side) for t in targets]
    return found, [t.side_conflict for t in targets if t.side_conflict]


# (resource, expected (nerve, side) per target, expected conflicting fields per conflicted target)
CASES = [
    # 1. bodySite codes: SNOMED CT side codings, laterality extensions, a SNOMED CT nerve concept.
    ("coded-side-element", _order([_site("lateral femoral cutaneous nerve"), _site(None, LEFT)]), [(LFCN, "left")], []),
    ("coded-side-same-element", _order([_site("LFCN", RIGHT)]), [(LFCN, "right")], []),
    ("coded-bilateral", _order([_site("obturator nn."), _site(None, BOTH)]), [("obturator", "bilateral")], []),
    (
        "mcode-laterality",
        _order([_site("lateral femoral cutaneous nerve", laterality=_mcode(LEFT))]),
        [(LFCN, "left")],
        [],
    ),
    (
        "local-laterality-coding",
        _order(
            [
                _site(
                    "GON",
                    laterality={
                        "url": "https://ehr.example/fhir/StructureDefinition/bodysite-Laterality",
                        "valueCoding": RIGHT,
                    },
                )
            ]
        ),
        [(GON, "right")],
        [],
    ),
    (
        "other-extension-ignored",
        _order(
            [
                _site(
                    "GON",
                    laterality={"url": "https://ehr.example/fhir/StructureDefinition/site-note", "valueCoding": RIGHT},
                )
            ]
        ),
        [(GON, None)],
        [],
    ),
    (
        "snomed-nerve-concept",
        _order([_site(None, {"system": SCT, "code": "27612005", "display": "Trigeminal nerve structure"}, RIGHT)]),
        [("trigeminal", "right")],
        [],
    ),
    (
        "local-coding-display",
        _order([_site(None, {"system": "urn:local", "code": "x", "display": "Right GON"})]),
        [(GON, "right")],
        [],
    ),
    # 2. bodySite words.
    ("site-text", _order("Left LFCN"), [(LFCN, "left")], []),
    ("site-text-postfix", _order("greater occipital n, L"), [(GON, "left")], []),
    ("site-side-only-text", _order([_site("LFCN"), _site("Left")]), [(LFCN, "left")], []),
    (
        "site-side-element-and-code-text",
        _order("Left", code_text="Alcohol neurolysis of the sural nerve"),
        [("sural", "left")],
        [],
    ),
    ("site-two-elements-two-sides", _order([_site("Left GON"), _site("Right GON")]), [(GON, "bilateral")], []),
    ("site-two-nerves", _order([_site("Left GON"), _site("right LON")]), [(GON, "left"), (LON, "right")], []),
    ("site-no-side", _order("lateral femoral cutaneous nerve"), [(LFCN, None)], []),
    # 3. Order questions.
    ("question-laterality", _order("LFCN", ["Laterality: Left"]), [(LFCN, "left")], []),
    ("question-side-rt", _order("GON", ["Side: Rt"]), [(GON, "right")], []),
    ("question-lt", _order("tibial nerve", ["Which side? LT"]), [("tibial", "left")], []),
    ("question-bilat", _order("genicular nerves", ["Laterality: bilat"]), [("genicular", "bilateral")], []),
    ("question-coded-answer", _order("genicular nerves", [{"coding": [BOTH]}]), [("genicular", "bilateral")], []),
    (
        "question-coded-left",
        _order("suprascapular nerve", [{"coding": [LEFT], "text": "Laterality"}]),
        [("suprascapular", "left")],
        [],
    ),
    ("question-site", _order(None, ["Site: L LFCN"]), [(LFCN, "left")], []),
    ("question-site-and-agent", _order(None, ["Agent: phenol 6%", "Target nerve: R GON"]), [(GON, "right")], []),
    ("question-other-nerve-not-ours", _order("GON", ["Site: R LON"]), [(GON, None)], []),
    ("question-b", _order("GON", ["Laterality: B"]), [(GON, "bilateral")], []),
    # 4. The code's words.
    (
        "code-text",
        _order(None, code_text="Phenol neurolysis, right ilioinguinal nerve"),
        [("ilioinguinal", "right")],
        [],
    ),
    ("code-text-side-only", _order("LFCN", code_text="Chemical neurolysis, left"), [(LFCN, "left")], []),
    (
        "code-text-two-nerves",
        _order(None, code_text="Phenol neurolysis L GON and R LON"),
        [(GON, "left"), (LON, "right")],
        [],
    ),
    # 5. Notes.
    (
        "note-target",
        _order(None, code_text="Chemical neurolysis", notes=["Target: left LFCN. 3 mL 6% phenol."]),
        [(LFCN, "left")],
        [],
    ),
    ("note-side-for-site", _order("LFCN", notes=["Target: left LFCN"]), [(LFCN, "left")], []),
    (
        "note-comparison-not-a-side",
        _order("Left LFCN", notes=["Less tender compared with the right LFCN."]),
        [(LFCN, "left")],
        [],
    ),
    ("note-free-side-ignored", _order("LFCN", notes=["Patient positioned right side up."]), [(LFCN, None)], []),
    ("note-other-nerve-ignored", _order("LFCN", notes=["Right GON block done last year."]), [(LFCN, None)], []),
    (
        "note-landmark",
        _order(None, code_text="Neurolysis", notes=["Under US the left LFCN was injected medial to the ASIS."]),
        [(LFCN, "left")],
        [],
    ),
    (
        "note-identified-landmark",
        _order(
            None,
            code_text="Neurolysis",
            notes=["The femoral nerve was identified lateral to the artery. Left saphenous nerve: 3 mL phenol 6%."],
        ),
        [("saphenous", "left")],
        [],
    ),
    (
        "note-avoided",
        _order(
            None,
            code_text="Neurolysis",
            notes=["Right tibial nerve motor branches injected; the common peroneal nerve was avoided."],
        ),
        [("tibial", "right")],
        [],
    ),
    # 6. The reasons' ICD-10-CM side, only when nothing else states one.
    ("reason-left", _order("LFCN", reasons=["G57.12"]), [(LFCN, "left")], []),
    ("reason-right", _order("LFCN", reasons=["G5711"]), [(LFCN, "right")], []),
    ("reason-bilateral", _order("LFCN", reasons=["G57.13"]), [(LFCN, "bilateral")], []),
    ("reason-two-sides", _order("LFCN", reasons=["G57.11", "G57.12"]), [(LFCN, None)], []),
    ("reason-unsided", _order("LFCN", reasons=["G57.10"]), [(LFCN, None)], []),
    ("reason-only-fills", _order("Left LFCN", reasons=["G57.11"]), [(LFCN, "left")], []),
    # A shared side distributes over a list of nerves.
    ("list-prefix", _order("Left obturator and tibial nerves"), [("obturator", "left"), ("tibial", "left")], []),
    ("list-ampersand", _order("L LFCN & GON"), [(LFCN, "left"), (GON, "left")], []),
    ("list-genicular", _order("bilateral genicular (SMGN, SLGN, IMGN)"), [("genicular", "bilateral")], []),
    ("list-colon", _order("right: sural, saphenous"), [("sural", "right"), ("saphenous", "right")], []),
    (
        "list-question-side",
        _order("obturator and tibial nerves", ["Laterality: Right"]),
        [("obturator", "right"), ("tibial", "right")],
        [],
    ),
    # Misspellings and abbreviations.
    ("misspelt-genicular", _order("L genicualr nerves"), [("genicular", "left")], []),
    ("misspelt-suprascapular", _order("Rt suprascapluar"), [("suprascapular", "right")], []),
    ("misspelt-cutaneous", _order("Left lateral femoral cutanous nerve"), [(LFCN, "left")], []),
    ("misspelt-saphenous", _order("saphenus nerve, left"), [("saphenous", "left")], []),
    ("fuzzy-genicular", _order("geniculer nerves, right"), [("genicular", "right")], []),
    (
        "fuzzy-in-note",
        _order(None, code_text="Neurolysis", notes=["Target: left supraskapular nerve"]),
        [("suprascapular", "left")],
        [],
    ),
    (
        "unknown-nerve",
        _order("medial antebrachial cutaneous nerve, left"),
        [("medial antebrachial cutaneous nerve", "left")],
        [],
    ),
    (
        "unknown-site-before-code-text",
        _order([_site("Medial antebrachial cutaneous n."), _site(None, RIGHT)], code_text="Phenol neurolysis of LFCN"),
        [("medial antebrachial cutaneous nerve", "right")],
        [],
    ),
    ("abbrev-lfc-nerve", _order("LFC nerve", ["Side: L"]), [(LFCN, "left")], []),
    # Unsided nerves take no side, and no side of theirs conflicts.
    ("unsided-basivertebral", _order("basivertebral nerve L4", ["Laterality: Right"]), [("basivertebral", None)], []),
    ("unsided-celiac", _order("bilateral celiac plexus"), [("celiac-plexus", None)], []),
    # No nerve named: the side alone.
    ("no-nerve-side", _order("Left thumb"), [(None, "left")], []),
    ("no-nerve-nothing", _order(None, code_text="Chemical neurolysis"), [(None, None)], []),
    # Conflicting sides: a documentation finding, never a guess.
    (
        "conflict-question",
        _order("Left LFCN", ["Laterality: Right"]),
        [(LFCN, None)],
        [("bodySite[0].text", "orderDetail[0].text")],
    ),
    (
        "conflict-note",
        _order("Left LFCN", notes=["Right LFCN neurolysis performed."]),
        [(LFCN, None)],
        [("bodySite[0].text", "note[0].text")],
    ),
    (
        "conflict-coded-vs-question",
        _order([_site("LFCN", LEFT)], ["Laterality: Right"]),
        [(LFCN, None)],
        [("bodySite[0].coding[0]", "orderDetail[0].text")],
    ),
    (
        "conflict-coded-element-vs-text",
        _order([_site("Left GON"), _site(None, RIGHT)]),
        [(GON, None)],
        [("bodySite[1].coding[0]", "bodySite[1].coding[0].display", "bodySite[0].text")],
    ),
    (
        "conflict-extension-vs-text",
        _order([_site("Left LFCN", laterality=_mcode(RIGHT))]),
        [(LFCN, None)],
        [("bodySite[0].extension[0]", "bodySite[0].text")],
    ),
    (
        "conflict-bilateral-vs-left",
        _order("bilateral GON", ["Laterality: Left"]),
        [(GON, None)],
        [("bodySite[0].text", "orderDetail[0].text")],
    ),
    (
        "conflict-left-vs-bilateral",
        _order("Left GON", ["Laterality: Bilateral"]),
        [(GON, None)],
        [("bodySite[0].text", "orderDetail[0].text")],
    ),
    (
        "note-names-one-side-of-two",
        _order("bilateral GON", notes=["Right GON: 2 mL phenol 6%."]),
        [(GON, "bilateral")],
        [],
    ),
    (
        "conflict-list",
        _order("Left obturator and tibial nerves", ["Laterality: Right"]),
        [("obturator", None), ("tibial", None)],
        [("bodySite[0].text", "orderDetail[0].text")] * 2,
    ),
    (
        "conflict-one-of-two",
        _order("L GON and R LON", ["Laterality: Left"]),
        [(GON, "left"), (LON, None)],
        [("bodySite[0].text", "orderDetail[0].text")],
    ),
    (
        "conflict-procedure-note",
        _procedure("right GON", notes=["Left GON injected with 2 mL 6% phenol."]),
        [(GON, None)],
        [("bodySite[0].text", "note[0].text")],
    ),
    (
        "conflict-procedure-extension-note",
        _procedure([_site("LFCN", laterality=_mcode(LEFT))], notes=["Right LFCN: 3 mL phenol."]),
        [(LFCN, None)],
        [("bodySite[0].extension[0]", "note[0].text")],
    ),
    (
        "conflict-code-text",
        _order("Right LFCN", code_text="Neurolysis, left"),
        [(LFCN, None)],
        [("bodySite[0].text", "code.text")],
    ),
    (
        "agree-everywhere",
        _order([_site("Left LFCN", LEFT)], ["Laterality: Left"], notes=["Left LFCN."], reasons=["G57.11"]),
        [(LFCN, "left")],
        [],
    ),
]


@pytest.mark.parametrize(("resource", "nerves", "conflicts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_nerves_and_sides_across_fields(resource, nerves, conflicts):
    assert _resolved(resource) == (nerves, conflicts)


def test_at_least_ninety_rows_with_the_reading_table():
    from ..reading.test_sites import LANDMARKS, SIDES, TARGETS

    assert len(CASES) + len(TARGETS) + len(LANDMARKS) + len(SIDES) >= 90


def test_a_historical_side_in_the_note_is_not_a_conflict():
    order = _order("Left LFCN", notes=["s/p right LFCN neurolysis 2024; today left LFCN"])
    assert _resolved(order) == ([(LFCN, "left")], [])


def test_the_fields_of_the_nerve_and_its_side_are_the_evidence():
    [target] = nerve_targets(_order("LFCN", ["Laterality: Left"], notes=["Left LFCN."]), KB)
    assert target.fields == ("bodySite[0].text", "orderDetail[0].text", "note[0].text")
    [by_reason] = nerve_targets(
        _order("LFCN", reasons=["G57.12"]), KB, reasons_of(_order("LFCN", reasons=["G57.12"]), {}, KB)
    )
    assert by_reason.fields == ("bodySite[0].text", "reasonCode")


def _episodes(order: dict[str, Any], conditions: list[dict[str, Any]] = ()) -> list[Any]:  # type: ignore[assignment]
    context = {
        "patientId": "p",
        "encounterId": "e1",
        "draftOrders": {"resourceType": "Bundle", "entry": [{"resource": order}]},
    }
    result = PrefetchResult()
    bundle = {"resourceType": "Bundle", "entry": [{"resource": c} for c in conditions]}
    result.keys["conditions"] = KeyResult("conditions", "prefetch", bundle)
    return extract(build(context, None, result), KB, date(2026, 12, 1)).episodes


def test_an_episode_with_conflicting_sides_has_no_side_and_names_the_fields():
    order = _order("Left LFCN", ["Laterality: Right"]).model_dump(mode="json", exclude_none=True)
    [episode] = _episodes(order)
    assert (episode.nerve.id, episode.side, episode.side_conflict) == (
        LFCN,
        None,
        ("bodySite[0].text", "orderDetail[0].text"),
    )


def test_the_side_of_a_linked_condition_fills_in():
    order = {
        **_order("LFCN").model_dump(mode="json", exclude_none=True),
        "reasonReference": [{"reference": "Condition/c1"}],
    }
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "subject": {"reference": "Patient/p"},
        "code": {"coding": [{"system": ICD, "code": "G57.12", "display": "Meralgia paresthetica, left lower limb"}]},
    }
    episodes = _episodes(order, [condition])
    assert [(e.nerve.id, e.side, e.side_conflict) for e in episodes] == [(LFCN, "left", ())]
