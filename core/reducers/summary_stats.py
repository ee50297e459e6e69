"""``summary_stats`` (Caesar's ``SummaryStatisticsReducer``): statistics of one numeric field."""

from __future__ import annotations

import bisect
import heapq
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import InvalidParameterError, MalformedExtractError
from core.params import Params
from core.registry import ExtractRecord, reducer
from core.ruby import RubyTypeError, blank, kind, to_f

__all__ = ["OPERATIONS", "SummaryStatsParams", "SummaryStatsState", "summary_stats"]

_NAME = "summary_stats"

#: Caesar's operations, in its own order.
OPERATIONS = (
    "count", "min", "max", "sum", "product", "mean", "sse", "variance", "stdev", "first",
    "median", "mode",
)  # fmt: skip
#: Operations that need every value (kept sorted in the incremental state).
_NEED_VALUES = frozenset({"sum", "product", "mean", "sse", "variance", "stdev", "median", "mode"})


class SummaryStatsParams(Params):
    """Keywords of ``summary_stats`` (both required).

    summarize_field
        ``"field"`` or ``"extractor_key.field"``: the extract key to summarise. With an
        extractor key, only that extractor's extracts count (the engine routes them; see
        :attr:`extractor_name`). ``"a.b.c"`` reads ``b``, as in Caesar.
    operations
        One operation or a list of them, from ``count, min, max, sum, product, mean, sse,
        variance, stdev, first, median, mode``; each appears once in the output, in the order
        given.
    """

    summarize_field: str = ""
    operations: str | tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.summarize_field or not self.summarize_field.strip():
            raise InvalidParameterError(
                f"{_NAME}: 'summarize_field' is required: the extract key to summarise, "
                "e.g. summarize_field: slider.value"
            )
        if self.summarize_field.endswith("."):
            raise InvalidParameterError(
                f"{_NAME}: 'summarize_field' must not end with '.', got {self.summarize_field!r}"
            )
        ops = (self.operations,) if isinstance(self.operations, str) else self.operations
        if not ops:
            raise InvalidParameterError(
                f"{_NAME}: 'operations' is required: one of, or a list of, {', '.join(OPERATIONS)}"
            )
        for op in ops:
            if op not in OPERATIONS:
                import difflib

                close = difflib.get_close_matches(str(op), OPERATIONS, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise InvalidParameterError(
                    f"{_NAME}: unknown operation {op!r}{hint}; valid operations: "
                    f"{', '.join(OPERATIONS)}"
                )

    @property
    def ops(self) -> tuple[str, ...]:
        """The operations, each once, in the order first given (Caesar's ``uniq``)."""
        ops = (self.operations,) if isinstance(self.operations, str) else self.operations
        return tuple(dict.fromkeys(ops))

    @property
    def extractor_name(self) -> str | None:
        """The extractor key before the first ``.``, or None (every extract counts)."""
        head, dot, _ = self.summarize_field.partition(".")
        return head if dot and head else None

    @property
    def field_name(self) -> str:
        """The data key read from each extract."""
        if self.extractor_name is None:
            return self.summarize_field
        return self.summarize_field.split(".")[1]


def _value(record: ExtractRecord, field: str) -> float | None:
    """The record's value as Ruby's ``to_f`` reads it; None when blank (skipped)."""
    data = record.data
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise MalformedExtractError(
            f"extract data must be an object, got {kind(data)} {data!r:.80}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    raw = data.get(field)
    if blank(raw):
        return None
    try:
        x = to_f(raw)
    except RubyTypeError as exc:
        raise MalformedExtractError(
            f"{field!r}: {exc}", reducer=_NAME, classification_id=record.classification_id
        ) from None
    if not math.isfinite(x):
        raise MalformedExtractError(
            f"{field!r}: {raw!r:.80} is not a finite number",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    return x


def _needs(params: SummaryStatsParams) -> tuple[bool, bool]:
    ops = set(params.ops)
    return bool(ops & _NEED_VALUES), "mode" in ops


def _init(params: SummaryStatsParams) -> dict[str, Any]:
    values, seen = _needs(params)
    return {
        "n": 0,
        "first": None,
        "min": None,
        "max": None,
        "values": [] if values else None,
        "seen": [] if seen else None,
    }


def _add(state: dict, x: float, *, in_place: bool) -> dict:
    """Fold the value ``x`` in; with ``in_place`` lists are appended to (the caller sorts)."""
    new = state if in_place else dict(state)
    new["first"] = x if new["n"] == 0 else new["first"]
    new["min"] = x if new["n"] == 0 or x < new["min"] else new["min"]
    new["max"] = x if new["n"] == 0 or x > new["max"] else new["max"]
    new["n"] += 1
    if new["values"] is not None:
        if in_place:
            new["values"].append(x)
        else:
            values = list(new["values"])
            bisect.insort(values, x)
            new["values"] = values
    if new["seen"] is not None and x not in new["seen"]:
        if in_place:
            new["seen"].append(x)
        else:
            new["seen"] = [*new["seen"], x]
    return new


def _mode(values: list[float], seen: list[float]) -> float:
    counts = Counter(values)
    best, best_n = seen[0], 0
    for x in seen:  # ascending stable sort by count, take the last: ties go to the later value
        if counts[x] >= best_n:
            best, best_n = x, counts[x]
    return best


def _result(state: dict, params: SummaryStatsParams) -> dict[str, Any]:
    n, values = state["n"], state["values"]
    out: dict[str, Any] = {}
    cache: dict[str, Any] = {}

    def mean() -> float | None:
        if "mean" not in cache:
            cache["mean"] = math.fsum(values) / n if n else None
        return cache["mean"]

    def sse() -> float | None:
        if "sse" not in cache:
            m = mean()
            cache["sse"] = math.fsum((v - m) ** 2 for v in values) if n else None
        return cache["sse"]

    def variance() -> float | None:
        return sse() / (n - 1) if n >= 2 else None

    for op in params.ops:
        if op == "count":
            out[op] = n
        elif op in ("min", "max", "first"):
            out[op] = state[op]
        elif op == "sum":
            out[op] = math.fsum(values) if n else None
        elif op == "product":
            out[op] = math.prod(values) if n else None
        elif op == "mean":
            out[op] = mean()
        elif op == "sse":
            out[op] = sse()
        elif op == "variance":
            out[op] = variance()
        elif op == "stdev":
            v = variance()
            out[op] = math.sqrt(v) if v is not None else None
        elif op == "median":
            out[op] = (values[(n - 1) // 2] + values[n // 2]) / 2.0 if n else None
        else:  # mode
            out[op] = _mode(values, state["seen"]) if n else None
    return out


class SummaryStatsState:
    """Incremental form: ``{"n", "first", "min", "max", "values", "seen"}``.

    ``count``, ``min``, ``max`` and ``first`` need O(1) state. The other operations need every
    value, as in Caesar (whose store keeps ``sorted_values`` for the median): ``values`` holds
    them sorted, one float per non-blank extract, so the state grows with the number of
    classifications; it is null when no such operation is asked for. ``seen`` (only for
    ``mode``) holds the distinct values in first-seen order, to break ties as Caesar does.
    Every result is computed from the sorted values, so folding, merging and reloading give the
    batch result exactly. Order-sensitive because of ``first`` and ``mode`` ties.

    Examples
    --------
    >>> p = SummaryStatsParams(summarize_field="v", operations=("count", "median"))
    >>> s = SummaryStatsState.init(p)
    >>> for v in (3, "1", None, 2):
    ...     s = SummaryStatsState.add(s, ExtractRecord({"v": v}), p)
    >>> s["values"], SummaryStatsState.result(s, p)
    ([1.0, 2.0, 3.0], {'count': 3, 'median': 2.0})
    """

    state_version = 1
    order_sensitive = True

    @staticmethod
    def init(params: SummaryStatsParams) -> dict[str, Any]:
        return _init(params)

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: SummaryStatsParams) -> dict:
        x = _value(record, params.field_name)
        return dict(state) if x is None else _add(state, x, in_place=False)

    @staticmethod
    def merge(a: dict, b: dict, params: SummaryStatsParams) -> dict:
        if b["n"] == 0:
            return dict(a)
        if a["n"] == 0:
            return dict(b)
        seen = None
        if a["seen"] is not None:
            seen = [*a["seen"], *(x for x in b["seen"] if x not in a["seen"])]
        return {
            "n": a["n"] + b["n"],
            "first": a["first"],
            "min": b["min"] if b["min"] < a["min"] else a["min"],
            "max": b["max"] if b["max"] > a["max"] else a["max"],
            "values": None if a["values"] is None else list(heapq.merge(a["values"], b["values"])),
            "seen": seen,
        }

    @staticmethod
    def result(state: dict, params: SummaryStatsParams) -> dict[str, Any]:
        return _result(state, params)


@reducer(_NAME, params=SummaryStatsParams, incremental=SummaryStatsState)
def summary_stats(records: Sequence[ExtractRecord], params: SummaryStatsParams) -> dict[str, Any]:
    """Caesar's ``summary_stats``: the requested statistics of ``data[field]`` over the extracts.

    Parameters
    ----------
    records
        Extracts holding the field (numbers, or text that Ruby's ``to_f`` reads: ``"2.5"`` is
        2.5, ``"12abc"`` is 12.0, ``"abc"`` is 0.0).
    params
        ``summarize_field`` and ``operations`` (see :class:`SummaryStatsParams`).

    Returns
    -------
    dict
        ``{operation: value}`` in the order the operations were given. Blank values (missing,
        null, ``false``, ``""``, ``[]``) are skipped; ``count`` is the number of values read.
        ``min``, ``max``, ``first``, ``sum``, ``mean``, ``median`` and ``mode`` are floats;
        ``sse`` is the sum of squared deviations from the mean; ``variance`` is ``sse/(n-1)``
        (null when n < 2) and ``stdev`` its square root; ``median`` averages the two middle
        values; ``mode`` is the most frequent value, a tie going to the value seen later for
        the first time (Caesar sorts by frequency and takes the last; Ruby's sort is not
        guaranteed stable, so Caesar's choice among ties is this one only where its sort is).

    Notes
    -----
    With no values, every operation but ``count`` is null; Caesar raises for ``sum``,
    ``product``, ``mean`` and ``mode`` there (Ruby's ``nil + 0``), which fails the reduction.
    Sums are correctly rounded (``math.fsum``) and the product is taken in ascending order, so
    results do not depend on arrival order; Caesar's left-to-right folds can differ in the last
    bits. ``true``, arrays and objects have no ``to_f`` in Ruby and raise here too.

    Examples
    --------
    >>> recs = [ExtractRecord({"v": x}) for x in (2, 4, "4", "")]
    >>> p = SummaryStatsParams(summarize_field="slider.v", operations=["mean", "variance", "mode", "mean"])
    >>> summary_stats(recs, p)
    {'mean': 3.3333333333333335, 'variance': 1.3333333333333333, 'mode': 4.0}
    >>> summary_stats([], SummaryStatsParams(summarize_field="v", operations="count"))
    {'count': 0}
    """
    state = _init(params)
    field = params.field_name
    for record in records:
        x = _value(record, field)
        if x is not None:
            _add(state, x, in_place=True)
    if state["values"] is not None:
        state["values"].sort()
    return _result(state, params)
