"""core/csv_layout.py: the pandas rules of the reference's CSV files, as pure functions.

The expected values were checked against pandas 2.3.3 (``json_normalize`` + ``to_csv`` and
``read_csv`` + the reference's ``unflatten_data``) with a differential fuzzer while writing the
module; these tests pin the rules without needing pandas.
"""

from __future__ import annotations

import contextlib
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.csv_layout import (
    ColumnStats,
    FlatRows,
    LayoutError,
    ReadKinds,
    convert_cell,
    data_reader,
    flatten,
    format_cell,
    literal_cell,
    order_columns,
    python_literal,
    reformat_cell,
    unflatten,
    with_version,
)

NAMES = {"nan": None, "null": None, "true": True, "false": False}


def written(rows):
    """The cells the reference writes for these records (column order, text)."""
    stats = ColumnStats()
    flat = [flatten(r) for r in rows]
    for r in flat:
        stats.add(r)
    kinds = stats.kinds()
    return stats.columns(), [
        [format_cell(r.get(c), kinds[c]) for c in stats.columns()] for r in flat
    ]


def test_flatten_puts_top_level_values_before_nested_ones():
    record = {"frame0": {"x": [1]}, "a": 1, "frame1": {"y": {"z": 2}, "w": 3}, "b": "t"}
    assert list(flatten(record)) == ["a", "b", "frame0.x", "frame1.y.z", "frame1.w"]


def test_flatten_drops_empty_nested_dicts_and_writes_lists_with_str():
    assert flatten({"a": {}, "b": [1.0, None, True, "x"], "c": ({"k": 1},)}) == {
        "b": "[1.0, None, True, 'x']",
        "c": "({'k': 1},)",
    }


def test_flatten_empty_keys_as_json_normalize():
    # pandas strips the leading "." that an empty top-level key would give its children
    assert flatten({"": {"x": 1, "": {"y": 2}}, "a": {"": 3}}) == {"x": 1, "y": 2, "a.": 3}


def test_columns_in_order_of_first_appearance():
    columns, _ = written([{"b": 1}, {"a": 1, "b": 2}, {"c": 1, "a": 2}])
    assert columns == ["b", "a", "c"]


@pytest.mark.parametrize(
    ("values", "cells"),
    [
        ([1, 2], ["1", "2"]),  # ints only: int64
        ([1, None], ["1.0", ""]),  # a gap turns the column to float64
        ([1, 1.5], ["1.0", "1.5"]),
        ([True, False], ["True", "False"]),
        ([True, None], ["True", ""]),
        ([True, 1], ["True", "1"]),  # bools and ints: object column, str() each
        ([1, "x"], ["1", "x"]),
        ([0.1, "x"], ["0.1", "x"]),
        ([None, None], ["", ""]),
        ([math.nan, 2], ["", "2.0"]),
        ([1e16, 1e-05], ["1e+16", "1e-05"]),
        ([math.inf, -0.0], ["inf", "-0.0"]),
    ],
)
def test_cell_text_follows_pandas_dtypes(values, cells):
    _, rows = written([{"v": v} for v in values])
    assert [r[0] for r in rows] == cells


def test_missing_key_is_a_gap():
    _, rows = written([{"v": 1}, {"w": 1}])
    assert rows == [["1.0", ""], ["", "1.0"]]


def test_column_stats_merge_equals_adding_in_order():
    rows = [{"a": 1}, {"b": True}, {"a": 2.5, "c": "x"}, {"c": None}]
    whole = ColumnStats()
    for r in rows:
        whole.add(r)
    first, second = ColumnStats(), ColumnStats()
    for r in rows[:2]:
        first.add(r)
    for r in rows[2:]:
        second.add(r)
    first.merge(second)
    assert first.columns() == whole.columns() and first.kinds() == whole.kinds()


def test_with_version_goes_before_echoed_parameters():
    assert list(with_version({"a": 1, "parameters": {}})) == [
        "a",
        "aggregation_version",
        "parameters",
    ]
    assert with_version([{"x": 1}, {"y": 2}]) == [
        {"x": 1, "aggregation_version": "5.3.1"},
        {"y": 2, "aggregation_version": "5.3.1"},
    ]


def test_order_columns_sorts_data_columns_with_front_first():
    header = ["subject_id", "data.b", "data.choice_count", "data.choice", "data.a"]
    assert order_columns(header, ("choice", "total_vote_count", "choice_count")) == [
        "subject_id",
        "data.choice",
        "data.choice_count",
        "data.a",
        "data.b",
    ]
    assert order_columns(["x", "y"]) == ["x", "y"]  # no data columns: nothing is lost


