"""Field types every knowledge file shares, and the base of their models.

The knowledge base's entities are declared once, as models (codes.py: what codes and lines are; words.py: what
the reader looks for in a record); they validate the JSON files under data/, and the JSON Schemas under schemas/
are generated from them (`make schemas`). Field names are snake_case here and camelCase in the files. Every
entry that states a fact cites its sources: `sources.md#<entry>` (docs/sources.md) or a public document (CPT,
ICD-10-CM, SNOMED CT, RxNorm, DICOM, HCPCS, CMS, HL7, FHIR). Entries are frozen: one knowledge base is loaded
per process and shared by every request.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

SOURCE_PATTERN = r"^(sources\.md#[a-z0-9]+(-[a-z0-9]+)*|(CPT|ICD-10-CM|SNOMED CT|RxNorm|DICOM|HCPCS|CMS|HL7|FHIR) .+)$"


def unique(values: tuple[str, ...]) -> tuple[str, ...]:
    repeated = sorted({v for v in values if values.count(v) > 1})
    if repeated:
        raise ValueError(f"listed twice: {', '.join(repeated)}")
    return values


def valid_regex(pattern: str) -> str:
    re.compile(pattern)  # raises re.error, which pydantic reports against the field
    return pattern


Text = Annotated[str, Field(min_length=1)]
Id = Annotated[str, Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
Cpt = Annotated[str, Field(pattern=r"^([0-9]{5}|[0-9]{4}[FTU])$", description="A CPT code (Category I or III).")]
SnomedId = Annotated[str, Field(pattern=r"^[0-9]{6,18}$")]
Source = Annotated[str, Field(pattern=SOURCE_PATTERN)]
Sources = Annotated[
    tuple[Source, ...],
    Field(min_length=1, description="Where the fact comes from: docs/sources.md entries or public documents."),
    AfterValidator(unique),
]
Words = Annotated[tuple[Text, ...], Field(min_length=1), AfterValidator(unique)]
Region = Literal["upper-extremity", "lower-extremity", "truncal", "head-neck", "spine"]
SpinalRegion = Literal["cervical", "thoracic", "lumbar", "sacral"]
Destructive = Literal["chemical", "thermal"]
ModalityKind = Literal["chemical", "thermal", "pulsed-rf", "radiofrequency", "cryo"]
# What was done to the nerve: destruction (chemical, thermal) or a look-alike that is not 64640.
# "radiofrequency": radiofrequency whose kind (pulsed or thermal) the record does not state.
Treatment = Literal["chemical", "thermal", "pulsed-rf", "radiofrequency", "cryo", "botulinum-toxin", "block"]
EpisodeKind = Literal["destruction", "look-alike", "other-service"]
AgentClass = Literal["neurolytic", "local-anaesthetic", "steroid", "botulinum-toxin"]
Stage = Literal["order", "performed"]


class Entry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, alias_generator=to_camel)


class WordList(Entry):
    words: Words
    source: Sources
