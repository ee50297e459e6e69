"""dropdown_reducer: blanks, position-wise sums of ragged lists, malformed extracts."""

from __future__ import annotations

import pytest

from core.errors import MalformedExtractError
from core.registry import ExtractRecord, get_reducer

reduce = get_reducer("dropdown_reducer")


def test_blank_extracts_are_skipped():
    assert reduce([ExtractRecord({}), ExtractRecord({})], {}) == {}
    assert reduce([ExtractRecord({}), ExtractRecord({"value": [{"a": 1}]})], {}) == {
        "value": [{"a": 1}]
    }


def test_empty_lists_still_count_as_answered():
    assert reduce([ExtractRecord({"value": []})], {}) == {"value": []}


def test_ragged_lists_are_summed_by_position():
    recs = [
        ExtractRecord({"value": [{"a": 1}]}),
        ExtractRecord({"value": [{"a": 1}, {"b": 2}]}),
        ExtractRecord({"value": []}),
    ]
    assert reduce(recs, {}) == {"value": [{"a": 2}, {"b": 2}]}


@pytest.mark.parametrize("value", [{"a": 1}, None, "a", [{"a": "1"}], [3]])
def test_malformed_value_raises(value):
    with pytest.raises(MalformedExtractError, match="dropdown_reducer"):
        reduce([ExtractRecord({"value": value})], {})
