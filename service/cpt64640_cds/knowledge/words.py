"""The reading side of the knowledge base: agents and modalities, indications, conservative care, what a
record must document, and how clinicians write (abbreviations, injection words, spinal levels)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from .fields import (
    AgentClass,
    Cpt,
    Entry,
    Id,
    ModalityKind,
    Region,
    SnomedId,
    Sources,
    SpinalRegion,
    Stage,
    Text,
    WordList,
    Words,
    unique,
    valid_regex,
)

# agents.json


class Agent(Entry):
    id: Id
    name: Text
    klass: AgentClass = Field(alias="class")
    words: Words
    exclude: frozenset[Text] = Field(
        frozenset(), description="Words near a match that mean it is not this agent given as treatment."
    )
    rxnorm: tuple[Annotated[str, Field(pattern=r"^[0-9]+$")], ...] = ()
    snomed: tuple[SnomedId, ...] = ()
    source: Sources


class Modality(Entry):
    id: Text
    name: Text
    modality: ModalityKind
    words: Words
    code: Cpt | None = None
    codes_by_region: dict[Region, Cpt] = Field(default_factory=dict)
    source: Sources


class ProcedureWords(Entry):
    neurolysis: Words
    source: Sources


class ProcedureSnomed(Entry):
    code: SnomedId
    modality: ModalityKind
    source: Sources


class Radiofrequency(Entry):
    """How the words and settings of a radiofrequency treatment tell pulsed (not destructive) from thermal."""

    pulsed_words: Words
    thermal_words: Words
    pulsed_max_celsius: Annotated[int, Field(ge=30, le=60, description="A tip temperature at or below: pulsed.")]
    thermal_min_celsius: Annotated[int, Field(ge=60, le=100, description="At or above: thermal lesioning.")]
    temperature_units: Words
    source: Sources


class AgentsFile(Entry):
    rxnorm_system: Text
    agents: Annotated[tuple[Agent, ...], Field(min_length=1)]
    modalities: Annotated[tuple[Modality, ...], Field(min_length=1)]
    procedure_words: ProcedureWords
    procedure_snomed: tuple[ProcedureSnomed, ...]
    radiofrequency: Radiofrequency
    volume_units: Words
    concentration_units: Words


# indications.json

IcdCode = Annotated[str, Field(pattern=r"^[A-Z][0-9][0-9A-Z](\.[0-9A-Z]{1,4})?$")]  # a code or a category


class IndicationGroup(Entry):
    id: Annotated[str, Field(pattern=r"^[a-z]+(-[a-z]+)*$")]
    name: Annotated[str, Field(min_length=3)]
    icd10cm: Annotated[
        tuple[IcdCode, ...],
        Field(min_length=1, alias="icd10cm", description="ICD-10-CM codes or categories; each covers its descendants."),
    ]
    snomed: frozenset[SnomedId] = frozenset()
    words: Words
    failed_conservative_required: bool
    source: Sources


class NerveFit(Entry):
    """Diagnoses that name a nerve: they support a line only for these nerves (a diagnosis not listed here
    supports any nerve of its indication group)."""

    icd10cm: Annotated[
        tuple[IcdCode, ...],
        Field(min_length=1, alias="icd10cm", description="ICD-10-CM codes or categories; each covers its descendants."),
        AfterValidator(unique),
    ]
    nerves: Annotated[tuple[Id, ...], Field(min_length=1, description="nerves.json ids"), AfterValidator(unique)]
    source: Sources


class FamilyHistory(Entry):
    """What makes a diagnosis the family's, not the patient's: never an indication."""

    icd10cm: Annotated[tuple[IcdCode, ...], Field(min_length=1, alias="icd10cm"), AfterValidator(unique)]
    words: Words
    source: Sources


class IndicationsFile(Entry):
    system: Literal["http://hl7.org/fhir/sid/icd-10-cm"]
    groups: Annotated[tuple[IndicationGroup, ...], Field(min_length=1)]
    nerve_specific: Annotated[tuple[NerveFit, ...], Field(min_length=1)]
    family_history: FamilyHistory


# conservative.json


class MedicationClass(Entry):
    klass: Text = Field(alias="class")
    words: Words
    source: Sources


class PriorProcedure(Entry):
    kind: Text
    words: Words
    source: Sources


class ConservativeFile(Entry):
    medications: Annotated[tuple[MedicationClass, ...], Field(min_length=1)]
    procedures: Annotated[tuple[PriorProcedure, ...], Field(min_length=1)]
    phrases: WordList
    relief_pattern: Annotated[str, Field(min_length=1), AfterValidator(valid_regex)]
    source: Sources


# documentation.json


class DocumentationElement(Entry):
    """What the record must document; the indication is the indication-missing rule's, not listed here."""

    id: Literal[
        "nerve",
        "side-conflict",
        "agent",
        "radiofrequency-type",
        "volume",
        "guidance-type",
        "confirmation",
        "failed-treatment",
    ]
    label: Annotated[str, Field(min_length=3)]
    stages: Annotated[frozenset[Stage], Field(min_length=1)]
    source: Sources


class Confirmation(Entry):
    kind: Text
    words: Words
    injectate: bool = Field(
        False, description="Something injected (contrast, a test dose): its volume is not the agent's."
    )
    source: Sources


class DocumentationFile(Entry):
    elements: Annotated[tuple[DocumentationElement, ...], Field(min_length=1)]
    confirmation: Annotated[tuple[Confirmation, ...], Field(min_length=1)]


# text.json


class Injection(Entry):
    """Words that say a volume written on its own was injected ("3 mL injected")."""

    stems: Words
    words: Words
    source: Sources


class SpineSegment(Entry):
    letter: Annotated[str, Field(pattern=r"^[a-z]$")]
    region: SpinalRegion
    levels: Annotated[int, Field(ge=1)]


class Spine(Entry):
    """Spinal levels as clinicians write them ("L4-5", "T7-T9"); segments from head to tail."""

    region_words: dict[Text, SpinalRegion]
    segments: Annotated[tuple[SpineSegment, ...], Field(min_length=1)]
    source: Sources


class TextFile(Entry):
    sentence_abbreviations: WordList = Field(description="Abbreviations whose dot does not end a sentence.")
    injection: Injection
    blood_loss: WordList = Field(description="A volume with these words is blood loss, not the agent.")
    spine: Spine
