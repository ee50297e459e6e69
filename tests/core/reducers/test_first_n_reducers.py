"""first_n_true_reducer and first_n_false_reducer: order, missing flags, the n keyword."""

from __future__ import annotations

import pytest

from core.errors import InvalidParameterError
from core.registry import ExtractRecord, get_reducer

T, F, BLANK = {"result": True}, {"result": False}, {}


def _run(name, flags, n):
    return get_reducer(name)([ExtractRecord(f) for f in flags], {"n": n})["result"]


@pytest.mark.parametrize(
    ("name", "flags", "n", "expected"),
    [
        ("first_n_true_reducer", [T, T, F], 2, True),
        ("first_n_true_reducer", [T, T, F], 3, False),
        ("first_n_true_reducer", [F, T, T], 2, False),  # order matters
        ("first_n_true_reducer", [T], 2, False),  # fewer than n extracts
        ("first_n_true_reducer", [T, T], 0, False),  # n = 0 is always False
        ("first_n_true_reducer", [BLANK, T], 1, False),  # a missing flag is False
        ("first_n_false_reducer", [F, BLANK, T], 2, True),
        ("first_n_false_reducer", [F, T], 2, False),
        ("first_n_false_reducer", [], 1, False),
    ],
)
def test_first_n(name, flags, n, expected):
    assert _run(name, flags, n) is expected


@pytest.mark.parametrize("name", ["first_n_true_reducer", "first_n_false_reducer"])
def test_incremental_form_is_marked_order_sensitive(name):
    assert get_reducer(name).incremental.order_sensitive is True


@pytest.mark.parametrize("n", [-1, "2", 2.5, True])
def test_n_must_be_a_non_negative_integer(n):
    with pytest.raises(InvalidParameterError, match="'n'"):
        get_reducer("first_n_true_reducer").parse_params({"n": n})
