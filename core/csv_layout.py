"""The CSV layout of extraction and reduction files, as panoptes_aggregation 5.3.1 writes them.

Pure functions over rows: no file I/O, so the batch CLI and the streaming export produce
byte-identical files. The reference builds its files with pandas; every rule below reproduces a
pandas behaviour that plotting notebooks depend on.

Writing (``flatten`` + :class:`ColumnStats` + ``format_cell``), as ``pandas.json_normalize``
followed by ``DataFrame.to_csv``:

* nested dicts become ``data.<key>.<subkey>`` columns; within one record the top-level non-dict
  values come first, then the nested ones, depth first; an empty nested dict disappears;
* columns are ordered by first appearance over the rows;
* lists (and tuples, sets) are written with Python ``str()``: single quotes, ``True``, ``None``;
* a column holding only integers is written as integers; integers in a column with gaps (or
  mixed with floats) are written as floats (``1.0``); floats are written as Python prints them;
  a column mixing numbers with strings or booleans is written value by value with ``str()``.

Reading (``ReadKinds`` + ``convert_cell`` + ``unflatten``), as ``pandas.read_csv`` followed by the
reference's ``unflatten_data``:

* each column gets one type from all of its cells (int, float, bool or text); pandas' NA strings
  (``''``, ``NA``, ``nan``, ``null``, ``None``, ...) are missing values;
* missing ``data.*`` cells are left out; text cells containing ``{`` or ``[`` are read back as
  Python literals (with ``nan``/``null`` as None and ``true``/``false`` as booleans), evaluated
  safely, never with ``eval``; dotted keys are nested again.

>>> row = flatten({"frame0": {"T0_tool0_x": [1.5, 2]}, "yes": 1, "aggregation_version": "5.3.1"})
>>> row
{'yes': 1, 'aggregation_version': '5.3.1', 'frame0.T0_tool0_x': '[1.5, 2]'}
>>> stats = ColumnStats()
>>> stats.add(row)
>>> stats.add(flatten({"no": 1}))
>>> kinds = stats.kinds()
>>> [format_cell(r.get(c), kinds[c]) for r in (row,) for c in stats.columns()]
['1.0', '5.3.1', '[1.5, 2]', '']
>>> unflatten([("data.yes", 1.0), ("data.frame0.T0_tool0_x", "[1.5, 2]"), ("data.no", None)])
{'yes': 1.0, 'frame0': {'T0_tool0_x': [1.5, 2]}}
"""

from __future__ import annotations

import functools
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from core.errors import TallyError

if TYPE_CHECKING:
    import ast

__all__ = [
    "AGGREGATION_VERSION",
    "BARE_VALUE_KEY",
    "Cells",
    "DATA_PREFIX",
    "EXTRACT_INFO_COLUMNS",
    "NA_STRINGS",
    "REDUCE_INFO_COLUMNS",
    "ColumnStats",
    "FlatRows",
    "LayoutError",
    "ReadKinds",
    "cell_formatter",
    "convert_cell",
    "data_reader",
    "flatten",
    "format_cell",
    "literal_cell",
    "nested_set",
    "order_columns",
    "python_literal",
    "reformat_cell",
    "render_cells",
    "text_formatter",
    "unflatten",
    "with_version",
]

#: The ``aggregation_version`` written into every extract and reduction. Tally reproduces the
#: behaviour of panoptes_aggregation 5.3.1, so it writes that version (see docs/compatibility.md).
AGGREGATION_VERSION = "5.3.1"

DATA_PREFIX = "data."

EXTRACT_INFO_COLUMNS = (
    "classification_id",
    "user_name",
    "user_id",
    "workflow_id",
    "task",
    "created_at",
    "subject_id",
    "extractor",
)
REDUCE_INFO_COLUMNS = ("subject_id", "workflow_id", "task", "reducer")

#: Strings pandas.read_csv reads as missing values by default.
NA_STRINGS = frozenset(
    [
        "",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)
_TRUE_STRINGS = frozenset(["True", "TRUE", "true"])
_FALSE_STRINGS = frozenset(["False", "FALSE", "false"])
_INT_RE = re.compile(r"\s*[+-]?\d+\s*\Z", re.ASCII)
_FLOAT_RE = re.compile(
    r"\s*[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf|infinity)\s*\Z", re.IGNORECASE | re.ASCII
)


#: The key a bare (non-object) reduction is written under (Caesar's ``unique_count`` gives an
#: integer): a CSV row holds columns, so it becomes the one column ``data.value``.
BARE_VALUE_KEY = "value"


#: A record's cells as :func:`render_cells` gives them: column names, type flags, texts.
Cells = tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]


class LayoutError(TallyError, ValueError):
    """Cells that cannot be put back into one extract (e.g. ``data.a`` and ``data.a.b``)."""


# --------------------------------------------------------------------------------------------
# writing


