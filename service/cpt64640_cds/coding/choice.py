"""Code selection: the CPT code one nerve episode should be reported with, and why.

Pure function of an episode and the knowledge base, shared by the rules: line-suggestion takes the 64640
choices, more-specific-code the other destruction codes, not-neurolytic the blocks, chemodenervation,
pulsed RF and cryoneurolysis. The order of the checks is the selection rule of thumb (docs/sources.md): what
was done first (destruction, block, toxin, cryo, pulsed RF), then the most specific nerve code; the fallback
codes (64640 itself, the other-nerve block, the unlisted code) are the knowledge base's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..facts.model import NerveEpisode
from ..knowledge.base import Knowledge
from ..knowledge.codes import DestructionOption
from ..knowledge.grammar import agree
from .chemodenervation import Extremity, extremities, other_regions

# "undetermined": what was done decides the code, and the record does not say it (radiofrequency, kind unstated).
Category = Literal["line", "specific", "choose", "not-neurolytic", "undetermined"]


@dataclass(frozen=True)
class AddOn:
    """An add-on code reported with the choice's code, on a line of its own."""

    code: str
    units: int
    target: str | None = None  # chemodenervation: the extremities it covers (the line's body site)


@dataclass(frozen=True)
class Choice:
    category: Category
    code: str | None  # the code to report (the first of `alternatives` for "choose"); None: no single code
    units: int
    add_ons: tuple[AddOn, ...] = ()  # further facet joints or vertebral bodies; further extremities (toxin)
    alternatives: tuple[str, ...] = ()
    target: str | None = None  # what a chemodenervation line names instead of a nerve
    family: str | None = None  # the code family named when no single code is proposed
    reason: str = ""
    confirmed: bool = True
    source: tuple[str, ...] = ()

    @property
    def codes(self) -> tuple[str, ...]:
        """The codes offered: the alternatives to choose from, else the one code, else none."""
        return self.alternatives or ((self.code,) if self.code else ())


def _joint_count(episode: NerveEpisode) -> int:
    if episode.joints:
        return len(episode.joints)
    return max(1, len(episode.levels) - 1)


def _levels(episode: NerveEpisode) -> set[str]:
    """Spinal levels written, a range included: "T8-T10" is T8, T9 and T10."""
    return set(episode.levels) | {level for joint in episode.joints for level in joint}


def _units(option: DestructionOption, episode: NerveEpisode) -> tuple[int, int]:
    """(base units, add-on units) for one side, by the code's unit rule (codes.json unitRules)."""
    if option.unit == "joint":
        return 1, (_joint_count(episode) - 1 if option.add_on else 0)
    if option.unit == "vertebral-body":
        bodies = len(_levels(episode)) or option.base_units
        return 1, (max(0, bodies - option.base_units) if option.add_on else 0)
    if option.unit == "level":
        return max(1, len(_levels(episode))), 0  # intercostal T7, T8, T9 (or T7-T9): one unit per nerve
    return 1, 0  # nerve-side, branch, knee, procedure: levels written near the nerve ("at L3-L4") add nothing


def _fits(option: DestructionOption, episode: NerveEpisode, modality: str) -> bool:
    if modality not in option.modalities:
        return False
    if option.spinal_regions and not (option.spinal_regions & episode.spinal_regions):
        return False
    return not option.imaging_required or bool(episode.guidance - {"unspecified"})


def _destruction(episode: NerveEpisode, kb: Knowledge) -> Choice | None:
    modality = episode.treatment if episode.treatment in ("chemical", "thermal") else "chemical"
    nerve = episode.nerve
    other_nerve = kb.fallbacks.other_nerve
    if nerve is None:
        if episode.nerve_text:
            return Choice("line", other_nerve, 1, reason="a peripheral nerve no more specific code names")
        if any(c != other_nerve and (f := kb.family_of(c)) and f.claims_destruction for c in episode.cpt_codes):
            return None  # coded with a more specific destruction code and no nerve named: nothing to say
        # A 64640 order that names no nerve is still 64640: no line can be billed, and the necessity and
        # documentation rules say what the record lacks.
        return Choice("line", other_nerve, 1, reason="neurolytic destruction of a nerve the record does not name")
    option = next((o for o in nerve.destruction if _fits(o, episode, modality)), None)
    if option is None:
        thermal_options = [o for o in nerve.destruction if modality in o.modalities and o.spinal_regions]
        if thermal_options:  # facet nerves, region not written: the coder picks
            codes = tuple(o.code for o in thermal_options)
            return Choice(
                "choose",
                codes[0],
                1,
                alternatives=codes,
                reason=f"{nerve.name}: the code depends on the spinal region, which the record does not state",
                source=thermal_options[0].source,
            )
        return Choice(
            "specific",
            kb.fallbacks.unlisted,
            1,
            reason=f"no CPT code describes {modality} destruction of the {nerve.name}",
            confirmed=False,
            source=nerve.source,
        )
    if option.choose:
        return Choice(
            "choose",
            option.choose[0],
            1,
            alternatives=option.choose,
            reason=f"{nerve.name}: the branch is not named, and each branch has its own code",
            confirmed=option.confirmed,
            source=option.source,
        )
    base, extra = _units(option, episode)
    category: Category = "line" if option.code == other_nerve else "specific"
    reason = (
        "a peripheral nerve no more specific code names"
        if category == "line"
        else f"the {nerve.name} {agree(nerve.name, 'has its', 'have their')} own code ({kb.codes[option.code].display})"
    )
    if option.code == kb.fallbacks.unlisted:
        reason = f"CPT reports {modality} destruction of the {nerve.name} with the unlisted code"
    return Choice(
        category,
        option.code,
        base,
        add_ons=(AddOn(option.add_on, extra),) if option.add_on and extra else (),
        reason=reason,
        confirmed=option.confirmed and kb.codes[option.code].confirmed,
        source=option.source,
    )


