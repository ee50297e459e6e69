"""``tally extract``'s line writer: the compiled form (``tally/_csv_compiled.pyx``) writes the
Python form's text, which is ``csv_field`` of every cell joined as ``csv.writer`` would."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tally.extract as extract_module
from tally.tables import csv_field

compiled = pytest.importorskip("tally._csv_compiled").extract_lines

_text = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "[1.5, 2]", 'a "b"', "x\ny", "a,b", "Ñandú, ü", "😀,", "7", "\r"]),
    st.integers(0, 99).map(str),
    # longer than the 16 characters whose quoting is looked at together, with at most one
    # character that makes it quoted (anywhere)
    st.builds(
        lambda text, at, special: text[:at] + special + text[at:],
        st.text(alphabet=list("ab1 .[]é"), min_size=14, max_size=50),
        st.integers(0, 50),
        st.sampled_from(["", ",", '"', "\n", "\r"]),
    ),
)


@st.composite
def _chunks(draw):
    n_shapes = draw(st.integers(1, 3))
    width = draw(st.integers(0, 4))
    shapes = []
    for _ in range(n_shapes):
        n_texts = draw(st.integers(0, 4))
        # each column takes a text of the row or the empty cell (index n_texts)
        source = tuple(draw(st.integers(0, n_texts)) for _ in range(width))
        ints = draw(st.lists(st.integers(0, max(n_texts - 1, 0)), max_size=2, unique=True))
        shapes.append((n_texts, source, tuple(i for i in ints if i < n_texts)))
    heads = draw(st.lists(st.tuples(_text, _text), min_size=1, max_size=3))
    rows = []
    for _ in range(draw(st.integers(0, 6))):
        shape = draw(st.integers(0, n_shapes - 1))
        n_texts, _, ints = shapes[shape]
        texts = [draw(_text) for _ in range(n_texts)]
        for i in ints:  # cells written as floats are integers' texts
            texts[i] = str(draw(st.integers(0, 10**6)))
        where = draw(st.integers(0, len(heads) - 1))
        task = draw(st.sampled_from(["T0", "T1", 'T"2', 3]))
        rows.append(((where, task), shape, tuple(texts)))
    layouts = [(source, ints) for _, source, ints in shapes]
    return rows, layouts, heads, draw(_text)


@settings(max_examples=500, deadline=None)
@given(chunk=_chunks())
def test_compiled_lines_are_the_python_forms(chunk):
    rows, layouts, heads, key_cell = chunk
    args = (extract_module._task_cell, {}, extract_module._float_text, key_cell, csv_field)
    expected = extract_module._extract_lines_py(rows, layouts, heads, {}, *args)
    assert compiled(rows, layouts, heads, {}, *args) == expected


@settings(max_examples=200, deadline=None)
@given(cells=st.lists(_text, min_size=2, max_size=5))
def test_python_form_writes_what_csv_writer_writes(cells):
    rows = [((0, "T0"), 0, tuple(cells))]
    layouts = [(tuple(range(len(cells))), ())]
    line = extract_module._extract_lines_py(
        rows, layouts, [("", "")], {"T0": ""}, str, {}, str, "", csv_field
    )
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    assert line == buffer.getvalue()


def test_the_compiled_form_is_in_use():
    assert extract_module._extract_lines is compiled, "run setup.py build_ext --inplace"


_info_text = st.one_of(
    _text,
    st.sampled_from(
        ["0", "007", "12", "-3", "1_0", "１２", " 7", "NA", "nan", "null", "3.5", "true"]
    ),
    st.integers(0, 10**12).map(str),
)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.tuples(*[_info_text] * 6), max_size=6),
    st.tuples(*[st.sampled_from(["int", "float", "str", "bool"])] * 6),
)
def test_compiled_info_heads_are_the_python_forms(infos, kinds):
    """The compiled info cells (an int's or a text's own cell where it is plain) are the
    Python form's, and where a text is not of its column's kind both fail."""
    try:
        expected = extract_module._info_heads_py(infos, kinds)
    except ValueError:
        with pytest.raises(ValueError):
            extract_module._info_heads_compiled(infos, kinds)
        return
    assert extract_module._info_heads_compiled(infos, kinds) == expected
