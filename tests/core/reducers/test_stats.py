"""Caesar's ``stats`` reducer: sums per key, booleans as 0/1, clear errors, exact float sums."""

from __future__ import annotations

import pytest

from core.errors import MalformedExtractError
from core.reducers.stats import StatsParams, StatsSummer, stats
from core.registry import ExtractRecord

P = StatsParams()


def _recs(*datas):
    return [ExtractRecord(d, classification_id=i) for i, d in enumerate(datas)]


def test_sums_per_key_in_first_seen_order():
    out = stats(_recs({"b": 1, "a": 2}, {"c": 1, "a": 3}), P)
    assert out == {"b": 1, "a": 5, "c": 1}
    assert list(out) == ["b", "a", "c"]


def test_booleans_count_one_and_zero():
    assert stats(_recs({"blank": True}, {"blank": False}, {"blank": True}), P) == {"blank": 2}


def test_integers_stay_integers_and_a_float_makes_a_float():
    out = stats(_recs({"a": 1, "b": 1}, {"a": 2, "b": 0.5}), P)
    assert out == {"a": 3, "b": 1.5}
    assert isinstance(out["a"], int) and isinstance(out["b"], float)


@pytest.mark.parametrize("bad", ["3", None, [1], {"x": 1}])
def test_non_numeric_values_raise_naming_key_and_classification(bad):
    with pytest.raises(MalformedExtractError, match=r"stats, classification 1: key 'x' holds"):
        stats(_recs({"x": 1}, {"x": bad}), P)


def test_data_that_is_not_an_object_raises():
    with pytest.raises(MalformedExtractError, match="must be an object"):
        stats([ExtractRecord([1, 2])], P)


def test_aggregation_version_of_extraction_csvs_is_ignored():
    assert stats(_recs({"a": 1, "aggregation_version": "5.3.1"}), P) == {"a": 1}


def test_float_sums_are_exact_whatever_the_split():
    values = [0.1] * 10 + [1e16, 1.0, -1e16]
    records = _recs(*({"x": v} for v in values))
    whole = stats(records, P)["x"]
    assert whole == pytest.approx(2.0)
    for k in range(len(records) + 1):
        a = StatsSummer.init(P)
        for r in records[:k]:
            a = StatsSummer.add(a, r, P)
        b = StatsSummer.init(P)
        for r in records[k:]:
            b = StatsSummer.add(b, r, P)
        assert StatsSummer.result(StatsSummer.merge(a, b, P), P)["x"] == whole


def test_no_records():
    assert stats([], P) == {}
