"""The knowledge base's words as phrase indexes and patterns, built once per knowledge base and shared by
every reader."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping
from functools import cache, cached_property

from ..knowledge.base import Knowledge
from .cues import CueIndex, Headings
from .phrases import AnyPhrase, PhraseIndex, normalize
from .spinal import SpineReader

# Possessive: no unit starts with a digit or a dot, so giving digits back never helps a match.
_NUMBER = r"(\d++(?:\.\d++)?)"


def _number_with(units: tuple[str, ...]) -> re.Pattern[str]:
    """A number and one of `units`; a unit that ends in a letter or digit must end the word ("3 mlx" is not one).

    A number starts where a run of digits starts (or right after a unit ending in a digit, "cm3", where the last
    match may have ended): a start inside a run has fewer ways to match than the run's start, which already
    failed, and trying every one of them made a long run of digits quadratic."""
    alternatives = "|".join(re.escape(u) + ("(?![a-z])" if u[-1].isalnum() else "") for u in units)
    after_unit = "".join(f"|(?<={re.escape(u)})" for u in units if u[-1].isdigit())
    return re.compile(rf"(?:(?<![0-9]){after_unit})" + _NUMBER + r"\s?(?:" + alternatives + ")")


def _words(stems: tuple[str, ...], words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = [re.escape(s) + r"\w*" for s in stems] + [re.escape(w) for w in words]
    return re.compile(r"\b(?:" + "|".join(alternatives) + r")\b")


def limb_key(region: str, side: str) -> str:
    """The chemodenervation-site key of a word that names a limb and its side at once ("rue")."""
    return f"limb/{side}/{region}"


class Lexicon:
    def __init__(self, kb: Knowledge):
        self.kb = kb

    @cached_property
    def sentence_end(self) -> re.Pattern[str]:
        """ ";", a newline, a full stop; not the dot of an abbreviation clinicians write before the words it
        belongs to ("6% aq. phenol", "inj. phenol", "tibial n. 3 mL")."""
        not_abbreviation = "".join(rf"(?<!\b{re.escape(a)})" for a in self.kb.sentence_abbreviations)
        # The lookahead first: the abbreviation lookbehinds then run at full stops only, not at every character.
        return re.compile(rf"[;\n]|(?=\.){not_abbreviation}(?:(?<![0-9])\.(?![0-9])|\.(?=\s))", re.IGNORECASE)

    @cached_property
    def volume(self) -> re.Pattern[str]:
        return _number_with(self.kb.volume_units)

    @cached_property
    def percent(self) -> re.Pattern[str]:
        return _number_with(self.kb.concentration_units)

    @cached_property
    def injected(self) -> re.Pattern[str]:
        """A volume in a sentence naming no agent counts for the agent when the sentence says it was injected."""
        return _words(self.kb.injection_stems, self.kb.injection_words)

    @cached_property
    def blood_loss(self) -> re.Pattern[str]:
        return _words((), self.kb.blood_loss_words)

    @cached_property
    def spine(self) -> SpineReader:
        return SpineReader(self.kb.spine)

    @cached_property
    def nerves(self) -> PhraseIndex:
        return PhraseIndex((name, n.id) for n in self.kb.nerves.values() for name in (n.name, *n.synonyms))

    @cached_property
    def nerve_vocabulary(self) -> Mapping[str, frozenset[str]]:
        """Each word of the nerves' names and synonyms → the nerves it is part of (what a misspelling may be
        corrected to)."""
        words: dict[str, set[str]] = {}
        for nerve in self.kb.nerves.values():
            for name in (nerve.name, *nerve.synonyms):
                for word in normalize(name).split():
                    words.setdefault(word, set()).add(nerve.id)
        return {word: frozenset(ids) for word, ids in words.items()}

    @cached_property
    def nerve_vocabulary_by_initial(self) -> Mapping[str, tuple[tuple[str, dict[str, int]], ...]]:
        """The nerve-name words by their first letter (the only ones a misspelling is compared with), each with
        its letter counts (reading/sites.py bounds how close a word can be by the letters the two share)."""
        by_initial: dict[str, list[tuple[str, dict[str, int]]]] = {}
        for word in self.nerve_vocabulary:
            by_initial.setdefault(word[0], []).append((word, dict(Counter(word))))
        return {initial: tuple(words) for initial, words in by_initial.items()}

    @cached_property
    def landmarks(self) -> PhraseIndex:
        cues = self.kb.landmarks
        return PhraseIndex(
            [
                *((w, "before") for w in cues.before),
                *((w, "after") for w in cues.after),
                *((w, "seen") for w in cues.seen),
            ]
        )

    @cached_property
    def list_words(self) -> PhraseIndex:
        return PhraseIndex((w, "list") for w in self.kb.list_words)

    @cached_property
    def sides(self) -> PhraseIndex:
        return PhraseIndex((word, side.side) for side in self.kb.sides.values() for word in side.words)

    @cached_property
    def agents(self) -> PhraseIndex:
        return PhraseIndex((word, agent.id) for agent in self.kb.agents.values() for word in agent.words)

    @cached_property
    def modalities(self) -> PhraseIndex:
        return PhraseIndex((word, m.id) for m in self.kb.modalities.values() for word in m.words)

    @cached_property
    def neurolysis(self) -> PhraseIndex:
        return PhraseIndex((word, "neurolysis") for word in self.kb.neurolysis_words)

    @cached_property
    def guidance(self) -> PhraseIndex:
        phrases: list[tuple[str, str]] = [(word, g.id) for g in self.kb.guidance.values() for word in g.words]
        phrases += [(word, "unspecified") for word in self.kb.unspecified_guidance_words]
        return PhraseIndex(phrases)

    @cached_property
    def other_services(self) -> PhraseIndex:
        return PhraseIndex((word, "other-service") for word in self.kb.other_service_words)

    @cached_property
    def guidance_orders(self) -> PhraseIndex:
        return PhraseIndex((word, "guidance") for word in self.kb.guidance_order_words)

    @cached_property
    def chemo_sites(self) -> PhraseIndex:
        """Muscles (key: muscle id), regions (region id) and limbs with their side (limb_key)."""
        kb = self.kb
        phrases = [(word, m.id) for m in kb.chemo_muscles.values() for word in m.words]
        phrases += [(word, t.region) for t in kb.chemo_targets for word in t.words]
        phrases += [(word, limb_key(limb.region, limb.side)) for limb in kb.chemo_limbs for word in limb.words]
        return PhraseIndex(phrases)

    @cached_property
    def indications(self) -> PhraseIndex:
        return PhraseIndex((word, g.id) for g in self.kb.indication_groups for word in g.words)

    @cached_property
    def conservative(self) -> PhraseIndex:
        kb = self.kb
        phrases = [(w, f"medication:{k}") for k, words in kb.conservative_medications.items() for w in words]
        phrases += [(w, f"procedure:{k}") for k, words in kb.conservative_procedures.items() for w in words]
        phrases += [(w, "phrase") for w in kb.conservative_phrases]
        return PhraseIndex(phrases)

    @cached_property
    def confirmation(self) -> PhraseIndex:
        return PhraseIndex((w, kind) for kind, words in self.kb.confirmation_words.items() for w in words)

    @cached_property
    def read_phrases(self) -> AnyPhrase:
        """Whether a sentence names anything reading.text looks for with a phrase index (sites apart: they are
        looked for with slashes made spaces)."""
        indexes = (self.agents, self.confirmation, self.modalities, self.neurolysis, self.guidance)
        return AnyPhrase((*indexes, self.conservative, self.indications))

    @cached_property
    def cues(self) -> CueIndex:
        """Assertion triggers, pseudo-triggers and terminators (knowledge/data/assertion.json), one pattern."""
        return CueIndex(self.kb.assertion)

    @cached_property
    def present_anchors(self) -> PhraseIndex:
        return PhraseIndex((w, "present") for w in self.kb.assertion.present_anchors.words)

    @cached_property
    def headings(self) -> Headings:
        return Headings(self.kb.assertion)


@cache
def lexicon(kb: Knowledge) -> Lexicon:
    return Lexicon(kb)