def with_version(
    result: Mapping[str, Any] | Sequence[Mapping[str, Any]] | Any,
    version: str = AGGREGATION_VERSION,
) -> dict[str, Any] | list[dict[str, Any]]:
    """Copy of an extract or reduction (or a list of them) with ``aggregation_version`` added.

    The reference appends the version after the function's own keys, but before the
    ``parameters`` a reducer echoes back (its wrapper adds those last).

    >>> with_version({"yes": 2, "parameters": {"eps": 5.0}})
    {'yes': 2, 'aggregation_version': '5.3.1', 'parameters': {'eps': 5.0}}
    >>> with_version([{"choice": "zebra"}])
    [{'choice': 'zebra', 'aggregation_version': '5.3.1'}]
    >>> with_version(3)  # a bare value (unique_count): its own column, data.value
    {'value': 3, 'aggregation_version': '5.3.1'}
    """
    if not isinstance(result, Mapping | list | tuple):
        return with_version({BARE_VALUE_KEY: result}, version)
    if isinstance(result, Mapping):
        if "parameters" not in result and "aggregation_version" not in result:
            return {**result, "aggregation_version": version}
        out = {k: v for k, v in result.items() if k not in ("aggregation_version", "parameters")}
        out["aggregation_version"] = version
        if "parameters" in result:
            out["parameters"] = result["parameters"]
        return out
    return [with_version(item, version) for item in result]  # type: ignore[misc]


_PLAIN = (str, int, float, bool, type(None))
_CONTAINERS = (list, tuple, dict, set, frozenset)
_NUMBER_TYPES = frozenset((int, float))


def _list_text_py(value: list[Any]) -> str:
    """``str(value)``, several times faster for a list of plain ints and floats (coordinates).

    orjson writes the same shortest round-trip digits as ``repr``; its text differs from
    ``str(list)`` only in the separators (``,`` for ``, ``), in ``null`` for NaN/infinities,
    in exponents (``1e-5`` where Python writes ``1e-05``) and in spelling numbers below 1e-4
    out (``0.00001``). Texts with an ``e``, an ``n`` or ``0.0000`` take ``str()`` (a few false
    alarms such as ``10.00001`` only cost time).

    ``_list_text`` is the compiled form (``core/_cells_compiled.pyx``) when it is built.

    >>> _list_text_py([1436.6048727342159, 2, -0.5]), _list_text_py([1e-05, 1e16, float("nan")])
    ('[1436.6048727342159, 2, -0.5]', '[1e-05, 1e+16, nan]')
    """
    if value and set(map(type, value)) <= _NUMBER_TYPES:
        import orjson  # here: the question and shortcut reduces never need it (12 M instructions)

        try:
            out = orjson.dumps(value).decode()  # str tests are faster than bytes tests
        except orjson.JSONEncodeError:  # integers beyond 64 bits
            return str(value)
        if "e" not in out and "n" not in out and "0.0000" not in out:
            return out.replace(",", ", ")
    return str(value)


def _scalar(value: Any) -> Any:
    """A cell value: containers become their ``str()``, numpy scalars plain Python."""
    cls = value.__class__
    if cls in _PLAIN:
        return value
    if cls is list:
        return _list_text(value)
    if cls in _CONTAINERS or isinstance(value, _CONTAINERS):
        return str(value)
    if isinstance(value, _PLAIN):
        return value
    item = getattr(value, "item", None)  # numpy scalar
    if callable(item):
        return _scalar(item())
    return str(value)


def _walk(data: dict[Any, Any], prefix: str, out: dict[str, Any]) -> None:
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)  # pandas drops a leading "."
        if isinstance(value, dict):
            _walk(value, name, out)
        else:
            out[name] = _scalar(value)


def flatten(data: Mapping[Any, Any] | Any, version: str | None = None) -> dict[str, Any]:
    """One record's cells, keyed by column name without the ``data.`` prefix (a bare value,
    not an object, is the one cell :data:`BARE_VALUE_KEY`).

    Same keys and order as ``pandas.json_normalize([data])``: top-level non-dict values first,
    then nested dicts flattened depth first with ``.``; list values as their ``str()``.
    ``version``: the same as ``flatten(with_version(data, version))``, without the copy.

    >>> flatten({"frame0": {"x": [1, None]}, "gold": True, "empty": {}})
    {'gold': True, 'frame0.x': '[1, None]'}
    >>> flatten({"frame0": {"x": [1]}, "gold": True}, version="5.3.1")
    {'gold': True, 'aggregation_version': '5.3.1', 'frame0.x': '[1]'}
    >>> flatten(3, version="5.3.1")  # a bare value, as unique_count gives
    {'value': 3, 'aggregation_version': '5.3.1'}
    """
    if not isinstance(data, Mapping):
        data = {BARE_VALUE_KEY: data}
    if version is not None and ("parameters" in data or "aggregation_version" in data):
        return flatten(with_version(data, version))
    top: dict[str, Any] = {}
    nested: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            _walk(value, key if key.__class__ is str else str(key), nested)
        else:
            top[key if key.__class__ is str else str(key)] = _scalar(value)
    if version is not None:
        top["aggregation_version"] = version
    if not nested:
        return top
    return {**top, **nested}


_INT, _FLOAT, _OTHER = 1, 2, 4


