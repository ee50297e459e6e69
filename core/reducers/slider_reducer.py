"""``slider_reducer``: mean, median and variance of the slider values given."""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Sequence
from typing import Any

from core.errors import MalformedExtractError
from core.params import Params
from core.registry import ExtractRecord, reducer

__all__ = ["SliderCollector", "SliderReducerParams", "slider_reducer"]

_NAME = "slider_reducer"
_NAN = float("nan")


class SliderReducerParams(Params):
    """``slider_reducer`` takes no keywords."""


def _value(record: ExtractRecord) -> float | None:
    """The extract's slider value as a float; None for a blank extract."""
    raw = record.data.get("slider_value")
    if raw is None:
        return None
    if isinstance(raw, int | float):  # bool too: numpy reads True as 1
        try:
            return float(raw)
        except OverflowError:
            pass
    elif isinstance(raw, str):
        try:
            return float(raw)
        except ValueError:
            pass
    raise MalformedExtractError(
        f"'slider_value' must be a number or a numeric string, got {raw!r:.80}",
        reducer=_NAME,
        classification_id=record.classification_id,
    )


def _add_value(state: dict, x: float, *, in_place: bool) -> dict:
    if math.isnan(x):
        key = "nan"
    elif math.isinf(x):
        key = "inf" if x > 0 else "-inf"
    else:
        if in_place:
            state["values"].append(x)
        else:
            values = list(state["values"])
            bisect.insort(values, x)
            state["values"] = values
        return state
    state[key] += 1
    return state


def _fsum(xs: Sequence[float]) -> float:
    # Correctly rounded, hence independent of the order the values arrived in.
    try:
        return math.fsum(xs)
    except OverflowError:  # finite values whose sum overflows: numpy gives +-inf too
        return sum(xs)


def _stats(state: dict) -> dict[str, float]:
    values, nans, infs, neg_infs = state["values"], state["nan"], state["inf"], state["-inf"]
    n = len(values) + nans + infs + neg_infs
    if n == 0:
        return {"slider_mean": _NAN, "slider_median": _NAN, "slider_var": _NAN}
    if nans or (infs and neg_infs):
        mean = _NAN
    elif infs or neg_infs:
        mean = math.inf if infs else -math.inf
    else:
        mean = _fsum(values) / n

    def sorted_at(i: int) -> float:  # the i-th value of the whole sorted multiset
        if i < neg_infs:
            return -math.inf
        i -= neg_infs
        return values[i] if i < len(values) else math.inf

    if nans:
        median = _NAN
    elif n % 2:
        median = sorted_at(n // 2)
    else:
        median = (sorted_at(n // 2 - 1) + sorted_at(n // 2)) / 2
    # An infinite x makes x - mean nan, so numpy's variance is nan then.
    finite = not (nans or infs or neg_infs)
    var = _fsum([(x - mean) * (x - mean) for x in values]) / n if finite else _NAN
    return {"slider_mean": mean, "slider_median": median, "slider_var": var}


class SliderCollector:
    """Incremental form: ``{"values": [sorted finite floats], "nan": k, "inf": k, "-inf": k}``.

    A median needs every value, so the state keeps them all (one float per classification of
    the subject, sorted, so ``merge`` is a linear merge and the state does not depend on
    arrival order). Non-finite values are only counted, which keeps the state valid JSON.

    Examples
    --------
    >>> p = SliderReducerParams()
    >>> s = SliderCollector.init(p)
    >>> for v in [3, 1, 2]:
    ...     s = SliderCollector.add(s, ExtractRecord({"slider_value": v}), p)
    >>> s
    {'values': [1.0, 2.0, 3.0], 'nan': 0, 'inf': 0, '-inf': 0}
    >>> SliderCollector.result(s, p)
    {'slider_mean': 2.0, 'slider_median': 2.0, 'slider_var': 0.6666666666666666}
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: SliderReducerParams) -> dict[str, Any]:
        return {"values": [], "nan": 0, "inf": 0, "-inf": 0}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: SliderReducerParams) -> dict:
        x = _value(record)
        new = dict(state)
        if x is not None:
            _add_value(new, x, in_place=False)
        return new

    @staticmethod
    def merge(a: dict, b: dict, params: SliderReducerParams) -> dict:
        return {
            "values": list(heapq.merge(a["values"], b["values"])),
            "nan": a["nan"] + b["nan"],
            "inf": a["inf"] + b["inf"],
            "-inf": a["-inf"] + b["-inf"],
        }

    @staticmethod
    def result(state: dict, params: SliderReducerParams) -> dict[str, float]:
        return _stats(state)


@reducer("slider_reducer", params=SliderReducerParams, incremental=SliderCollector)
def slider_reducer(
    records: Sequence[ExtractRecord], params: SliderReducerParams
) -> dict[str, float]:
    """Mean, median and population variance (numpy's ``var``, ddof 0) of the slider values.

    Parameters
    ----------
    records
        ``slider_extractor`` extracts: ``{"slider_value": number or numeric string}``.
    params
        None (see :class:`SliderReducerParams`).

    Returns
    -------
    dict
        ``slider_mean``, ``slider_median``, ``slider_var`` as floats; all NaN when there are no
        values (the reference returns NaN too, with a numpy warning).

    Notes
    -----
    Sums are correctly rounded (``math.fsum``), so results do not depend on input order and
    agree with numpy's to the last bits. Where the reference raises instead, this reducer
    answers (see docs/compatibility.md): numeric strings such as ``"0.3"`` (how PFE stores a
    slider value, which an HTTP caller passes unconverted) are read as numbers, and blank
    extracts (``{}`` or a null value, the task was not answered) are skipped. Other values raise
    :class:`~core.errors.MalformedExtractError`.

    Examples
    --------
    >>> recs = [ExtractRecord({"slider_value": 1}), ExtractRecord({"slider_value": "2.5"})]
    >>> slider_reducer(recs, SliderReducerParams())
    {'slider_mean': 1.75, 'slider_median': 1.75, 'slider_var': 0.5625}
    >>> slider_reducer([], SliderReducerParams())
    {'slider_mean': nan, 'slider_median': nan, 'slider_var': nan}
    """
    state = SliderCollector.init(params)
    for record in records:
        x = _value(record)
        if x is not None:
            _add_value(state, x, in_place=True)
    state["values"].sort()
    return _stats(state)