@pytest.mark.parametrize(
    ("cells", "kind"),
    [
        (["1", "2"], "int"),
        (["1", ""], "float"),
        (["1", "2.5"], "float"),
        (["1", "inf"], "float"),
        (["True", "false", "NA"], "bool"),
        (["True", "1"], "str"),
        (["x", "1"], "str"),
        (["", "nan", "None", "NULL"], "float"),  # all missing
        (["\uff11", "2"], "str"),  # a full-width digit is not a number to pandas
        ([" 3", "+4", "007"], "int"),
        (["1e5", ".5", "5.", "-Infinity"], "float"),
    ],
)
def test_read_kinds(cells, kind):
    k = ReadKinds(["c"])
    for c in cells:
        k.add([c])
    assert k.kinds() == {"c": kind}


def test_convert_and_reformat_cells():
    assert convert_cell("None", "str") is None
    assert convert_cell("true", "bool") is True
    assert reformat_cell("2820500", "float") == "2820500.0"
    assert reformat_cell("", "float") == ""
    assert reformat_cell("x", "str") == "x"


def test_unflatten_nests_and_reads_literals():
    cells = [
        ("classification_id", 1),
        ("data.frame0.T0_tool0_x", "[1.5, 2]"),
        ("data.frame0.T0_tool0_details", "[[{'0': 1}], [{'1': 1}]]"),
        ("data.gold", True),
        ("data.text", "[not a literal"),
        ("data.missing", None),
        ("data.", 3.0),  # a blank answer key, as question_reducer writes with pairs
    ]
    assert unflatten(cells) == {
        "frame0": {"T0_tool0_x": [1.5, 2], "T0_tool0_details": [[{"0": 1}], [{"1": 1}]]},
        "gold": True,
        "text": "[not a literal",
        "": 3.0,
    }


def test_unflatten_reports_clashing_columns():
    with pytest.raises(LayoutError, match="clash"):
        unflatten([("data.a", 1), ("data.a.b", 2)])


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "[x for x in ()]",
        "().__class__",
        "lambda: 1",
        "[1] * 10",
        "{**{}}",
        "[inf]",
        "open('f')",
    ],
)
def test_python_literal_never_evaluates_code(text):
    with pytest.raises(ValueError):
        python_literal(text)
    assert literal_cell(text) == text  # unreadable cells stay text, as in the reference


def test_python_literal_names_and_signs():
    assert python_literal("[nan, null, true, false, None, -1, +2.5, (1,), {1, 2}]") == [
        None,
        None,
        True,
        False,
        None,
        -1,
        2.5,
        (1,),
        {1, 2},
    ]
    assert literal_cell("['banana', 'nan']") == ["banana", "nan"]  # names only outside strings


scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text(max_size=5), inner, max_size=4),
        st.tuples(inner, inner),
    ),
    max_leaves=12,
)


plain_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.text("abcxyz_0", min_size=1, max_size=4), inner, max_size=3),
    ),
    max_leaves=10,
)


def _same(a, b):
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.lists(values, max_size=4), st.dictionaries(st.text(max_size=5), values, max_size=4)
    )
)
def test_json_fast_path_reads_cells_exactly_like_python(value):
    text = str(value)
    assert _same(literal_cell(text), python_literal(text, NAMES))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["a", "b", "frame0", "T0"]), plain_values, min_size=1, max_size=4
    )
)
def test_one_row_round_trip(record):
    """Scalars written then read back are the scalars (keys without dots; ints may turn float)."""
    columns, (row,) = written([record])
    kinds = ReadKinds(columns)
    kinds.add(row)
    read = kinds.kinds()
    back = unflatten(
        (f"data.{c}", convert_cell(cell, read[c])) for c, cell in zip(columns, row, strict=True)
    )
    for column in columns:
        node = back
        for part in column.split(".")[:-1]:
            node = node.get(part, {})
        leaf = node.get(column.split(".")[-1])
        original = flatten(record)[column]
        if original is None or (isinstance(original, float) and math.isnan(original)):
            assert leaf is None
        elif isinstance(original, bool | int | float):
            assert leaf == original or (math.isnan(leaf) and math.isnan(original))