def _render_leaf(value: Any) -> tuple[str, int]:
    """A flattened value's cell text as written in a non-float column, and its type flag.

    The flag is what :class:`ColumnStats` records (0: missing). Only an integer's text depends
    on its column (``1`` -> ``1.0`` in a float column, see :func:`FlatRows.cells`).
    """
    cls = value.__class__
    if cls is str:
        return value, _OTHER
    if cls is list:
        return _list_text(value), _OTHER
    if cls is int:
        return str(value), _INT
    if cls is float:
        return ("", 0) if value != value else (repr(value), _FLOAT)
    if value is None:
        return "", 0
    value = _scalar(value)  # tuples, sets, bools, numpy scalars, ...
    if value is None or value.__class__ in (str, bool):
        return ("", 0) if value is None else (str(value), _OTHER)
    if isinstance(value, int):
        return str(value), _INT
    if isinstance(value, float):
        return ("", 0) if value != value else (repr(float(value)), _FLOAT)
    return str(value), _OTHER


def _render_walk(
    data: dict[Any, Any], prefix: str, keys: list[str], texts: list[str], flags: list[int]
) -> bool:
    """Append the leaves of a nested dict (names ``prefix.key...``).

    True if two names might be the same (see :func:`render_cells`).
    """
    may_repeat = False
    for key, value in data.items():
        if key.__class__ is not str:
            key = str(key)
        name = f"{prefix}.{key}" if prefix else key  # pandas drops a leading "."
        if "." in key:
            may_repeat = True
        cls = value.__class__
        # the common leaves inline (as _render_leaf renders them); the rest through it
        if cls is list:
            text, flag = _list_text(value), _OTHER
        elif cls is str:
            text, flag = value, _OTHER
        elif cls is dict or isinstance(value, dict):
            may_repeat = _render_walk(value, name, keys, texts, flags) or may_repeat
            continue
        else:
            text, flag = _render_leaf(value)
        keys.append(name)
        texts.append(text)
        flags.append(flag)
    return may_repeat


def render_cells(
    data: Mapping[Any, Any], version: str | None = None
) -> tuple[tuple[str, ...], tuple[int, ...], tuple[str, ...]]:
    """``flatten(data, version)`` as parallel tuples: column names, type flags, cell texts.

    The form :class:`FlatRows` stores: the names and flags of many rows are the same tuples, so
    a row costs its texts only. A text is what ``format_cell`` writes in a non-float column.

    >>> render_cells({"frame0": {"x": [1.5, None]}, "yes": 1, "no": None}, "5.3.1")
    (('yes', 'no', 'aggregation_version', 'frame0.x'), (1, 0, 4, 4), ('1', '', '5.3.1', '[1.5, None]'))
    """
    if version is not None and ("parameters" in data or "aggregation_version" in data):
        return render_cells(with_version(data, version))
    keys: list[str] = []
    texts: list[str] = []
    flags: list[int] = []
    nested: list[tuple[str, dict[Any, Any]]] | None = None
    may_repeat = False
    for key, value in data.items():
        name = key if key.__class__ is str else str(key)
        cls = value.__class__
        if "." in name:
            may_repeat = True
        if cls is dict or isinstance(value, dict):
            if nested is None:
                nested = []
            nested.append((name, value))
            may_repeat = may_repeat or not name  # {"": {"b": 1}} is written as column "b"
            continue
        if cls is int:  # question extracts: answer counts
            text, flag = str(value), _INT
        elif cls is list:
            text, flag = _list_text(value), _OTHER
        else:
            text, flag = _render_leaf(value)
        keys.append(name)
        texts.append(text)
        flags.append(flag)
    if version is not None:
        keys.append("aggregation_version")
        texts.append(version)
        flags.append(_OTHER)
    if nested is not None:
        for name, value in nested:
            may_repeat = _render_walk(value, name, keys, texts, flags) or may_repeat
    # Joined names can only repeat when a key has a dot or an empty prefix is dropped
    # ({"a": {"b.c": 1}, "a.b": {"c": 2}}, {"": {"b": 1}, "b": 2}): flatten's dict rules then.
    if may_repeat and len(set(keys)) != len(keys):
        flat = flatten(data, version)
        keys = list(flat)
        rendered = [_render_leaf(v) for v in flat.values()]
        texts = [t for t, _ in rendered]
        flags = [f for _, f in rendered]
    return tuple(keys), tuple(flags), tuple(texts)


