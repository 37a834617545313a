"""reading.context: the assertion status of a mention (ConText), as clinicians write notes and orders about nerve
blocks and neurolysis; and read() counting present mentions only."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from cpt64640_cds.knowledge.assertion import AssertionFile
from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.reading.context import Sentence, assertion_of, split, status_at
from cpt64640_cds.reading.text import read

KB = load()

# (text, target phrase, status)
PRESENT = [
    ("Today: 6% phenol 3 mL to L LFCN under US", "phenol", "present"),
    ("Today: 6% phenol 3 mL to L LFCN under US", "ultrasound", "present"),
    ("US-guided chemical neurolysis of the right greater occipital nerve", "neurolysis", "present"),
    ("6% aqueous phenol 2 mL injected under ultrasound guidance", "phenol", "present"),
    ("Placement confirmed with nerve stimulation at 0.5 mA", "nerve stimulation", "present"),
    ("L LFCN phenol neurolysis performed under fluoroscopy", "fluoroscopy", "present"),
    ("Dehydrated alcohol 50% 2 mL injected after negative aspiration", "alcohol", "present"),
    ("Cryoneurolysis of the infrapatellar branch, 3 cycles", "cryoneurolysis", "present"),
    ("Thermal radiofrequency ablation at 80 C for 90 s", "radiofrequency ablation", "present"),
    ("Procedure performed without complications under ultrasound guidance", "ultrasound", "present"),
    ("Phenol injected without difficulty", "phenol", "present"),
    ("Prior to phenol injection, lidocaine test dose given", "phenol", "present"),
    ("Prior to injection, negative aspiration; 6% phenol 3 mL", "phenol", "present"),
    ("No complications. 6% phenol 3 mL injected", "phenol", "present"),
    ("No paresthesia on needle advancement. Phenol injected", "phenol", "present"),
    ("Patient presents for L LFCN neurolysis", "neurolysis", "present"),
    ("Pt is a 54F with meralgia paresthetica", "meralgia paresthetica", "present"),
    ("Diagnosis: spasticity of the left upper limb", "spasticity", "present"),
    ("HPI: 54F with left meralgia paresthetica", "meralgia paresthetica", "present"),
    ("History of present illness: worsening spasticity", "spasticity", "present"),
    ("Indication: intractable occipital neuralgia", "occipital neuralgia", "present"),
    ("Mother has MS; patient has spasticity", "spasticity", "present"),
    ("Family history of MS. Patient has spasticity", "spasticity", "present"),
    ("No relief from the block, so proceeded with phenol neurolysis", "phenol", "present"),
    ("Neurolysis was not only effective but well tolerated", "neurolysis", "present"),
    ("Consent obtained for phenol neurolysis", "phenol", "present"),
    ("Risks and benefits discussed, patient agreed; 6% phenol injected", "phenol", "present"),
    ("Accompanied by her husband. Phenol 3 mL injected", "phenol", "present"),
    ("Lives with husband; spasticity from MS", "spasticity", "present"),
    ("Test dose of lidocaine then 6% phenol 3 mL", "phenol", "present"),
    ("Repeat phenol neurolysis today for recurrent pain", "phenol", "present"),
    ("Block gave 80% relief; phenol neurolysis today", "phenol", "present"),
]

NEGATED = [
    ("No phenol was injected", "phenol", "negated"),
    ("Pt declined neurolysis today", "neurolysis", "negated"),
    ("Patient refused alcohol neurolysis", "alcohol", "negated"),
    ("Phenol 6% 3 mL was not injected", "phenol", "negated"),
    ("Neurolysis not performed", "neurolysis", "negated"),
    ("Neurolysis not done due to anticoagulation", "neurolysis", "negated"),
    ("Phenol neurolysis deferred", "neurolysis", "negated"),
    ("Phenol neurolysis cancelled, INR 3.2", "neurolysis", "negated"),
    ("Phenol neurolysis canceled", "neurolysis", "negated"),
    ("Neurolysis aborted after vasovagal episode", "neurolysis", "negated"),
    ("No contrast used", "contrast", "negated"),
    ("Landmark based, no US", "ultrasound", "negated"),
    ("Without fluoroscopy", "fluoroscopy", "negated"),
    ("Performed w/o fluoroscopy", "fluoroscopy", "negated"),
    ("Stimulator not available", "stimulator", "negated"),
    ("Stimulation was not performed", "stimulation", "negated"),
    ("Denies spasticity", "spasticity", "negated"),
    ("Negative for hyperhidrosis", "hyperhidrosis", "negated"),
    ("Patient declines neurolysis at this time", "neurolysis", "negated"),
    ("Neurolysis declined by patient", "neurolysis", "negated"),
    ("Neurolysis refused", "neurolysis", "negated"),
    ("Did not receive phenol", "phenol", "negated"),
    ("Phenol was held", "phenol", "negated"),
    ("Ultrasound unavailable", "ultrasound", "negated"),
    ("Contrast: none", "contrast", "present"),  # a clause break ends "none"'s reach: as before this change
    ("No evidence of neuroma", "neuroma", "negated"),
    ("Never had neurolysis", "neurolysis", "negated"),
    ("Neither phenol nor alcohol was used", "alcohol", "negated"),
    ("No prior neurolysis", "neurolysis", "negated"),
    ("Pt declined neurolysis; lidocaine block instead", "lidocaine", "present"),
    ("No phenol but lidocaine 1% 2 mL given", "lidocaine", "present"),
    ("No phenol, lidocaine 1% 2 mL given", "lidocaine", "present"),
    ("Unable to perform neurolysis", "neurolysis", "negated"),
    ("Neurolysis was not indicated", "neurolysis", "negated"),
    ("No cryoneurolysis", "cryoneurolysis", "negated"),
    ("Alcohol was not administered", "alcohol", "negated"),
]

HISTORICAL = [
    ("s/p L LFCN phenol neurolysis 03/2025 with 4 months relief", "phenol", "historical"),
    ("S/P alcohol neurolysis of the tibial nerve", "alcohol", "historical"),
    ("Status post RF ablation of the genicular nerves", "rf ablation", "historical"),
    ("History of phenol neurolysis", "phenol", "historical"),
    ("Hx of cryoneurolysis of the LFCN", "cryoneurolysis", "historical"),
    ("h/o neurolysis L LFCN", "neurolysis", "historical"),
    ("Prior phenol neurolysis gave 6 months relief", "phenol", "historical"),
    ("Previous alcohol neurolysis of the saphenous nerve", "alcohol", "historical"),
    ("Previously had phenol neurolysis", "phenol", "historical"),
    ("Phenol neurolysis previously", "phenol", "historical"),
    ("Phenol neurolysis in 2024", "phenol", "historical"),
    ("In 2023 she underwent alcohol neurolysis", "alcohol", "historical"),
    ("Neurolysis in May 2024", "neurolysis", "historical"),
    ("Phenol neurolysis 2 years ago", "phenol", "historical"),
    ("Neurolysis 6 months ago with good relief", "neurolysis", "historical"),
    ("Cryoneurolysis 3 wks ago", "cryoneurolysis", "historical"),
    ("Phenol injection last month", "phenol", "historical"),
    ("Alcohol neurolysis last year", "alcohol", "historical"),
    ("Had phenol neurolysis in the past", "phenol", "historical"),
    ("PMH: MS, spasticity", "spasticity", "historical"),
    ("Past medical history: occipital neuralgia", "occipital neuralgia", "historical"),
    ("Prior procedures: L LFCN phenol neurolysis", "phenol", "historical"),
    ("PSH: cryoneurolysis of the LFCN", "cryoneurolysis", "historical"),
    ("History:\nphenol neurolysis of the L LFCN\nthermal RF of genicular nerves", "thermal", "historical"),
    ("s/p phenol neurolysis, now presents for repeat neurolysis", "repeat neurolysis", "present"),
    ("s/p phenol neurolysis in 2024, returns today for repeat", "phenol", "historical"),
    ("History of alcohol neurolysis but today phenol used", "phenol", "present"),
    ("Previous neurolysis; today 6% phenol 3 mL", "phenol", "present"),
    ("Prior neurolysis, currently on gabapentin", "gabapentin", "present"),
    ("Status-post L LFCN block with 80% relief", "block", "historical"),
    ("Remote history of neuroma excision", "neuroma", "historical"),
    ("Since 2021 spasticity has worsened", "spasticity", "historical"),
]

HYPOTHETICAL = [
    ("Will consider alcohol neurolysis if diagnostic block gives >50% relief", "alcohol", "hypothetical"),
    ("Plan: RF ablation next visit", "rf ablation", "hypothetical"),
    ("Plan:\nphenol neurolysis of L LFCN\nrecheck in 6 weeks", "phenol", "hypothetical"),
    ("Assessment and plan: consider cryoneurolysis", "cryoneurolysis", "hypothetical"),
    ("A/P: phenol neurolysis of L LFCN", "phenol", "hypothetical"),
    ("Recommendations: alcohol neurolysis", "alcohol", "hypothetical"),
    ("Follow-up: RF ablation if block helps", "rf ablation", "hypothetical"),
    ("neurolysis was discussed; patient declined", "neurolysis", "hypothetical"),
    ("Discussed phenol neurolysis with patient", "phenol", "hypothetical"),
    ("Consider phenol neurolysis", "phenol", "hypothetical"),
    ("If the block helps, phenol neurolysis", "phenol", "hypothetical"),
    ("Phenol neurolysis if the block helps", "phenol", "hypothetical"),
    ("Plan to perform cryoneurolysis", "cryoneurolysis", "hypothetical"),
    ("Planning alcohol neurolysis", "alcohol", "hypothetical"),
    ("Good candidate for phenol neurolysis", "phenol", "hypothetical"),
    ("May benefit from neurolysis", "neurolysis", "hypothetical"),
    ("Would benefit from RF ablation", "rf ablation", "hypothetical"),
    ("Neurolysis to be scheduled", "neurolysis", "hypothetical"),
    ("RF ablation next visit", "rf ablation", "hypothetical"),
    ("Phenol neurolysis pending insurance approval", "phenol", "hypothetical"),
    # "pending" acts backward only ("neurolysis pending"): written before the mention it says nothing of it
    ("Pending authorization: phenol neurolysis", "phenol", "present"),
    ("Phenol neurolysis after the block", "phenol", "hypothetical"),
    ("Repeat block if needed", "block", "hypothetical"),
    ("Neurolysis planned", "neurolysis", "hypothetical"),
    ("Recommend US-guided phenol neurolysis", "phenol", "hypothetical"),
    ("Offered alcohol neurolysis", "alcohol", "hypothetical"),
    ("Referred for cryoneurolysis", "cryoneurolysis", "hypothetical"),
    ("Patient interested in RF ablation", "rf ablation", "hypothetical"),
    ("Will proceed with phenol neurolysis", "phenol", "hypothetical"),
    ("Will try PT", "pt", "hypothetical"),
    ("Return for phenol neurolysis in 2 weeks", "phenol", "hypothetical"),
    ("Phenol neurolysis to be determined", "phenol", "hypothetical"),
    ("Phenol neurolysis TBD", "phenol", "hypothetical"),
    ("Cryoneurolysis in the future", "cryoneurolysis", "hypothetical"),
    ("Neurolysis may be considered", "neurolysis", "hypothetical"),
    ("Should pain recur, alcohol neurolysis", "alcohol", "hypothetical"),
    ("Eligible for RF ablation", "rf ablation", "hypothetical"),
    ("Plan: phenol neurolysis today", "phenol", "present"),
    ("Plan: proceed with L LFCN phenol neurolysis now", "phenol", "present"),
    ("Plan: RF ablation next visit.\n6% phenol 3 mL injected", "phenol", "present"),
]

FAMILY = [
    ("FHx: MS (mother)", "ms", "family"),
    ("family history of multiple sclerosis (mother)", "multiple sclerosis", "family"),
    ("Family history: multiple sclerosis in mother", "multiple sclerosis", "family"),
    ("FH: spasticity", "spasticity", "family"),
    ("Mother had phenol neurolysis", "phenol", "family"),
    ("Her husband had alcohol neurolysis", "alcohol", "family"),
    ("Father with occipital neuralgia", "occipital neuralgia", "family"),
    ("Multiple sclerosis in mother", "multiple sclerosis", "family"),
    ("Sister has hyperhidrosis", "hyperhidrosis", "family"),
    ("Brother s/p cryoneurolysis", "cryoneurolysis", "family"),
    ("Fam hx:\nMS in maternal aunt", "ms", "family"),  # not a listed heading, but "maternal aunt" reaches back
    ("Mother had neurolysis; pt has spasticity", "spasticity", "present"),
    ("Mother had MS, patient now has spasticity", "spasticity", "present"),
    ("Spasticity, mother has MS", "spasticity", "present"),
    ("Daughter with occipital neuralgia", "occipital neuralgia", "family"),
    ("Wife reports he had phenol neurolysis", "phenol", "present"),
    ("Family hx of hyperhidrosis", "hyperhidrosis", "family"),
]

UNCERTAIN = [
    ("?phenol, amount not recorded", "phenol", "uncertain"),
    ("Phenol? volume not documented", "phenol", "uncertain"),
    ("Possible phenol neurolysis", "phenol", "uncertain"),
    ("Probable neuroma of the sural nerve", "neuroma", "uncertain"),
    ("Suspected occipital neuralgia", "occipital neuralgia", "uncertain"),
    ("Questionable spasticity", "spasticity", "uncertain"),
    ("Rule out neuroma", "neuroma", "uncertain"),
    ("R/O neuroma", "neuroma", "uncertain"),
    ("Possibly contrast used", "contrast", "uncertain"),
    ("Concern for neuroma", "neuroma", "uncertain"),
    ("Likely meralgia paresthetica", "meralgia paresthetica", "uncertain"),
    ("Neuroma questionable", "neuroma", "uncertain"),
    ("Spasticity unclear", "spasticity", "uncertain"),
    ("Cannot rule out neuroma", "neuroma", "uncertain"),
    ("Possible neuroma, phenol 3 mL injected", "phenol", "present"),
]

PRIORITY = [
    ("No prior neurolysis", "neurolysis", "negated"),  # negated > historical
    ("Mother had possible MS", "ms", "family"),  # family > uncertain
    ("Mother declined neurolysis", "neurolysis", "family"),  # family > negated
    ("History of possible neuroma", "neuroma", "historical"),  # historical > uncertain
    ("Will not consider neurolysis", "neurolysis", "negated"),  # negated > hypothetical
    ("Consider repeat of prior neurolysis", "neurolysis", "hypothetical"),  # hypothetical > historical
    ("PMH: no spasticity", "spasticity", "negated"),  # a trigger inside a section: negated > historical
    ("FHx: no MS", "ms", "family"),  # family section > negated
    ("Plan: no neurolysis", "neurolysis", "negated"),
    ("Plan: possible neurolysis", "neurolysis", "hypothetical"),
]

SCOPE = [
    # A trigger reaches only so many words, and not past the sentence
    ("No relief with lidocaine block so after discussion proceeded to phenol", "phenol", "present"),
    ("No relief. Phenol 3 mL injected", "phenol", "present"),
    ("Neurolysis declined; phenol test dose only", "phenol", "present"),
    (
        "Phenol 6% 3 mL injected under ultrasound guidance with nerve stimulation confirming, not alcohol",
        "phenol",
        "present",
    ),
    ("History of neurolysis. Phenol 3 mL today", "phenol", "present"),
    ("History of neurolysis\nPhenol 3 mL", "phenol", "present"),
    ("s/p phenol neurolysis 2024\n\n6% phenol 3 mL injected under US", "6% phenol", "present"),
    ("Will consider neurolysis.\nToday lidocaine block", "lidocaine", "present"),
    ("Plan: RF next visit. Today: phenol 3 mL", "phenol", "present"),
    # terminators
    ("No alcohol however phenol 3 mL injected", "phenol", "present"),
    ("Prior block which gave relief, phenol injected today", "phenol", "present"),
    ("Declined alcohol, although phenol was accepted", "phenol", "present"),
    ("Patient denies pain except over the L LFCN", "lfcn", "present"),
    ("Considered cryoneurolysis but phenol neurolysis performed", "phenol", "present"),
    ("Mother had MS but the patient has spasticity", "spasticity", "present"),
    # clause breaks end negation and uncertainty, not history or plans
    ("Prior: phenol 3 mL, 2024", "phenol", "historical"),
    ("Plan: if block helps, phenol neurolysis", "phenol", "hypothetical"),
    ("Will consider, after diagnostic block, phenol neurolysis", "phenol", "hypothetical"),
    ("No contrast, phenol injected", "phenol", "present"),
    ("?contrast, phenol injected", "phenol", "present"),
]

SECTIONS = [
    ("PMH:\nMS\nspasticity\n\nProcedure: phenol 3 mL", "phenol", "present"),
    ("PMH:\nMS\nspasticity\n\nProcedure: phenol 3 mL", "spasticity", "historical"),
    ("PAST MEDICAL HISTORY\nOccipital neuralgia\nPROCEDURE\nPhenol 3 mL", "occipital neuralgia", "historical"),
    ("PAST MEDICAL HISTORY\nOccipital neuralgia\nPROCEDURE\nPhenol 3 mL", "phenol", "present"),
    ("Family History:\nMS - mother\nTechnique:\nalcohol 2 mL", "ms", "family"),
    ("Family History:\nMS - mother\nTechnique:\nalcohol 2 mL", "alcohol", "present"),
    ("PLAN:\n1. RF ablation\n2. PT", "rf ablation", "hypothetical"),
    ("PLAN:\n\n1. RF ablation", "rf ablation", "hypothetical"),
    ("Description of procedure: 6% phenol 3 mL", "phenol", "present"),
    ("Findings: neuroma of the sural nerve", "neuroma", "present"),
    ("Indications: spasticity", "spasticity", "present"),
    ("Hx: phenol neurolysis L LFCN", "phenol", "historical"),
    ("Recommendations:\n- alcohol neurolysis\n- PT", "alcohol", "hypothetical"),
    ("F/u: cryoneurolysis in 4 weeks", "cryoneurolysis", "hypothetical"),
    ("PMH: MS.\n6% phenol 3 mL injected", "phenol", "present"),
    ("Indication: meralgia paresthetica. Plan: RF ablation next visit.", "meralgia paresthetica", "present"),
    ("Indication: meralgia paresthetica. Plan: RF ablation next visit.", "rf ablation", "hypothetical"),
    ("Procedure note: US-guided phenol neurolysis", "phenol", "present"),
    ("- Plan: phenol neurolysis", "phenol", "hypothetical"),
    ("Procedure:\n6% phenol 3 mL\nA/P:\ncryoneurolysis if recurs", "phenol", "present"),
    ("Procedure:\n6% phenol 3 mL\nA/P:\ncryoneurolysis if recurs", "cryoneurolysis", "hypothetical"),
    ("Prior procedures:\nL LFCN alcohol neurolysis 2023\nToday: phenol 3 mL", "alcohol", "historical"),
    ("Prior procedures:\nL LFCN alcohol neurolysis 2023\nToday: phenol 3 mL", "phenol", "present"),
    ("History of phenol neurolysis", "phenol", "historical"),  # not a heading: no colon
    # what a patient must not be given, and their habits, are no claim of today's treatment
    ("Allergies: contrast, lidocaine\nProcedure: phenol 3 mL", "contrast", "negated"),
    ("Allergies: contrast, lidocaine\nProcedure: phenol 3 mL", "phenol", "present"),
    ("Social history: EtOH socially, quit smoking", "etoh", "historical"),
    ("Medications: gabapentin 300 mg TID", "gabapentin", "present"),
    ("Prior authorization obtained for phenol neurolysis", "phenol", "present"),
    ("Prior auth approved: L LFCN RF ablation", "rf ablation", "present"),
    ("Plan to do phenol neurolysis", "phenol", "hypothetical"),
    ("Pre-neurolysis labs", "neurolysis", "hypothetical"),
    ("Referred for evaluation of phenol neurolysis", "phenol", "hypothetical"),
    # a list heading holds to the end of its sentence; a narrative one to the end of its line
    ("FHx: MS (mother). US-guided tibial n. phenol 6% 3 mL", "phenol", "present"),
    ("FHx: MS (mother). US-guided tibial n. phenol 6% 3 mL", "ms", "family"),
    ("Allergies: iodine. Contrast confirmed spread", "contrast", "present"),
    ("Hx: L LFCN phenol 2024. Alcohol 2 mL then", "alcohol", "historical"),
]

ABBREVIATIONS = [
    ("Pt c/o L thigh pain, s/p LFCN RFA", "rfa", "historical"),
    ("Pt w/ spasticity, FHx MS", "spasticity", "present"),
    ("Pt refused EtOH neurolysis", "etoh", "negated"),
    ("f/u for cryo next visit", "cryo", "hypothetical"),
    ("r/o neuroma vs scar", "neuroma", "uncertain"),
    ("Pt didn't tolerate gabapentin", "gabapentin", "negated"),
    ("ddx: neuroma", "neuroma", "uncertain"),
    ("Tx plan:\nphenol neurolysis", "phenol", "hypothetical"),
    ("RTC for RFA", "rfa", "hypothetical"),
    ("Pt is s/p LFCN phenol 6% 3cc 1/2025", "phenol", "historical"),
]

# Written after the lists above and measured before any data was tuned to them (docs/assertion.md): 36 of 40 right
# then; kept here as regressions. Not read: "Last phenol injection was in March" (a month without a year).
HELD_OUT = [
    ("Pt returns s/p right GON phenol neurolysis 8/2025, 5 months relief, now pain recurred", "phenol", "historical"),
    ("Previously trialed alcohol neurolysis with minimal benefit", "alcohol", "historical"),
    ("She had cryoneurolysis of the genicular nerves two years ago", "cryoneurolysis", "historical"),
    ("Underwent RFA of the medial branches in 2022", "rfa", "historical"),
    ("Past surgical history: neuroma excision left foot", "neuroma", "historical"),
    ("Procedure history:\nLFCN block 10/2025 (80% relief)", "block", "historical"),
    ("Previous LFCN block provided 2 days of relief", "block", "historical"),
    ("Phenol was not administered as patient became hypotensive", "phenol", "negated"),
    ("Patient does not want neurolysis", "neurolysis", "negated"),
    ("No neurolytic agent was given", "neurolytic", "negated"),
    ("Ultrasound not used for this injection", "ultrasound", "negated"),
    ("Procedure aborted prior to phenol injection", "phenol", "negated"),
    ("Contrast was not injected due to allergy", "contrast", "negated"),
    ("Pt is not a candidate for neurolysis", "neurolysis", "negated"),
    ("Denies prior neurolysis", "neurolysis", "negated"),
    ("We discussed alcohol versus phenol neurolysis", "phenol", "hypothetical"),
    ("If relief >50%, will schedule L LFCN cryoneurolysis", "cryoneurolysis", "hypothetical"),
    ("Patient would like to proceed with RF ablation at a later date", "rf ablation", "hypothetical"),
    ("Next step: phenol neurolysis of the tibial nerve", "phenol", "hypothetical"),
    ("Schedule for US-guided phenol neurolysis in 2 weeks", "phenol", "hypothetical"),
    ("May repeat neurolysis in 6 months", "neurolysis", "hypothetical"),
    ("Consider cryoablation vs alcohol neurolysis", "alcohol", "hypothetical"),
    ("Plan:\n- Diagnostic LFCN block today\n- Phenol neurolysis if >50% relief", "phenol", "hypothetical"),
    ("Plan:\n- Diagnostic LFCN block today\n- Phenol neurolysis if >50% relief", "block", "present"),
    ("Mother with hyperhidrosis", "hyperhidrosis", "family"),
    ("Family Hx: father - occipital neuralgia", "occipital neuralgia", "family"),
    ("Her sister had alcohol neurolysis for the same condition", "alcohol", "family"),
    ("Spasticity runs in the family", "spasticity", "family"),
    ("Possible neuroma at the incision", "neuroma", "uncertain"),
    ("Findings suggestive of meralgia paresthetica, r/o lumbar radiculopathy", "meralgia paresthetica", "uncertain"),
    ("?neuroma of the sural nerve", "neuroma", "uncertain"),
    ("6% phenol 2 mL injected at each site under ultrasound guidance", "phenol", "present"),
    ("Using US guidance, 50% dehydrated alcohol 1 mL was injected", "alcohol", "present"),
    ("The LFCN was identified and phenol neurolysis performed without complication", "phenol", "present"),
    ("After negative aspiration, 3 mL of 6% phenol was slowly injected", "phenol", "present"),
    ("Pulsed radiofrequency at 42 C for 120 s", "pulsed radiofrequency", "present"),
    ("Informed consent obtained. Phenol neurolysis of the L LFCN performed", "phenol", "present"),
    ("Indication for procedure: intractable occipital neuralgia", "occipital neuralgia", "present"),
    ("Post-procedure: no numbness, phenol well tolerated", "phenol", "present"),
]

TABLE = (
    PRESENT
    + NEGATED
    + HISTORICAL
    + HYPOTHETICAL
    + FAMILY
    + UNCERTAIN
    + PRIORITY
    + SCOPE
    + SECTIONS
    + ABBREVIATIONS
    + HELD_OUT
)


@pytest.mark.parametrize(("text", "target", "status"), TABLE, ids=[f"{r[2]}:{r[0]}" for r in TABLE])
def test_assertion_status(text, target, status):
    assert assertion_of(text, target, KB) == status


def test_the_table_is_large_and_covers_each_status():
    assert len(TABLE) >= 170
    for status in ("present", "negated", "historical", "hypothetical", "family", "uncertain"):
        assert sum(r[2] == status for r in TABLE) >= 10, status


def test_split_keeps_clause_breaks_and_sections():
    sentences = split("PMH: MS, DM2.\nProcedure: 6% phenol, 3 mL", KB)
    assert sentences == [Sentence("ms | dm2", "historical"), Sentence("6% phenol | 3 ml", "present")]


def test_status_at_takes_a_span_of_the_sentence():
    sentence = split("No phenol; alcohol 2 mL", KB)
    assert status_at(sentence[0], 3, 9, KB) == "negated"
    assert status_at(sentence[1], 0, 7, KB) == "present"


def test_a_missing_target_is_an_error():
    with pytest.raises(ValueError):
        assertion_of("phenol 3 mL", "alcohol", KB)


# read(): what is counted is what is present now
def test_historical_and_planned_agents_and_neurolysis_are_not_claims():
    found = read("s/p L LFCN alcohol neurolysis 2024. Plan: phenol neurolysis next visit.", "note", KB)
    assert found.agents == []
    assert found.neurolysis is False
    assert ("agent:dehydrated-alcohol", "historical") in found.not_present
    assert ("agent:phenol", "hypothetical") in found.not_present
    assert ("procedure:neurolysis", "hypothetical") in found.not_present


def test_a_declined_neurolysis_in_a_block_note_is_not_a_claim():
    found = read("Neurolysis was discussed; patient declined. Lidocaine 1% 5 mL under US.", "note", KB)
    assert [a.agent for a in found.agents] == ["lidocaine"]
    assert found.neurolysis is False
    assert found.guidance == {"ultrasound"}


def test_family_and_past_indications_are_not_counted():
    found = read("Family history of multiple sclerosis (mother). FHx: spasticity.", "note", KB)
    assert found.indications == set()
    assert {status for _, status in found.not_present} == {"family"}


def test_present_agent_keeps_its_numbers_and_a_loose_volume():
    found = read("Hx of alcohol neurolysis 2023. Today 6% phenol. 3 mL injected.", "note", KB)
    assert [(a.agent, a.concentration_pct, a.volume_ml) for a in found.agents] == [("phenol", 6.0, 3.0)]


def test_a_volume_written_in_a_past_sentence_is_not_the_agents():
    found = read("6% phenol under US. Previously 5 mL injected.", "note", KB)
    assert [(a.agent, a.volume_ml) for a in found.agents] == [("phenol", None)]


@pytest.mark.parametrize(
    ("text", "counted"),
    [
        ("No relief with gabapentin", True),
        ("Failed physical therapy", True),
        ("s/p 6 weeks physical therapy", True),
        ("History of gabapentin trial", True),
        ("Will try physical therapy", False),
        ("Mother had physical therapy", False),
        ("Possible gabapentin trial", False),
    ],
)
def test_conservative_care_counts_when_done_before_or_failed(text, counted):
    assert bool(read(text, "note", KB).conservative) is counted


def test_the_assertion_file_lists_every_status_once_in_its_priority():
    data = json.loads(KB.assertion.model_dump_json(by_alias=True))
    data["priority"] = ["family", "negated", "hypothetical", "historical"]
    with pytest.raises(ValidationError, match="priority"):
        AssertionFile.model_validate_json(json.dumps(data))


def test_a_long_run_on_text_keeps_each_mentions_own_status():
    """No full stop in 20 KB: each mention is reached only by the cues near it (docs/assertion.md, timing)."""
    unit = "no relief with gabapentin and s/p phenol neurolysis with 6% phenol 3 mL and will consider cryo "
    found = read(unit * 200, "note", KB)
    assert found.agents == []
    assert "medication:gabapentinoid" in found.conservative
    assert {"historical", "hypothetical"} <= {status for _, status in found.not_present}
