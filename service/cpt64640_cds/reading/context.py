"""Assertion status of a mention in clinical text: the ConText algorithm (Harkema et al. 2009, after NegEx).

A mention is *present* (done or ordered now) unless something in its sentence or its section says otherwise:

- **Triggers** ("no", "s/p", "will consider", "mother", "possible") give the mentions in their scope a status. A
  trigger acts forward (on what follows), backward (on what precedes) or both, over at most its number of words,
  and its scope ends at the sentence end, at a **terminator** of its status ("but", "however"; "today", "now",
  "presents" for history, plans and other people), and for negation, uncertainty and other people at a clause
  break (comma, colon, bracket). **Pseudo-triggers** contain a trigger but are none ("prior to", "without
  complications", "no change").
- **Section headings** ("Past medical history:", "FHx:", "Plan:", "Procedure:") set the status of what they hold: a
  heading with text after it on its line, for the rest of that line; a heading alone on its line, until the next
  heading or a blank line. A sentence with a present anchor ("today", "now") is read as present whatever its
  section.
- **One status per mention**: the first of the knowledge base's priority list among the statuses that reach it
  (family > negated > hypothetical > historical > uncertain): another person's condition says nothing of the
  patient; an explicit denial says more than a plan; a plan for later is not history; "history of possible ..."
  is history.

Every word list, scope and heading is data (knowledge/data/assertion.json); docs/assertion.md has the design and
its measurements.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field, replace

from ..knowledge.assertion import AssertionFile, Status
from ..knowledge.base import Knowledge
from .cues import Cue, Cues
from .lexicon import lexicon
from .phrases import normalize
from .session import once

__all__ = ["QUESTION", "Sentence", "Status", "assertion_of", "split", "status_at"]

QUESTION = "qmark"  # "?" survives normalisation as this word, so "?phenol" reads as uncertain
# "1,5 mL": a decimal comma before a volume unit (before clauses are split at commas).
_DECIMAL_COMMA = re.compile(r"(?<=\d),(?=\d{1,2}\s?(?:ml|mls|cc)\b)", re.IGNORECASE)
_ULTRASOUND = re.compile(r"(?<![A-Za-z])US(?![A-Za-z])")
_CLAUSE = re.compile(r"[,:()\[\]]")
_CLAUSE_BREAK = "|"  # cues.Cues counts these words apart


@dataclass(frozen=True)
class Sentence:
    normal: str  # normalised (phrases.normalize), clause breaks kept as " | "
    section: Status  # what its section heading says of it ("present" outside any)
    # Its triggers, terminators and pseudo-triggers, when a caller scanned them once for many mentions
    # (`with_cues`); None: status_at scans. Kept with the sentence, never in a process-wide cache of patient text.
    cues: Cues | None = field(default=None, compare=False, repr=False)

    def with_cues(self, kb: Knowledge) -> Sentence:
        return self if self.cues is not None else replace(self, cues=lexicon(kb).cues.find(self.normal))


def split(text: str, kb: Knowledge) -> list[Sentence]:
    """Normalised sentences with the status their section gives them (once per reading session)."""
    return list(once(("split", kb, text), lambda: _split(text, kb)))


def _split(text: str, kb: Knowledge) -> list[Sentence]:
    lex = lexicon(kb)
    # Upper-case "US" is ultrasound, never the pronoun; say so before lower-casing loses the difference.
    if "US" in text:
        text = _ULTRASOUND.sub("ultrasound", text)
    text = text.replace("?", f" {QUESTION} ")
    if "," in text:
        text = _DECIMAL_COMMA.sub(".", text)
    out: list[Sentence] = []
    block: Status = "present"  # the section of a heading alone on its line
    block_has_text = False
    for line in text.splitlines():
        if not line.strip():
            if block_has_text:
                block = "present"  # a blank line after a section's text ends it
            continue
        section = block
        heading = lex.headings.at_line_start(line)
        if heading is not None:
            status, after = heading
            if not line[after:].strip():
                block, block_has_text = status, False
                continue
            section, line = status, line[after:]
        for index, part in enumerate(lex.sentence_end.split(line)):
            if index and section in kb.assertion.clause_break_ends:
                section = block  # a list heading ("FHx: MS (mother).") ends with its sentence; narrative runs on
            inline = lex.headings.at_sentence_start(part) if index else None
            if inline is not None:
                section, part = inline[0], part[inline[1] :]
            clauses = [normal for clause in _CLAUSE.split(part) if (normal := normalize(clause))]
            if not clauses:
                continue
            normal = f" {_CLAUSE_BREAK} ".join(clauses)
            anchored = section != "present" and bool(lex.present_anchors.find(normal))
            out.append(Sentence(normal, "present" if anchored else section))
            block_has_text = True
    return out


_WORD_CHARS = 40  # no clinical word is longer: cues farther than that per word of reach are not looked at


def status_at(sentence: Sentence, start: int, end: int, kb: Knowledge) -> Status:
    """The status of the mention at [start, end) of `sentence.normal`."""
    data = kb.assertion
    scanned = sentence.with_cues(kb).cues
    found: set[str] = set() if sentence.section == "present" else {sentence.section}
    if scanned is not None and scanned.items:
        # Only the cues within reach are looked at, which keeps a long run-on sentence linear.
        cues, starts = scanned.items, scanned.starts
        reach = lexicon(kb).cues.max_words * _WORD_CHARS
        after = bisect.bisect_left(starts, end)  # cues[after:] start after the mention
        before = after
        while before and cues[before - 1].end > start:
            before -= 1  # cues[:before] end before the mention; those between overlap it and are skipped
        for index in range(bisect.bisect_left(starts, start - reach), before):
            cue = cues[index]
            _apply(cue, "forward", scanned.between(cue.end, start), cues[index + 1 : before], data, found)
        for index in range(after, bisect.bisect_right(starts, end + reach)):
            cue = cues[index]
            _apply(cue, "backward", scanned.between(end, cue.start), cues[after:index], data, found)
    return next((s for s in data.priority if s in found), "present")


def _apply(
    cue: Cue, direction: str, gap: tuple[int, int], between: tuple[Cue, ...], data: AssertionFile, found: set[str]
) -> None:
    words, breaks = gap
    for action in cue.actions:
        if action.status in found or action.direction not in (direction, "both") or words > action.max_words:
            continue
        if breaks and action.status in data.clause_break_ends:
            continue
        if not any(action.status in c.ends for c in between):
            found.add(action.status)


def assertion_of(text: str, target: str, kb: Knowledge) -> Status:
    """The status of the first occurrence of `target` (normalised) in `text`; for tests and explanations."""
    phrase = re.compile(rf"(?<![a-z0-9/]){re.escape(normalize(target))}(?![a-z0-9/])")
    for sentence in split(text, kb):
        match = phrase.search(sentence.normal)
        if match:
            return status_at(sentence, match.start(), match.end(), kb)
    raise ValueError(f"{target!r} is not in the text")
