"""Reduction CSV cells read back as the values rules see in the engine, for ``tally rules check``.

The engine evaluates rules on each reduction's data as the reducer made it (Python values);
``tally aggregate`` and ``tally reduce`` write that data in the panoptes CSV layout
(:mod:`core.csv_layout`), which keeps the text of every value but not always its type:

* an integer column with a gap (a subject without that answer) is written as floats: a count of
  12 becomes ``12.0``;
* a text that looks like a number is written as the number would be: a consensus
  ``most_likely`` of ``"1"`` becomes ``1``;
* ``null`` and a missing key both become an empty cell (the only cell the writer leaves empty:
  a text ``"None"`` or ``"NA"`` is written as it is, and read back as text here, where pandas
  would take it for a missing value).

``pandas.read_csv`` (the reference's reading, :class:`core.csv_layout.ReadKinds`) types each
column from its texts alone, so a dry run on it disagreed with the engine: ``["int", count]``
failed on ``12.0`` and ``["eq", most_likely, "1"]`` compared the integer 1. This module reads a
data cell back as the value it was written from, using what the writer's rules prove and what
each reducer is known to produce:

1. **Fields whose type a reducer fixes**: ``most_likely`` of ``consensus`` and
   ``question_consensus_reducer`` is always text (a vote key); their ``agreement`` is a float;
   ``summary_stats`` gives floats for every operation but ``count``, and null for an operation
   without a value (:data:`FIELD_KINDS`, :data:`NULL_WHEN_EMPTY`).
2. **A column of whole numbers written as floats** (``12.0``) **with a gap** in the file: the
   writer turns integers into floats only in such a column, so they are integers (counts).
   Without a gap, a column written as floats held a float, and every cell is read as one.
3. **A column of integer texts with a gap**: an integer column with a gap would have been
   written as floats, so this column holds text that looks like numbers: read as text.
4. **Any other cell** is read the way the engine reads an extract (:mod:`core.roundtrip`): an
   integer or float text is that number, ``True``/``False`` a boolean, a list or dict literal
   that literal, anything else text.

What cannot be recovered (docs/rules.md, "Testing a rule"): a column that mixes integers and
fractions (``stats`` sums of ``1`` and ``2.5``) reads as floats, and a float column whose values
are all whole and that has a gap (``agreement`` of a reducer not in the table, always 1.0) reads
as integers, which only ``int`` (a float is an error there) and ``%`` by zero can tell apart; a
number-like text outside the known fields reads as a number; outside ``summary_stats`` a
``null`` value reads as a missing key (``lookup`` gives its default either way, but
``any``/``all`` do not see the key).

>>> header = ["subject_id", "reducer", "data.most_likely", "data.num_votes", "data.yes", "data.no"]
>>> rows = [["1", "consensus", "1", "3", "12.0", ""], ["2", "consensus", "2", "4", "", "3.0"]]
>>> read = reduction_reader(header, rows)
>>> read(rows[0])
{'most_likely': '1', 'num_votes': 3, 'yes': 12}
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

from core.csv_layout import BARE_VALUE_KEY, DATA_PREFIX, literal_cell, nested_set
from core.reducers.summary_stats import OPERATIONS

__all__ = ["BARE_VALUE", "FIELD_KINDS", "NULL_WHEN_EMPTY", "reduction_reader"]

_SUMMARY_FLOATS = tuple(op for op in OPERATIONS if op != "count")  # count is an int

#: ``{reducer: {top-level field: "text" | "float" | "int"}}``: types a reducer always gives.
FIELD_KINDS: dict[str, dict[str, str]] = {
    "consensus": {"most_likely": "text", "num_votes": "int", "agreement": "float"},
    "question_consensus_reducer": {"most_likely": "text", "num_votes": "int", "agreement": "float"},
    "summary_stats": {"count": "int", **dict.fromkeys(_SUMMARY_FLOATS, "float")},
}

#: Reducers whose reduction is a bare value, written as the one column ``data.value``
#: (:data:`core.csv_layout.BARE_VALUE_KEY`): read back as that value, as the engine holds it.
BARE_VALUE = frozenset({"unique_count"})

#: Reducers that give every field they are asked for, null when there is no value: an empty
#: cell of theirs was a null, not a missing key (``any``/``all`` see the difference).
NULL_WHEN_EMPTY = frozenset({"summary_stats"})

_INT_TEXT = re.compile(r"[+-]?\d+\Z", re.ASCII)
# what repr() writes for a float (and what a float column reads): 1.5, 12.0, 1e-05, 1e+16, inf
_FLOAT_TEXT = re.compile(r"[+-]?(?:\d+\.\d*(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|inf)\Z", re.ASCII)
_BOOLS = {"True": True, "False": False}


def _cell(text: str) -> Any:
    """Rule 4: one cell typed by itself, as the engine's extract round trip types it."""
    if _INT_TEXT.match(text):
        return int(text)
    if _FLOAT_TEXT.match(text):
        return float(text)
    if text in _BOOLS:
        return _BOOLS[text]
    return literal_cell(text)


