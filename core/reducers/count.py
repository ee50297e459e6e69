"""``count`` (Caesar's ``CountReducer``): how many classifications and extracts a subject has."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.params import Params
from core.registry import ExtractRecord, reducer

__all__ = ["CountParams", "CountTally", "count"]


class CountParams(Params):
    """``count`` takes no keywords."""


class CountTally:
    """Incremental form: ``{"classifications": n, "extracts": m, "first": cid, "last": cid}``.

    O(1) state. A classification is counted when its id differs from the previous record's, so
    the fold equals the batch reducer (which counts *distinct* ids, as Caesar's ``uniq`` does)
    whenever the records of one classification arrive together. The engine guarantees that: it
    feeds a classification's extracts together, in ``(created_at, classification_id)`` order.
    Keeping every id seen instead would make the state grow with the subject's (or, for user
    reductions, the volunteer's) whole history, which is what this form avoids.
    ``merge(a, b)`` joins a run that straddles the split (a's last id equal to b's first).

    Examples
    --------
    >>> p = CountParams()
    >>> s = CountTally.init(p)
    >>> for cid in (1, 1, 2):
    ...     s = CountTally.add(s, ExtractRecord({}, classification_id=cid), p)
    >>> CountTally.result(s, p)
    {'classifications': 2, 'extracts': 3}
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: CountParams) -> dict[str, Any]:
        return {"classifications": 0, "extracts": 0, "first": None, "last": None}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: CountParams) -> dict:
        cid = record.classification_id
        empty = state["extracts"] == 0
        new_run = empty or _id_key(state["last"]) != _id_key(cid)
        return {
            "classifications": state["classifications"] + (1 if new_run else 0),
            "extracts": state["extracts"] + 1,
            "first": cid if empty else state["first"],
            "last": cid,
        }

    @staticmethod
    def merge(a: dict, b: dict, params: CountParams) -> dict:
        if a["extracts"] == 0:
            return dict(b)
        if b["extracts"] == 0:
            return dict(a)
        joined = 1 if _id_key(a["last"]) == _id_key(b["first"]) else 0
        return {
            "classifications": a["classifications"] + b["classifications"] - joined,
            "extracts": a["extracts"] + b["extracts"],
            "first": a["first"],
            "last": b["last"],
        }

    @staticmethod
    def result(state: dict, params: CountParams) -> dict[str, int]:
        return {"classifications": state["classifications"], "extracts": state["extracts"]}


@reducer("count", params=CountParams, incremental=CountTally)
def count(records: Sequence[ExtractRecord], params: CountParams) -> dict[str, int]:
    """Caesar's ``count``: distinct classifications and extracts among the records.

    Parameters
    ----------
    records
        Extracts of any extractor; only their ``classification_id`` is read.
    params
        None (see :class:`CountParams`).

    Returns
    -------
    dict
        ``{"classifications": distinct classification ids, "extracts": number of records}``, in
        that key order (Caesar's). Records without a classification id (machine extracts) count
        as one classification together, as Ruby's ``uniq`` counts ``nil`` once.

    Examples
    --------
    >>> recs = [ExtractRecord({"a": 1}, classification_id=c) for c in (7, 7, 8)]
    >>> count(recs, CountParams())
    {'classifications': 2, 'extracts': 3}
    >>> count([], CountParams())
    {'classifications': 0, 'extracts': 0}
    """
    distinct = {_id_key(r.classification_id) for r in records}
    return {"classifications": len(distinct), "extracts": len(records)}


def _id_key(cid: Any) -> Any:
    # Ruby's uniq uses eql?: 1 and 1.0 (or "1") are different ids; bool is not an int there.
    return (type(cid).__name__, cid)
