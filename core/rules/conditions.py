"""Caesar's JSON condition language, with Caesar's exact semantics (Ruby's, where they differ).

A condition is a JSON array ``[op, args...]``. :func:`compile_condition` validates a condition
once, when the rules file is loaded, and returns a function of the bindings; errors name the
rule and the position inside the condition. Semantics follow Caesar (caesar.md §3.1):

* Ruby truthiness: only ``false`` and ``null`` are falsy; ``0``, ``""``, ``[]`` are true.
* Comparisons chain (``["lt", a, b, c]`` is a < b < c) and, when every step holds, return the
  truthiness of the *last* operand, so ``["eq", false, false]`` is false (Caesar's quirk).
  Ordering a number against a string or null is an error, as in Ruby; ``eq`` across types is
  simply false.
* ``and`` returns the last truthy value or the first falsy one (``true`` when empty); ``or`` the
  first truthy one (``false`` when empty).
* ``+ - * %`` fold left and keep integers integral; ``+`` also joins strings and lists; ``%`` is
  floor modulo. ``/`` converts every operand to float (``x/0`` is Infinity, as in Ruby).
* ``int``/``float`` parse leniently like Ruby's ``to_i``/``to_f`` (``"12abc"`` → 12,
  ``"abc"`` → 0); ``int`` of a float is an error, as in Caesar.
* ``lookup`` takes exactly a key and a default: ``"reducer.field"`` reads one level of the
  reduction's data; a missing reduction or a null value gives the default.
* ``any``/``all`` iterate the data of a reduction, binding ``key`` and ``value``.

>>> check = compile_condition(["gte", ["lookup", "count.classifications", 0], ["const", 10]])
>>> check({"count": {"classifications": 12}})
True
>>> compile_condition(["eq", ["const", False], ["const", False]])({})
False
>>> compile_condition(["and", ["const", 0], ["const", ""]])({})
''
>>> compile_condition(["lookup", "count.classifications"])
Traceback (most recent call last):
...
core.rules.conditions.RuleConfigError: condition: 'lookup' needs exactly 2 arguments (a key and a default), got 1: ...
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from core.errors import TallyError
from core.ruby import kind as _kind
from core.ruby import lenient_float, lenient_int

__all__ = [
    "OPERATORS",
    "RuleConfigError",
    "RuleEvaluationError",
    "compile_condition",
    "ruby_truthy",
]

Bindings = Mapping[str, Any]
Node = Callable[[Bindings], Any]


class RuleConfigError(TallyError, ValueError):
    """A rule's condition is malformed; raised when the rules file is loaded."""


class RuleEvaluationError(TallyError):
    """A condition failed on the data it was given (e.g. comparing a number with a string)."""


def ruby_truthy(value: Any) -> bool:
    """Only ``None`` and ``False`` are falsy.

    >>> [ruby_truthy(v) for v in (0, "", [], None, False)]
    [True, True, True, False, False]
    """
    return value is not None and value is not False


class _Whole:
    """``lookup`` of a reducer key without a field: Caesar returns the reduction record, which
    equals nothing and cannot be ordered."""

    def __init__(self, key: str) -> None:
        self.key = key

    def __repr__(self) -> str:
        return f"<reduction {self.key}>"


def _equal(a: Any, b: Any) -> bool:
    """Ruby's ``==`` on JSON values: numbers compare by value (``1 == 1.0``), every other pair
    of different types is unequal, and arrays and objects compare element by element the same
    way (Python's ``==`` would make ``[true] == [1]`` and ``{"a": false} == {"a": 0}``).

    >>> _equal([True], [1]), _equal({"a": [1, "x"]}, {"a": [1.0, "x"]}), _equal([False], [0])
    (False, True, False)
    """
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == "array":
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == "object":
        return a.keys() == b.keys() and all(_equal(a[key], b[key]) for key in a)
    return a == b


def _ordered(op: str) -> Callable[[Any, Any], bool]:
    compare = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }[op]

    def check(a: Any, b: Any) -> bool:
        kinds = (_kind(a), _kind(b))
        if kinds not in (("number", "number"), ("string", "string")):
            whole = a if isinstance(a, _Whole) else b if isinstance(b, _Whole) else None
            if whole is not None:
                raise RuleEvaluationError(
                    f"{op!r} cannot order the whole reduction {whole.key!r}: a lookup without "
                    f"a field gives the reduction record, as in Caesar; read a field as "
                    f"'{whole.key}.<field>' (a reducer whose data is not an object, such as "
                    "unique_count, cannot be read by rules)"
                )
            raise RuleEvaluationError(
                f"{op!r} cannot compare {kinds[0]} {a!r} with {kinds[1]} {b!r}"
            )
        return compare(a, b)

    return check


