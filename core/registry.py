"""The registry of extractors and reducers: a plain dict per family, filled by visible decorators.

A new extractor is one module under ``core/extractors/`` that decorates its function with
``@extractor("name", params=Params)``; a reducer likewise with ``@reducer(...)``. The registry
imports the modules itself, so registration needs nothing else.

Modules load lazily: ``get_extractor(name)`` first imports only the module of that name
(``core/extractors/<name>.py``, the convention most modules follow; a function registered under
another name is found by loading the whole family), so ``tally reduce`` with a
question reducer never imports numpy. Anything that needs the whole family (iterating
``EXTRACTORS``/``REDUCERS``, ``in``, ``len``, an unknown name's suggestion) imports every module
first, so the registry always looks complete from outside.

>>> from core.registry import get_extractor, get_reducer
>>> get_extractor("question_extractor").name
'question_extractor'
>>> get_reducer("question_reducr")
Traceback (most recent call last):
...
core.errors.UnknownReducerError: unknown reducer 'question_reducr'; did you mean 'question_reducer'? ...
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, NamedTuple, Protocol

from core.errors import DuplicateNameError, UnknownExtractorError, UnknownReducerError
from core.params import parse_params

__all__ = [
    "EXTRACTORS",
    "REDUCERS",
    "ExtractRecord",
    "ExtractorSpec",
    "Incremental",
    "ReducerSpec",
    "extractor",
    "get_extractor",
    "get_reducer",
    "reducer",
]

Extract = dict[str, Any]
Reduction = dict[str, Any]


# The records and specs are named tuples, not frozen dataclasses: as immutable, but a reduce
# makes one record per extraction row, 2.5x faster (a frozen dataclass sets each field through
# object.__setattr__), and each dataclass costs every start 0.5-1 ms to create.


class ExtractRecord(NamedTuple):
    """One extract as a reducer sees it: the extractor's data plus who made it and when.

    ``user_id`` is None for anonymous volunteers; ``created_at`` is the export's text
    (e.g. ``'2024-02-23 16:17:26 UTC'``), used for ordering and for ``first``/``last`` filters.

    >>> ExtractRecord({"choice": "LION"}, user_name="u").user_name
    'u'
    """

    data: Mapping[str, Any]
    user_id: int | None = None
    created_at: str | None = None
    classification_id: int | None = None
    user_name: str | None = None


class Incremental(Protocol):
    """Pure incremental form of a reducer: state in, new state out, JSON-able state.

    ``result(fold(add, init(p), records), p)`` equals the batch reducer on ``records``;
    ``merge`` is associative with ``init`` as identity (``merge(a, b)`` means a's records came
    first). No method mutates its arguments.

    ``order_sensitive`` is True when the result depends on the order records are added beyond
    first-appearance order of keys and ties (e.g. "the first n extracts"); the engine feeds
    records in ``created_at`` order, and such reducers are not checked for permutation invariance.
    """

    state_version: int
    order_sensitive: bool

    def init(self, params: Any) -> Any: ...

    def add(self, state: Any, record: ExtractRecord, params: Any) -> Any: ...

    def merge(self, a: Any, b: Any, params: Any) -> Any: ...

    def result(self, state: Any, params: Any) -> Reduction | list[Reduction]: ...


class ExtractorSpec(NamedTuple):
    """A registered extractor: ``func(classification, params) -> dict | list[dict]``."""

    name: str
    func: Callable[..., Extract | list[Extract]]
    params: type
    returns_list: bool = False

    def parse_params(self, raw: Mapping[str, Any] | None) -> Any:
        return parse_params(self.params, raw, owner=self.name)

    def __call__(self, classification: Any, params: Any = None) -> Extract | list[Extract]:
        if params is None or isinstance(params, Mapping):
            params = self.parse_params(params)
        return self.func(classification, params)


class ReducerSpec(NamedTuple):
    """A registered reducer: ``func(records, params) -> dict | list[dict]``.

    ``incremental`` is the pure init/add/merge/result form for counting reducers; clustering
    reducers have none and are recomputed from the subject's stored extracts.
    """

    name: str
    func: Callable[..., Reduction | list[Reduction]]
    params: type
    incremental: Incremental | None = None
    returns_list: bool = False

    def parse_params(self, raw: Mapping[str, Any] | None) -> Any:
        return parse_params(self.params, raw, owner=self.name)

    def __call__(
        self, records: Sequence[ExtractRecord], params: Any = None
    ) -> Reduction | list[Reduction]:
        if params is None or isinstance(params, Mapping):
            params = self.parse_params(params)
        return self.func(records, params)


class _Family(dict):  # type: ignore[type-arg]
    """A registry dict that imports its package's modules on first need (see module docstring).

    Reads that must see every function (iteration, ``in``, ``len``, views, ``get`` and ``[]``
    of a name not loaded yet) load the whole package; ``load(name)`` imports just one module.
    """

    def __init__(self, package: str) -> None:
        super().__init__()
        self.package = package
        self.complete = False

    def load_all(self) -> None:
        if not self.complete:
            import pkgutil  # here: a batch command loads one module by name (pkgutil: 2-20 M)

            package = importlib.import_module(self.package)
            for module in pkgutil.iter_modules(package.__path__):
                if not module.name.startswith("_"):
                    importlib.import_module(f"{self.package}.{module.name}")
            self.complete = True

    def load(self, name: str) -> None:
        """Import the module named like ``name`` if it exists and ``name`` is not loaded yet."""
        if dict.__contains__(self, name) or self.complete:
            return
        if isinstance(name, str) and name.isidentifier() and not name.startswith("_"):
            module = f"{self.package}.{name}"
            import importlib.util  # here: see load_all

            if importlib.util.find_spec(module) is not None:
                importlib.import_module(module)

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        return super().__iter__()

    def __len__(self) -> int:
        self.load_all()
        return super().__len__()

    def __contains__(self, name: object) -> bool:
        if dict.__contains__(self, name):
            return True
        self.load_all()
        return dict.__contains__(self, name)

    def __getitem__(self, name: str) -> Any:
        try:
            return dict.__getitem__(self, name)
        except KeyError:
            self.load_all()
            return dict.__getitem__(self, name)

    def get(self, name: str, default: Any = None) -> Any:
        if not dict.__contains__(self, name):
            self.load_all()
        return dict.get(self, name, default)

    def keys(self) -> Any:
        self.load_all()
        return super().keys()

    def values(self) -> Any:
        self.load_all()
        return super().values()

    def items(self) -> Any:
        self.load_all()
        return super().items()

    def __repr__(self) -> str:
        self.load_all()
        return super().__repr__()


EXTRACTORS: dict[str, ExtractorSpec] = _Family("core.extractors")
REDUCERS: dict[str, ReducerSpec] = _Family("core.reducers")


def extractor(name: str, *, params: type, returns_list: bool = False) -> Callable:
    """Register ``func`` as the extractor ``name``; a second use of a name raises."""

    def register(func: Callable) -> Callable:
        if dict.__contains__(EXTRACTORS, name):
            raise DuplicateNameError(f"extractor {name!r} is registered twice")
        EXTRACTORS[name] = ExtractorSpec(name, func, params, returns_list)
        return func

    return register


def reducer(
    name: str,
    *,
    params: type,
    incremental: Incremental | None = None,
    returns_list: bool = False,
) -> Callable:
    """Register ``func`` as the reducer ``name``; a second use of a name raises."""

    def register(func: Callable) -> Callable:
        if dict.__contains__(REDUCERS, name):
            raise DuplicateNameError(f"reducer {name!r} is registered twice")
        REDUCERS[name] = ReducerSpec(name, func, params, incremental, returns_list)
        return func

    return register


def _lookup(family: _Family, name: str) -> Any:
    family.load(name)
    return dict.get(family, name)


def get_extractor(name: str) -> ExtractorSpec:
    """The extractor registered as ``name``; unknown names suggest the nearest one."""
    spec = _lookup(EXTRACTORS, name)  # type: ignore[arg-type]
    if spec is None and name not in EXTRACTORS:  # ``in`` loads every module
        raise UnknownExtractorError(name, EXTRACTORS)
    return spec or EXTRACTORS[name]


def get_reducer(name: str) -> ReducerSpec:
    """The reducer registered as ``name``; unknown names suggest the nearest one."""
    spec = _lookup(REDUCERS, name)  # type: ignore[arg-type]
    if spec is None and name not in REDUCERS:
        raise UnknownReducerError(name, REDUCERS)
    return spec or REDUCERS[name]
