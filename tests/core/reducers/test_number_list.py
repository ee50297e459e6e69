"""``_points_compiled.number_list`` reads a coordinate cell as ``orjson.loads(plain_json(text))``.

``PointCells`` reads the common coordinate cell (``[512.25, 87.5, 13]``) in one C pass instead of
``plain_json``'s scan and orjson's. Whenever the reader gives a list it must be orjson's, item by
item: the type, the value and the sign of zero; it must give one for the cells ``str()`` writes
(exact ints, floats in fixed notation below 2^50); anything else it may decline (None).
"""

from __future__ import annotations

import math
import random
import struct
from decimal import Decimal

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.csv_layout import _plain_json

compiled = pytest.importorskip("core.reducers._points_compiled")


def _same_as_orjson(text: str) -> list | None:
    """The reader's list, after checking it against orjson's reading of ``plain_json(text)``."""
    got = compiled.number_list(text)
    if got is None:
        return None
    fast = _plain_json(text)
    assert fast == text, text  # taken only where plain_json passes the text unchanged
    expected = orjson.loads(fast)
    assert type(expected) is list and len(got) == len(expected), text
    for mine, theirs in zip(got, expected, strict=True):
        assert type(mine) is type(theirs), text
        assert mine == theirs, text
        if type(mine) is float:
            assert math.copysign(1.0, mine) == math.copysign(1.0, theirs), text
            assert struct.pack("<d", mine) == struct.pack("<d", theirs), text
    return got


def _number_token() -> st.SearchStrategy[str]:
    """Number texts, JSON or nearly: leading zeros, signs, exponents, long runs, bare dots."""
    digits = st.text("0123456789", min_size=0, max_size=21)
    hand_written = st.builds(
        lambda sign, whole, dot, fraction, exponent: sign + whole + dot + fraction + exponent,
        st.sampled_from(["", "", "-", "+"]),
        digits,
        st.sampled_from([".", ".", ""]),
        digits,
        st.sampled_from(["", "", "", "", "e5", "E-7", "e+308", "e400", "e-330"]),
    )
    floats = st.floats(allow_nan=False, allow_infinity=False).map(repr)
    fixed = st.builds(
        lambda x, places: f"{x:.{places}f}",
        st.floats(min_value=-1e19, max_value=1e19, allow_nan=False),
        st.integers(0, 20),
    )
    ints = st.integers(-(10**20), 10**20).map(str)
    return st.one_of(hand_written, floats, fixed, ints, _ties())


def _ties() -> st.SearchStrategy[str]:
    """Decimal texts exactly halfway between two doubles (m of 53 bits), or on one, with few
    digits: m 2^-e + k 2^-(e+1) for small e, written out exactly."""
    return st.builds(
        lambda m, e, k, sign: sign + format(Decimal(m) / 2**e + Decimal(k) / 2 ** (e + 1), "f"),
        st.integers(2**45, 2**53 - 1),
        st.integers(1, 8),
        st.integers(0, 1),
        st.sampled_from(["", "-"]),
    )


def _joined(tokens: list[str], separators: list[str], opening: str, closing: str) -> str:
    parts = [tokens[0]] if tokens else []
    for token, separator in zip(tokens[1:], separators[: len(tokens) - 1], strict=False):
        parts.append(separator + token)
    return opening + "".join(parts) + closing


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(_number_token(), max_size=6),
    st.lists(st.sampled_from([", ", ", ", ", ", ",", " , ", ",  ", ", ,"]), min_size=6),
    st.sampled_from(["[", "[", "[", "[ ", "", "[["]),
    st.sampled_from(["]", "]", "]", " ]", "", "]]", "] "]),
)
def test_number_lists_are_orjson_s(
    tokens: list[str], separators: list[str], opening: str, closing: str
) -> None:
    _same_as_orjson(_joined(tokens, separators, opening, closing))