def _to_i(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise RuleEvaluationError(
            f"'int' needs a string or an integer, got {_kind(value)} {value!r}"
        )
    return value if isinstance(value, int) else lenient_int(value)


def _to_f(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RuleEvaluationError(
            f"'float' needs a string or a number, got {_kind(value)} {value!r}"
        )
    return lenient_float(value) if isinstance(value, str) else float(value)


def _arith(op: str, a: Any, b: Any) -> Any:
    kinds = (_kind(a), _kind(b))
    if op == "+" and kinds in (("string", "string"), ("array", "array")):
        return a + b
    if kinds != ("number", "number"):
        raise RuleEvaluationError(f"{op!r} cannot combine {kinds[0]} {a!r} with {kinds[1]} {b!r}")
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if b == 0:
        if isinstance(a, int) and isinstance(b, int):
            raise RuleEvaluationError("'%' by zero")
        return math.nan
    return a % b  # Python's % is floor modulo, like Ruby's


def _divide(values: list[Any]) -> float:
    floats = [
        _to_f(v) if not isinstance(v, int | float) or isinstance(v, bool) else float(v)
        for v in values
    ]
    result = floats[0]
    for divisor in floats[1:]:
        if divisor == 0:
            result = (
                math.nan
                if result == 0 or math.isnan(result)
                else math.copysign(math.inf, result) * math.copysign(1, divisor)
            )
        else:
            result = result / divisor
    return result


class _ItemScope(dict):
    """Bindings inside ``any``/``all``: plain ``key`` and ``value``, not reductions."""


def _lookup(bindings: Bindings, key: str, default: Any) -> Any:
    name, _, rest = key.partition(".")
    if name not in bindings:
        return default
    data = bindings[name]
    if not rest:
        if isinstance(bindings, _ItemScope):
            return default if data is None else data
        return _Whole(name)
    field = rest.split(".", 1)[0]  # Caesar reads one level: "a.b.c" is "a.b"
    if not isinstance(data, Mapping):
        raise RuleEvaluationError(
            f"lookup {key!r}: reduction {name!r} is a {_kind(data)}, not an object with fields"
        )
    value = data.get(field)
    return default if value is None else value


OPERATORS = (
    "const", "lookup", "eq", "gt", "gte", "lt", "lte", "and", "or", "not",
    "+", "-", "*", "/", "%", "upcase", "downcase", "int", "to_i", "float", "to_f", "any", "all",
)  # fmt: skip


def compile_condition(condition: Any, *, where: str = "condition") -> Node:
    """Validate ``condition`` and return a function ``bindings -> value``."""
    if not isinstance(condition, list) or not condition or not isinstance(condition[0], str):
        raise RuleConfigError(
            f"{where}: expected a JSON array [operator, arguments...], got {condition!r}"
        )
    op, args = condition[0], condition[1:]
    if op not in OPERATORS:
        import difflib

        close = difflib.get_close_matches(op, OPERATORS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise RuleConfigError(
            f"{where}: unknown operator {op!r}{hint}; valid operators: {', '.join(sorted(OPERATORS))}"
        )

    def arity(n: int, what: str) -> None:
        if len(args) != n:
            raise RuleConfigError(
                f"{where}: {op!r} needs exactly {n} argument{'s' if n > 1 else ''} ({what}), "
                f"got {len(args)}: {condition!r}"
            )

    if op == "const":
        arity(1, "a value")
        value = args[0]
        return lambda b: value
    if op == "lookup":
        arity(2, "a key and a default")
        key, default = args
        if not isinstance(key, str):
            raise RuleConfigError(f"{where}: lookup key must be a string, got {key!r}")
        return lambda b: _lookup(b, key, default)
    if op in ("any", "all"):
        arity(2, "a reducer key and a condition")
        reducer_key, inner_condition = args
        if not isinstance(reducer_key, str):
            raise RuleConfigError(
                f"{where}: {op!r} needs a reducer key string, got {reducer_key!r}"
            )
        inner = compile_condition(inner_condition, where=f"{where}[2]")
        quantifier = any if op == "any" else all

        def quantified(b: Bindings) -> bool:
            if reducer_key not in b:
                raise RuleEvaluationError(f"{op!r}: no reduction {reducer_key!r} for this subject")
            data = b[reducer_key]
            if not isinstance(data, Mapping):
                raise RuleEvaluationError(f"{op!r}: reduction {reducer_key!r} is not an object")
            return quantifier(
                ruby_truthy(inner(_ItemScope(key=k, value=v))) for k, v in data.items()
            )

        return quantified
    nodes = [compile_condition(a, where=f"{where}[{i + 1}]") for i, a in enumerate(args)]
    if op in ("not", "upcase", "downcase", "int", "to_i", "float", "to_f"):
        arity(1, "one condition")
        (node,) = nodes
        if op == "not":
            return lambda b: not ruby_truthy(node(b))
        if op in ("upcase", "downcase"):
            method = str.upper if op == "upcase" else str.lower

            def case(b: Bindings) -> str:
                value = node(b)
                if not isinstance(value, str):
                    raise RuleEvaluationError(
                        f"{op!r} needs a string, got {_kind(value)} {value!r}"
                    )
                return method(value)

            return case
        convert = _to_i if op in ("int", "to_i") else _to_f
        return lambda b: convert(node(b))
    if op in ("and", "or"):

        def logic(b: Bindings) -> Any:
            value: Any = op == "and"
            for node in nodes:
                value = node(b)
                if ruby_truthy(value) != (op == "and"):
                    return value
            return value

        return logic
    if not nodes:
        raise RuleConfigError(f"{where}: {op!r} needs at least one argument")
    if op in ("eq", "gt", "gte", "lt", "lte"):
        compare = _equal if op == "eq" else _ordered(op)

        def chained(b: Bindings) -> bool:
            previous = nodes[0](b)
            for node in nodes[1:]:
                current = node(b)
                if not compare(previous, current):
                    return False
                previous = current
            return ruby_truthy(previous)

        return chained
    if op == "/":
        return lambda b: _divide([n(b) for n in nodes])

    def fold(b: Bindings) -> Any:
        value = nodes[0](b)
        for node in nodes[1:]:
            value = _arith(op, value, node(b))
        return value

    return fold
