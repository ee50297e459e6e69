"""``unique_count`` (Caesar's ``UniqueCountReducer``): how many distinct values a field took."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InvalidParameterError, MalformedExtractError
from core.params import Params
from core.registry import ExtractRecord, reducer
from core.ruby import RubyTypeError, kind, sort_join

__all__ = ["UniqueCountParams", "UniqueItems", "unique_count"]

_NAME = "unique_count"


class UniqueCountParams(Params):
    """Keywords of ``unique_count``.

    field
        The key of the extracts' data whose distinct values are counted (required).
    """

    field: str = ""

    def __post_init__(self) -> None:
        if not self.field:
            raise InvalidParameterError(
                f"{_NAME}: 'field' is required: the extract key whose distinct values are "
                "counted, e.g. field: choice"
            )


def _item(record: ExtractRecord, field: str) -> str:
    """The record's value as a canonical text key (distinct values give distinct keys)."""
    data = record.data
    if not isinstance(data, Mapping):
        raise MalformedExtractError(
            f"extract data must be an object, got {kind(data)} {data!r:.80}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    value = data.get(field)  # a missing field is nil, which Caesar counts as a value too
    if isinstance(value, list | tuple):
        try:
            value = sort_join(value)
        except RubyTypeError as exc:
            raise MalformedExtractError(
                f"{field!r}: {exc}", reducer=_NAME, classification_id=record.classification_id
            ) from None
    # JSON text tells 1 from 1.0 from "1" from true, like Ruby's eql?; objects ignore key order.
    return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=True)


class UniqueItems:
    """Incremental form: ``{"items": [sorted canonical keys of the distinct values]}``.

    Like Caesar's ``store["items"]`` the state holds every distinct value seen, so it grows with
    the number of distinct values (not with the number of classifications): small for a choice
    field, one entry per volunteer for a ``user_id`` field.

    Examples
    --------
    >>> p = UniqueCountParams(field="choice")
    >>> s = UniqueItems.init(p)
    >>> for c in ("lion", "hog", "lion"):
    ...     s = UniqueItems.add(s, ExtractRecord({"choice": c}), p)
    >>> s, UniqueItems.result(s, p)
    ({'items': ['"hog"', '"lion"']}, 2)
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: UniqueCountParams) -> dict[str, Any]:
        return {"items": []}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: UniqueCountParams) -> dict:
        item = _item(record, params.field)
        items = state["items"]
        if item in items:
            return {"items": list(items)}
        return {"items": sorted([*items, item])}

    @staticmethod
    def merge(a: dict, b: dict, params: UniqueCountParams) -> dict:
        return {"items": sorted(set(a["items"]) | set(b["items"]))}

    @staticmethod
    def result(state: dict, params: UniqueCountParams) -> int:
        return len(state["items"])


@reducer(_NAME, params=UniqueCountParams, incremental=UniqueItems)
def unique_count(records: Sequence[ExtractRecord], params: UniqueCountParams) -> int:
    """Caesar's ``unique_count``: the number of distinct values of ``data[field]``.

    Parameters
    ----------
    records
        Extracts whose data holds ``field``.
    params
        ``field``: the key to read (see :class:`UniqueCountParams`).

    Returns
    -------
    int
        A bare integer, not an object (Caesar's shape: rules cannot look into it with
        ``reducer_key.field``). Array values count as one value each: sorted and joined with
        ``'+'`` (``["b", "a"]`` and ``["a", "b"]`` are both ``"a+b"``). An extract without the
        field counts as the value ``null`` (Caesar's quirk, kept). Values differ as in Ruby's
        ``eql?``: ``1``, ``1.0`` and ``"1"`` are three values.

    Raises
    ------
    MalformedExtractError
        An array that Ruby could not sort (mixed kinds, e.g. ``[1, "a"]``), or data that is not
        an object.

    Examples
    --------
    >>> recs = [ExtractRecord({"choice": ["ZEBRA", "GNU"]}), ExtractRecord({"choice": ["GNU", "ZEBRA"]}),
    ...         ExtractRecord({"choice": "LION"}), ExtractRecord({})]
    >>> unique_count(recs, UniqueCountParams(field="choice"))
    3
    >>> unique_count([], UniqueCountParams(field="choice"))
    0
    """
    return len({_item(record, params.field) for record in records})
