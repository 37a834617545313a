"""The coding side of the knowledge base: the rule set, codes and their families, nerves and how each is
destroyed, modifiers and sides, image guidance, chemodenervation targets."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, Field, model_validator

from .fields import (
    Cpt,
    Destructive,
    Entry,
    EpisodeKind,
    Id,
    Region,
    SnomedId,
    Sources,
    SpinalRegion,
    Text,
    Treatment,
    WordList,
    Words,
    unique,
)

# ruleset.json


class OverrideReason(Entry):
    """A reason a clinician or coder may give for declining the rule's card (CDS Hooks overrideReasons)."""

    code: Id
    display: Annotated[str, Field(min_length=3)]
    source: Sources


class Rule(Entry):
    id: Annotated[str, Field(pattern=r"^[a-z]+(-[a-z]+)*$", description="Card topic; rules/<id with _>.py")]
    title: Text
    indicator: Literal["info", "warning", "critical"] = Field(description="The indicator its cards usually carry.")
    status: Literal["active", "planned"]
    source: Sources
    override_reasons: Annotated[tuple[OverrideReason, ...], Field(min_length=1)]


class RuleSet(Entry):
    version: Annotated[str, Field(pattern=r"^[0-9]{4}\.[0-9]{1,2}\.[0-9]+$", description="YYYY.MM.N")]
    topic_system: Text
    override_system: Text
    rules: Annotated[tuple[Rule, ...], Field(min_length=1, description="In the order their cards come out.")]


# codes.json


class SystemAliases(Entry):
    """Other names of the CPT code system that feeds still send (its OID)."""

    systems: Words
    source: Sources


class CodeFamily(Entry):
    """What a code of the family means for coding a nerve episode."""

    id: Id
    episode: EpisodeKind = Field(
        description="What a resource coded so is: a destruction episode, a look-alike whose own words decide, "
        "or another service that is never an episode."
    )
    claims_destruction: bool = Field(False, description="An order or procedure coded so claims nerve destruction.")
    recodable: bool = Field(False, description="Replaced when a card recodes the order.")
    treatment: Treatment | None = Field(None, description="What the code alone says was done, when nothing else does.")
    prior_care: str | None = Field(None, description="Conservative-care kind an earlier procedure of it counts as.")
    source: Sources


BillingCode = Annotated[str, Field(pattern=r"^([0-9]{5}|[0-9]{4}[FTU]|[A-V][0-9]{4})$")]


def code_shape(code: str) -> str:
    """Codes compare within one shape: 5 digits, 4 digits + F/T/U (CPT II/III), a letter + 4 digits (HCPCS)."""
    if code[:1].isalpha():
        return "hcpcs"
    return code[-1] if code[-1].isalpha() else "numeric"


class CodeRange(Entry):
    """A range of the CPT sections (or HCPCS Level II) and what a resource coded in it is."""

    id: Id
    name: Text
    first: BillingCode
    last: BillingCode
    episode: EpisodeKind
    source: Sources

    def covers(self, code: str) -> bool:
        return code_shape(code) == code_shape(self.first) and self.first <= code <= self.last


class ServiceCategory(Entry):
    """A ServiceRequest.category that marks another service (laboratory, imaging, counselling, education)."""

    system: Text
    code: Annotated[str, Field(min_length=1)]
    name: Text
    source: Sources


class Services(Entry):
    """How a resource's codes say what service it is, for codes the code list does not name."""

    hcpcs_systems: Words
    other_systems: WordList = Field(description="Code systems whose every code is another service (LOINC).")
    ranges: Annotated[tuple[CodeRange, ...], Field(min_length=1)]
    categories: tuple[ServiceCategory, ...]
    category_words: WordList = Field(description="A category written in words only that marks another service.")
    service_words: WordList = Field(
        description="Words of an uncoded (or locally coded) order's name that name another service: a referral, a "
        "consult, therapy, a test."
    )


class Fallbacks(Entry):
    """Codes used when nothing more specific applies."""

    other_nerve: Cpt = Field(description="Destruction of a nerve no more specific code names (64640).")
    other_nerve_block: Cpt = Field(description="Block of a nerve with no block code of its own.")
    unlisted: Cpt
    chemodenervation: Annotated[tuple[Cpt, ...], Field(min_length=1, description="Muscles not named: choose.")]
    source: Sources


