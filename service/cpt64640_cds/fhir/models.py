"""What the facts read of each FHIR resource, as small typed models validated in pydantic's compiled core.

fhir.resources builds every element of every resource through Python validators (about 0.35 ms for a Synthea
Condition); a 60-resource history then costs more than everything else in a call. These models declare only the
elements the facts read, with fhir.resources' names and fhir_core's patterns, checked without Python calls (a
dateTime stays its string: `first_date` reads it; decimals and base64 as fhir.resources gives them). fhir/checks.py
applies the rules these models leave out (unknown elements, shapes, required elements, one value per choice) to
the whole resource. Validated with a call's `Concepts` as context, each distinct CodeableConcept is built once
(one Python call per concept: a history repeats a few).

An element of the resource type that is not declared here raises `UndeclaredElement` when read, even through
`getattr(resource, name, None)`: a rule reading a new element must declare it, never silently see None.
"""

from __future__ import annotations

import base64
import binascii
import marshal
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from .checks import rules_for

# fhir_core's patterns for the primitive types read here.
String = Annotated[str, StringConstraints(pattern=r"^[ \r\n\t\S]+$")]
Code = Annotated[str, StringConstraints(pattern=r"^[^\s]+(\s[^\s]+)*$")]
Uri = Annotated[str, StringConstraints(pattern=r"^\S*$")]
Id = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9\-.]+$")]
Markdown = Annotated[str, StringConstraints(pattern=r"^[ \r\n\t\S]*$")]

# A dateTime stays the string it was written as (first_date reads its date); the pattern is fhir_core's.
DateTime = Annotated[
    str,
    StringConstraints(
        pattern=r"^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])"
        r"(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$"
    ),
]
# `_code` beside `code` carries a primitive's id and extensions: allowed, never read.
PrimitiveExtension = dict[str, Any] | None


