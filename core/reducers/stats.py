"""``stats`` (Caesar's ``StatsReducer``): the sum of every key of the extracts' data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import MalformedExtractError
from core.params import Params
from core.reducers._caesar import grow, merge_partials, total
from core.registry import ExtractRecord, reducer
from core.ruby import kind

__all__ = ["StatsParams", "StatsSummer", "stats"]

_NAME = "stats"
#: Written by panoptes-style extraction CSVs next to the extractor's own keys; not data.
IGNORED_KEYS = frozenset({"aggregation_version"})


class StatsParams(Params):
    """``stats`` takes no keywords."""


def _items(record: ExtractRecord):
    data = record.data
    if not isinstance(data, Mapping):
        raise MalformedExtractError(
            f"extract data must be an object of numbers, got {kind(data)} {data!r:.80}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    for key, value in data.items():
        if key in IGNORED_KEYS:
            continue
        if isinstance(value, bool):
            yield key, int(value)
        elif isinstance(value, int | float):
            yield key, value
        else:
            raise MalformedExtractError(
                f"key {key!r} holds {kind(value)} {value!r:.80}; stats sums numbers "
                "(true counts 1, false 0)",
                reducer=_NAME,
                classification_id=record.classification_id,
            )


def _add(sums: dict, record: ExtractRecord) -> None:
    """Fold ``record`` into ``sums`` (``{key: {"i": int, "f": partials or None}}``) in place;
    touched entries are replaced, never mutated, so a shallow copy of ``sums`` may be passed."""
    for key, value in _items(record):
        entry = sums.get(key) or {"i": 0, "f": None}
        if isinstance(value, int):
            sums[key] = {"i": entry["i"] + value, "f": entry["f"]}
        else:
            partials = list(entry["f"] or ())
            grow(partials, value, reducer=_NAME, classification_id=record.classification_id)
            sums[key] = {"i": entry["i"], "f": partials}


def _result(sums: Mapping[str, Any]) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for key, entry in sums.items():
        out[key] = entry["i"] if entry["f"] is None else total([*entry["f"], entry["i"]])
    return out


class StatsSummer:
    """Incremental form: ``{"sums": {key: {"i": integer part, "f": float partials or null}}}``.

    Integers add exactly; floats are kept as an exact sum (a few partials, see
    ``core.reducers._caesar``), so folding, merging and reloading give the batch result to the
    bit. Key order is first-seen order, as in Caesar. The state has one entry per distinct key.

    Examples
    --------
    >>> p = StatsParams()
    >>> s = StatsSummer.add(StatsSummer.init(p), ExtractRecord({"a": 1, "b": True}), p)
    >>> s = StatsSummer.merge(s, StatsSummer.add(s, ExtractRecord({"a": 0.5}), p), p)
    >>> StatsSummer.result(s, p)
    {'a': 2.5, 'b': 2}
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: StatsParams) -> dict[str, Any]:
        return {"sums": {}}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: StatsParams) -> dict:
        sums = dict(state["sums"])
        _add(sums, record)
        return {"sums": sums}

    @staticmethod
    def merge(a: dict, b: dict, params: StatsParams) -> dict:
        sums = dict(a["sums"])
        for key, entry in b["sums"].items():
            mine = sums.get(key)
            if mine is None:
                sums[key] = {"i": entry["i"], "f": None if entry["f"] is None else list(entry["f"])}
                continue
            floats = (
                mine["f"] if entry["f"] is None
                else entry["f"] if mine["f"] is None
                else merge_partials(mine["f"], entry["f"], reducer=_NAME)
            )  # fmt: skip
            sums[key] = {"i": mine["i"] + entry["i"], "f": None if floats is None else list(floats)}
        return {"sums": sums}

    @staticmethod
    def result(state: dict, params: StatsParams) -> dict[str, int | float]:
        return _result(state["sums"])


@reducer(_NAME, params=StatsParams, incremental=StatsSummer)
def stats(records: Sequence[ExtractRecord], params: StatsParams) -> dict[str, int | float]:
    """Caesar's ``stats``: for every key of the extracts' data, the sum of its values.

    Parameters
    ----------
    records
        Extracts whose data maps keys to numbers, e.g. ``question`` or ``survey`` extracts
        (``{"LION": 1}``). ``true`` counts 1 and ``false`` 0, as in Caesar.
    params
        None (see :class:`StatsParams`).

    Returns
    -------
    dict
        ``{key: sum}`` in first-seen key order. A key whose values were all integers (or
        booleans) sums to an integer; once a float is seen the sum is a float (Ruby's
        Integer + Float). Float sums are correctly rounded (``math.fsum``), so they do not depend
        on the order the extracts arrive in; Caesar's left-to-right fold can differ from them in
        the last bits only. No records give ``{}``.

    Raises
    ------
    MalformedExtractError
        A value that is not a number or a boolean (Caesar raises a Ruby TypeError there), or an
        extract whose data is not an object. The ``aggregation_version`` key that panoptes-style
        extraction CSVs add is ignored.

    Examples
    --------
    >>> recs = [ExtractRecord({"LION": 1, "blank": False}), ExtractRecord({"LION": 1, "HOG": 2})]
    >>> stats(recs, StatsParams())
    {'LION': 2, 'blank': 0, 'HOG': 2}
    >>> stats([ExtractRecord({"x": "3"}, classification_id=9)], StatsParams())
    Traceback (most recent call last):
    ...
    core.errors.MalformedExtractError: stats, classification 9: key 'x' holds string '3'; ...
    """
    sums: dict[str, Any] = {}
    for record in records:
        _add(sums, record)
    return _result(sums)
