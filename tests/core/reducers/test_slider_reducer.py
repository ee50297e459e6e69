"""slider_reducer: numpy's statistics, order independence, strings, blanks and non-finite values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import MalformedExtractError
from core.registry import ExtractRecord, get_reducer

reduce = get_reducer("slider_reducer")


def _records(values):
    return [ExtractRecord({"slider_value": v}) for v in values]


def _numpy(values):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return {
            "slider_mean": float(np.mean(values)),
            "slider_median": float(np.median(values)),
            "slider_var": float(np.var(values)),
        }


def _close(a, b):
    return all(
        (math.isnan(a[k]) and math.isnan(b[k]))
        or math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-9)
        for k in a
    )


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6) | st.integers(-1000, 1000), max_size=20))
def test_matches_numpy(values):
    assert _close(reduce(_records(values), {}), _numpy([float(v) for v in values]))


@pytest.mark.parametrize(
    "values",
    [
        [1.0, math.inf],
        [-math.inf, 1.0, math.inf],
        [-math.inf, math.inf],
        [math.nan, 1.0],
        [math.inf, math.inf, 2.0],
        [-math.inf, 3.0, 4.0],
        [1e308, 1e308],
    ],
)
def test_non_finite_values_behave_like_numpy(values):
    assert _close(reduce(_records(values), {}), _numpy(values))


def test_numeric_strings_are_numbers_and_blanks_are_skipped():
    recs = [*_records(["0.5", 1.5, None]), ExtractRecord({})]
    assert reduce(recs, {}) == {"slider_mean": 1.0, "slider_median": 1.0, "slider_var": 0.25}


def test_only_blanks_give_nan():
    out = reduce([ExtractRecord({})], {})
    assert all(math.isnan(v) for v in out.values())


@pytest.mark.parametrize("value", ["high", [1], {"v": 1}, 10**400])
def test_other_values_raise(value):
    with pytest.raises(MalformedExtractError, match="slider_reducer"):
        reduce(_records([value]), {})