class Code(Entry):
    code: Cpt
    family: Id
    display: Annotated[str, Field(min_length=3, max_length=60, description="Coding.display: our paraphrase.")]
    descriptor: Annotated[str, Field(min_length=10, max_length=200, description="Our paraphrase, never AMA text.")]
    imaging_included: bool
    global_days: Annotated[int, Field(ge=0)] | None
    daily_unit_limit: Annotated[int | None, Field(ge=1, description="CMS MUE; null until a source confirms it.")]
    laterality: bool = Field(description="Whether RT/LT (or 50) apply to lines of this code.")
    add_on_to: Cpt | None = None
    confirmed: bool = Field(description="false: the research could not confirm the code; cards say so.")
    source: Sources


# How a destruction code counts units of service; coding/choice.py `_units` says what each one does.
Unit = Literal["nerve-side", "level", "branch", "knee", "joint", "vertebral-body", "procedure"]


class UnitRule(Entry):
    """What one unit of a destruction code is, and where that comes from."""

    unit: Unit
    meaning: Annotated[str, Field(min_length=10)]
    source: Sources


class CodesFile(Entry):
    system: Literal["http://www.ama-assn.org/go/cpt"]
    system_aliases: SystemAliases
    families: Annotated[tuple[CodeFamily, ...], Field(min_length=1, description="First match wins (treatment).")]
    services: Services
    fallbacks: Fallbacks
    unit_rules: Annotated[tuple[UnitRule, ...], Field(description="One per unit a destruction option may name.")]
    codes: Annotated[tuple[Code, ...], Field(min_length=1)]

    @model_validator(mode="after")
    def _every_unit_has_one_rule(self) -> CodesFile:
        units = [rule.unit for rule in self.unit_rules]
        if sorted(units) != sorted(get_args(Unit)):
            raise ValueError(f"unitRules must state each of {', '.join(get_args(Unit))} once")
        return self


# nerves.json


class Qualifiers(Entry):
    """Words that turn a bare nerve word into another nerve ("posterior femoral cutaneous" is not the femoral
    nerve): such a match is not taken, and the words are kept as an unknown nerve."""

    before: tuple[Annotated[str, Field(pattern=r"^[a-z]+$")], ...]
    after: tuple[Annotated[str, Field(pattern=r"^[a-z]+$")], ...]
    source: Sources


class Landmarks(Entry):
    """Words that make a nerve written next to them a landmark, not a target ("medial to the common peroneal
    nerve", "avoiding the sural nerve", "femoral nerve identified; saphenous nerve injected")."""

    before: Words = Field(description="Written just before the nerve: it is a landmark.")
    after: Words = Field(description="Written just after the nerve: it is a landmark.")
    seen: Words = Field(description="Written just after the nerve: a landmark when another nerve is the target.")
    source: Sources


class DestructionOption(Entry):
    """One way to code destroying a nerve; the first option whose conditions hold is the code."""

    code: Cpt
    unit: Unit = Field(description="How the code counts units (codes.json unitRules); one code, one unit.")
    modalities: Annotated[frozenset[Destructive], Field(min_length=1)]
    add_on: Cpt | None = None
    base_units: Annotated[int, Field(ge=1, description="Units the base code covers before the add-on.")] = 1
    spinal_regions: frozenset[SpinalRegion] = frozenset()
    imaging: Literal["required"] | None = Field(None, description="required: only with documented guidance.")
    choose: Annotated[tuple[Cpt, ...], Field(description="The record says too little: offer these codes.")] = ()
    confirmed: bool
    source: Sources

    @property
    def imaging_required(self) -> bool:
        return self.imaging == "required"


class BlockFamily(Entry):
    """A block-code family the research could not confirm: cards name it and propose no code."""

    codes: Text
    name: Text
    reason: Text
    confirmed: bool
    source: Sources


class Nerve(Entry):
    id: Id
    name: Annotated[str, Field(min_length=3)]
    synonyms: Annotated[tuple[Annotated[str, Field(min_length=2)], ...], AfterValidator(unique)]
    sided: bool
    region: Region
    snomed: tuple[SnomedId, ...] = Field((), description="SNOMED CT body-structure concepts of the nerve.")
    destruction: Annotated[tuple[DestructionOption, ...], Field(min_length=1)]
    block_code: Cpt | None = None
    block_family: BlockFamily | None = None
    source: Sources