class FlatRows:
    """Flattened rows stored compactly until the file's columns are known, then formatted.

    ``add`` a record (any extra per-row ``info`` travels with it); the rows' column names and
    type flags are kept once per distinct layout ("shape"), a row holds only its shape number and
    its cell texts. ``stats()`` gives the :class:`ColumnStats` of the rows added, ``cells`` turns
    rows into the cells of the final columns. Picklable (it is spilled to temporary files).

    >>> rows = FlatRows()
    >>> rows.add({"yes": 1}, "a"); rows.add({"no": 1}, "b"); rows.add({"yes": 2.5}, "c")
    >>> stats = rows.stats()
    >>> stats.columns(), stats.kinds()
    (['yes', 'no'], {'yes': 'float', 'no': 'float'})
    >>> cells = rows.cells(stats.columns(), stats.kinds())
    >>> [(info, cells(row)) for info, row in rows]
    [('a', ('1.0', '')), ('b', ('', '1.0')), ('c', ('2.5', ''))]
    """

    def __init__(self) -> None:
        self.shapes: dict[tuple[tuple[str, ...], tuple[int, ...]], int] = {}
        self.counts: list[int] = []
        self.rows: list[tuple[Any, int, tuple[str, ...]]] = []

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Any:
        """``(info, row)`` pairs, in the order added; ``row`` is what ``cells`` reads."""
        for info, shape, texts in self.rows:
            yield info, (shape, texts)

    def add(self, data: Mapping[Any, Any], info: Any = None, version: str | None = None) -> None:
        """Append ``flatten(data, version)``."""
        self.add_cells(render_cells(data, version), info)

    def add_cells(self, cells: Cells, info: Any = None) -> None:
        """Append a record given as its :func:`render_cells` (``add`` without the record)."""
        # (tally/_csv_compiled.pyx extract_rows does the same on shapes, counts and rows)
        keys, flags, texts = cells
        shape_key = (keys, flags)
        shape = self.shapes.get(shape_key)
        if shape is None:
            shape = self.shapes[shape_key] = len(self.counts)
            self.counts.append(0)
        self.counts[shape] += 1
        self.rows.append((info, shape, texts))

    def stats(self) -> ColumnStats:
        """The column order and types of the rows added (as ``ColumnStats.add`` on each)."""
        stats = ColumnStats()
        for (keys, flags), shape in self.shapes.items():  # in order of first use
            stats.add_shape(keys, flags, self.counts[shape])
        return stats

    def layouts(
        self, columns: Sequence[str], kinds: Mapping[str, str]
    ) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Per shape: for each of ``columns`` the index of its text in a row's texts (the
        texts' length: an empty cell), and the texts that are ints to write as floats.

        >>> rows = FlatRows()
        >>> rows.add({"n": 1, "x": [2]})
        >>> rows.layouts(["x", "m", "n"], {"x": "object", "m": "float", "n": "float"})
        [((1, 2, 0), (0,))]
        """
        position = {c: j for j, c in enumerate(columns)}
        width = len(columns)
        layouts = []
        for keys, flags in self.shapes:
            source = [len(keys)] * width  # index of the empty cell appended to the texts
            for p, key in enumerate(keys):
                source[position[key]] = p
            to_float = tuple(
                p
                for p, (key, flag) in enumerate(zip(keys, flags, strict=True))
                if flag == _INT and kinds[key] == "float"
            )
            layouts.append((tuple(source), to_float))
        return layouts

    def _plans(
        self, columns: Sequence[str], kinds: Mapping[str, str]
    ) -> list[tuple[Callable[[Any], Any], tuple[int, ...]]]:
        """Per shape: the picker of its texts in ``columns`` order, its ints to write as floats."""
        width = len(columns)
        plans: list[tuple[Callable[[Any], Any], tuple[int, ...]]] = []
        for source, to_float in self.layouts(columns, kinds):
            if width == 0:
                pick: Callable[[Any], Any] = lambda texts: ()  # noqa: E731
            elif width == 1:
                only = source[0]
                pick = lambda texts, only=only: (texts[only],)  # noqa: E731
            else:
                pick = operator.itemgetter(*source)
            plans.append((pick, to_float))
        return plans

    def cells(
        self, columns: Sequence[str], kinds: Mapping[str, str]
    ) -> Callable[[tuple[int, tuple[str, ...]]], tuple[str, ...]]:
        """A function: one row -> its texts for ``columns`` (``format_cell`` with ``kinds``)."""
        plans = self._plans(columns, kinds)

        def cells(row: tuple[int, tuple[str, ...]]) -> tuple[str, ...]:
            shape, texts = row
            pick, to_float = plans[shape]
            if to_float:
                fixed = list(texts)
                for p in to_float:
                    fixed[p] = repr(float(int(fixed[p])))
                return pick((*fixed, ""))
            return pick((*texts, ""))

        return cells

    def joined(
        self, columns: Sequence[str], kinds: Mapping[str, str], field: Callable[[str], str]
    ) -> Iterator[tuple[Any, str]]:
        """``(info, text)`` per row: its ``cells``, each passed through ``field``, joined by ``,``.

        >>> rows = FlatRows()
        >>> rows.add({"x": [1, 2], "n": 1}, "a"); rows.add({"n": 2.5}, "b")
        >>> list(rows.joined(["x", "n"], {"x": "object", "n": "float"}, lambda t: f"<{t}>"))
        [('a', '<[1, 2]>,<1.0>'), ('b', '<>,<2.5>')]
        """
        plans = self._plans(columns, kinds)
        join = ",".join
        for info, shape, texts in self.rows:
            pick, to_float = plans[shape]
            if to_float:
                fixed = list(texts)
                for p in to_float:
                    fixed[p] = repr(float(int(fixed[p])))
                texts = fixed
            yield info, join(map(field, pick((*texts, ""))))


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


# ColumnStats and ReadKinds are plain classes, not dataclasses: a dataclass compiles its methods
# from source when it is created, 0.5-1 ms of every start of extract and reduce.


class ColumnStats:
    """Column order and type over a sequence of flattened rows, as a pandas DataFrame sees them.

    ``add`` rows in file order; ``merge`` appends the stats of the rows that follow.

    >>> s = ColumnStats()
    >>> for r in ({"a": 1, "b": 1}, {"a": 2}, {"c": True}):
    ...     s.add(r)
    >>> s.columns(), s.kinds()
    (['a', 'b', 'c'], {'a': 'float', 'b': 'float', 'c': 'object'})
    """

    def __init__(
        self,
        rows: int = 0,
        flags: dict[str, int] | None = None,
        present: dict[str, int] | None = None,
    ) -> None:
        self.rows = rows
        self.flags: dict[str, int] = {} if flags is None else flags  # key -> kinds seen (bits)
        self.present: dict[str, int] = {} if present is None else present  # key -> rows with it

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColumnStats):
            return NotImplemented
        return (self.rows, self.flags, self.present) == (other.rows, other.flags, other.present)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"ColumnStats(rows={self.rows!r}, flags={self.flags!r}, present={self.present!r})"

    def add(self, row: Mapping[str, Any]) -> None:
        self.rows += 1
        flags = self.flags
        present = self.present
        for key, value in row.items():
            if key not in flags:
                flags[key] = 0
                present[key] = 0
            cls = value.__class__
            if cls is str:
                flag = _OTHER
            elif cls is int:
                flag = _INT
            elif cls is float:
                if value != value:  # NaN: a gap
                    continue
                flag = _FLOAT
            elif value is None:
                continue
            elif isinstance(value, bool) or not isinstance(value, int | float):
                flag = _OTHER
            elif isinstance(value, int):
                flag = _INT
            elif math.isnan(value):
                continue
            else:
                flag = _FLOAT
            present[key] += 1
            flags[key] |= flag

    def add_shape(self, keys: Sequence[str], flags: Sequence[int], n: int) -> None:
        """``add`` ``n`` rows with these columns and type flags (see :func:`render_cells`)."""
        self.rows += n
        all_flags = self.flags
        present = self.present
        for key, flag in zip(keys, flags, strict=True):
            if key not in all_flags:
                all_flags[key] = 0
                present[key] = 0
            if flag:
                present[key] += n
                all_flags[key] |= flag

    def merge(self, later: ColumnStats) -> None:
        """Fold in the stats of rows that come after this object's rows."""
        self.rows += later.rows
        for key, flag in later.flags.items():
            self.flags[key] = self.flags.get(key, 0) | flag
            self.present[key] = self.present.get(key, 0) + later.present[key]

    def columns(self) -> list[str]:
        """Column names by first appearance."""
        return list(self.flags)

    def kinds(self) -> dict[str, str]:
        """``'int'``, ``'float'`` or ``'object'`` per column (pandas' dtype after construction)."""
        out = {}
        for key, flag in self.flags.items():
            gaps = self.present[key] < self.rows
            if flag & _OTHER or not flag:
                out[key] = "object"
            elif flag & _FLOAT or gaps:
                out[key] = "float"
            else:
                out[key] = "int"
        return out