numbers = st.one_of(
    st.floats(),
    st.floats(min_value=-1e-3, max_value=1e-3),
    st.floats(min_value=-1e17, max_value=1e17),
    st.integers(),
)


@settings(max_examples=500, deadline=None)
@given(st.lists(numbers, max_size=8))
def test_number_lists_are_written_as_str(value):
    """The orjson fast path for coordinate lists writes exactly ``str(list)``."""
    assert flatten({"x": value}) == {"x": str(value)}


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "a.b", "frame0", "1.5", ""]),
            st.one_of(values, st.dictionaries(st.sampled_from(["b", "c", "b.c"]), values)),
            max_size=4,
        ),
        max_size=6,
    ),
    st.sampled_from([None, "5.3.1"]),
)
def test_flat_rows_write_what_column_stats_and_format_cell_write(records, version):
    """FlatRows (the extract's compact rows) give the same columns, kinds and cells."""
    stats = ColumnStats()
    flat = [flatten(r, version) for r in records]
    for r in flat:
        stats.add(r)
    rows = FlatRows()
    for n, record in enumerate(records):
        rows.add(record, n, version)
    assert rows.stats() == stats
    assert rows.stats().columns() == stats.columns()
    columns, kinds = stats.columns(), stats.kinds()
    cells = rows.cells(columns, kinds)
    assert [cells(row) for _, row in rows] == [
        tuple(format_cell(r.get(c), kinds[c]) for c in columns) for r in flat
    ]
    assert list(rows.joined(columns, kinds, repr)) == [
        (info, ",".join(map(repr, cells(row)))) for info, row in rows
    ]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["a", "b", "a.b", "frame0"]),
            st.one_of(values, st.dictionaries(st.sampled_from(["b", "c"]), values)),
            max_size=4,
        ),
        min_size=1,
        max_size=5,
    )
)
def test_data_reader_reads_rows_like_unflatten(records):
    """tally reduce's per-file row reader gives unflatten's extracts (and its clash errors)."""
    columns, rows = written(records)
    header = ["user_id", *(f"data.{c}" for c in columns)]
    rows = [["1", *row] for row in rows]
    kinds = ReadKinds(header)
    for row in rows:
        kinds.add(row)
    read = kinds.kinds()
    from core import csv_layout

    compiled = csv_layout._RowReader
    assert compiled is not None, "run `make install` to build core/_cells_compiled.pyx"
    readers = [data_reader(header, read)]  # the compiled form (RowReader)
    csv_layout._RowReader = None
    try:
        readers.append(data_reader(header, read))  # the Python form
    finally:
        csv_layout._RowReader = compiled
    for row in rows:
        try:
            expected = unflatten(
                (c, convert_cell(cell, read[c])) for c, cell in zip(header, row, strict=True)
            )
        except LayoutError:
            for reader in readers:
                with pytest.raises(LayoutError):
                    reader(row)
            continue
        for reader in readers:
            assert _same(reader(row), expected)


_NO_LETTERS = st.text(alphabet="0123456789 .:,-_'\"\\\t\n()[]{}é\x7f", max_size=6)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.recursive(
            st.one_of(_NO_LETTERS, st.integers(), st.floats(allow_nan=False)),
            lambda inner: st.one_of(
                st.lists(inner, max_size=3), st.dictionaries(_NO_LETTERS, inner, max_size=3)
            ),
            max_leaves=8,
        ).map(str),
        st.text(alphabet="[]{}'0123456789:,.- \t\"\\()é", max_size=20).map(lambda t: "[" + t),
    )
)
def test_cells_without_letters_read_like_python(text):
    """The quote-swapping fast path (subtask counts) reads any letter-free cell as Python does."""
    expected = text
    if "[" in text or "{" in text:
        with contextlib.suppress(ValueError):
            expected = python_literal(text, NAMES)
    assert _same(literal_cell(text), expected)


@pytest.mark.parametrize(
    "record",
    [
        {"a": {"b.c": {"d": 1}}, "a.b": {"c": {"d": 2}}},
        {"frame0": {}, "": {"b": []}, "b": 0},
        {"": {"": {"b": 1}}, "b": 2},
        {"a": {"b": 1}, "a.b": 2},
    ],
)
def test_flat_rows_of_records_whose_names_repeat_once_joined(record):
    """Columns that two key paths both flatten to follow flatten's dict rules."""
    rows = FlatRows()
    rows.add(record, None)
    stats = ColumnStats()
    stats.add(flatten(record))
    assert rows.stats() == stats
    columns, kinds = stats.columns(), stats.kinds()
    ((_, row),) = rows
    assert rows.cells(columns, kinds)(row) == tuple(
        format_cell(flatten(record).get(c), kinds[c]) for c in columns
    )