class NervesFile(Entry):
    qualifiers: Qualifiers
    nerve_words: WordList = Field(description="Words that make body-site text name a nerve the base does not know.")
    list_words: WordList = Field(description="Words that join nerves into one list sharing a side or a landmark cue.")
    landmarks: Landmarks
    nerves: Annotated[tuple[Nerve, ...], Field(min_length=1)]


# modifiers.json and laterality.json


class Modifier(Entry):
    code: Annotated[str, Field(pattern=r"^[0-9A-Z]{2}$")]
    system: Literal["http://www.ama-assn.org/go/cpt", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"]
    meaning: Annotated[str, Field(min_length=3)]
    use: Literal["right", "left", "bilateral", "distinct", "separate-evaluation"]
    source: Sources


class ModifiersFile(Entry):
    modifiers: Annotated[tuple[Modifier, ...], Field(min_length=1)]


class Side(Entry):
    side: Literal["left", "right", "bilateral"]
    snomed: SnomedId
    words: Annotated[tuple[Text, ...], Field(min_length=1)]
    source: Sources


class LateralityExtensions(Entry):
    """Extensions on a body site that carry its side as a code (mCODE's laterality qualifier and the like)."""

    url_endings: Annotated[Words, Field(description="How the extension's url ends (case-insensitive).")]
    source: Sources


class LateralityFile(Entry):
    system: Literal["http://snomed.info/sct"]
    extensions: LateralityExtensions
    sides: Annotated[tuple[Side, ...], Field(min_length=3)]


# guidance.json


class GuidanceModality(Entry):
    id: Literal["ultrasound", "fluoroscopy", "ct", "mr"]
    name: Text
    words: Words
    codes: Annotated[tuple[Cpt, ...], Field(min_length=1)]
    dicom: Annotated[tuple[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], ...], Field(min_length=1)]
    source: Sources


class GuidanceFile(Entry):
    dicom_system: Literal["http://dicom.nema.org/resources/ontology/DCM"]
    modalities: Annotated[tuple[GuidanceModality, ...], Field(min_length=1)]
    unspecified: WordList = Field(description="Guidance named without its type.")
    guidance_order_words: WordList = Field(description="Words that make an order an order for guidance itself.")


# chemodenervation.json


class ChemoCodes(Entry):
    few: Cpt
    many: Cpt | None = None
    each_added_few: Cpt | None = Field(None, description="Add-on: each further extremity with fewer muscles.")
    each_added_many: Cpt | None = Field(None, description="Add-on: each further extremity with manyFrom or more.")


class ChemoTarget(Entry):
    """A body region chemodenervation codes by; with add-on codes, one per extremity (a limb on one side)."""

    region: Id
    name: Annotated[str, Field(min_length=3, description="The region in words: upper extremity, trunk.")]
    label: Annotated[str, Field(min_length=3, description="What a line's body site says when no muscle is named.")]
    codes: ChemoCodes
    many_from: Annotated[int, Field(ge=2)] | None = None
    words: Words = Field(description="Words that name the region itself, not one of its muscles.")
    source: Sources

    @property
    def per_extremity(self) -> bool:
        return self.codes.each_added_few is not None


class Muscle(Entry):
    """A muscle toxin is injected into, counted once per extremity however many sites or heads are written."""

    id: Id
    name: Text
    region: Id = Field(description="The target region (targets[].region) whose codes count it.")
    words: Words = Field(description="Names and abbreviations clinicians write, the name included.")
    members: tuple[Id, ...] = Field(
        (), description="A group word (hamstrings): one muscle, and none when one of its members is also named."
    )
    source: Sources


class Limb(Entry):
    """Words that name a limb and its side at once (RUE, LLE)."""

    region: Id
    side: Literal["left", "right", "bilateral"]
    words: Words
    source: Sources


class ChemodenervationFile(Entry):
    targets: Annotated[tuple[ChemoTarget, ...], Field(min_length=1)]
    muscles: Annotated[tuple[Muscle, ...], Field(min_length=1)]
    limbs: tuple[Limb, ...]
    nerve_regions: dict[Region, Text] = Field(description="Target region of a nerve's body region.")
    source: Sources
