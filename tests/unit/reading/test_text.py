"""reading.text: guidance and placement confirmation read from free text, negation honoured."""

from __future__ import annotations

import pytest

from cpt64640_cds.knowledge.loader import load
from cpt64640_cds.reading.text import read

KB = load()


# How placement confirmation and guidance are read from a note (seed: Procedure Steps 4-5).
READING = [
    ("Nerve stimulator used, motor response at 0.4 mA", set(), {"stimulation"}),
    ("PNS at 0.5 mA", set(), {"stimulation"}),
    ("confirmed with neurostimulation", set(), {"stimulation"}),
    ("twitch elicited", set(), {"stimulation"}),
    ("test dose lidocaine 1 mL with sensory block", set(), {"test-dose"}),
    ("omnipaque 1 mL confirmed spread", set(), {"contrast"}),
    ("fluoroscopic confirmation with contrast", {"fluoroscopy"}, {"contrast"}),
    ("stimulation was not performed; no contrast", set(), set()),
    ("negative aspiration", set(), set()),
    ("under sonographic guidance", {"ultrasound"}, set()),
    ("u/s guided", {"ultrasound"}, set()),
    ("CT-guided", {"ct"}, set()),
    ("image-guided", {"unspecified"}, set()),
    ("landmark based, no US", set(), set()),
]


@pytest.mark.parametrize(("text", "guidance", "confirmation"), READING, ids=[r[0] for r in READING])
def test_confirmation_and_guidance_words(text, guidance, confirmation):
    found = read(text, "note", KB)
    assert found.guidance == guidance
    assert found.confirmation == confirmation
