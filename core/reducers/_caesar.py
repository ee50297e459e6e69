"""Helpers shared by the Caesar-compatible reducers (``count``, ``stats``, ``summary_stats``...).

:func:`grow` and :func:`total` keep a float sum *exactly*, as a short list of non-overlapping
partials (Shewchuk's algorithm, the one behind :func:`math.fsum`). A sum kept that way can be
split, merged and reloaded from JSON and still round to the same float, whatever the order the
values came in, which is what lets incremental states equal the batch result bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from core.errors import MalformedExtractError

__all__ = ["grow", "merge_partials", "total"]


def grow(partials: list[float], x: float, *, reducer: str, classification_id: Any = None) -> None:
    """Add ``x`` to the exact sum held in ``partials`` (in place)."""
    if not math.isfinite(x):
        raise MalformedExtractError(
            f"cannot sum the non-finite number {x!r}", reducer=reducer,
            classification_id=classification_id,
        )  # fmt: skip
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        hi = x + y
        if not math.isfinite(hi):
            raise MalformedExtractError(
                "the sum overflows a double", reducer=reducer, classification_id=classification_id
            )
        lo = y - (hi - x)
        if lo:
            partials[i] = lo
            i += 1
        x = hi
    partials[i:] = [x]


def merge_partials(a: Iterable[float], b: Iterable[float], *, reducer: str) -> list[float]:
    """The partials of the sum of two exact sums."""
    out = list(a)
    for x in b:
        grow(out, x, reducer=reducer)
    return out


def total(partials: Iterable[float]) -> float:
    """The correctly rounded value of an exact sum."""
    return math.fsum(partials)
