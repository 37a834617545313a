"""What reading one text found: agents with their numbers, modalities, guidance, levels and the rest."""

from __future__ import annotations

from dataclasses import dataclass, field

# Characters of one field that are read. Every reader is linear in the length of its text (tests/unit/reading/
# test_linear.py), so this cut is not what keeps reading fast; it only bounds the work one field can ask for.
# Clinical notes run to a few thousand characters, and a note that imports flowsheets or a whole chart to
# about 100,000: a million is far above any real note. What a field holds past it is not read, and the cards
# say so (TextFindings.unread, Facts.unread).
MAX_TEXT_CHARS = 1_000_000


@dataclass(frozen=True)
class AgentMention:
    agent: str  # agent id
    klass: str  # neurolytic | local-anaesthetic | steroid | botulinum-toxin
    concentration_pct: float | None
    volume_ml: float | None
    field: str


@dataclass
class TextFindings:
    agents: list[AgentMention] = field(default_factory=list)
    modalities: set[str] = field(default_factory=set)  # thermal | pulsed-rf | radiofrequency | cryo
    # In a text naming radiofrequency, what its words and its temperatures say it was: thermal | pulsed-rf
    rf_words: set[str] = field(default_factory=set)
    rf_temperatures: set[str] = field(default_factory=set)
    neurolysis: bool = False
    guidance: set[str] = field(default_factory=set)  # ultrasound | fluoroscopy | ct | mr | unspecified
    spinal_regions: set[str] = field(default_factory=set)
    joints: set[tuple[str, str]] = field(default_factory=set)  # adjacent level pairs: ("l4", "l5")
    levels: set[str] = field(default_factory=set)  # single levels: "t7", "l4"
    # botulinum toxin sites in text order: (muscle id | region id | reading.muscles.SIDE_HEADING, side or None)
    chemo_sites: list[tuple[str, str | None]] = field(default_factory=list)
    confirmation: set[str] = field(default_factory=set)  # stimulation | test-dose | contrast | confirmed
    conservative: set[str] = field(default_factory=set)  # medication:<class> | procedure:<kind> | phrase | relief
    indications: set[str] = field(default_factory=set)  # indication group ids named in words
    fields: set[str] = field(default_factory=set)  # the fields that contributed anything
    # What was read but not counted, with its assertion status: ("agent:phenol", "historical"),
    # ("procedure:neurolysis", "hypothetical"), ("indication:spasticity", "family")...
    not_present: set[tuple[str, str]] = field(default_factory=set)
    unread: set[str] = field(default_factory=set)  # fields longer than MAX_TEXT_CHARS, read only that far

    def merge(self, other: TextFindings) -> None:
        self.agents.extend(other.agents)
        self.modalities |= other.modalities
        self.rf_words |= other.rf_words
        self.rf_temperatures |= other.rf_temperatures
        self.neurolysis |= other.neurolysis
        self.guidance |= other.guidance
        self.spinal_regions |= other.spinal_regions
        self.joints |= other.joints
        self.levels |= other.levels
        self.chemo_sites.extend(other.chemo_sites)
        self.confirmation |= other.confirmation
        self.conservative |= other.conservative
        self.indications |= other.indications
        self.fields |= other.fields
        self.not_present |= other.not_present
        self.unread |= other.unread
