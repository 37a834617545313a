"""The coding stage's answer for one hook call (`CodedFacts`): each episode's code choice, and the billing
lines of every proposal, computed once. Rules read these; none chooses a code or plans a line again.

A proposal is what one card offers to bill the same way: all 64640 lines together; per nerve, the more specific
code (or the codes to choose from); per code and treatment, what a non-neurolytic service should be billed as.
An episode already coded with what its choice proposes is not proposed again. Botulinum toxin is counted per
session, not per order: the limbs of every toxin episode of one encounter (separate orders per limb, or one order
split left and right) are counted together, so the first extremity takes the base code and the others add-ons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date

from ..facts.model import Facts, NerveEpisode
from ..knowledge.base import Knowledge
from ..reading.muscles import SIDE_HEADING
from .choice import Category, Choice, choose
from .lines import Line, ModifierPolicy, chemodenervation_line, plan


@dataclass(frozen=True)
class CodedEpisode:
    """An episode with its code choice (None: there is nothing to say about it)."""

    episode: NerveEpisode
    choice: Choice | None

    def already_coded(self, kb: Knowledge) -> bool:
        """The record already carries a code the choice offers, and no destruction code that says otherwise."""
        if self.choice is None:
            return False
        offered = set(self.choice.codes)
        claiming = {
            code
            for code in self.episode.cpt_codes
            if (family := kb.family_of(code)) is not None and family.claims_destruction
        }
        return bool(offered & set(self.episode.cpt_codes)) and claiming <= offered


@dataclass(frozen=True)
class Proposal:
    """Episodes one card proposes to bill the same way, and the lines planned for each code it offers."""

    category: Category
    members: tuple[CodedEpisode, ...]
    choice: Choice  # what the card proposes for all its members
    lines: Mapping[str, tuple[Line, ...]]  # code offered -> its lines, in the order of choice.codes

    @property
    def episodes(self) -> list[NerveEpisode]:
        return [m.episode for m in self.members]


@dataclass(frozen=True)
class CodedFacts:
    facts: Facts
    episodes: tuple[CodedEpisode, ...]  # in the facts' order
    proposals: tuple[Proposal, ...]
    # Every line the documentation supports, whatever codes the records already carry: a review after the fact
    # compares them with what was billed. Episodes whose code is undetermined or left to choose have none.
    billable: tuple[Line, ...] = ()

    def proposals_of(self, *categories: Category) -> list[Proposal]:
        return [p for p in self.proposals if p.category in categories]

    def chosen(self, *categories: Category) -> list[tuple[NerveEpisode, Choice]]:
        """Episodes whose choice falls in `categories`, with it."""
        return [
            (c.episode, c.choice) for c in self.episodes if c.choice is not None and c.choice.category in categories
        ]


def _group_key(coded: CodedEpisode, kb: Knowledge) -> tuple[object, ...] | None:
    """Which proposal an episode joins (None: none)."""
    choice, episode = coded.choice, coded.episode
    if choice is None or choice.category == "undetermined":
        return None
    if choice.category == "line":
        return ("line",)
    if coded.already_coded(kb):
        return None
    if choice.category in ("specific", "choose"):
        return (choice.category, episode.nerve.id) if episode.nerve is not None else None
    if choice.code is not None and kb.family(choice.code) == "chemodenervation":
        return (choice.category, "chemodenervation", episode.encounter or episode.date)
    return (choice.category, choice.code, choice.family, episode.treatment)


def _session_choice(members: list[CodedEpisode], kb: Knowledge) -> Choice | None:
    """The chemodenervation of a whole session: every member's sites, each under its own episode's side."""
    sites = tuple(site for m in members for site in ((SIDE_HEADING, m.episode.side), *m.episode.chemo_sites))
    return choose(replace(members[0].episode, side=None, chemo_sites=sites), kb)


def _with_code(choice: Choice, code: str) -> Choice:
    if code == choice.code:
        return choice
    return Choice(choice.category, code, 1, reason=choice.reason, confirmed=choice.confirmed, source=choice.source)


def _lines(
    members: list[CodedEpisode],
    choice: Choice,
    code: str,
    kb: Knowledge,
    today: date,
    encounter: str | None,
    policy: ModifierPolicy,
) -> tuple[Line, ...]:
    episodes = [m.episode for m in members]
    if kb.family(code) == "chemodenervation":
        return chemodenervation_line(choice, episodes, kb, today, encounter)
    chosen = [(m.episode, _with_code(m.choice, code)) for m in members if m.choice is not None]
    return tuple(plan(chosen, kb, today, policy))


def code(facts: Facts, kb: Knowledge, policy: ModifierPolicy) -> CodedFacts:
    episodes = tuple(CodedEpisode(episode, choose(episode, kb)) for episode in facts.episodes)
    groups: dict[tuple[object, ...], list[CodedEpisode]] = {}
    for coded in episodes:
        key = _group_key(coded, kb)
        if key is not None:
            groups.setdefault(key, []).append(coded)
    proposals = []
    for key, members in groups.items():
        session = "chemodenervation" in key and len(members) > 1
        choice = _session_choice(members, kb) if session else members[0].choice
        assert choice is not None  # proposals are only made of chosen episodes
        lines = {c: _lines(members, choice, c, kb, facts.today, facts.encounter, policy) for c in choice.codes}
        proposals.append(Proposal(choice.category, tuple(members), choice, lines))
    return CodedFacts(facts, episodes, tuple(proposals), _billable(episodes, kb, facts, policy))


def _billable(
    episodes: tuple[CodedEpisode, ...], kb: Knowledge, facts: Facts, policy: ModifierPolicy
) -> tuple[Line, ...]:
    if not facts.review:
        return ()
    chosen = [
        (c.episode, c.choice)
        for c in episodes
        if c.choice is not None and c.choice.category in ("line", "specific") and c.choice.code is not None
    ]
    return tuple(plan(chosen, kb, facts.today, policy))
