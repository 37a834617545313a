"""Reading clinical free text: agents with concentration and volume, modalities, guidance, spinal levels,
placement confirmation, conservative care and indications.

Pure functions from a string (and the knowledge base) to findings; the FHIR side lives in the facts stage. Text is
split into sentences and clauses (reading/context.py), normalised (phrases.normalize) and matched against
knowledge-base phrases. Every mention gets an assertion status (context.py: negated, historical, hypothetical,
family, uncertain or present); only present mentions count ("no phenol", "s/p alcohol neurolysis", "plan: RF
ablation next visit", "?phenol" do not), except care tried before, which also counts when historical or negated.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from itertools import islice

from ..knowledge.base import Knowledge
from .context import Sentence, Status, split, status_at
from .findings import MAX_TEXT_CHARS, AgentMention, TextFindings
from .lexicon import lexicon
from .muscles import chemo_sites
from .phrases import Match
from .radiofrequency import radiofrequency_reader
from .session import once

_WORD = re.compile(r"\S+")
_CONTEXT_WINDOW = 5  # words either side checked against an agent's exclusions
_WINDOW_CHARS = 120  # characters before a mention in which those words are looked for
_NUMBER_REACH = 40  # characters between an agent and its concentration or volume
RADIOFREQUENCY = frozenset({"thermal", "pulsed-rf", "radiofrequency"})
# Care tried before counts when done, done before or written as a failure ("no relief with gabapentin"), not when
# only planned, someone else's or in doubt ("will try PT", "mother had PT").
_PRESENT: frozenset[Status] = frozenset({"present"})
_CONSERVATIVE: frozenset[Status] = frozenset({"present", "historical", "negated"})
_UNLABELLED = ""  # the field name a text is read under, before each caller's own is put on the findings
# The names of concepts (a diagnosis, a medication, a procedure: CodeableConcept.text, Coding.display) come from
# vocabularies and recur from patient to patient: what a name says is kept per worker, for the NAMES_KEPT most
# recent names of at most NAME_CHARS characters. Narrative (notes, instructions, documents) is read once per call
# (reading/session.py) and never kept beyond it.
NAME_CHARS = 200
NAMES_KEPT = 4096


def _context_words(normal: str, match: Match) -> set[str]:
    """Words either side of a mention, within its clause before it (a window of characters), and the next words
    after it (read only that far: stays linear)."""
    before = normal[max(0, match.start - _WINDOW_CHARS) : match.start].split()
    if "|" in before:
        before = before[len(before) - before[::-1].index("|") :]
    after = islice(_WORD.finditer(normal, match.end), _CONTEXT_WINDOW)
    return set(before[-_CONTEXT_WINDOW:]) | {word.group() for word in after}


class _Statuses:
    """The status of each match in one sentence; what is not counted is noted on the findings."""

    def __init__(self, sentence: Sentence, kb: Knowledge, found: TextFindings):
        self.sentence, self.kb, self.found = sentence, kb, found

    def of(self, match: Match) -> Status:
        self.sentence = self.sentence.with_cues(self.kb)  # scanned once, at the sentence's first mention
        return status_at(self.sentence, match.start, match.end, self.kb)

    def kept(self, matches: Iterable[Match], what: str, counted: frozenset[Status] = _PRESENT) -> list[Match]:
        out = []
        for match in matches:
            status = self.of(match)
            if status in counted:
                out.append(match)
            else:
                self.found.not_present.add((f"{what}:{match.key}", status))
        return out


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


def _agents(normal: str, agents: list[Match], field_name: str, kb: Knowledge) -> list[AgentMention]:
    """The agents named (and counted) in one sentence, each with the concentration and volume written for it."""
    lex = lexicon(kb)
    percents, volumes = _Numbers.of(normal, lex.percent), _Numbers.of(normal, lex.volume)
    agent_starts = sorted(m.start for m in agents)
    out = []
    for match in agents:
        agent = kb.agents[match.key]
        if agent.exclude & _context_words(normal, match):
            continue  # skin-prep alcohol, a local anaesthetic test dose, "alcohol use"...
        out.append(
            AgentMention(
                agent.id,
                agent.klass,
                percents.near(match, agent_starts),
                volumes.near(match, agent_starts),
                field_name,
            )
        )
    return out


def _attach_loose_volume(found: TextFindings, loose_volumes: list[float]) -> None:
    """A volume written on its own ("Phenol 6%. 3 mL injected.") goes to the one neurolytic agent without one."""
    if not loose_volumes:
        return
    unmeasured = {a.agent for a in found.agents if a.klass == "neurolytic" and a.volume_ml is None}
    if len(unmeasured) != 1:
        return
    found.agents = [
        replace(a, volume_ml=loose_volumes[0]) if a.agent in unmeasured and a.volume_ml is None else a
        for a in found.agents
    ]


def read(text: str, field_name: str, kb: Knowledge) -> TextFindings:
    """What `text` (the field `field_name`) says; read once per reading session (reading/session.py), and each
    caller gets its own copy, under its own field name."""
    return _labelled(once(("read", kb, text), lambda: _read(text, _UNLABELLED, kb)), field_name)


def read_name(text: str, field_name: str, kb: Knowledge) -> TextFindings:
    """`read` for the name of a concept (see NAME_CHARS): the same findings, kept per worker."""
    if len(text) > NAME_CHARS:
        return read(text, field_name, kb)
    return _labelled(_name(text, kb), field_name)


def conservative_in(text: str, kb: Knowledge) -> tuple[frozenset[str], bool]:
    """The care tried before that a concept's name gives, as `read_name(...).conservative` has it, and whether
    the name was too long to be read whole; without a copy of everything else it says."""
    if len(text) > NAME_CHARS:
        found = read(text, _UNLABELLED, kb)
        return frozenset(found.conservative), bool(found.unread)
    return frozenset(_name(text, kb).conservative), False


@lru_cache(maxsize=NAMES_KEPT)
def _name(text: str, kb: Knowledge) -> TextFindings:
    return _read(text, _UNLABELLED, kb)


def indications_in(text: str, kb: Knowledge) -> set[str]:
    """The indication groups a diagnosis's name gives, as `read(text, ...).indications` has them: a name from
    `read_name`'s per-worker readings, a longer text read for its indications alone, once per call."""
    if len(text) > NAME_CHARS:
        return set(once(("indications", kb, text), lambda: _indications(text, kb)))
    return set(_name(text, kb).indications)


