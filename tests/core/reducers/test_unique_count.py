"""Caesar's ``unique_count`` reducer: a bare integer, arrays as sorted '+' keys, Ruby's eql?."""

from __future__ import annotations

import pytest

from core.errors import InvalidParameterError, MalformedExtractError
from core.reducers.unique_count import UniqueCountParams, UniqueItems, unique_count
from core.registry import ExtractRecord, get_reducer

P = UniqueCountParams(field="c")


def _recs(*datas):
    return [ExtractRecord(d, classification_id=i) for i, d in enumerate(datas)]


def test_returns_a_bare_integer():
    out = unique_count(_recs({"c": "a"}, {"c": "b"}, {"c": "a"}), P)
    assert out == 2 and type(out) is int


def test_arrays_are_one_value_sorted_and_joined():
    recs = _recs({"c": ["b", "a"]}, {"c": ["a", "b"]}, {"c": "a+b"}, {"c": ["a"]}, {"c": "a"})
    assert unique_count(recs, P) == 2


def test_missing_field_counts_as_a_null_value():
    assert unique_count(_recs({}, {"c": None}, {"c": "x"}), P) == 2


def test_values_differ_as_ruby_eql():
    assert unique_count(_recs({"c": 1}, {"c": 1.0}, {"c": "1"}, {"c": True}), P) == 4


def test_objects_ignore_key_order():
    assert unique_count(_recs({"c": {"a": 1, "b": 2}}, {"c": {"b": 2, "a": 1}}), P) == 1


def test_unsortable_array_raises():
    with pytest.raises(MalformedExtractError, match="cannot sort"):
        unique_count(_recs({"c": [1, "a"]}), P)


def test_field_is_required():
    with pytest.raises(InvalidParameterError, match="'field' is required"):
        get_reducer("unique_count").parse_params({})


def test_state_keeps_distinct_values_only():
    state = UniqueItems.init(P)
    for i in range(100):
        state = UniqueItems.add(state, ExtractRecord({"c": i % 3}), P)
    assert UniqueItems.result(state, P) == 3 and len(state["items"]) == 3