def format_cell(value: Any, kind: str) -> str:
    """The text ``DataFrame.to_csv`` writes for ``value`` in a column of ``kind``.

    >>> format_cell(1, "float"), format_cell(1, "int"), format_cell(None, "int")
    ('1.0', '1', '')
    >>> format_cell(0.1, "object"), format_cell(True, "object"), format_cell(float("nan"), "float")
    ('0.1', 'True', '')
    """
    if _is_missing(value):
        return ""
    if kind == "float" and not isinstance(value, str | bool):
        return repr(float(value))
    return str(value)


def _format_int(value: Any) -> str:
    return "" if value is None else str(value)


def _format_float(value: Any) -> str:
    if value is None or value != value:
        return ""
    cls = value.__class__
    if cls is float:
        return repr(value)
    if cls is int:  # e.g. a count in a column with gaps: format_cell's text, fewer steps
        return repr(float(value))
    return format_cell(value, "float")


def _format_object(value: Any) -> str:
    cls = value.__class__
    if cls is str:
        return value
    if value is None or (cls is float and value != value):
        return ""
    return format_cell(value, "object")


def cell_formatter(kind: str) -> Callable[[Any], str]:
    """A fast ``format_cell`` for one column kind (``lambda v: format_cell(v, kind)``).

    >>> [cell_formatter(k)(v) for k, v in (("int", 3), ("float", 3), ("object", None))]
    ['3', '3.0', '']
    """
    return {"int": _format_int, "float": _format_float}.get(kind, _format_object)


def order_columns(columns: Sequence[str], front: Sequence[str] = ("choice",)) -> list[str]:
    """The ``-O/--order`` layout: other columns, then ``data.*`` sorted, ``front`` ones first.

    >>> order_columns(["subject_id", "data.b", "data.choice", "data.a"])
    ['subject_id', 'data.choice', 'data.a', 'data.b']
    """
    data_cols = sorted(c for c in columns if DATA_PREFIX in c)
    for name in reversed(front):
        full = DATA_PREFIX + name
        if full in data_cols:
            data_cols.remove(full)
            data_cols.insert(0, full)
    return [c for c in columns if DATA_PREFIX not in c] + data_cols


