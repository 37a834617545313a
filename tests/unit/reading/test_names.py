"""Concept names are read once per worker (reading/text.py `read_name`): the same findings as `read`, each
caller's copy its own, the cache bounded and narrative never in it."""

from __future__ import annotations

import pytest

from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.reading import text
from cpt64640_cds.reading.text import NAME_CHARS, NAMES_KEPT, conservative_in, indications_in, read, read_name

KB = load()
NAMES = [
    "Phenol neurolysis, left lateral femoral cutaneous nerve",
    "Acetaminophen 325 MG Oral Tablet",
    "Chronic pain syndrome",
    "Spastic hemiplegia affecting left dominant side",
    "Botulinum toxin type A 100 unit injection",
    "Radiofrequency ablation of genicular nerves, right knee",
    "Gabapentin 300 MG Oral Capsule",
    "Physical therapy procedure",
]


def test_the_names_say_something_to_compare():
    assert any(read(n, "code", KB).conservative for n in NAMES) and any(read(n, "code", KB).agents for n in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_a_name_reads_as_read_does(name):
    assert read_name(name, "code.text", KB) == read(name, "code.text", KB)
    assert indications_in(name, KB) == read(name, "code", KB).indications
    assert conservative_in(name, KB) == (read(name, "code", KB).conservative, False)


def test_each_caller_gets_its_own_copy():
    first = read_name(NAMES[0], "code.text", KB)
    first.agents.clear()
    first.modalities.add("changed")
    again = read_name(NAMES[0], "code.coding[0].display", KB)
    assert again.agents and "changed" not in again.modalities
    assert {a.field for a in again.agents} == {"code.coding[0].display"}


def test_the_cache_is_bounded_and_long_text_stays_out():
    assert text._name.cache_info().maxsize == NAMES_KEPT
    before = text._name.cache_info().currsize
    note = "Procedure note. " + "Phenol 6% 3 mL injected at the left LFCN under ultrasound. " * 10
    assert len(note) > NAME_CHARS
    assert read_name(note, "code.text", KB) == read(note, "code.text", KB)
    assert conservative_in(note, KB) == (read(note, "code.text", KB).conservative, False)
    assert text._name.cache_info().currsize == before
