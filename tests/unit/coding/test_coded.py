"""coding.coded: each episode's code choice and every proposal's lines, computed once for the rules."""

from __future__ import annotations

from cpt64640_cds.coding.coded import code

from ..factory import KB, episode, facts, inputs


def _coded(*episodes):
    record = facts(*episodes)
    return inputs(record).coded


def test_every_64640_episode_joins_one_line_proposal():
    coded = _coded(
        episode(),
        episode(nerve="obturator", source="ServiceRequest/sr-2"),
        episode(side="right", source="ServiceRequest/sr-3"),
    )
    [proposal] = coded.proposals_of("line")
    assert [line.label for line in proposal.lines["64640"]] == ["64640-LT", "64640-LT-59", "64640-RT"]
    assert len(proposal.members) == 3


def test_a_nerve_with_its_own_code_is_proposed_per_nerve_with_lines_for_each_code_offered():
    coded = _coded(episode(nerve="genicular", treatment="thermal", agent=None))
    [proposal] = coded.proposals_of("specific", "choose")
    assert proposal.choice.codes and set(proposal.lines) == set(proposal.choice.codes)
    assert all(lines for lines in proposal.lines.values())


def test_an_episode_already_coded_as_proposed_is_not_proposed_again():
    coded = _coded(episode(nerve="genicular", treatment="thermal", agent=None, codes=("64624",)))
    [entry] = coded.episodes
    assert entry.choice is not None and entry.already_coded(KB)
    assert coded.proposals_of("specific", "choose") == []


def test_a_destruction_code_beside_the_right_code_still_draws_the_card():
    """Coded 64640 and 64450 for an anaesthetic-only injection: the 64640 is wrong, so it is not 'already coded'."""
    coded = _coded(episode(agent="lidocaine", codes=("64640", "64450"), nerve="suprascapular"))
    [entry] = coded.episodes
    assert entry.choice is not None and entry.choice.category == "not-neurolytic"
    assert not entry.already_coded(KB)
    assert len(coded.proposals_of("not-neurolytic")) == 1


def test_radiofrequency_of_unstated_kind_is_undetermined_and_proposes_nothing():
    coded = _coded(episode(agent=None, treatment="radiofrequency"))
    assert [c.category for _, c in coded.chosen("undetermined")] == ["undetermined"]
    assert coded.proposals == ()


def test_coding_is_a_pure_function_of_the_facts():
    record = facts(episode(), episode(nerve="obturator", source="ServiceRequest/sr-2"))
    policy = inputs(record).policy
    assert code(record, KB, policy) == code(record, KB, policy)


def _toxin(source: str, side: str | None, *muscles: str):
    return episode(
        nerve=None,
        nerve_text=None,
        side=side,
        agent="onabotulinumtoxina",
        volume_ml=None,
        concentration_pct=None,
        source=source,
        chemo_sites=[(m, None) for m in muscles],
    )


def test_toxin_orders_of_one_session_are_counted_together():
    """An arm order and a leg order signed together: one base code and the add-on, not two base codes."""
    coded = _coded(
        _toxin("ServiceRequest/arm", "left", "biceps-brachii", "brachialis"),
        _toxin("ServiceRequest/leg", "left", "soleus", "tibialis-posterior", "flexor-digitorum-longus"),
    )
    [proposal] = coded.proposals_of("not-neurolytic")
    assert [(line.code, line.units) for line in proposal.lines[proposal.choice.code]] == [("64642", 1), ("64643", 1)]
    assert set(proposal.lines[proposal.choice.code][0].services) == {"ServiceRequest/arm", "ServiceRequest/leg"}


def test_one_toxin_order_split_left_and_right_counts_both_limbs():
    coded = _coded(
        _toxin("ServiceRequest/both", "right", "gastrocnemius", "soleus"),
        _toxin("ServiceRequest/both", "left", "gastrocnemius", "soleus"),
    )
    [proposal] = coded.proposals_of("not-neurolytic")
    assert [line.code for line in proposal.lines[proposal.choice.code]] == ["64642", "64643"]