# --------------------------------------------------------------------------------------------
# reading


class ReadKinds:
    """The type ``pandas.read_csv`` gives each column, from all of its raw text cells.

    >>> k = ReadKinds(["a", "b", "c", "d"])
    >>> for row in (["1", "1", "True", "x"], ["2", "", "false", "1"]):
    ...     k.add(row)
    >>> k.kinds()
    {'a': 'int', 'b': 'float', 'c': 'bool', 'd': 'str'}
    """

    def __init__(self, names: Sequence[str]) -> None:
        self.names = names
        n = len(names)
        self.na = [False] * n
        self.not_int = [False] * n
        self.not_float = [False] * n
        self.not_bool = [False] * n
        self._open = list(range(n))  # columns whose kind can still change
        self._last: list[str | None] = [None] * n  # a repeated cell tells nothing new

    def add(self, cells: Sequence[str]) -> None:
        """Observe one row's cells (aligned with ``names``)."""
        na, not_int, last = self.na, self.not_int, self._last
        settled = False
        for i in self._open:
            text = cells[i]
            if text == last[i]:
                continue
            last[i] = text
            if text in NA_STRINGS:
                na[i] = True
            elif not_int[i] or not (text.isdigit() and text.isascii()):
                self.add_cell(i, text)
                settled = settled or (self.not_float[i] and self.not_bool[i])
            else:  # plain digits: an int (the common case, kept fast)
                self.not_bool[i] = True
        if settled:  # text columns: nothing can change their kind any more
            self._open = [i for i in self._open if not (self.not_float[i] and self.not_bool[i])]

    def add_cell(self, i: int, text: str) -> None:
        if text in NA_STRINGS:
            self.na[i] = True
            return
        if not self.not_int[i]:
            if _INT_RE.match(text):
                self.not_bool[i] = True
                return
            self.not_int[i] = True
        if not self.not_float[i] and not _FLOAT_RE.match(text):
            self.not_float[i] = True
        if not self.not_bool[i] and text not in _TRUE_STRINGS and text not in _FALSE_STRINGS:
            self.not_bool[i] = True

    def merge(self, other: ReadKinds) -> None:
        """Fold in ``other``'s observations of the same columns, matched by position."""
        for i in range(len(self.names)):
            self.na[i] |= other.na[i]
            self.not_int[i] |= other.not_int[i]
            self.not_float[i] |= other.not_float[i]
            self.not_bool[i] |= other.not_bool[i]

    def kinds(self) -> dict[str, str]:
        """``'int'``, ``'float'``, ``'bool'`` or ``'str'`` per column; an all-missing column is float."""
        out = {}
        for i, name in enumerate(self.names):
            if not self.not_int[i]:
                out[name] = "float" if self.na[i] else "int"
            elif not self.not_float[i]:
                out[name] = "float"
            elif not self.not_bool[i]:
                out[name] = "bool"
            else:
                out[name] = "str"
        return out


def convert_cell(text: str, kind: str) -> Any:
    """The value pandas holds for a raw cell in a column of ``kind``; None when missing.

    >>> convert_cell("3", "int"), convert_cell("3", "float"), convert_cell("NA", "str")
    (3, 3.0, None)
    """
    if text in NA_STRINGS:
        return None
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        return text in _TRUE_STRINGS
    return text


def reformat_cell(text: str, kind: str) -> str:
    """The text pandas writes back for a raw cell it read into a column of ``kind``.

    >>> reformat_cell("1234", "float"), reformat_cell("007", "int"), reformat_cell("NA", "str")
    ('1234.0', '7', '')
    """
    return format_cell(convert_cell(text, kind), "float" if kind == "float" else "object")


def text_formatter(kind: str) -> Callable[[str], str]:
    """A fast ``reformat_cell`` for one column kind.

    >>> [text_formatter(k)(t) for k, t in (("int", "07"), ("float", "7"), ("str", "NA"), ("bool", "true"))]
    ['7', '7.0', '', 'True']
    """
    if kind == "int":
        return lambda text: str(int(text))
    if kind == "float":
        return lambda text: "" if text in NA_STRINGS else repr(float(text))
    if kind == "bool":
        return lambda text: "" if text in NA_STRINGS else str(text in _TRUE_STRINGS)
    return lambda text: "" if text in NA_STRINGS else text


_NAMES_UNFLATTEN = {"nan": None, "null": None, "true": True, "false": False}


class _NotLiteral(Exception):
    pass


def _literal(
    node: ast.AST, names: Mapping[str, Any], calls: Mapping[str, Callable[..., Any]]
) -> Any:
    import ast  # here, as in python_literal

    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [_literal(e, names, calls) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, names, calls) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_literal(e, names, calls) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral
        return {
            _literal(k, names, calls): _literal(v, names, calls)
            for k, v in zip(node.keys, node.values, strict=True)
        }  # type: ignore[arg-type]
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand, names, calls)
        if isinstance(operand, int | float | complex) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else +operand
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in calls
        and not node.keywords
    ):
        return calls[node.func.id](*[_literal(a, names, calls) for a in node.args])
    raise _NotLiteral


