"""The registry of extractors and reducers: a plain dict per family, filled by visible decorators.

A new extractor is one module under ``core/extractors/`` that decorates its function with
``@extractor("name", params=Params)``; a reducer likewise with ``@reducer(...)``. The packages
import every submodule at start-up, so registration needs nothing else.

>>> from core.registry import get_extractor, get_reducer
>>> get_extractor("question_extractor").name
'question_extractor'
>>> get_reducer("question_reducr")
Traceback (most recent call last):
...
core.errors.UnknownReducerError: unknown reducer 'question_reducr'; did you mean 'question_reducer'? ...
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

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


@dataclasses.dataclass(frozen=True, slots=True)
class ExtractRecord:
    """One extract as a reducer sees it: the extractor's data plus who made it and when.

    ``user_id`` is None for anonymous volunteers; ``created_at`` is the export's text
    (e.g. ``'2024-02-23 16:17:26 UTC'``), used for ordering and for ``first``/``last`` filters.
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


@dataclasses.dataclass(frozen=True)
class ExtractorSpec:
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


@dataclasses.dataclass(frozen=True)
class ReducerSpec:
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


EXTRACTORS: dict[str, ExtractorSpec] = {}
REDUCERS: dict[str, ReducerSpec] = {}


def extractor(name: str, *, params: type, returns_list: bool = False) -> Callable:
    """Register ``func`` as the extractor ``name``; a second use of a name raises."""

    def register(func: Callable) -> Callable:
        if name in EXTRACTORS:
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
        if name in REDUCERS:
            raise DuplicateNameError(f"reducer {name!r} is registered twice")
        REDUCERS[name] = ReducerSpec(name, func, params, incremental, returns_list)
        return func

    return register


def _load_all() -> None:
    # Importing the packages runs every module's decorator.
    import core.extractors  # noqa: F401
    import core.reducers  # noqa: F401


def get_extractor(name: str) -> ExtractorSpec:
    """The extractor registered as ``name``; unknown names suggest the nearest one."""
    _load_all()
    try:
        return EXTRACTORS[name]
    except KeyError:
        raise UnknownExtractorError(name, EXTRACTORS) from None


def get_reducer(name: str) -> ReducerSpec:
    """The reducer registered as ``name``; unknown names suggest the nearest one."""
    _load_all()
    try:
        return REDUCERS[name]
    except KeyError:
        raise UnknownReducerError(name, REDUCERS) from None
