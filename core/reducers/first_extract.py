"""``first_extract`` (Caesar's ``FirstExtractReducer``): the data of the earliest extract."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

from core.params import Params
from core.registry import ExtractRecord, reducer

__all__ = ["FirstExtract", "FirstExtractParams", "first_extract"]

_NAME = "first_extract"
#: Written by panoptes-style extraction CSVs next to the extractor's own keys; not data.
IGNORED_KEYS = frozenset({"aggregation_version"})


class FirstExtractParams(Params):
    """``first_extract`` takes no keywords."""


def _data(record: ExtractRecord) -> Any:
    data = record.data
    if data is None:
        return {}
    if isinstance(data, Mapping):
        return {k: copy.deepcopy(v) for k, v in data.items() if k not in IGNORED_KEYS}
    return copy.deepcopy(data)


class FirstExtract:
    """Incremental form: ``{"seen": bool, "data": first extract's data}``; never changes once
    set (as in Caesar's running mode). Order-sensitive: the engine feeds extracts in
    ``(created_at, classification_id)`` order, so "first" is the earliest classification.

    Examples
    --------
    >>> p = FirstExtractParams()
    >>> s = FirstExtract.add(FirstExtract.init(p), ExtractRecord({"a": 1}), p)
    >>> FirstExtract.result(FirstExtract.add(s, ExtractRecord({"b": 2}), p), p)
    {'a': 1}
    """

    state_version = 1
    order_sensitive = True

    @staticmethod
    def init(params: FirstExtractParams) -> dict[str, Any]:
        return {"seen": False, "data": None}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: FirstExtractParams) -> dict:
        if state["seen"]:
            return dict(state)
        return {"seen": True, "data": _data(record)}

    @staticmethod
    def merge(a: dict, b: dict, params: FirstExtractParams) -> dict:
        return dict(a) if a["seen"] else dict(b)

    @staticmethod
    def result(state: dict, params: FirstExtractParams) -> Any:
        return copy.deepcopy(state["data"]) if state["seen"] else {}


@reducer(_NAME, params=FirstExtractParams, incremental=FirstExtract)
def first_extract(records: Sequence[ExtractRecord], params: FirstExtractParams) -> Any:
    """Caesar's ``first_extract``: the data of the first record, as it is.

    Parameters
    ----------
    records
        Any extracts, earliest first (the engine sorts them by ``created_at``).
    params
        None (see :class:`FirstExtractParams`).

    Returns
    -------
    dict
        A copy of the first extract's data (``{}`` when there is none, or when its data is
        null). The ``aggregation_version`` key of panoptes-style extraction CSVs is dropped.

    Examples
    --------
    >>> recs = [ExtractRecord({"choice": "LION"}), ExtractRecord({"choice": "HOG"})]
    >>> first_extract(recs, FirstExtractParams())
    {'choice': 'LION'}
    >>> first_extract([], FirstExtractParams())
    {}
    """
    return _data(records[0]) if records else {}