def _chemodenervation(episode: NerveEpisode, kb: Knowledge) -> Choice:
    found = extremities(episode, kb)
    if not found and episode.nerve is not None:
        region = kb.chemo_nerve_regions.get(episode.nerve.region)
        target = next((t for t in kb.chemo_targets if t.region == region), None)
        found = [Extremity(target, None, ())] if target else []
    if not found:
        codes = kb.fallbacks.chemodenervation
        return Choice(
            "not-neurolytic",
            codes[0],
            1,
            alternatives=codes,
            target="muscles injected",
            reason="botulinum toxin into muscle is chemodenervation, coded by the muscles injected",
            source=kb.fallbacks.source,
        )
    first, *others = found
    added: dict[str, list[Extremity]] = {}
    for other in others:
        if other.added_code is not None:
            added.setdefault(other.added_code, []).append(other)
    add_ons = tuple(AddOn(code, len(each), "; ".join(e.describe() for e in each)) for code, each in added.items())
    reason = "botulinum toxin is chemodenervation, not nerve destruction"
    if any(e.muscles for e in found):
        reason += ", counted by distinct muscles per extremity: " + "; ".join(e.counted() for e in found)
    if apart := other_regions(episode, kb, found):
        reason += f" (muscles of the {' and '.join(apart)} are coded apart)"
    codes = (first.code, *(a.code for a in add_ons))
    return Choice(
        "not-neurolytic",
        first.code,
        1,
        add_ons=add_ons,
        target=first.describe(),
        reason=reason,
        confirmed=all(kb.codes[code].confirmed for code in codes),
        source=tuple(dict.fromkeys(s for code in codes for s in kb.codes[code].source)),
    )


def choose(episode: NerveEpisode, kb: Knowledge) -> Choice | None:
    treatment, nerve = episode.treatment, episode.nerve
    if treatment == "block":
        if nerve is not None and nerve.block_family is not None:
            # A block family our sources do not confirm: name it, propose no code.
            family = nerve.block_family
            return Choice(
                "not-neurolytic",
                None,
                1,
                family=f"{family.name} ({family.codes})",
                reason=f"{family.reason} ({family.codes})",
                confirmed=family.confirmed,
                source=family.source,
            )
        code = nerve.block_code if nerve and nerve.block_code else kb.fallbacks.other_nerve_block
        return Choice(
            "not-neurolytic",
            code,
            1,
            reason="anaesthetic and/or steroid only: a nerve block, not destruction",
            confirmed=kb.codes[code].confirmed,
            source=kb.codes[code].source,
        )
    if treatment == "pulsed-rf":
        modality = kb.modalities["pulsed-rf"]
        return Choice(
            "not-neurolytic",
            modality.code or kb.fallbacks.unlisted,
            1,
            reason="pulsed radiofrequency does not destroy the nerve: CPT sends it to the unlisted code",
            source=kb.codes[kb.fallbacks.unlisted].source,
        )
    if treatment == "cryo":
        unlisted = kb.fallbacks.unlisted
        code = kb.modalities["cryo"].codes_by_region.get(nerve.region, unlisted) if nerve else unlisted
        return Choice(
            "not-neurolytic",
            code,
            1,
            reason="cryoneurolysis is reported with the Category III cryoablation codes, not 64640"
            if code != unlisted
            else "cryoneurolysis is not 64640, and no cryoablation code covers this region",
            confirmed=kb.codes[code].confirmed and code != unlisted,
            source=kb.codes[code].source,
        )
    if treatment == "botulinum-toxin":
        return _chemodenervation(episode, kb)
    if treatment == "radiofrequency":
        return Choice(
            "undetermined",
            None,
            1,
            reason="thermal radiofrequency is destruction and pulsed is not: the record does not say which",
            source=kb.radiofrequency.source,
        )
    return _destruction(episode, kb)
