"""Ruby value semantics that Caesar's reducers and extractors rely on, for the Caesar-compatible parts.

Caesar is a Rails application, so its reducers inherit Ruby's (and ActiveSupport's) rules:

* ``blank?``: ``nil``, ``false``, empty or whitespace-only strings, empty arrays and hashes are
  blank; numbers (``0`` included) and ``true`` are not.
* ``to_f``: the lenient parse of the condition language (``"12abc"`` → 12.0, ``"abc"`` → 0.0),
  reused from :mod:`core.rules.conditions`; numbers convert as they are; anything else has no
  ``to_f`` in Ruby, which we report as :class:`RubyTypeError`.
* ``to_s`` and ``Array#sort.join("+")``: how ``unique_count`` turns an array value into one key.

>>> [blank(v) for v in (None, False, "", "  ", [], {}, 0, "0", True)]
[True, True, True, True, True, True, False, False, False]
>>> to_f("12.5kg"), to_f(3)
(12.5, 3.0)
>>> sort_join(["lion", "bird"]), sort_join([2, 1.5]), sort_join([1e20, None][:1])
('bird+lion', '1.5+2', '1.0e+20')
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from core.errors import TallyError

__all__ = [
    "RubyTypeError",
    "blank",
    "float_to_s",
    "kind",
    "lenient_float",
    "lenient_int",
    "sort_join",
    "to_f",
    "to_s",
]

# Pattern texts that re compiles (and caches) on first use: the batch commands import this
# module for the filters and never call these; compiling at import cost them ≈ 2 M instructions.
_INT_PREFIX = r"\s*([+-]?\d+(?:_\d+)*)"
_FLOAT_PREFIX = r"\s*([+-]?(?:\d+(?:_\d+)*)?(?:\.\d+(?:_\d+)*)?(?:[eE][+-]?\d+)?)"


def lenient_int(text: str) -> int:
    """Ruby's ``String#to_i``: the leading integer, ``_`` separators allowed, else 0.

    >>> lenient_int(" -12abc"), lenient_int("1_000"), lenient_int("abc")
    (-12, 1000, 0)
    """
    match = re.match(_INT_PREFIX, text)
    return int(match.group(1).replace("_", "")) if match else 0


def lenient_float(text: str) -> float:
    """Ruby's ``String#to_f``: the longest leading number, else 0.0.

    >>> lenient_float("1.5kg"), lenient_float("1e3"), lenient_float(".5"), lenient_float("x")
    (1.5, 1000.0, 0.5, 0.0)
    """
    match = re.match(_FLOAT_PREFIX, text)
    number = match.group(1).replace("_", "") if match else ""
    while number and number not in ("+", "-"):
        try:
            return float(number)
        except ValueError:  # "1e" and the like: Ruby reads the longest valid prefix
            number = number[:-1]
    return 0.0


class RubyTypeError(TallyError, TypeError):
    """A value has no meaning for the Ruby operation Caesar applies to it (its NoMethodError,
    TypeError or ArgumentError). Callers re-raise it naming the reducer or extractor."""


def kind(value: Any) -> str:
    """A JSON-ish type name for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def blank(value: Any) -> bool:
    """ActiveSupport's ``blank?``."""
    if value is None or value is False:
        return True
    if isinstance(value, str):
        return value.strip() == "" if value else True
    if isinstance(value, list | tuple | Mapping):
        return len(value) == 0
    return False


def to_f(value: Any) -> float:
    """Ruby's ``to_f`` on a string or a number; other values raise :class:`RubyTypeError`."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RubyTypeError(f"{kind(value)} {value!r:.80} has no numeric value (Ruby's to_f)")
    return lenient_float(value) if isinstance(value, str) else float(value)


def float_to_s(x: float) -> str:
    """Ruby's ``Float#to_s``: like Python's repr, but ``1.0e+20`` keeps its ``.0``.

    >>> [float_to_s(x) for x in (2.0, 0.1, 1e16, 1e-05, 1.5e300, float("inf"))]
    ['2.0', '0.1', '1.0e+16', '1.0e-05', '1.5e+300', 'Infinity']
    """
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    text = repr(x)
    mantissa, e, exponent = text.partition("e")
    if e and "." not in mantissa:
        mantissa += ".0"
    return mantissa + e + exponent


def to_s(value: Any) -> str:
    """Ruby's ``to_s`` of an element being joined: nil → ``""``, true → ``"true"``, arrays joined
    recursively (``Array#join`` flattens nested arrays)."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return float_to_s(value)
    if isinstance(value, int | str):
        return str(value)
    raise RubyTypeError(f"cannot join {kind(value)} {value!r:.80} into a text key")


def _join(values: list, separator: str) -> str:
    parts = []
    for v in values:
        parts.append(_join(list(v), separator) if isinstance(v, list | tuple) else to_s(v))
    return separator.join(parts)


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return kind(a) == kind(b) and a == b


def sort_join(values: list | tuple, separator: str = "+") -> str:
    """``values.sort.join(separator)`` with Ruby's comparison rules.

    Numbers sort with numbers and strings with strings (bytewise, which for UTF-8 is code-point
    order, as Python compares). Ruby cannot order mixed kinds, ``nil``, booleans or objects
    unless every element is equal; that raises :class:`RubyTypeError` here as it does in Caesar.
    """
    items = list(values)
    if len(items) > 1 and not all(_equal(items[0], v) for v in items[1:]):
        kinds = {kind(v) for v in items}
        if kinds == {"number"} or kinds == {"string"}:
            items.sort()
        elif kinds == {"array"}:
            try:
                items.sort()
            except TypeError:
                raise RubyTypeError(f"cannot sort the arrays in {values!r:.80}") from None
        else:
            raise RubyTypeError(
                f"cannot sort {', '.join(sorted(kinds))} values together: {values!r:.80}"
            )
    return _join(items, separator)
