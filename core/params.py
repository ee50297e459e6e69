"""Typed, validated keyword parameters for extractors and reducers.

Each registered function declares its keywords as a frozen dataclass whose fields are keyword-only
and have defaults. :func:`parse_params` turns the mapping found in a YAML config into that
dataclass, converting only where no information is lost (``5`` for a float, ``3.0`` for an int)
and rejecting everything else with a message that names the function, the keyword, the expected
type and the value received. Unlike the reference's ``process_kwargs`` it never silently falls back
to a default and never reads the string ``'False'`` as true (see docs/compatibility.md).

>>> from dataclasses import dataclass
>>> @dataclass(frozen=True, kw_only=True)
... class P:
...     eps: float = 5.0
...     min_samples: int = field_with(3, minimum=1)
...     metric: str = field_with("euclidean", choices=("euclidean", "IoU"))
>>> parse_params(P, {"eps": 4, "min_samples": 2.0}, owner="demo_reducer")
P(eps=4.0, min_samples=2, metric='euclidean')
>>> parse_params(P, {"min_samples": 0}, owner="demo_reducer")
Traceback (most recent call last):
...
core.errors.InvalidParameterError: demo_reducer: 'min_samples' must be >= 1, got 0
>>> parse_params(P, {"eps_": 1}, owner="demo_reducer")
Traceback (most recent call last):
...
core.errors.InvalidParameterError: demo_reducer: unknown keyword 'eps_'; did you mean 'eps'? Valid keywords: eps, metric, min_samples
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from core.errors import InvalidParameterError

__all__ = ["field_with", "param_fields", "params_to_dict", "parse_params"]

P = TypeVar("P")

_MISSING = dataclasses.MISSING


def field_with(
    default: Any = _MISSING,
    *,
    default_factory: Any = _MISSING,
    choices: tuple[Any, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    doc: str = "",
) -> Any:
    """A dataclass field carrying validation constraints (allowed choices, inclusive bounds)."""
    metadata = {"choices": choices, "minimum": minimum, "maximum": maximum, "doc": doc}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def param_fields(params_cls: type) -> dict[str, dataclasses.Field]:
    """The declared keyword fields of a params dataclass, by name."""
    return {f.name: f for f in dataclasses.fields(params_cls)}


def params_to_dict(params: Any) -> dict[str, Any]:
    """Plain-dict view of a params instance (JSON-able when its fields are)."""
    return dataclasses.asdict(params)


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if tp is type(None):
        return "null"
    if origin is not None:
        return str(tp).replace("typing.", "")
    return getattr(tp, "__name__", str(tp))


class _Mismatch(Exception):
    pass


def _convert(value: Any, tp: Any) -> Any:
    """Convert ``value`` to type ``tp`` without losing information, else raise _Mismatch."""
    if tp is Any:
        return value
    origin = get_origin(tp)
    if origin in (Union, types.UnionType):
        for option in get_args(tp):
            try:
                return _convert(value, option)
            except _Mismatch:
                continue
        raise _Mismatch
    if origin is Literal:
        if value in get_args(tp):
            return value
        raise _Mismatch
    if tp is type(None):
        if value is None:
            return None
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _Mismatch
    if tp is int:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _Mismatch
    if tp is float:
        if isinstance(value, bool):
            raise _Mismatch
        if isinstance(value, int | float):
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if origin in (list, tuple) or tp in (list, tuple):
        if not isinstance(value, list | tuple):
            raise _Mismatch
        args = get_args(tp)
        item_tp = args[0] if args else Any
        return tuple(_convert(v, item_tp) for v in value)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise _Mismatch
        return dict(value)
    raise _Mismatch


def parse_params(params_cls: type[P], raw: Mapping[str, Any] | None, *, owner: str) -> P:
    """Build ``params_cls`` from a config mapping, validating every keyword.

    ``owner`` (the extractor or reducer name) starts every error message.
    Sequences are stored as tuples so the params stay hashable and immutable.
    """
    raw = dict(raw or {})
    if not raw:  # the defaults (subtask reducers are built so on every cluster): nothing to check
        return params_cls()
    fields = param_fields(params_cls)
    hints = typing.get_type_hints(params_cls)
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        name = unknown[0]
        import difflib  # here: only an unknown parameter needs it

        close = difflib.get_close_matches(name, sorted(fields), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else "."
        valid = ", ".join(sorted(fields)) or "(none)"
        raise InvalidParameterError(
            f"{owner}: unknown keyword {name!r}{hint} Valid keywords: {valid}"
        )
    values: dict[str, Any] = {}
    for name, value in raw.items():
        f = fields[name]
        tp = hints[name]
        try:
            converted = _convert(value, tp)
        except _Mismatch:
            extra = ""
            if isinstance(value, str) and value.lower() in ("true", "false") and tp is bool:
                extra = " (write true or false without quotes)"
            raise InvalidParameterError(
                f"{owner}: {name!r} must be {_type_name(tp)}, got {value!r}{extra}"
            ) from None
        choices = f.metadata.get("choices")
        if choices is not None and converted not in choices:
            raise InvalidParameterError(
                f"{owner}: {name!r} must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        minimum = f.metadata.get("minimum")
        if minimum is not None and converted is not None and converted < minimum:
            raise InvalidParameterError(f"{owner}: {name!r} must be >= {minimum}, got {value!r}")
        maximum = f.metadata.get("maximum")
        if maximum is not None and converted is not None and converted > maximum:
            raise InvalidParameterError(f"{owner}: {name!r} must be <= {maximum}, got {value!r}")
        values[name] = converted
    return params_cls(**values)
