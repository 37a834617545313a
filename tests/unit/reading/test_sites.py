"""reading.sites: the nerves one text names, targets apart from landmarks, each with the side written for it —
as clinicians write sites in orders, body sites and procedure notes."""

from __future__ import annotations

import difflib
import time

import pytest

from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.reading.lexicon import lexicon
from cpt64640_cds.reading.sites import FUZZY_CUTOFF, _correction, known_word_corrections, read_sentences, read_sites

KB = load()
LFCN, GON, LON = "lateral-femoral-cutaneous", "greater-occipital", "lesser-occipital"

# (text, expected targets as (nerve id or unknown words, side)); read as body-site text (unknown nerves, fuzzy)
TARGETS = [
    # One nerve, the side written before or after it, abbreviated or not.
    ("Left lateral femoral cutaneous nerve", [(LFCN, "left")]),
    ("L LFCN", [(LFCN, "left")]),
    ("Lt LFCN", [(LFCN, "left")]),
    ("LFCN - RT", [(LFCN, "right")]),
    ("lat. fem. cutaneous n., rt", [(LFCN, "right")]),
    ("LFC nerve (L)", [(LFCN, "left")]),
    ("R GON", [(GON, "right")]),
    ("B GON", [(GON, "bilateral")]),
    ("bilat GON", [(GON, "bilateral")]),
    ("b/l greater occipital nerves", [(GON, "bilateral")]),
    ("greater occipital nerves bilaterally", [(GON, "bilateral")]),
    ("occipital nerve, greater - left", [(GON, "left")]),
    ("lateral femoral cutaneous nerve", [(LFCN, None)]),
    ("Left T7, T8, T9 intercostal nerves", [("intercostal", "left")]),
    ("LFCN (lateral femoral cutaneous nerve), left", [(LFCN, "left")]),
    ("basivertebral nerve L4, L5", [("basivertebral", None)]),
    # A shared side distributes over a list of nerves.
    ("Left obturator and tibial nerves", [("obturator", "left"), ("tibial", "left")]),
    ("L LFCN & GON", [(LFCN, "left"), (GON, "left")]),
    ("bilateral genicular (SMGN, SLGN, IMGN)", [("genicular", "bilateral")]),
    ("right: sural, saphenous", [("sural", "right"), ("saphenous", "right")]),
    ("sural and saphenous nerves, right", [("sural", "right"), ("saphenous", "right")]),
    ("Rt ilioinguinal/iliohypogastric nn.", [("ilioinguinal", "right"), ("iliohypogastric", "right")]),
    ("L GON/LON", [(GON, "left"), (LON, "left")]),
    ("left IIN, IHN and GFN", [("ilioinguinal", "left"), ("iliohypogastric", "left"), ("genitofemoral", "left")]),
    ("bilateral suprascapular as well as axillary nerve", [("suprascapular", "bilateral"), ("axillary", "bilateral")]),
    # Each nerve its own side.
    ("L GON and R LON", [(GON, "left"), (LON, "right")]),
    ("GON L, LON R", [(GON, "left"), (LON, "right")]),
    ("Left obturator and right musculocutaneous", [("obturator", "left"), ("musculocutaneous", "right")]),
    ("R GON, L GON", [(GON, "right"), (GON, "left")]),
    ("Left tibial nerve; right obturator nerve", [("tibial", "left"), ("obturator", "right")]),
    # Landmarks and avoided nerves are not targets.
    ("injected the left LFCN medial to the ASIS", [(LFCN, "left")]),
    ("tibial nerve block, avoiding the common peroneal nerve", [("tibial", None)]),
    ("Left tibial nerve medial to the common peroneal nerve", [("tibial", "left")]),
    ("right saphenous nerve adjacent to the femoral nerve", [("saphenous", "right")]),
    ("left obturator nerve, deep to the femoral nerve", [("obturator", "left")]),
    (
        "suprascapular nerve lateral to the suprascapular notch, superficial to the axillary nerve",
        [("suprascapular", None)],
    ),
    ("Left sural nerve, near the superficial peroneal nerve", [("sural", "left")]),
    ("right tibial nerve, next to the sural nerve", [("tibial", "right")]),
    ("left musculocutaneous nerve in close proximity to the median nerve", [("musculocutaneous", "left")]),
    ("avoiding the common peroneal and sural nerves, tibial nerve injected", [("tibial", None)]),
    ("femoral nerve identified, saphenous nerve injected", [("saphenous", None)]),
    ("sural nerve visualized as landmark, right tibial nerve", [("tibial", "right")]),
    ("the femoral nerve was used as a landmark; left obturator injected", [("obturator", "left")]),
    ("left LFCN identified and injected", [(LFCN, "left")]),  # the only nerve named: identified is the target
    ("right GON visualized under ultrasound", [(GON, "right")]),
    # Qualifiers: another nerve, not the bare one.
    ("posterior femoral cutaneous nerve, right", [("posterior-femoral-cutaneous", "right")]),
    ("medial antebrachial cutaneous nerve, left", [("medial antebrachial cutaneous nerve", "left")]),
    ("left lateral sural cutaneous nerve", [("lateral sural cutaneous nerve", "left")]),
    # Misspellings and abbreviations: knowledge-base synonyms first, then the fuzzy correction.
    ("L lateral femoral cutaneus nerve", [(LFCN, "left")]),
    ("R lateral femoral cutanous n", [(LFCN, "right")]),
    ("saphenus nerve, left", [("saphenous", "left")]),
    ("supra-scapular nerve rt", [("suprascapular", "right")]),
    ("Lt suprascapluar", [("suprascapular", "left")]),
    ("L genicualr nerves", [("genicular", "left")]),
    ("ilio inguinal nerve L", [("ilioinguinal", "left")]),
    ("ilio-inguinal nerve L", [("ilioinguinal", "left")]),
    ("right intercoastal nerves T9-T10", [("intercostal", "right")]),
    ("L obdurator nerve", [("obturator", "left")]),
    ("Rt LON", [(LON, "right")]),
    ("bilateral TON", [("facet", "bilateral")]),
    ("left SCN", [("cluneal", "left")]),
    ("R IIN", [("ilioinguinal", "right")]),
    ("left musculocutanous nerve", [("musculocutaneous", "left")]),
    ("right genicluar branches", [("genicular", "right")]),
    ("left pudenal nerve", [("pudendal", "left")]),
    ("left geniculer nerves", [("genicular", "left")]),  # not a listed misspelling: corrected
    ("right supraskapular nerve", [("suprascapular", "right")]),
    # No nerve named: nothing, or an unknown nerve when words say nerve.
    ("Left knee", []),
    ("Left thumb", []),
    ("right wrist, digital nerve of the thumb", [("digital", "right")]),
    ("nerve of the left forearm", [("nerve of the forearm", "left")]),
]


