"""Typed, validated keyword parameters for extractors and reducers.

Each registered function declares its keywords as a :class:`Params` subclass: annotated class
attributes, each with a default, keyword-only and frozen once made. :func:`parse_params` turns
the mapping found in a YAML config into that class, converting only where no information is lost
(``5`` for a float, ``3.0`` for an int) and rejecting everything else with a message that names
the function, the keyword, the expected type and the value received. Unlike the reference's
``process_kwargs`` it never silently falls back to a default and never reads the string
``'False'`` as true (see docs/compatibility.md).

>>> class P(Params):
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

import types
import typing
from collections.abc import Mapping
from typing import Any, Literal, TypeVar, Union, get_args, get_origin

from core.errors import InvalidParameterError

__all__ = ["ParamField", "Params", "field_with", "param_fields", "params_to_dict", "parse_params"]

P = TypeVar("P")


class ParamField:
    """One keyword of a :class:`Params` class: its default and the constraints it is checked by.

    ``choices`` are the allowed values; ``minimum`` and ``maximum`` inclusive bounds (None: none).

    >>> field_with(3, minimum=1)
    ParamField(default=3, choices=None, minimum=1, maximum=None)
    """

    __slots__ = ("name", "default", "choices", "minimum", "maximum", "doc")

    def __init__(
        self,
        default: Any,
        *,
        choices: tuple[Any, ...] | None = None,
        minimum: float | None = None,
        maximum: float | None = None,
        doc: str = "",
    ) -> None:
        self.name = ""  # set by the Params class that declares it
        self.default = default
        self.choices = choices
        self.minimum = minimum
        self.maximum = maximum
        self.doc = doc

    def __repr__(self) -> str:
        return (
            f"ParamField(default={self.default!r}, choices={self.choices!r}, "
            f"minimum={self.minimum!r}, maximum={self.maximum!r})"
        )


def field_with(
    default: Any,
    *,
    choices: tuple[Any, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    doc: str = "",
) -> Any:
    """A keyword's default with validation constraints (allowed choices, inclusive bounds)."""
    return ParamField(default, choices=choices, minimum=minimum, maximum=maximum, doc=doc)


class Params:
    """Base of the extractors' and reducers' keyword classes.

    A subclass declares each keyword as an annotated class attribute with its default (a plain
    value, or :func:`field_with` for constraints). Instances take keywords only, are frozen, and
    compare, hash and print by their values; a ``__post_init__`` method, if defined, checks them.
    Not a dataclass: creating the classes and importing :mod:`dataclasses` (with
    :mod:`inspect` and :mod:`ast`) cost every command's start ≈ 45 M instructions (≈ 10 ms),
    and a reduce makes its params once.

    >>> class Demo(Params):
    ...     pairs: bool = False
    >>> Demo(pairs=True)
    Demo(pairs=True)
    >>> Demo() == Demo(pairs=False), Demo().pairs
    (True, False)
    >>> Demo(pairs=True).pairs = False
    Traceback (most recent call last):
    ...
    AttributeError: Demo is frozen: cannot set 'pairs'
    >>> Demo(pair=True)
    Traceback (most recent call last):
    ...
    TypeError: Demo() got an unexpected keyword argument 'pair'
    """

    #: The declared keywords, by name, in declaration order (base classes' first).
    __params_fields__: dict[str, ParamField] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        fields = dict(cls.__params_fields__)
        for name in cls.__dict__.get("__annotations__", {}):
            if name not in cls.__dict__:
                raise TypeError(f"{cls.__name__}.{name}: every keyword needs a default")
            declared = cls.__dict__[name]
            field = declared if isinstance(declared, ParamField) else ParamField(declared)
            field.name = name
            setattr(cls, name, field.default)  # the class reads as its defaults, as a dataclass
            fields[name] = field
        cls.__params_fields__ = fields

    def __init__(self, **values: Any) -> None:
        fields = self.__params_fields__
        for name in values:
            if name not in fields:
                raise TypeError(
                    f"{type(self).__name__}() got an unexpected keyword argument {name!r}"
                )
        # every keyword in the instance's dict, as a dataclass's: reads find it there first
        vars(self).update({name: values.get(name, f.default) for name, f in fields.items()})
        post_init = getattr(self, "__post_init__", None)
        if post_init is not None:
            post_init()

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__params_fields__)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        values = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__params_fields__)
        return f"{type(self).__qualname__}({values})"


def param_fields(params_cls: type) -> dict[str, ParamField]:
    """The declared keyword fields of a :class:`Params` class, by name."""
    return dict(params_cls.__params_fields__)  # type: ignore[attr-defined]


def params_to_dict(params: Any) -> dict[str, Any]:
    """Plain-dict view of a params instance (JSON-able when its fields are).

    >>> class Demo(Params):
    ...     n: int = 2
    >>> params_to_dict(Demo())
    {'n': 2}
    """
    return {name: getattr(params, name) for name in params.__params_fields__}


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
        choices = f.choices
        if choices is not None and converted not in choices:
            raise InvalidParameterError(
                f"{owner}: {name!r} must be one of {', '.join(map(repr, choices))}, got {value!r}"
            )
        minimum = f.minimum
        if minimum is not None and converted is not None and converted < minimum:
            raise InvalidParameterError(f"{owner}: {name!r} must be >= {minimum}, got {value!r}")
        maximum = f.maximum
        if maximum is not None and converted is not None and converted > maximum:
            raise InvalidParameterError(f"{owner}: {name!r} must be <= {maximum}, got {value!r}")
        values[name] = converted
    return params_cls(**values)
