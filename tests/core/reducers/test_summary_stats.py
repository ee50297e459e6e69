"""Caesar's ``summary_stats`` reducer: every operation, Ruby's to_f, blanks, the incremental form."""

from __future__ import annotations

import math
import statistics

import pytest

from core.errors import InvalidParameterError, MalformedExtractError
from core.reducers.summary_stats import (
    OPERATIONS,
    SummaryStatsState,
    summary_stats,
)
from core.registry import ExtractRecord, get_reducer


def _recs(*values, field="v"):
    return [ExtractRecord({field: v}, classification_id=i) for i, v in enumerate(values)]


def _params(ops, field="v"):
    return get_reducer("summary_stats").parse_params({"summarize_field": field, "operations": ops})


def test_every_operation():
    values = [3, "1", 4, "1.5e0", 5, 9, 2, 6, 5]
    floats = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0, 6.0, 5.0]
    out = summary_stats(_recs(*values), _params(list(OPERATIONS)))
    mean = statistics.fmean(floats)
    assert list(out) == list(OPERATIONS)
    assert out["count"] == 9
    assert (out["min"], out["max"], out["first"]) == (1.0, 9.0, 3.0)
    assert out["sum"] == pytest.approx(36.5)
    assert out["product"] == pytest.approx(math.prod(floats))
    assert out["mean"] == pytest.approx(mean)
    assert out["sse"] == pytest.approx(sum((x - mean) ** 2 for x in floats))
    assert out["variance"] == pytest.approx(statistics.variance(floats))
    assert out["stdev"] == pytest.approx(statistics.stdev(floats))
    assert out["median"] == 4.0
    assert out["mode"] == 5.0


def test_operations_keep_the_given_order_once_each():
    out = summary_stats(_recs(1, 2), _params(["max", "count", "max"]))
    assert list(out) == ["max", "count"]


def test_single_operation_as_a_string():
    assert summary_stats(_recs(1, 2), _params("mean")) == {"mean": 1.5}


def test_ruby_to_f_and_blanks():
    # "12abc" -> 12.0, "abc" -> 0.0; None, "", "  ", False, [] are skipped; 0 is a value.
    recs = _recs("12abc", "abc", None, "", "  ", False, [], 0)
    assert summary_stats(recs, _params(["count", "sum"])) == {"count": 3, "sum": 12.0}


@pytest.mark.parametrize("bad", [True, [1], {"a": 1}])
def test_values_without_to_f_raise(bad):
    with pytest.raises(MalformedExtractError, match="summary_stats, classification 0"):
        summary_stats(_recs(bad), _params("count"))


def test_variance_needs_two_values_and_median_averages_the_middle():
    out = summary_stats(_recs(4), _params(["variance", "stdev", "sse", "median"]))
    assert out == {"variance": None, "stdev": None, "sse": 0.0, "median": 4.0}
    assert summary_stats(_recs(1, 2, 3, 10), _params("median")) == {"median": 2.5}


def test_no_values():
    out = summary_stats(_recs(None), _params(list(OPERATIONS)))
    assert out["count"] == 0
    assert all(out[op] is None for op in OPERATIONS if op != "count")


def test_mode_tie_goes_to_the_value_seen_later():
    assert summary_stats(_recs(1, 2, 2, 1), _params("mode")) == {"mode": 2.0}
    assert summary_stats(_recs(2, 1, 1, 2), _params("mode")) == {"mode": 1.0}


def test_extractor_prefix():
    p = _params("count", field="slider.value.ignored")
    assert (p.extractor_name, p.field_name) == ("slider", "value")
    assert summary_stats(_recs(1, field="value"), p) == {"count": 1}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"operations": "mean"}, "'summarize_field' is required"),
        ({"summarize_field": "a.", "operations": "mean"}, "must not end with"),
        ({"summarize_field": "v"}, "'operations' is required"),
        ({"summarize_field": "v", "operations": []}, "'operations' is required"),
        ({"summarize_field": "v", "operations": ["meen"]}, "did you mean 'mean'"),
    ],
)
def test_bad_params(raw, message):
    with pytest.raises(InvalidParameterError, match=message):
        get_reducer("summary_stats").parse_params(raw)


def test_state_is_constant_size_without_value_operations():
    p = _params(["count", "min", "max", "first"])
    state = SummaryStatsState.init(p)
    for i in range(500):
        state = SummaryStatsState.add(state, ExtractRecord({"v": i}), p)
    assert state["values"] is None and state["seen"] is None
    assert SummaryStatsState.result(state, p) == {
        "count": 500,
        "min": 0.0,
        "max": 499.0,
        "first": 0.0,
    }