@pytest.mark.parametrize(("text", "expected"), TARGETS, ids=[t for t, _ in TARGETS])
def test_targets_and_their_sides(text, expected):
    reading = read_sites(text, KB, unknown=True, fuzzy=True)
    assert [(m.nerve or m.words, m.side) for m in reading.targets] == expected


LANDMARKS = [
    ("tibial nerve block, avoiding the common peroneal nerve", ["common-peroneal"]),
    ("avoiding the common peroneal and sural nerves, tibial nerve injected", ["common-peroneal", "sural"]),
    ("medial to the common peroneal nerve, tibial nerve injected", ["common-peroneal"]),
    ("femoral nerve identified, saphenous nerve injected", ["femoral"]),
    ("left LFCN identified and injected", []),
]


@pytest.mark.parametrize(("text", "landmarks"), LANDMARKS, ids=[t for t, _ in LANDMARKS])
def test_landmarks_are_kept_apart(text, landmarks):
    assert [m.nerve for m in read_sites(text, KB).landmarks] == landmarks


SIDES = [
    ("Laterality: Left", ("left",)),
    ("Side: Rt", ("right",)),
    ("Laterality: Bilateral", ("bilateral",)),
    ("Which side? B/L", ("bilateral",)),
    ("Side: LT", ("left",)),
    ("Procedure side - right", ("right",)),
    ("Laterality: N/A", ()),
]