def python_literal(
    text: str,
    names: Mapping[str, Any] = _NAMES_UNFLATTEN,
    calls: Mapping[str, Callable[..., Any]] | None = None,
) -> Any:
    """Evaluate a Python literal (lists, dicts, tuples, sets, numbers, strings) safely.

    Bare names are looked up in ``names`` (by default the reference's ``nan``/``null`` -> None,
    ``true``/``false``); ``name(literal, ...)`` is ``calls[name](...)`` when ``calls`` has it
    (e.g. ``{"OrderedDict": dict}`` for reprs pandas wrote); anything else (other calls,
    attributes, operators) raises ValueError.

    >>> python_literal("[{'x': 1, 'y': -2.5}, nan, true, (1,)]")
    [{'x': 1, 'y': -2.5}, None, True, (1,)]
    >>> python_literal("__import__('os')")
    Traceback (most recent call last):
    ...
    ValueError: not a Python literal: "__import__('os')"
    >>> python_literal("OrderedDict([('a', 1), ('b', OrderedDict())])", calls={"OrderedDict": dict})
    {'a': 1, 'b': {}}
    """
    import ast  # here: only cells that are not JSON read it (ast's import: 19 M instructions)

    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for "[1x]"
            warnings.simplefilter("ignore")
            tree = ast.parse(text.lstrip(" \t"), mode="eval")
        return _literal(tree.body, names, calls or {})
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, _NotLiteral):
        raise ValueError(f"not a Python literal: {text!r:.200}") from None


_JSON_WORD_VALUES = {"True": "true", "False": "false", "None": "null", "nan": "null"}


class _JsonRegexes:
    """The patterns that tell which Python-literal cells JSON reads the same way.

    Compiled when a cell first needs them (:func:`_json_regexes`): most runs read none (the
    compiled readers take the plain cells), and compiling them cost every start ≈ 4 M
    instructions.
    """

    def __init__(self) -> None:
        # One token of a Python repr that JSON reads the same way; atomic and possessive, so a
        # non-matching cell fails in linear time.
        self.tokens = re.compile(
            r"(?>\s|[\[\]{}:,]|'[^'\\\"\r\n]*+'|-?[0-9]++(?:\.[0-9]++)?+(?:[eE][+-]?[0-9]++)?+"
            r"|True|False|None|nan|null|true|false)*+"
        )
        self.rewrite = re.compile(r"'[^']*+'|True|False|None|nan")
        self.letter_or_quote = re.compile(r"[A-Za-z']")
        self.letter = re.compile(r"[A-Za-z]")
        self.long_digits = re.compile(r"[0-9]{19}")
        # Text of brackets, numbers and letter-free quoted keys ("[1.5, -2]", "[[{'0': 1}]]"),
        # with at most 18 digits in a row: _as_json's answer for it is the text with ' as ", by
        # its first rules.
        self.plain = re.compile(r"[\[\]{}:, '.+\-]*+(?:[0-9]{1,18}+(?![0-9])[\[\]{}:, '.+\-]*+)*+")


@functools.cache
def _json_regexes() -> _JsonRegexes:
    return _JsonRegexes()


def _json_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token[0] == "'":
        return f'"{token[1:-1]}"'
    return _JSON_WORD_VALUES[token]


def _plain_json_py(text: str) -> str | None:
    """``text`` with ``'`` as ``"`` if it is plain (see ``_JsonRegexes.plain``), else None.

    ``_plain_json`` is the compiled form (``core/_cells_compiled.pyx``) when it is built.

    >>> _plain_json_py("[[{'0': 1}], [{'1': 2}]]"), _plain_json_py("[1.5, -2]"), _plain_json_py("[a]")
    ('[[{"0": 1}], [{"1": 2}]]', '[1.5, -2]', None)
    """
    if _json_regexes().plain.fullmatch(text) is None:
        return None
    return text.replace("'", '"') if "'" in text else text


try:  # both in one C pass (setup.py builds them; optional, for machines without a compiler)
    from core._cells_compiled import RowReader as _RowReader
    from core._cells_compiled import list_text as _list_text
    from core._cells_compiled import plain_json as _plain_json
except ImportError:  # pragma: no cover - depends on the install
    _list_text = _list_text_py
    _plain_json = _plain_json_py
    _RowReader = None


def _as_json(text: str) -> str | None:
    """``text`` rewritten as candidate JSON with the Python literal's meaning, or None.

    Most cells are Python reprs of lists and dicts of numbers and plain strings
    (``"[{'0': 1}, None]"``); as JSON they parse many times faster. Only text made of brackets,
    numbers, single-quoted strings without quotes, backslashes or line breaks inside, and the
    reference's names (``True``/``true``, ``False``/``false``, ``None``/``null``/``nan``)
    qualifies; anything else (tuples, sets, escapes, other names) returns None and takes the
    slow path. Text that qualifies but is not valid JSON (``1.``, ``'a' 'b'``) fails in orjson
    and takes the slow path too.

    >>> _as_json("[{'a': 1.5, 'b': [True, None, nan]}]")
    '[{"a": 1.5, "b": [true, null, null]}]'
    >>> _as_json("(True, 2)") is None, _as_json("[[{'0': 1}], [{'1': 1}]]")
    (True, '[[{"0": 1}], [{"1": 1}]]')
    >>> _as_json("[-9223372036854775809]") is None
    True
    """
    regexes = _json_regexes()
    if regexes.long_digits.search(text):
        return None  # orjson reads integers beyond 64 bits as floats
    if not regexes.letter_or_quote.search(text):
        return text  # numbers and brackets only
    if '"' not in text and "\\" not in text and not regexes.letter.search(text):
        # Quoted strings without letters, quotes or escapes inside (subtask counts such as
        # "[[{'0': 1}]]"): every ' delimits a string, and the string means the same in JSON.
        return text.replace("'", '"')
    if regexes.tokens.fullmatch(text) is None:
        return None
    return regexes.rewrite.sub(_json_token, text)


