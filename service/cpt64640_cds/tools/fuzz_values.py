"""Hypothesis building blocks for fuzzing: the knowledge base's words, numbers, dates-to-be, adversarial text
and JSON, and the helpers that weight and break them (tools/fuzz.py builds requests from them)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from ..knowledge.loader import load as load_knowledge

KB = load_knowledge()


CPT = KB.cpt_system

SNOMED = KB.snomed_system

ICD10 = KB.icd10cm_system


def _words(*groups: Any) -> list[str]:
    return sorted({w for group in groups for w in group if isinstance(w, str) and w})


NERVE_WORDS = _words([n.name for n in KB.nerves.values()], *(n.synonyms for n in KB.nerves.values()))

SIDE_WORDS = _words(*(s.words for s in KB.sides.values()))

AGENT_WORDS = _words([a.name for a in KB.agents.values()], *(a.words for a in KB.agents.values()))

MODALITY_WORDS = _words([m.name for m in KB.modalities.values()], *(m.words for m in KB.modalities.values()))

GUIDANCE_WORDS = _words(*(g.words for g in KB.guidance.values()), KB.unspecified_guidance_words)

OTHER_WORDS = _words(
    KB.neurolysis_words,
    *(group.words for group in KB.assertion.triggers),
    KB.confirmation_words,
    KB.conservative_phrases,
    KB.volume_units,
    ["no", "not", "without", "and", "with", "under", "of", "the", "s/p", "x2", "then", ",", ".", ";", "\n", "-", "/"],
)

SIDES = sorted(KB.sides.values(), key=lambda s: s.side)

SIDE_CODES = [s.snomed for s in SIDES]

KNOWN_CODES = sorted(KB.codes)

ICD_CODES = [*sorted({c for g in KB.indication_groups for c in g.icd10cm}), "G57.12", "M79.2", "R52", "Z00.00"]

SNOMED_PROCEDURES = sorted(KB.procedure_snomed)

# Strings no clinician types but a client may still send.
ADVERSARIAL = [
    "",
    " ",
    "\x00",
    "\ud800",  # a lone surrogate: valid in a JSON \u escape, not encodable as UTF-8
    "\udfff phenol \ud83d",
    "🧠💉" * 200,
    "\uff50\uff48\uff45\uff4e\uff4f\uff4c\u3000\uff16\uff05\u3000\uff4c\uff45\uff46\uff54"  # full-width,
    "phe\u200bnol le\u00adft",
    "right\u202eleft",
    "\u216c4-5 L\u0664-\u0665"  # Roman numeral L, Arabic-Indic digits,
    "phenol " * 300,  # longer runs of agent mentions are slow (docs/reliability.md, open findings)
    "a" * 100_000,
    "L" + "-".join(["5"] * 2_000),
    "%" * 5_000,
    "6% " * 3_000,
    "99999999999999999999999% phenol 1e400 mL",
    "-1 mL of 0% phenol",
    "NaN mL",
    "{{context.patientId}}",
    "<script>alert(1)</script>",
    "'; DROP TABLE feedback; --",
    "\\u0000\\\\",
    "\n\n\n\t\r",
]


def number() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.integers(-5, 50),
        st.floats(allow_nan=False, allow_infinity=False, width=32),
        st.sampled_from([0, -0.0, 1e308, 10**30, 0.000001]),
    )


def _concentration() -> st.SearchStrategy[str]:
    return st.builds(
        lambda n, unit, agent: f"{n}{unit} {agent}",
        number(),
        st.sampled_from(["%", " %", " mL", "ml", " cc", " mg/mL", " units"]),
        st.sampled_from(AGENT_WORDS),
    )


def _level() -> st.SearchStrategy[str]:
    return st.builds(
        lambda a, i, b, j: f"{a}{i}-{b}{j}",
        st.sampled_from("CTLS"),
        st.integers(0, 14),
        st.sampled_from(["", "C", "T", "L", "S"]),
        st.integers(0, 14),
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """Each strategy drawn in proportion to its weight (st.one_of merges repeated branches, so it cannot)."""
    slots = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(slots))).flatmap(lambda i: slots[i])


def rarely(usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any], one_in: int = 12) -> st.SearchStrategy[Any]:
    """`usual`, and one time in about `one_in`, `unusual`."""
    return weighted((one_in - 1, usual), (1, unusual))


WORD = st.one_of(
    st.sampled_from(NERVE_WORDS),
    st.sampled_from(SIDE_WORDS),
    st.sampled_from(AGENT_WORDS),
    st.sampled_from(MODALITY_WORDS),
    st.sampled_from(GUIDANCE_WORDS),
    st.sampled_from(OTHER_WORDS),
    st.sampled_from(KNOWN_CODES),
    _concentration(),
    _level(),
    st.text(min_size=1, max_size=6),
)

PHRASE = st.lists(WORD, min_size=1, max_size=20).map(" ".join)

# Mostly words a clinician might write; now and then any text, or a string built to hurt.
TEXT = weighted((20, PHRASE), (1, st.text(max_size=40)), (1, st.sampled_from(ADVERSARIAL)))

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["", "\ud800", 10**40]),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6,
)

ABSENT = object()


def fuzzy(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A field of a well-typed resource: mostly present, sometimes absent. Wrong types come from `mutate`."""
    return rarely(strategy, st.just(ABSENT), 4)


def enum(*valid: str) -> st.SearchStrategy[str]:
    """A FHIR code: one of the valid ones, now and then one the value set does not have."""
    return rarely(st.sampled_from(valid), st.sampled_from(["x", "", "ACTIVE", "completed "]), 40)


def obj(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({k: fuzzy(v) for k, v in fields.items()}).map(
        lambda d: {k: v for k, v in d.items() if v is not ABSENT}
    )
