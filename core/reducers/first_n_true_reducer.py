"""``first_n_true_reducer``: were the first n extracts all True (e.g. all tasks left empty)?"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.reducers._first_n import FirstNFlags, FirstNParams, first_flags
from core.registry import ExtractRecord, reducer

__all__ = ["FirstNTrueFlags", "FirstNTrueParams", "first_n_true_reducer"]

FirstNTrueParams = FirstNParams


def _decide(flags: list[bool], n: int) -> dict[str, bool]:
    return {"result": n > 0 and len(flags) >= n and all(flags)}


class FirstNTrueFlags(FirstNFlags):
    """Incremental form (order-sensitive): keeps the first ``n`` flags.

    Examples
    --------
    >>> p = FirstNTrueParams(n=2)
    >>> s = FirstNTrueFlags.init(p)
    >>> for flag in [True, True, False]:
    ...     s = FirstNTrueFlags.add(s, ExtractRecord({"result": flag}), p)
    >>> s, FirstNTrueFlags.result(s, p)
    ({'first': [True, True]}, {'result': True})
    """

    @staticmethod
    def result(state: dict, params: FirstNTrueParams) -> dict[str, Any]:
        return _decide(state["first"], params.n)


@reducer("first_n_true_reducer", params=FirstNTrueParams, incremental=FirstNTrueFlags)
def first_n_true_reducer(
    records: Sequence[ExtractRecord], params: FirstNTrueParams
) -> dict[str, Any]:
    """True iff ``n > 0``, there are at least ``n`` extracts and the first ``n`` are all True.

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
    >>> recs = [ExtractRecord({"result": True}), ExtractRecord({"result": True}), ExtractRecord({})]
    >>> first_n_true_reducer(recs, FirstNTrueParams(n=2))
    {'result': True}
    >>> first_n_true_reducer(recs, FirstNTrueParams(n=3))
    {'result': False}
    >>> first_n_true_reducer(recs, FirstNTrueParams())  # n = 0
    {'result': False}
    """
    return _decide(first_flags(records, params.n), params.n)