def _base64(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if not isinstance(value, str):
        raise ValueError("not base64")
    try:  # as leniently as fhir.resources: characters outside the alphabet are skipped
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc


def _decimal(value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("not a decimal")
    return Decimal(str(value))


Base64 = Annotated[bytes, BeforeValidator(_base64)]
FhirDecimal = Annotated[Decimal, BeforeValidator(_decimal)]


class UndeclaredElement(LookupError):
    """A FHIR element the facts read but these models do not declare (a bug: declare it)."""


class Element(BaseModel):
    """A complex datatype declared whole: an element it does not have makes the resource invalid, as in FHIR."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False)

    id: String | None = None
    extension: list[Extension] | None = None
    fhir_comments: Any = None


class Partial(BaseModel):
    """A complex element of which only some children are read: the others are not looked at."""

    model_config = ConfigDict(extra="ignore")


class Coding(Element):
    system: Uri | None = None
    version: String | None = None
    code: Code | None = None
    display: String | None = None
    userSelected: bool | None = None
    system_ext: PrimitiveExtension = Field(None, alias="_system")
    version_ext: PrimitiveExtension = Field(None, alias="_version")
    code_ext: PrimitiveExtension = Field(None, alias="_code")
    display_ext: PrimitiveExtension = Field(None, alias="_display")
    userSelected_ext: PrimitiveExtension = Field(None, alias="_userSelected")


class Extension(Partial):
    # value[x] has fifty types; the facts read these four (modifiers, laterality).
    url: Uri
    valueCoding: Coding | None = None
    valueCodeableConcept: CodeableConcept | None = None
    valueCode: Code | None = None
    valueString: String | None = None


class CodeableConcept(Element):
    coding: list[Coding] | None = None
    text: String | None = None
    text_ext: PrimitiveExtension = Field(None, alias="_text")

    @model_validator(mode="wrap")
    @classmethod
    def _once_per_call(
        cls, value: Any, handler: ModelWrapValidatorHandler[CodeableConcept], info: ValidationInfo
    ) -> CodeableConcept:
        """A history repeats a few concepts (every Condition's clinicalStatus): validated with a `Concepts` as
        context, a concept written as one already seen in the call is that one's model, not built again."""
        seen = info.context
        if not isinstance(seen, Concepts):
            return handler(value)
        try:  # marshal writes exact built-in types faithfully (no subclass): equal bytes, equal values and types
            key = marshal.dumps(value)
        except ValueError:  # another type (a dict subclass), or nested too deep
            return handler(value)
        concept = seen.get(key)
        if concept is None:
            concept = seen[key] = handler(value)  # an invalid one raises here each time, at its own location
        return concept


class Concepts(dict[bytes, CodeableConcept]):
    """The concepts validated in one call, by their marshalled JSON (patient words: it lives as long as the call)."""


class Reference(Element):
    reference: String | None = None
    type: Uri | None = None
    identifier: dict[str, Any] | None = None
    display: String | None = None
    reference_ext: PrimitiveExtension = Field(None, alias="_reference")
    type_ext: PrimitiveExtension = Field(None, alias="_type")
    display_ext: PrimitiveExtension = Field(None, alias="_display")


class Period(Element):
    start: DateTime | None = None
    end: DateTime | None = None
    start_ext: PrimitiveExtension = Field(None, alias="_start")
    end_ext: PrimitiveExtension = Field(None, alias="_end")


class Quantity(Element):
    value: FhirDecimal | None = None
    comparator: Code | None = None
    unit: String | None = None
    system: Uri | None = None
    code: Code | None = None
    value_ext: PrimitiveExtension = Field(None, alias="_value")
    comparator_ext: PrimitiveExtension = Field(None, alias="_comparator")
    unit_ext: PrimitiveExtension = Field(None, alias="_unit")
    system_ext: PrimitiveExtension = Field(None, alias="_system")
    code_ext: PrimitiveExtension = Field(None, alias="_code")


class Annotation(Element):
    authorReference: Reference | None = None
    authorString: String | None = None
    time: DateTime | None = None
    text: Markdown
    authorString_ext: PrimitiveExtension = Field(None, alias="_authorString")
    time_ext: PrimitiveExtension = Field(None, alias="_time")
    text_ext: PrimitiveExtension = Field(None, alias="_text")


class Attachment(Element):
    contentType: Code | None = None
    language: Code | None = None
    data: Base64 | None = None
    url: String | None = None
    size: int | None = None
    hash: Base64 | None = None
    title: String | None = None
    creation: DateTime | None = None
    contentType_ext: PrimitiveExtension = Field(None, alias="_contentType")
    language_ext: PrimitiveExtension = Field(None, alias="_language")
    data_ext: PrimitiveExtension = Field(None, alias="_data")
    url_ext: PrimitiveExtension = Field(None, alias="_url")
    size_ext: PrimitiveExtension = Field(None, alias="_size")
    hash_ext: PrimitiveExtension = Field(None, alias="_hash")
    title_ext: PrimitiveExtension = Field(None, alias="_title")
    creation_ext: PrimitiveExtension = Field(None, alias="_creation")


class Dosage(Partial):
    text: String | None = None


class AdministrationDosage(Partial):
    text: String | None = None
    dose: Quantity | None = None


class DocumentContent(Partial):
    attachment: Attachment


class DocumentContext(Partial):
    encounter: list[Reference] | None = None
    related: list[Reference] | None = None


class Series(Partial):
    modality: Coding


class Resource(Partial):
    """A resource: its id and the elements its subclass declares."""

    resource_type: ClassVar[str]

    id: Id | None = None
    extension: list[Extension] | None = None

    @classmethod
    def get_resource_type(cls) -> str:
        return cls.resource_type

    if not TYPE_CHECKING:  # the type checker must still see undeclared names as errors

        def __getattr__(self, name: str) -> Any:
            if name in rules_for(self.resource_type).elements:
                raise UndeclaredElement(f"{self.resource_type}.{name} is read but not declared in fhir/models.py")
            return super().__getattr__(name)


class Patient(Resource):
    resource_type = "Patient"


class Encounter(Resource):
    resource_type = "Encounter"


class Condition(Resource):
    resource_type = "Condition"
    clinicalStatus: CodeableConcept | None = None
    verificationStatus: CodeableConcept | None = None
    code: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    abatementDateTime: DateTime | None = None
    abatementAge: dict[str, Any] | None = None
    abatementPeriod: dict[str, Any] | None = None
    abatementRange: dict[str, Any] | None = None
    abatementString: String | None = None


class _Ordered(Resource):
    """What orders and procedures share."""

    status: Code | None = None
    code: CodeableConcept | None = None
    bodySite: list[CodeableConcept] | None = None
    note: list[Annotation] | None = None
    encounter: Reference | None = None
    basedOn: list[Reference] | None = None
    reasonCode: list[CodeableConcept] | None = None
    reasonReference: list[Reference] | None = None


class ServiceRequest(_Ordered):
    resource_type = "ServiceRequest"
    intent: Code | None = None
    doNotPerform: bool | None = None
    category: list[CodeableConcept] | None = None
    orderDetail: list[CodeableConcept] | None = None
    patientInstruction: String | None = None
    occurrenceDateTime: DateTime | None = None
    occurrencePeriod: Period | None = None
    authoredOn: DateTime | None = None


class Procedure(_Ordered):
    resource_type = "Procedure"
    category: CodeableConcept | None = None
    usedCode: list[CodeableConcept] | None = None
    performedDateTime: DateTime | None = None
    performedPeriod: Period | None = None


class MedicationRequest(Resource):
    resource_type = "MedicationRequest"
    status: Code | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    dosageInstruction: list[Dosage] | None = None
    basedOn: list[Reference] | None = None


class MedicationStatement(Resource):
    resource_type = "MedicationStatement"
    status: Code | None = None
    medicationCodeableConcept: CodeableConcept | None = None


class MedicationAdministration(Resource):
    resource_type = "MedicationAdministration"
    status: Code | None = None
    medicationCodeableConcept: CodeableConcept | None = None
    dosage: AdministrationDosage | None = None
    partOf: list[Reference] | None = None


class ImagingStudy(Resource):
    resource_type = "ImagingStudy"
    status: Code | None = None
    modality: list[Coding] | None = None
    series: list[Series] | None = None
    started: DateTime | None = None
    encounter: Reference | None = None
    basedOn: list[Reference] | None = None


class DocumentReference(Resource):
    resource_type = "DocumentReference"
    status: Code | None = None
    date: DateTime | None = None
    content: list[DocumentContent] | None = None
    context: DocumentContext | None = None


class ChargeItem(Resource):
    resource_type = "ChargeItem"
    status: Code | None = None
    code: CodeableConcept | None = None
    context: Reference | None = None
    occurrenceDateTime: DateTime | None = None
    occurrencePeriod: Period | None = None
    quantity: Quantity | None = None


class ClaimItem(Partial):
    sequence: int | None = None
    productOrService: CodeableConcept | None = None
    modifier: list[CodeableConcept] | None = None
    quantity: Quantity | None = None
    encounter: list[Reference] | None = None
    servicedDate: DateTime | None = None
    servicedPeriod: Period | None = None


class Claim(Resource):
    resource_type = "Claim"
    status: Code | None = None
    use: Code | None = None
    item: list[ClaimItem] | None = None


MODELS: dict[str, type[Resource]] = {
    model.resource_type: model
    for model in (
        Patient,
        Encounter,
        Condition,
        ServiceRequest,
        Procedure,
        MedicationRequest,
        MedicationStatement,
        MedicationAdministration,
        ImagingStudy,
        DocumentReference,
        ChargeItem,
        Claim,
    )
}
_declared: tuple[type[BaseModel], ...] = (Element, Coding, Extension, CodeableConcept, *MODELS.values())
for _model in _declared:
    _model.model_rebuild()
