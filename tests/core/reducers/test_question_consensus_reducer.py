"""question_consensus_reducer: ties, blanks and the empty case."""

from __future__ import annotations

from core.registry import ExtractRecord, get_reducer

reduce = get_reducer("question_consensus_reducer")


def test_a_tie_goes_to_the_answer_seen_first():
    recs = [ExtractRecord({k: 1}) for k in "baab"]
    assert reduce(recs, {}) == {"most_likely": "b", "num_votes": 2, "agreement": 0.5}


def test_agreement_is_over_all_answers_given():
    recs = [ExtractRecord({"a": 1, "b": 1}), ExtractRecord({"a": 1}), ExtractRecord({"c": 1})]
    assert reduce(recs, {}) == {"most_likely": "a", "num_votes": 2, "agreement": 0.5}


def test_no_answers_gives_zero_votes_only():
    assert reduce([], {}) == {"num_votes": 0}
    assert reduce([ExtractRecord({}), ExtractRecord({})], {}) == {"num_votes": 0}


def test_pairs_makes_blanks_the_empty_answer():
    out = reduce([ExtractRecord({}), ExtractRecord({})], {"pairs": True})
    assert out == {"most_likely": "", "num_votes": 2, "agreement": 1.0}
