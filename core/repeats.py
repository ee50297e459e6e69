"""Which of a volunteer's repeated classifications of a subject are reduced (``-F``).

``first`` keeps, for every ``user_name``, the rows with that user's earliest ``created_at``;
``last`` the latest; ``all`` keeps everything. Rows at the same instant are all kept. The
filter runs per (subject, task) group, by ``user_name``, so anonymous volunteers (whose
``user_name`` is ``not-logged-in-<hash>``) are filtered too. This is what the reference's
documentation promises; its 5.3.1 code ignores the flag (docs/compatibility.md).

>>> from core.registry import ExtractRecord as R
>>> rows = [R({"a": 1}, user_name="u", created_at="2024-01-02 00:00:00 UTC"),
...         R({"b": 1}, user_name="u", created_at="2024-01-01 00:00:00 UTC"),
...         R({"c": 1}, user_name="v", created_at="2024-01-03 00:00:00 UTC")]
>>> [r.data for r in select_repeats(rows, "first")]
[{'b': 1}, {'c': 1}]
>>> [r.data for r in select_repeats(rows, "last")]
[{'a': 1}, {'c': 1}]
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the -F choices (REPEAT_MODES) are read by every command's parser
    from core.registry import ExtractRecord

__all__ = ["REPEAT_MODES", "RepeatMode", "select_repeats", "time_key"]

RepeatMode = Literal["first", "last", "all"]
REPEAT_MODES: tuple[str, ...] = ("first", "last", "all")

_TIME_PARTS = re.compile(r"\d+")
#: A UTC offset after the time of day (``+02:00``, ``-0530``): not fractional seconds.
_OFFSET = re.compile(r"\d:\d\d(?::\d\d(?:[.,]\d+)?)?\s*([+-])(\d\d):?(\d\d)\s*$")


@functools.lru_cache(maxsize=65536)
def time_key(created_at: str | None) -> tuple[int, ...]:
    """A sortable key for the export's ``created_at`` text, whatever its separators.

    Times with a UTC offset are keyed by their UTC instant, as pandas sorts them.

    >>> time_key("2024-02-23 16:17:26 UTC") == time_key("2024-02-23T16:17:26Z")
    True
    >>> time_key("2024-02-23 16:17:26.5 UTC") > time_key("2024-02-23 16:17:26 UTC")
    True
    >>> time_key("2021-03-01T11:30:00+02:00") == time_key("2021-03-01 09:30:00 UTC")
    True
    >>> time_key("2021-03-01T00:10:00.25-0530") == time_key("2021-03-01 05:40:00.25 UTC")
    True
    """
    if not created_at:
        return ()
    offset = _OFFSET.search(created_at)
    parts = _TIME_PARTS.findall(created_at if offset is None else created_at[: offset.start(1)])
    key = tuple(int(p) for p in parts[:6]) + (
        (int(parts[6].ljust(6, "0")[:6]),) if len(parts) > 6 else (0,)
    )
    if offset is not None and len(parts) >= 5:  # the offset regex needs hours and minutes
        sign = 1 if offset.group(1) == "+" else -1
        shift = datetime.timedelta(hours=int(offset.group(2)), minutes=int(offset.group(3)))
        fields = (*key[:5], key[5] if len(parts) > 5 else 0)
        try:
            utc = datetime.datetime(*fields) - sign * shift
        except (ValueError, OverflowError):  # not a calendar time: keyed as written
            return key
        key = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second, key[-1])
    return key


def select_repeats(records: Sequence[ExtractRecord], mode: str) -> list[ExtractRecord]:
    """Keep each user's first/last rows (ties kept); input order is preserved."""
    if mode == "all":
        return list(records)
    if mode not in REPEAT_MODES:
        raise ValueError(f"repeat filter must be one of {', '.join(REPEAT_MODES)}, got {mode!r}")
    chosen: dict[str, tuple[int, ...]] = {}
    for record in records:
        if record.user_name is None:
            continue
        key = time_key(record.created_at)
        best = chosen.get(record.user_name)
        if best is None or (key < best if mode == "first" else key > best):
            chosen[record.user_name] = key
    return [
        r for r in records if r.user_name is None or chosen[r.user_name] == time_key(r.created_at)
    ]