@pytest.mark.parametrize(("text", "sides"), SIDES, ids=[t for t, _ in SIDES])
def test_sides_written_in_an_order_question(text, sides):
    assert read_sites(text, KB).sides == sides


def test_no_fuzzy_correction_unless_asked_and_never_of_a_word_the_base_knows():
    assert read_sites("L geniculer nerves", KB).targets == ()
    assert [
        m.words for m in read_sites("medial antebrachial cutaneous nerve", KB, unknown=True, fuzzy=True).targets
    ] == ["medial antebrachial cutaneous nerve"]
    # "medical" is close to "medial", but a correction that names no nerve changes nothing.
    assert read_sites("left medical nerve", KB, fuzzy=True).targets == ()


def _closest_by_difflib(word: str) -> str:
    """The correction as difflib alone finds it: ratio() against every same-initial word within 2 letters."""
    vocabulary = lexicon(KB).nerve_vocabulary
    if len(word) < 6 or not word.isalpha() or word in vocabulary:
        return word
    scored = [
        (difflib.SequenceMatcher(None, word, v).ratio(), v)
        for v in vocabulary
        if v[0] == word[0] and abs(len(v) - len(word)) <= 2
    ]
    best = max((score for score, _ in scored), default=0.0)
    closest = sorted(v for score, v in scored if score == best)
    return word if best < FUZZY_CUTOFF or len({vocabulary[v] for v in closest}) > 1 else closest[0]


def test_the_letter_bound_rules_out_no_correction_difflib_would_make():
    words = [w for w in lexicon(KB).nerve_vocabulary if len(w) >= 6]
    misspelt = [w[:i] + w[i + 1 :] for w in words for i in range(1, len(w))]  # a letter dropped
    misspelt += [w[:i] + w[i + 1] + w[i] + w[i + 2 :] for w in words for i in range(1, len(w) - 1)]  # swapped
    misspelt += ["occipitl", "procedure", "tolerated", "ultrasound", "injection", "superficial"]
    corrected = {w: _correction(w, lexicon(KB)) for w in misspelt}
    assert corrected == {w: _closest_by_difflib(w) for w in misspelt}
    assert corrected["occipitl"] == "occipital" and corrected["procedure"] == "procedure"
    assert sum(word != correction for word, correction in corrected.items()) > len(misspelt) // 2


def test_the_knowledge_bases_own_words_are_corrected_once_and_as_any_word_is():
    known = known_word_corrections(lexicon(KB))
    assert {"chemical", "aqueous", "phenol", "ultrasound", "guided", "neurolysis"} <= known.keys()
    assert known == {word: _correction(word, lexicon(KB)) for word in known}
    assert known is known_word_corrections(lexicon(KB))  # worked out once per process
    # An order written in those words needs no correction worked out during the call.
    assert [m.words for m in read_sites("chemical neurolysis left lfcn aqueous phenol", KB).targets] == ["lfcn"]


def test_a_note_read_sentence_by_sentence_keeps_identified_nerves_apart_from_the_target():
    sentences = ["The femoral nerve was identified lateral to the artery.", "Left saphenous nerve: 3 mL phenol 6%."]
    reading = read_sentences(sentences, KB)
    assert [(m.nerve, m.side) for m in reading.targets] == [("saphenous", "left")]
    assert [m.nerve for m in reading.landmarks] == ["femoral"]
    only = read_sentences(["The left LFCN was identified.", "3 mL phenol 6% injected."], KB)
    assert [(m.nerve, m.side) for m in only.targets] == [(LFCN, "left")]


def test_reading_a_long_note_stays_fast():
    filler = "Patient tolerated the procedure well without complications and was discharged home. " * 200
    read_sites(filler, KB, fuzzy=True)  # warm the corrections cache
    for note, budget in ((filler, 0.05), (filler + "Left LFCN: 3 mL phenol.", 0.25)):
        start = time.perf_counter()
        for _ in range(5):
            read_sites(note, KB, fuzzy=True)
        assert (time.perf_counter() - start) / 5 < budget
