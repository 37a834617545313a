"""Reading clinical free text: agents with concentration and volume, modalities, guidance, spinal levels,
placement confirmation, conservative care and indications.

Pure functions from a string (and the knowledge base) to findings; the FHIR side lives in the facts stage. Text is
split into sentences and clauses, normalised (phrases.normalize) and matched against knowledge-base
phrases. A mention is not counted when it is negated ("no phenol", "without fluoroscopy", "stimulator not
available") or uncertain ("?phenol", "possible contrast", "plan to use fluoroscopy").
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ..knowledge.model import Knowledge
from .lexicon import lexicon
from .phrases import Match, normalize

# Sentence ends: ";", a newline, a full stop — but not the dot of an abbreviation clinicians write before the
# words it belongs to ("6% aq. phenol", "inj. phenol", "tibial n. 3 mL").
_ABBREVIATIONS = ("aq", "inj", "vol", "approx", "appx", "conc", "sol", "soln", "n", "nn", "br", "lt", "rt", "vs")
_NOT_ABBREVIATION = "".join(rf"(?<!\b{a})" for a in _ABBREVIATIONS)
_SENTENCE = re.compile(rf"[;\n]|{_NOT_ABBREVIATION}(?:(?<![0-9])\.(?![0-9])|\.(?=\s))", re.IGNORECASE)
# A volume in a sentence naming no agent counts for the agent only when the sentence says it was injected,
# and not when it is about something else measured in mL: blood loss here, contrast or a test dose by the
# knowledge base's confirmation words.
_INJECTED = re.compile(r"\b(?:inject\w*|instill\w*|deposit\w*|administer\w*|total|volume|vol)\b")
_BLOOD_LOSS = re.compile(r"\b(?:blood|ebl)\b")
_OTHER_INJECTATE = frozenset({"contrast", "test-dose"})
# "1,5 mL": a decimal comma before a volume unit (before clauses are split at commas).
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d{1,2}\s?(?:ml|mls|cc)\b)", re.IGNORECASE)
_NEGATION_WINDOW = 3  # words before (and after) a mention that can negate it or make it uncertain
_ULTRASOUND = re.compile(r"(?<![A-Za-z])US(?![A-Za-z])")
_QUESTION = "qmark"  # "?" survives normalisation as this word, so "?phenol" reads as uncertain
_CONTEXT_WINDOW = 5  # words either side checked against an agent's exclusions
_WINDOW_CHARS = 120  # characters either side of a mention in which those words are looked for
_NUMBER_REACH = 40  # characters between an agent and its concentration or volume
MAX_TEXT_CHARS = 20_000  # of one field; beyond that a note is not read (and reading stays fast)
_NUMBER = r"(\d+(?:\.\d+)?)"
_PERCENT = re.compile(_NUMBER + r"\s?(?:%|percent(?![a-z])|pct(?![a-z]))")
_SPINAL = re.compile(
    r"(?<![a-z0-9])([ctls])(\d{1,2})"
    r"(?:\s?(?:/|\s|to|through|thru)\s?(?:([ctls])(\d{1,2})|(\d{1,2})(?!\s?(?:ml|mls|cc|mg|%|mcg|units))))?"
    r"(?![a-z0-9%])"
)
_REGION_LETTER = {"c": "cervical", "t": "thoracic", "l": "lumbar", "s": "sacral"}
_REGION_WORDS = {
    "cervical": "cervical",
    "thoracic": "thoracic",
    "lumbar": "lumbar",
    "sacral": "sacral",
    "lumbosacral": "lumbar",
    "cervicothoracic": "cervical",
}
_REGION_SIZE = {"c": 7, "t": 12, "l": 5, "s": 5}
_ORDER = "ctls"


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
    modalities: set[str] = field(default_factory=set)  # thermal | pulsed-rf | cryo
    neurolysis: bool = False
    guidance: set[str] = field(default_factory=set)  # ultrasound | fluoroscopy | ct | mr | unspecified
    spinal_regions: set[str] = field(default_factory=set)
    joints: set[tuple[str, str]] = field(default_factory=set)  # adjacent level pairs: ("l4", "l5")
    levels: set[str] = field(default_factory=set)  # single levels: "t7", "l4"
    chemo_regions: list[str] = field(default_factory=list)  # botulinum toxin targets, one per muscle/site named
    confirmation: set[str] = field(default_factory=set)  # stimulation | test-dose | contrast | confirmed
    conservative: set[str] = field(default_factory=set)  # medication:<class> | procedure:<kind> | phrase | relief
    indications: set[str] = field(default_factory=set)  # indication group ids named in words
    fields: set[str] = field(default_factory=set)  # the fields that contributed anything

    def merge(self, other: TextFindings) -> None:
        self.agents.extend(other.agents)
        self.modalities |= other.modalities
        self.neurolysis |= other.neurolysis
        self.guidance |= other.guidance
        self.spinal_regions |= other.spinal_regions
        self.joints |= other.joints
        self.levels |= other.levels
        self.chemo_regions.extend(other.chemo_regions)
        self.confirmation |= other.confirmation
        self.conservative |= other.conservative
        self.indications |= other.indications
        self.fields |= other.fields


def sentences(text: str) -> list[str]:
    """Normalised sentences; clause breaks (commas, colons, brackets) kept as " | " to bound negation."""
    out = []
    # Upper-case "US" is ultrasound, never the pronoun; say so before lower-casing loses the difference.
    text = _ULTRASOUND.sub("ultrasound", text).replace("?", f" {_QUESTION} ")
    text = _DECIMAL_COMMA.sub(".", text)
    for part in _SENTENCE.split(text):
        clauses = [normal for clause in re.split(r"[,:()\[\]]", part) if (normal := normalize(clause))]
        if clauses:
            out.append(" | ".join(clauses))
    return out


def _words_before(normal: str, match: Match, count: int) -> list[str]:
    # A window of characters, not the whole prefix: a long note must stay linear in its length.
    words = normal[max(0, match.start - _WINDOW_CHARS) : match.start].split()
    if "|" in words:
        words = words[len(words) - words[::-1].index("|") :]
    return words[-count:]


def _words_after(normal: str, match: Match, count: int) -> list[str]:
    words = normal[match.end : match.end + _WINDOW_CHARS].split()
    if "|" in words:
        words = words[: words.index("|")]
    return words[:count]


def discounted(normal: str, match: Match, kb: Knowledge) -> bool:
    """Negated or uncertain: "no contrast", "contrast not used", "?phenol", "possible phenol"."""
    before = _words_before(normal, match, _NEGATION_WINDOW)
    if kb.negation_before.intersection(before) or kb.uncertainty_words.intersection(before):
        return True
    after = " ".join(_words_after(normal, match, _NEGATION_WINDOW))
    return _QUESTION in after.split()[:1] or bool(lexicon(kb).negation_after.find(after))


def _kept(normal: str, matches: Iterable[Match], kb: Knowledge) -> list[Match]:
    return [m for m in matches if not discounted(normal, m, kb)]


def _level_index(letter: str, number: int) -> int:
    return _ORDER.index(letter) * 100 + number


def _next_level(letter: str, number: int) -> tuple[str, int]:
    if number < _REGION_SIZE[letter] or letter == "s":
        return letter, number + 1
    return _ORDER[_ORDER.index(letter) + 1], 1


def _spinal(normal: str, found: TextFindings) -> None:
    for word, region in _REGION_WORDS.items():
        if re.search(rf"\b{word}\b", normal):
            found.spinal_regions.add(region)
    for m in _SPINAL.finditer(normal):
        letter, number = m.group(1), int(m.group(2))
        if number == 0 or number > _REGION_SIZE[letter]:
            continue
        found.spinal_regions.add(_REGION_LETTER[letter])
        end = m.group(4) or m.group(5)
        if end is None:
            found.levels.add(f"{letter}{number}")
            continue
        end_letter, end_number = (m.group(3) or letter), int(end)
        if end_number == 0 or end_number > _REGION_SIZE[end_letter]:
            continue
        found.spinal_regions.add(_REGION_LETTER[end_letter])
        if _level_index(end_letter, end_number) <= _level_index(letter, number):
            # "T7, T9" lists two levels; "T7 2" is a level followed by an unrelated number.
            found.levels |= {f"{letter}{number}"} | ({f"{end_letter}{end_number}"} if m.group(3) else set())
            continue
        # "L4-5" / "L5-S1" is one joint; "L3-L5" spans the joints L3-4 and L4-5.
        current = (letter, number)
        while _level_index(*current) < _level_index(end_letter, end_number):
            following = _next_level(*current)
            found.joints.add((f"{current[0]}{current[1]}", f"{following[0]}{following[1]}"))
            current = following
            if len(found.joints) > 30:
                break


@dataclass(frozen=True)
class _Numbers:
    """Number+unit mentions of one sentence, by position, for a bounded search around each agent."""

    starts: list[int]
    found: list[tuple[int, int, float]]  # start, end, value

    @classmethod
    def of(cls, normal: str, pattern: re.Pattern[str]) -> _Numbers:
        found = [(m.start(), m.end(), float(m.group(1))) for m in pattern.finditer(normal)]
        return cls([f[0] for f in found], found)

    def near(self, match: Match, agent_starts: list[int]) -> float | None:
        """The closest one to the agent mention (within 40 characters), unless another agent is closer."""
        best: tuple[int, float] | None = None
        low = bisect.bisect_left(self.starts, match.start - _NUMBER_REACH - 20)
        high = bisect.bisect_right(self.starts, match.end + _NUMBER_REACH)
        for start, end, value in self.found[low:high]:
            distance = start - match.end if start >= match.end else match.start - end
            if distance < 0 or distance > _NUMBER_REACH:
                continue
            first = bisect.bisect_left(agent_starts, start - distance + 1)
            last = bisect.bisect_right(agent_starts, start + distance - 1)
            if any(s != match.start for s in agent_starts[first:last]):
                continue  # another agent is closer: the number is its
            if best is None or distance < best[0]:
                best = (distance, value)
        return best[1] if best else None


def _attach_loose_volume(found: TextFindings, loose_volumes: list[float]) -> None:
    """A volume written on its own ("Phenol 6%. 3 mL injected.") goes to the one neurolytic agent without one."""
    unmeasured = {a.agent for a in found.agents if a.klass == "neurolytic" and a.volume_ml is None}
    if len(unmeasured) != 1 or not loose_volumes:
        return
    found.agents = [
        replace(a, volume_ml=loose_volumes[0]) if a.agent in unmeasured and a.volume_ml is None else a
        for a in found.agents
    ]


def read(text: str, field_name: str, kb: Knowledge) -> TextFindings:
    found = TextFindings()
    lex = lexicon(kb)
    volume = re.compile(_NUMBER + r"\s?(?:" + "|".join(re.escape(u) for u in kb.volume_units) + r")(?![a-z])")
    loose_volumes: list[float] = []  # volumes written in a sentence that names no agent ("3 mL injected")
    for normal in sentences(text[:MAX_TEXT_CHARS]):
        named = lex.agents.find(normal)
        agents = _kept(normal, named, kb)
        confirmations = lex.confirmation.find(normal)
        percents, volumes = _Numbers.of(normal, _PERCENT), _Numbers.of(normal, volume)
        if (
            not named
            and _INJECTED.search(normal)
            and not _BLOOD_LOSS.search(normal)
            and not _OTHER_INJECTATE.intersection(m.key for m in confirmations)
        ):
            loose_volumes += [value for _, _, value in volumes.found]
        agent_starts = sorted(m.start for m in agents)
        for match in agents:
            agent = kb.agents[match.key]
            context = set(_words_before(normal, match, _CONTEXT_WINDOW)) | set(
                normal[match.end :].split()[:_CONTEXT_WINDOW]
            )
            if agent.exclude & context:
                continue  # skin-prep alcohol, a local anaesthetic test dose, "alcohol use"...
            found.agents.append(
                AgentMention(
                    agent.id,
                    agent.klass,
                    percents.near(match, agent_starts),
                    volumes.near(match, agent_starts),
                    field_name,
                )
            )
        found.modalities |= {kb.modalities[m.key].modality for m in _kept(normal, lex.modalities.find(normal), kb)}
        found.neurolysis |= bool(_kept(normal, lex.neurolysis.find(normal), kb))
        found.guidance |= {m.key for m in _kept(normal, lex.guidance.find(normal), kb)}
        found.chemo_regions.extend(m.key for m in lex.chemo_targets.find(normal))
        found.confirmation |= {m.key for m in _kept(normal, confirmations, kb)}
        # Conservative care is often written as a negative ("no relief with gabapentin"): no negation filter.
        found.conservative |= {m.key for m in lex.conservative.find(normal)}
        if kb.relief_pattern.search(normal):
            found.conservative.add("relief")
        found.indications |= {m.key for m in _kept(normal, lex.indications.find(normal), kb)}
        _spinal(normal, found)
    _attach_loose_volume(found, loose_volumes)
    facts = (found.agents, found.modalities, found.neurolysis, found.guidance, found.joints, found.levels)
    if any(facts) or found.confirmation or found.conservative or found.indications:
        found.fields.add(field_name)
    return found