def literal_cell(text: str) -> Any:
    """A ``data.*`` text cell as the reference reads it back: literal if it looks like one.

    >>> literal_cell("[1, 2]"), literal_cell("[a, b]"), literal_cell("plain")
    ([1, 2], '[a, b]', 'plain')
    """
    if "{" in text or "[" in text:
        # plain text (most cells: coordinates, subtask answers) in one pass; the rest checked
        fast = _plain_json(text)
        if fast is None:
            fast = _as_json(text)
        if fast is not None:
            import orjson  # here: the question and shortcut reduces never need it

            try:
                return orjson.loads(fast)
            except orjson.JSONDecodeError:
                pass
        try:
            return python_literal(text)
        except ValueError:
            return text
    return text


def nested_set(out: dict[str, Any], keys: Sequence[str], value: Any, column: str) -> None:
    """Set ``out[k0][k1]...[kn] = value`` for a CSV column split at its dots, creating the
    dicts on the way; a key that already holds a value raises :class:`LayoutError`.

    >>> out = {}
    >>> nested_set(out, ["frame0", "x"], 1, "data.frame0.x")
    >>> out
    {'frame0': {'x': 1}}
    """
    node = out
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise LayoutError(
                f"column {column!r} nests under a key that already holds a value; "
                "two data columns clash (e.g. 'data.a' and 'data.a.b')"
            )
    node[keys[-1]] = value


def unflatten(cells: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """An extract dict from one CSV row's ``(column, value)`` pairs, as the reference reads it.

    Only columns containing ``data.`` with a non-missing value are used; the key is the text
    between the first and second ``data.``, split on ``.`` and nested again.

    >>> unflatten([("user_id", 1), ("data.frame0.T0_tool0_x", "[1.0, 2.0]"), ("data.yes", 1)])
    {'frame0': {'T0_tool0_x': [1.0, 2.0]}, 'yes': 1}
    """
    out: dict[str, Any] = {}
    for column, value in cells:
        if DATA_PREFIX not in column or _is_missing(value):
            continue
        key = column.split(DATA_PREFIX)[1]
        if isinstance(value, str):
            value = literal_cell(value)
        nested_set(out, key.split("."), value, column)
    return out


def _read_int(text: str) -> int:
    return int(text)


def _read_float(text: str) -> Any:
    value = float(text)
    return None if value != value else value


def _read_bool(text: str) -> bool:
    return text in _TRUE_STRINGS


def data_reader(header: Sequence[str], kinds: Mapping[str, str]) -> Callable[[Sequence[str]], Any]:
    """``row -> unflatten((column, convert_cell(cell, kind)) ...)`` for a file's raw rows, faster.

    Per column, the key path and the cell converter are worked out once; a row then costs a
    loop over its non-missing ``data.*`` cells. Same result and errors as :func:`unflatten`.

    >>> read = data_reader(["user_id", "data.frame0.x", "data.yes"], {"data.frame0.x": "str",
    ...     "data.yes": "float", "user_id": "int"})
    >>> read(["1", "[1.5, 2]", ""])
    {'frame0': {'x': [1.5, 2]}}
    """
    converters = {"int": _read_int, "float": _read_float, "bool": _read_bool}
    plan = []
    for i, column in enumerate(header):
        if DATA_PREFIX not in column:
            continue
        keys = tuple(column.split(DATA_PREFIX)[1].split("."))
        plan.append((i, keys, converters.get(kinds[column], literal_cell), column))
    if _RowReader is not None:  # the steps below, compiled
        return _RowReader(plan, NA_STRINGS, literal_cell, _read_float, nested_set)
    na = NA_STRINGS

    def read(row: Sequence[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for i, keys, convert, column in plan:
            text = row[i]
            if text in na:
                continue
            value = convert(text)
            if value is None and convert is _read_float:
                continue  # NaN: missing
            if len(keys) == 2:  # data.frame0.T0_tool0_x: most cells of a point file
                node = out.get(keys[0])
                if node.__class__ is dict:
                    node[keys[1]] = value
                elif node is None and keys[0] not in out:
                    out[keys[0]] = {keys[1]: value}
                else:
                    nested_set(out, keys, value, column)  # raises, unless a dict subclass
            elif len(keys) == 1:
                out[keys[0]] = value
            else:
                nested_set(out, keys, value, column)
        return out

    return read