# The compiled cell steps (core/_cells_compiled.pyx) and their Python forms in csv_layout.


def test_compiled_cell_steps_are_built_and_in_use():
    """The install builds them (setup.py); a missing build would only be a silent slowdown."""
    import doctest

    from core import _cells_compiled, csv_layout

    assert csv_layout._list_text is _cells_compiled.list_text
    assert csv_layout._plain_json is _cells_compiled.plain_json
    # pytest --doctest-modules collects .py files only; the compiled module's examples run here
    assert doctest.testmod(_cells_compiled).failed == 0


_PLAIN_PIECES = st.one_of(
    st.sampled_from(
        list("[]{}:, .+-'\"\\eEaN\té\x00(#") + ["None", "nan", "'None'", "1e5", "0.0001"]
    ),
    st.integers(1, 21).map(lambda n: ("9876543210" * 3)[:n]),
)


def _literal_cell_before(text):
    """literal_cell as it was before the compiled steps: _as_json alone picks the JSON path."""
    from core import csv_layout

    if "{" in text or "[" in text:
        fast = csv_layout._as_json(text)
        if fast is not None:
            with contextlib.suppress(orjson.JSONDecodeError):
                return orjson.loads(fast)
        try:
            return python_literal(text, NAMES)
        except ValueError:
            return text
    return text


@settings(max_examples=1500, deadline=None)
@given(st.lists(_PLAIN_PIECES, max_size=12).map("".join))
def test_plain_json_reads_cells_as_as_json_did(text):
    """Letter-free text: both forms agree and give _as_json's text. Text with letters in quoted
    strings (compiled form only): _as_json's text whenever it is valid JSON. Either way the
    cell's value is the one the _as_json path alone gave."""
    from core import csv_layout

    plain = csv_layout._plain_json(text)
    if not any(c.isascii() and c.isalpha() for c in text):
        assert plain == csv_layout._plain_json_py(text)
        if plain is not None:
            assert csv_layout._as_json(text) == plain
    if plain is not None:
        digits = "".join(c if c.isdigit() else " " for c in text).split()
        assert all(len(run) <= 18 for run in digits)
        with contextlib.suppress(orjson.JSONDecodeError):
            orjson.loads(plain)
            assert csv_layout._as_json(text) == plain
    assert _same(literal_cell(text), _literal_cell_before(text))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.one_of(st.integers(), st.floats(allow_infinity=False)), min_size=1, max_size=6).map(
        str
    )
)
def test_plain_json_number_lists_read_like_python(text):
    assert _same(literal_cell(text), python_literal(text, NAMES))


class _Int(int):
    def __repr__(self):
        return "Int()"


class _Float(float):
    def __repr__(self):
        return "Float()"


_LIST_ITEMS = st.one_of(
    numbers,
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0.0, -0.0, 1e-4, 1e-5, 1e16, 1e15, float("inf"), float("-inf"), 10.00001]),
    st.floats(allow_nan=True),
    st.booleans(),
    st.none(),
    st.text(max_size=3),
    st.integers(-5, 5).map(_Int),
    st.floats(-5, 5).map(_Float),
    st.lists(st.integers(), max_size=2),
)


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.lists(numbers, max_size=8), st.lists(_LIST_ITEMS, max_size=6)))
def test_list_text_forms_agree_with_str(value):
    from core import csv_layout

    expected = str(value)
    assert csv_layout._list_text_py(value) == expected
    assert csv_layout._list_text(value) == expected


_TREE_TEXT = st.text(alphabet="ab0 ,:{}[]'\"\\\n\x7fé_N", max_size=4)
_TREES = st.recursive(
    st.one_of(_LIST_ITEMS, _TREE_TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(_TREE_TEXT, st.integers(0, 2)), inner, max_size=3),
        st.tuples(inner),
    ),
    max_leaves=10,
)


@settings(max_examples=1500, deadline=None)
@given(st.lists(_TREES, max_size=4))
def test_list_text_of_nested_lists_and_dicts_is_str(value):
    """Subtask details ([[{'0': 1}], ...]) are written from orjson's text only when it is str()'s."""
    from core import csv_layout

    assert csv_layout._list_text(value) == str(value)
