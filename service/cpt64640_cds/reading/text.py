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
from dataclasses import dataclass, replace

from ..knowledge.base import Knowledge
from .findings import AgentMention, TextFindings
from .lexicon import Lexicon, lexicon
from .muscles import chemo_sites
from .phrases import Match, normalize
from .radiofrequency import radiofrequency_reader

# "1,5 mL": a decimal comma before a volume unit (before clauses are split at commas).
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d{1,2}\s?(?:ml|mls|cc)\b)", re.IGNORECASE)
_NEGATION_WINDOW = 3  # words before (and after) a mention that can negate it or make it uncertain
_ULTRASOUND = re.compile(r"(?<![A-Za-z])US(?![A-Za-z])")
_QUESTION = "qmark"  # "?" survives normalisation as this word, so "?phenol" reads as uncertain
_CONTEXT_WINDOW = 5  # words either side checked against an agent's exclusions
_WINDOW_CHARS = 120  # characters either side of a mention in which those words are looked for
_NUMBER_REACH = 40  # characters between an agent and its concentration or volume
RADIOFREQUENCY = frozenset({"thermal", "pulsed-rf", "radiofrequency"})
MAX_TEXT_CHARS = 20_000  # of one field; beyond that a note is not read (and reading stays fast)


def sentences(text: str, lex: Lexicon) -> list[str]:
    """Normalised sentences; clause breaks (commas, colons, brackets) kept as " | " to bound negation."""
    out = []
    # Upper-case "US" is ultrasound, never the pronoun; say so before lower-casing loses the difference.
    text = _ULTRASOUND.sub("ultrasound", text).replace("?", f" {_QUESTION} ")
    text = _DECIMAL_COMMA.sub(".", text)
    for part in lex.sentence_end.split(text):
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
    loose_volumes: list[float] = []  # volumes written in a sentence that names no agent ("3 mL injected")
    rf_words: set[str] = set()
    rf_temperatures: set[str] = set()
    for normal in sentences(text[:MAX_TEXT_CHARS], lex):
        named = lex.agents.find(normal)
        agents = _kept(normal, named, kb)
        confirmations = lex.confirmation.find(normal)
        percents, volumes = _Numbers.of(normal, lex.percent), _Numbers.of(normal, lex.volume)
        if (
            not named
            and lex.injected.search(normal)
            and not lex.blood_loss.search(normal)
            and not kb.injectates.intersection(m.key for m in confirmations)
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
        rf_words |= radiofrequency_reader(kb).words(normal)
        rf_temperatures |= radiofrequency_reader(kb).temperatures(normal)
        found.neurolysis |= bool(_kept(normal, lex.neurolysis.find(normal), kb))
        found.guidance |= {m.key for m in _kept(normal, lex.guidance.find(normal), kb)}
        found.chemo_sites.extend((m.key, side) for m, side in chemo_sites(normal, lex) if not discounted(normal, m, kb))
        found.confirmation |= {m.key for m in _kept(normal, confirmations, kb)}
        # Conservative care is often written as a negative ("no relief with gabapentin"): no negation filter.
        found.conservative |= {m.key for m in lex.conservative.find(normal)}
        if kb.relief_pattern.search(normal):
            found.conservative.add("relief")
        found.indications |= {m.key for m in _kept(normal, lex.indications.find(normal), kb)}
        lex.spine.read(normal, found)
    _attach_loose_volume(found, loose_volumes)
    if found.modalities & RADIOFREQUENCY:  # "lesion" or "42 C" mean nothing in a text that names no radiofrequency
        found.rf_words, found.rf_temperatures = rf_words, rf_temperatures
    facts = (found.agents, found.modalities, found.neurolysis, found.guidance, found.joints, found.levels)
    if any(facts) or found.confirmation or found.conservative or found.indications:
        found.fields.add(field_name)
    return found