def _indications(text: str, kb: Knowledge) -> set[str]:
    index, found = lexicon(kb).indications, TextFindings()
    return {
        m.key
        for sentence in split(text[:MAX_TEXT_CHARS], kb)
        for m in _Statuses(sentence, kb, found).kept(index.find(sentence.normal), "indication")
    }


def _labelled(found: TextFindings, field_name: str) -> TextFindings:
    copy = TextFindings()
    copy.merge(found)  # every list and set copied
    copy.agents = [replace(a, field=field_name) for a in found.agents]
    copy.fields = {field_name} if found.fields else set()
    copy.unread = {field_name} if found.unread else set()
    return copy


def _read(text: str, field_name: str, kb: Knowledge) -> TextFindings:
    found = TextFindings()
    lex = lexicon(kb)
    loose_volumes: list[float] = []  # volumes written in a sentence that names no agent ("3 mL injected")
    normals: list[str] = []  # read again for radiofrequency settings only when the text names radiofrequency
    if len(text) > MAX_TEXT_CHARS:
        found.unread.add(field_name)
    for sentence in split(text[:MAX_TEXT_CHARS], kb):
        normal, statuses = sentence.normal, _Statuses(sentence, kb, found)
        # Most sentences name nothing the indexes below know: one scan says so, instead of one per index.
        phrases = lex.read_phrases.found_in(normal)
        named = lex.agents.find(normal) if phrases else []
        agents = statuses.kept(named, "agent")
        confirmations = lex.confirmation.find(normal) if phrases else []
        if (
            not named
            and lex.injected.search(normal)
            and not lex.blood_loss.search(normal)
            and not kb.injectates.intersection(m.key for m in confirmations)
        ):
            loose_volumes += [
                value
                for start, end, value in _Numbers.of(normal, lex.volume).found
                if statuses.of(Match("", start, end)) == "present"
            ]
        if agents:
            found.agents += _agents(normal, agents, field_name, kb)
        normals.append(normal)
        if phrases:  # what each index finds goes into a set of its own: the order they run in changes nothing
            modalities = statuses.kept(lex.modalities.find(normal), "modality")
            found.modalities |= {kb.modalities[m.key].modality for m in modalities}
            found.neurolysis |= bool(statuses.kept(lex.neurolysis.find(normal), "procedure"))
            found.guidance |= {m.key for m in statuses.kept(lex.guidance.find(normal), "guidance")}
            found.confirmation |= {m.key for m in statuses.kept(confirmations, "confirmation")}
            conservative = statuses.kept(lex.conservative.find(normal), "care", _CONSERVATIVE)
            found.conservative |= {m.key for m in conservative}
            found.indications |= {m.key for m in statuses.kept(lex.indications.find(normal), "indication")}
        sites = chemo_sites(normal, lex)
        kept_sites = {id(m) for m in statuses.kept((m for m, _ in sites), "muscle")}
        found.chemo_sites.extend((m.key, side) for m, side in sites if id(m) in kept_sites)
        relief = kb.relief_pattern.search(normal)
        if relief and statuses.of(Match("relief", relief.start(), relief.end())) in _CONSERVATIVE:
            found.conservative.add("relief")
        lex.spine.read(normal, found)
    _attach_loose_volume(found, loose_volumes)
    if found.modalities & RADIOFREQUENCY:  # "lesioning" or "42 C" mean nothing in a text that names no radiofrequency
        rf = radiofrequency_reader(kb)
        found.rf_words = {kind for normal in normals for kind in rf.words(normal)}
        found.rf_temperatures = {kind for normal in normals for kind in rf.temperatures(normal)}
    facts = (found.agents, found.modalities, found.neurolysis, found.guidance, found.joints, found.levels)
    if any(facts) or found.confirmation or found.conservative or found.indications:
        found.fields.add(field_name)
    return found