@settings(max_examples=2000, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.floats(
                min_value=-(2.0**50),
                max_value=2.0**50,
                allow_nan=False,
                exclude_max=True,
                exclude_min=True,
            ).filter(lambda x: x == 0 or abs(x) >= 0.01),  # (fractions of at most 18 digits)
            st.integers(-(10**18) + 1, 10**18 - 1),
        ),
        max_size=8,
    )
)
def test_cells_str_writes_are_read(values: list) -> None:
    """The cells the extractors write (``str()`` of ints and floats in fixed notation) are
    read here, not declined, and their floats are float()'s."""
    text = str(values)
    got = _same_as_orjson(text)
    assert got is not None, text
    assert [float(x) if type(x) is float else x for x in got] == values


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", []),
        ("[-0]", [0]),
        ("[-0.0, 0.0, -0.000]", [-0.0, 0.0, -0.0]),
        ("[1436.6048727342159, 2, -0.5]", [1436.6048727342159, 2, -0.5]),
        ("[123456789012345678]", [123456789012345678]),
        ("[0.123456789012345678]", [0.123456789012345678]),
        # exact ties, rounded to even: 2^50 + 1/8 and + 3/8 (ulp 1/4), 2^49 + 1/16 and + 3/16
        ("[1125899906842624.125, 1125899906842624.375]", [1125899906842624.0, 1125899906842624.5]),
        ("[562949953421312.0625, 562949953421312.1875]", [562949953421312.0, 562949953421312.25]),
        ("[0.30000000000000004, 0.1, 1e-05]", None),  # an exponent: orjson's
        ("[1234567890123456789]", None),  # 19 digits in a row: not plain_json's
        ("[0.1234567890123456789]", None),
        ("[1.0000000000000001110]", None),  # 20 significant digits
        ("[4503599627370496.5]", None),  # 2^50 or so and more, 16 digits or more: orjson's
        ("[01]", None),
        # characters next to the digits, within the 8 read at once
        ("[1234567:, 1]", None),
        ("[12345678/]", None),
        ("[1.1234567:]", None),
        ("[1.12345678/1]", None),
        ("[12345678123456781234]", None),
        ("[1.1234567812345678123]", None),
        ("[1.12345678123456781]", [1.1234567812345678]),
        ("[1.]", None),
        ("[.5]", None),
        ("[+1]", None),
        ("[1E5]", None),
        ("[1,2]", None),
        ("[1 , 2]", None),
        ("[ 1]", None),
        ("[1] ", None),
        ("[1, ]", None),
        ("[, 1]", None),
        ("[[1]]", None),
        ("[-]", None),
        ("[1, -]", None),
        ("[1, 2", None),
        ("1, 2]", None),
        ("[", None),
        ("[\u00e9]", None),
    ],
)
def test_edges(text: str, expected: list | None) -> None:
    got = _same_as_orjson(text)
    assert got == expected
    if expected is not None:
        assert [math.copysign(1, x) for x in got] == [math.copysign(1, x) for x in expected]


@settings(max_examples=3000, deadline=None)
@given(
    st.lists(_number_token(), max_size=6),
    st.lists(st.sampled_from([", ", ", ", ","]), min_size=6),
)
def test_texts_found_to_be_str_are_str(tokens: list[str], separators: list[str]) -> None:
    """``PointCells`` writes a coordinate list from the cells' own texts where the reader finds
    each to be ``str()`` of its list: it must be, exactly (what ``list_text`` writes)."""
    text = _joined(tokens, separators, "[", "]")
    if compiled.number_list_is_str(text):
        value = _same_as_orjson(text)
        assert value is not None, text
        assert str(value) == text, text


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(
        st.one_of(st.floats(-1e16, 1e16, allow_nan=False), st.integers(-(10**18) + 1, 10**18 - 1)),
        max_size=6,
    )
)
def test_str_of_lists_found_to_be_str_are_str(values: list) -> None:
    text = str(values)
    if compiled.number_list_is_str(text):
        assert str(compiled.number_list(text)) == text


def test_most_coordinate_cells_are_found_to_be_str() -> None:
    """Coordinates as the extractors write them (doubles in [0, 2000), ``str()`` of a list):
    nearly all are proven (the rest, e.g. exact halfway cases of 17 digits, are written by
    ``list_text`` as before)."""
    rng = random.Random(0)
    texts = [str([rng.uniform(0, 2000) for _ in range(rng.randint(1, 4))]) for _ in range(5000)]
    found = sum(compiled.number_list_is_str(text) for text in texts)
    assert found >= 0.999 * len(texts)
    assert not compiled.number_list_is_str("[2048.0, 1.5]")  # a trailing zero: "2048.0" is str()
    assert not compiled.number_list_is_str("[-0, 1]")
    assert compiled.number_list_is_str("[0.0001, 12, -3.25]")
    assert not compiled.number_list_is_str("[0.00001]")  # repr writes 1e-05
