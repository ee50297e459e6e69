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

import ast
import dataclasses
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson

from core.errors import TallyError

__all__ = [
    "AGGREGATION_VERSION",
    "DATA_PREFIX",
    "EXTRACT_INFO_COLUMNS",
    "NA_STRINGS",
    "REDUCE_INFO_COLUMNS",
    "ColumnStats",
    "LayoutError",
    "ReadKinds",
    "cell_formatter",
    "convert_cell",
    "flatten",
    "format_cell",
    "literal_cell",
    "order_columns",
    "python_literal",
    "reformat_cell",
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


class LayoutError(TallyError, ValueError):
    """Cells that cannot be put back into one extract (e.g. ``data.a`` and ``data.a.b``)."""


# --------------------------------------------------------------------------------------------
# writing


def with_version(
    result: Mapping[str, Any] | Sequence[Mapping[str, Any]], version: str = AGGREGATION_VERSION
) -> dict[str, Any] | list[dict[str, Any]]:
    """Copy of an extract or reduction (or a list of them) with ``aggregation_version`` added.

    The reference appends the version after the function's own keys, but before the
    ``parameters`` a reducer echoes back (its wrapper adds those last).

    >>> with_version({"yes": 2, "parameters": {"eps": 5.0}})
    {'yes': 2, 'aggregation_version': '5.3.1', 'parameters': {'eps': 5.0}}
    >>> with_version([{"choice": "zebra"}])
    [{'choice': 'zebra', 'aggregation_version': '5.3.1'}]
    """
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


def _scalar(value: Any) -> Any:
    """A cell value: containers become their ``str()``, numpy scalars plain Python."""
    cls = value.__class__
    if cls in _PLAIN:
        return value
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


def flatten(data: Mapping[Any, Any], version: str | None = None) -> dict[str, Any]:
    """One record's cells, keyed by column name without the ``data.`` prefix.

    Same keys and order as ``pandas.json_normalize([data])``: top-level non-dict values first,
    then nested dicts flattened depth first with ``.``; list values as their ``str()``.
    ``version``: the same as ``flatten(with_version(data, version))``, without the copy.

    >>> flatten({"frame0": {"x": [1, None]}, "gold": True, "empty": {}})
    {'gold': True, 'frame0.x': '[1, None]'}
    >>> flatten({"frame0": {"x": [1]}, "gold": True}, version="5.3.1")
    {'gold': True, 'aggregation_version': '5.3.1', 'frame0.x': '[1]'}
    """
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


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


@dataclasses.dataclass
class ColumnStats:
    """Column order and type over a sequence of flattened rows, as a pandas DataFrame sees them.

    ``add`` rows in file order; ``merge`` appends the stats of the rows that follow.

    >>> s = ColumnStats()
    >>> for r in ({"a": 1, "b": 1}, {"a": 2}, {"c": True}):
    ...     s.add(r)
    >>> s.columns(), s.kinds()
    (['a', 'b', 'c'], {'a': 'float', 'b': 'float', 'c': 'object'})
    """

    rows: int = 0
    flags: dict[str, int] = dataclasses.field(default_factory=dict)
    present: dict[str, int] = dataclasses.field(default_factory=dict)

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
    if value.__class__ is float:
        return repr(value)
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


@dataclasses.dataclass
class ReadKinds:
    """The type ``pandas.read_csv`` gives each column, from all of its raw text cells.

    >>> k = ReadKinds(["a", "b", "c", "d"])
    >>> for row in (["1", "1", "True", "x"], ["2", "", "false", "1"]):
    ...     k.add(row)
    >>> k.kinds()
    {'a': 'int', 'b': 'float', 'c': 'bool', 'd': 'str'}
    """

    names: Sequence[str]
    na: list[bool] = dataclasses.field(init=False)
    not_int: list[bool] = dataclasses.field(init=False)
    not_float: list[bool] = dataclasses.field(init=False)
    not_bool: list[bool] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        n = len(self.names)
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


def _literal(node: ast.AST, names: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        return [_literal(e, names) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_literal(e, names) for e in node.elts)
    if isinstance(node, ast.Set):
        return {_literal(e, names) for e in node.elts}
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise _NotLiteral
        return {
            _literal(k, names): _literal(v, names)
            for k, v in zip(node.keys, node.values, strict=True)
        }  # type: ignore[arg-type]
    if isinstance(node, ast.Name) and node.id in names:
        return names[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        operand = _literal(node.operand, names)
        if isinstance(operand, int | float | complex) and not isinstance(operand, bool):
            return -operand if isinstance(node.op, ast.USub) else +operand
    raise _NotLiteral


def python_literal(text: str, names: Mapping[str, Any] = _NAMES_UNFLATTEN) -> Any:
    """Evaluate a Python literal (lists, dicts, tuples, sets, numbers, strings) safely.

    Bare names are looked up in ``names`` (by default the reference's ``nan``/``null`` -> None,
    ``true``/``false``); anything else (calls, attributes, operators) raises ValueError.

    >>> python_literal("[{'x': 1, 'y': -2.5}, nan, true, (1,)]")
    [{'x': 1, 'y': -2.5}, None, True, (1,)]
    >>> python_literal("__import__('os')")
    Traceback (most recent call last):
    ...
    ValueError: not a Python literal: "__import__('os')"
    """
    try:
        with warnings.catch_warnings():  # e.g. "invalid decimal literal" for "[1x]"
            warnings.simplefilter("ignore")
            tree = ast.parse(text.lstrip(" \t"), mode="eval")
        return _literal(tree.body, names)
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError, _NotLiteral):
        raise ValueError(f"not a Python literal: {text!r:.200}") from None


# One token of a Python repr that JSON reads the same way; atomic and possessive, so a
# non-matching cell fails in linear time.
_JSON_TOKENS = re.compile(
    r"(?>\s|[\[\]{}:,]|'[^'\\\"\r\n]*+'|-?[0-9]++(?:\.[0-9]++)?+(?:[eE][+-]?[0-9]++)?+"
    r"|True|False|None|nan|null|true|false)*+"
)
_JSON_REWRITE = re.compile(r"'[^']*+'|True|False|None|nan")
_JSON_WORD_VALUES = {"True": "true", "False": "false", "None": "null", "nan": "null"}
_LETTER_OR_QUOTE = re.compile(r"[A-Za-z']")


def _json_token(match: re.Match[str]) -> str:
    token = match.group(0)
    if token[0] == "'":
        return f'"{token[1:-1]}"'
    return _JSON_WORD_VALUES[token]


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
    >>> _as_json("(True, 2)") is None
    True
    """
    if not _LETTER_OR_QUOTE.search(text):
        return text  # numbers and brackets only
    if _JSON_TOKENS.fullmatch(text) is None:
        return None
    return _JSON_REWRITE.sub(_json_token, text)


def literal_cell(text: str) -> Any:
    """A ``data.*`` text cell as the reference reads it back: literal if it looks like one.

    >>> literal_cell("[1, 2]"), literal_cell("[a, b]"), literal_cell("plain")
    ([1, 2], '[a, b]', 'plain')
    """
    if "{" in text or "[" in text:
        fast = _as_json(text)
        if fast is not None:
            try:
                return orjson.loads(fast)
            except orjson.JSONDecodeError:
                pass
        try:
            return python_literal(text)
        except ValueError:
            return text
    return text


def _nested_set(out: dict[str, Any], keys: list[str], value: Any, column: str) -> None:
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
        _nested_set(out, key.split("."), value, column)
    return out
