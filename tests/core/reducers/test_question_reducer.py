"""question_reducer and shortcut_reducer: layout details and the O(n) batch path."""

from __future__ import annotations

import time

import pytest

from core.registry import ExtractRecord, get_reducer


@pytest.mark.parametrize("name", ["question_reducer", "shortcut_reducer"])
def test_user_ids_follow_their_answer(name):
    recs = [
        ExtractRecord({"b": 1}, user_id=1),
        ExtractRecord({"a": 1, "b": 1}, user_id=None),
    ]
    out = get_reducer(name)(recs, {"track_user_ids": True})
    assert list(out.items()) == [
        ("b", 2),
        ("user_ids_b", [1, None]),
        ("a", 1),
        ("user_ids_a", [None]),
    ]


def test_pairs_counts_a_blank_extract_as_the_empty_combination():
    recs = [
        ExtractRecord({}),
        ExtractRecord({"b": 1, "a": 1}),
        ExtractRecord({"aggregation_version": "5.3.1"}),
    ]
    assert get_reducer("question_reducer")(recs, {"pairs": True}) == {"": 2, "a+b": 1}


def test_values_are_ignored_only_keys_count():
    recs = [ExtractRecord({"a": 5}), ExtractRecord({"a": 2, "b": 0})]
    assert get_reducer("question_reducer")(recs, {}) == {"a": 2, "b": 1}


def test_batch_is_linear_in_the_number_of_extracts():
    # The pure ``add`` copies the touched id list; folding 50k records with it would be
    # quadratic (about a billion element copies). The batch path must not do that.
    recs = [ExtractRecord({"yes": 1}, user_id=i) for i in range(50_000)]
    start = time.perf_counter()
    out = get_reducer("question_reducer")(recs, {"track_user_ids": True})
    assert time.perf_counter() - start < 3.0
    assert out["yes"] == 50_000 and out["user_ids_yes"][-1] == 49_999
