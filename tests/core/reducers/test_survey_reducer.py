"""survey_reducer: row counting, answer counting and malformed rows."""

from __future__ import annotations

import pytest

from core.errors import MalformedExtractError
from core.registry import ExtractRecord, get_reducer

reduce = get_reducer("survey_reducer")


def test_total_vote_count_counts_rows_not_classifications():
    recs = [ExtractRecord({"choice": c}, classification_id=i // 2) for i, c in enumerate("abac")]
    out = reduce(recs, {})
    assert [(r["choice"], r["total_vote_count"], r["choice_count"]) for r in out] == [
        ("a", 4, 2),
        ("b", 4, 1),
        ("c", 4, 1),
    ]


def test_answers_are_summed_in_first_seen_order_and_empty_ones_kept():
    recs = [
        ExtractRecord({"choice": "elk", "answers_behaviour": {"eating": 1, "moving": 1}}),
        ExtractRecord({"choice": "elk", "answers_behaviour": {"resting": 1, "eating": 1}}),
        ExtractRecord({"choice": "elk", "answers_young": {}}),
    ]
    assert reduce(recs, {}) == [
        {
            "choice": "elk",
            "total_vote_count": 3,
            "choice_count": 3,
            "answers_behaviour": {"eating": 2, "moving": 1, "resting": 1},
            "answers_young": {},
        }
    ]


def test_list_answers_are_counted_like_counter():
    out = reduce([ExtractRecord({"choice": "a", "answers_n": ["1", "1", "2"]})], {})
    assert out[0]["answers_n"] == {"1": 2, "2": 1}


@pytest.mark.parametrize(
    "data",
    [
        {"answers_n": {"1": 1}},
        {"choice": None},
        {"choice": float("nan")},
        {"choice": ["a"]},
        {"choice": "a", "answers_n": 5},
        {"choice": "a", "answers_n": {"1": "x"}},
    ],
)
def test_malformed_rows_raise_naming_the_classification(data):
    with pytest.raises(MalformedExtractError, match="survey_reducer, classification 77"):
        reduce([ExtractRecord(data, classification_id=77)], {})
