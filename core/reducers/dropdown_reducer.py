"""``dropdown_reducer``: per select list of a dropdown task, how often each option was chosen."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import MalformedExtractError
from core.params import Params
from core.reducers._counting import add_counts, as_counts
from core.registry import ExtractRecord, reducer

__all__ = ["DropdownCounter", "DropdownReducerParams", "dropdown_reducer"]

_NAME = "dropdown_reducer"


class DropdownReducerParams(Params):
    """``dropdown_reducer`` takes no keywords."""


def _tally(state: dict, record: ExtractRecord, *, in_place: bool) -> None:
    """Add one extract's per-list counts; without ``in_place`` touched dicts are replaced."""
    data = record.data
    if "value" not in data:  # a blank dropdown task
        return
    lists = data["value"]
    if not isinstance(lists, list | tuple):
        raise MalformedExtractError(
            f"a dropdown extract's 'value' must be a list (one entry per select list), "
            f"got {lists!r:.80}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    state["seen"] = True
    totals = state["value"]
    for i, counts in enumerate(lists):
        counts = as_counts(counts, reducer=_NAME, what=f"select list #{i}", record=record)
        if i == len(totals):
            totals.append({})
        elif not in_place:
            totals[i] = dict(totals[i])
        add_counts(totals[i], counts)


class DropdownCounter:
    """Incremental form: state ``{"seen": bool, "value": [{option: n}, ...]}``.

    ``seen`` records whether any non-blank extract arrived (the result is ``{}`` until then).

    Examples
    --------
    >>> p = DropdownReducerParams()
    >>> s = DropdownCounter.add(DropdownCounter.init(p), ExtractRecord({"value": [{"h1": 1}]}), p)
    >>> DropdownCounter.result(DropdownCounter.merge(s, s, p), p)
    {'value': [{'h1': 2}]}
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: DropdownReducerParams) -> dict[str, Any]:
        return {"seen": False, "value": []}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: DropdownReducerParams) -> dict:
        new = {"seen": state["seen"], "value": list(state["value"])}
        _tally(new, record, in_place=False)
        return new

    @staticmethod
    def merge(a: dict, b: dict, params: DropdownReducerParams) -> dict:
        value = [dict(counts) for counts in a["value"]]
        for i, counts in enumerate(b["value"]):
            if i == len(value):
                value.append({})
            add_counts(value[i], counts)
        return {"seen": a["seen"] or b["seen"], "value": value}

    @staticmethod
    def result(state: dict, params: DropdownReducerParams) -> dict[str, Any]:
        if not state["seen"]:
            return {}
        return {"value": [dict(counts) for counts in state["value"]]}


@reducer("dropdown_reducer", params=DropdownReducerParams, incremental=DropdownCounter)
def dropdown_reducer(
    records: Sequence[ExtractRecord], params: DropdownReducerParams
) -> dict[str, Any]:
    """Sum the option counts of each select list over all non-blank extracts.

    Parameters
    ----------
    records
        ``dropdown_extractor`` extracts: ``{"value": [{option: n}, ...]}`` with one dict per
        select list, or ``{}`` for a blank task (skipped).
    params
        None (see :class:`DropdownReducerParams`).

    Returns
    -------
    dict
        ``{"value": [{option: total}, ...]}`` (options in first-seen order), or ``{}`` when every
        extract was blank.

    Notes
    -----
    The reference stacks the extracts into a numpy array and sums along the first axis, so
    extracts with different numbers of select lists (e.g. ``{"value": []}``, which the extractor
    writes for a non-``dropdown-simple`` FEM annotation, next to ``{"value": [{...}]}``) make it
    raise ``ValueError``. Here list *i* of the result sums list *i* of every extract that has
    one, and the result is as long as the longest extract; equal-length input gives exactly the
    reference's output. Counts are summed; the reference's ``Counter`` arithmetic also drops
    totals that are not positive, which no extractor produces.

    Examples
    --------
    >>> recs = [
    ...     ExtractRecord({"value": [{"x": 1}, {"y": 1}]}),
    ...     ExtractRecord({"value": [{"x": 1}, {"z": 1}]}),
    ...     ExtractRecord({}),
    ... ]
    >>> dropdown_reducer(recs, DropdownReducerParams())
    {'value': [{'x': 2}, {'y': 1, 'z': 1}]}
    >>> dropdown_reducer([ExtractRecord({"value": [{"x": 1}]}), ExtractRecord({"value": []})],
    ...                  DropdownReducerParams())
    {'value': [{'x': 1}]}
    """
    state = DropdownCounter.init(params)
    for record in records:
        _tally(state, record, in_place=True)
    return DropdownCounter.result(state, params)
