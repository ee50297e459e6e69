"""Caesar's ``count`` reducer: shape, distinct classifications, the O(1) incremental form."""

from __future__ import annotations

from core.reducers.count import CountParams, CountTally, count
from core.registry import ExtractRecord, get_reducer

P = CountParams()


def _recs(*cids):
    return [ExtractRecord({"x": 1}, classification_id=c) for c in cids]


def test_shape_and_key_order():
    out = count(_recs(1, 2, 2, 3), P)
    assert list(out) == ["classifications", "extracts"]
    assert out == {"classifications": 3, "extracts": 4}


def test_registered_under_caesars_name():
    assert get_reducer("count").func is count


def test_distinct_ids_even_when_not_contiguous():
    # Caesar's uniq: a classification counts once wherever its extracts are.
    assert count(_recs(1, 2, 1), P) == {"classifications": 2, "extracts": 3}


def test_missing_ids_count_as_one_classification():
    assert count(_recs(None, None), P) == {"classifications": 1, "extracts": 2}


def test_ids_of_different_types_are_different():
    assert count(_recs(1, "1"), P)["classifications"] == 2


def test_incremental_counts_runs_and_merges_across_a_split_run():
    records = _recs(1, 1, 2, 2, 3)
    state = CountTally.init(P)
    for r in records:
        state = CountTally.add(state, r, P)
    assert CountTally.result(state, P) == count(records, P)
    a = CountTally.init(P)
    for r in records[:3]:
        a = CountTally.add(a, r, P)
    b = CountTally.init(P)
    for r in records[3:]:
        b = CountTally.add(b, r, P)
    assert CountTally.result(CountTally.merge(a, b, P), P) == {"classifications": 3, "extracts": 5}


def test_state_is_constant_size():
    state = CountTally.init(P)
    for cid in range(1000):
        state = CountTally.add(state, ExtractRecord({}, classification_id=cid), P)
    assert len(state) == 4 and state["classifications"] == 1000
