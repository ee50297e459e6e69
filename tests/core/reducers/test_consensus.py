"""Caesar's ``consensus`` reducer: vote keys, Caesar's tie rule, ignore_empty_extracts."""

from __future__ import annotations

import pytest

from core.reducers.consensus import ConsensusParams, VoteCounter, consensus
from core.registry import ExtractRecord

P = ConsensusParams()


def _recs(*datas):
    return [ExtractRecord(d) for d in datas]


def test_vote_key_is_the_sorted_keys_joined():
    out = consensus(_recs({"LION": 1, "BIRD": 1}, {"BIRD": 2, "LION": 1}, {"HOG": 1}), P)
    assert out == {"most_likely": "BIRD+LION", "num_votes": 2, "agreement": pytest.approx(2 / 3)}
    assert list(out) == ["most_likely", "num_votes", "agreement"]


@pytest.mark.parametrize(
    ("order", "winner"),
    [(("A", "B"), "B"), (("B", "A"), "A"), (("A", "B", "A", "B"), "B"), (("B", "A", "C"), "C")],
)
def test_a_tie_goes_to_the_key_seen_later(order, winner):
    # CountingHash#max keeps the running maximum only while strictly greater (Caesar's quirk).
    assert consensus(_recs(*({k: 1} for k in order)), P)["most_likely"] == winner


def test_empty_extracts_vote_for_the_empty_key_unless_ignored():
    recs = _recs({}, {}, {"LION": 1})
    assert consensus(recs, P)["most_likely"] == ""
    assert consensus(recs, ConsensusParams(ignore_empty_extracts=True)) == {
        "most_likely": "LION",
        "num_votes": 1,
        "agreement": 1.0,
    }


def test_nothing_counted():
    assert consensus([], P) == {"num_votes": 0}
    assert consensus(_recs({}), ConsensusParams(ignore_empty_extracts=True)) == {"num_votes": 0}


def test_incremental_keeps_first_seen_order_across_merge():
    a = VoteCounter.add(VoteCounter.init(P), ExtractRecord({"A": 1}), P)
    b = VoteCounter.add(VoteCounter.init(P), ExtractRecord({"B": 1}), P)
    assert VoteCounter.result(VoteCounter.merge(a, b, P), P)["most_likely"] == "B"
    assert VoteCounter.result(VoteCounter.merge(b, a, P), P)["most_likely"] == "A"