def _whole(text: str) -> int | float:
    value = float(text)
    return int(value) if math.isfinite(value) and value.is_integer() else value


def _float(text: str) -> Any:
    try:
        return float(text)
    except ValueError:
        return _cell(text)


def _int(text: str) -> Any:
    if _INT_TEXT.match(text):
        return int(text)
    if _FLOAT_TEXT.match(text):
        return _whole(text)
    return _cell(text)


def _column_reader(texts: list[str], gaps: bool) -> Callable[[str], Any]:
    """Rules 2-4 for one data column, from all of its non-missing texts in the file."""
    if texts and all(_INT_TEXT.match(t) for t in texts):
        return str if gaps else int
    if texts and all(_FLOAT_TEXT.match(t) for t in texts):
        whole = all(math.isfinite(v) and v.is_integer() for v in map(float, texts))
        return _whole if whole and gaps else float
    return _cell


def reduction_reader(
    header: Sequence[str], rows: Sequence[Sequence[str]]
) -> Callable[[Sequence[str]], dict[str, Any]]:
    """``row -> data`` for the rows of one reduction CSV (``tally reduce`` layout): each
    ``data.*`` cell read back as the value the reducer gave (see the module docstring), nested
    again at its dots. Empty cells are left out (null for :data:`NULL_WHEN_EMPTY` reducers);
    so is ``aggregation_version``, which the writer adds.

    ``rows`` must be the whole file: a column's gaps and texts decide how its cells read.

    >>> header = ["subject_id", "reducer", "data.value", "data.aggregation_version"]
    >>> rows = [["5", "unique_count", "2", "5.3.1"]]
    >>> reduction_reader(header, rows)(rows[0])  # a bare value, as the engine holds it
    2
    """
    i_reducer = list(header).index("reducer") if "reducer" in header else None
    columns: list[tuple[int, list[str], Callable[[str], Any]]] = []
    for i, column in enumerate(header):
        if DATA_PREFIX not in column:
            continue
        key = column.split(DATA_PREFIX)[1]
        if key == "aggregation_version":
            continue
        texts = [row[i] for row in rows if row[i]]
        gaps = len(texts) < len(rows)
        columns.append((i, key.split("."), _column_reader(texts, gaps)))
    by_kind = {"text": str, "float": _float, "int": _int}

    def read(row: Sequence[str]) -> dict[str, Any]:
        reducer = row[i_reducer] if i_reducer is not None else None
        fields = FIELD_KINDS.get(reducer, {})
        nulls = reducer in NULL_WHEN_EMPTY
        out: dict[str, Any] = {}
        for i, keys, reader in columns:
            text = row[i]
            if not text:
                if nulls and len(keys) == 1:
                    out[keys[0]] = None
                continue
            kind = fields.get(keys[0]) if len(keys) == 1 else None
            value = (by_kind[kind] if kind else reader)(text)
            nested_set(out, keys, value, header[i])
        if reducer in BARE_VALUE:
            return out.get(BARE_VALUE_KEY)  # type: ignore[return-value]
        return out

    return read
