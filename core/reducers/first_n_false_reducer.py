"""``first_n_false_reducer``: were the first n extracts all False (e.g. some task answered)?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.reducers._first_n import FirstNFlags, FirstNParams, first_flags
from core.registry import ExtractRecord, reducer

__all__ = ["FirstNFalseFlags", "FirstNFalseParams", "first_n_false_reducer"]

FirstNFalseParams = FirstNParams


def _decide(flags: list[bool], n: int) -> dict[str, bool]:
    return {"result": n > 0 and len(flags) >= n and not any(flags)}


class FirstNFalseFlags(FirstNFlags):
    """Incremental form (order-sensitive): keeps the first ``n`` flags.

    Examples
    --------
    >>> p = FirstNFalseParams(n=2)
    >>> s = FirstNFalseFlags.init(p)
    >>> for flag in [False, False, True]:
    ...     s = FirstNFalseFlags.add(s, ExtractRecord({"result": flag}), p)
    >>> s, FirstNFalseFlags.result(s, p)
    ({'first': [False, False]}, {'result': True})
    """

    @staticmethod
    def result(state: dict, params: FirstNFalseParams) -> dict[str, Any]:
        return _decide(state["first"], params.n)


@reducer("first_n_false_reducer", params=FirstNFalseParams, incremental=FirstNFalseFlags)
def first_n_false_reducer(
    records: Sequence[ExtractRecord], params: FirstNFalseParams
) -> dict[str, Any]:
    """True iff ``n > 0``, there are at least ``n`` extracts and the first ``n`` are all False.

    Parameters
    ----------
    records
        Extracts with a boolean ``result`` (``all_tasks_empty_extractor``), in arrival order;
        an extract without ``result`` counts as False.
    params
        ``n``; see :class:`~core.reducers._first_n.FirstNParams`.

    Returns
    -------
    dict
        ``{"result": bool}``.

    Examples
    --------
    >>> recs = [ExtractRecord({"result": False}), ExtractRecord({}), ExtractRecord({"result": True})]
    >>> first_n_false_reducer(recs, FirstNFalseParams(n=2))
    {'result': True}
    >>> first_n_false_reducer(recs, FirstNFalseParams(n=3))
    {'result': False}
    """
    return _decide(first_flags(records, params.n), params.n)
