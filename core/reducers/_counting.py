"""Helpers shared by the counting reducers (question, shortcut, consensus, survey, dropdown).

Counts are plain ``dict[str, number]`` kept in first-appearance order, which is the order the
reference's ``Counter`` arithmetic produces for the positive counts every extractor emits.

>>> answer_keys({"b": 1, "a": 1, "aggregation_version": "5.3.1"}, pairs=False)
['b', 'a']
>>> answer_keys({"b": 1, "a": 1}, pairs=True)
['a+b']
>>> answer_keys({}, pairs=True)  # a blank answer is counted as the empty combination
['']
>>> totals = {"a": 1}
>>> add_counts(totals, {"b": 2, "a": 1})
>>> totals
{'a': 2, 'b': 2}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.errors import MalformedExtractError

__all__ = ["VERSION_KEY", "add_counts", "answer_keys", "as_counts", "copy_counts"]

#: Every extract the reference writes carries this key; its reducers strip it before reducing.
VERSION_KEY = "aggregation_version"


def answer_keys(data: Mapping[str, Any], *, pairs: bool) -> list[str]:
    """The answers an extract votes for: its keys, or with ``pairs`` their sorted ``+``-join.

    The extract's values (how often an answer was given) are ignored, as in the reference.
    """
    keys = [k for k in data if k != VERSION_KEY]
    if pairs:
        return ["+".join(sorted(keys))]
    return keys


def as_counts(value: Any, *, reducer: str, what: str, record: Any = None) -> Mapping[str, Any]:
    """``value`` checked to be an answer -> count mapping with numeric counts."""
    cid = getattr(record, "classification_id", None)
    if not isinstance(value, Mapping):
        raise MalformedExtractError(
            f"{what} must be an object of answer counts, got {value!r:.80}",
            reducer=reducer,
            classification_id=cid,
        )
    for answer, count in value.items():
        if not isinstance(count, int | float):
            raise MalformedExtractError(
                f"{what}: the count of {answer!r} must be a number, got {count!r:.80}",
                reducer=reducer,
                classification_id=cid,
            )
    return value


def add_counts(into: dict[str, Any], counts: Mapping[str, Any]) -> None:
    """Add ``counts`` into ``into`` in place; new answers go to the end."""
    for answer, count in counts.items():
        into[answer] = into.get(answer, 0) + count


def copy_counts(counts: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh dict with the same answers, counts and order."""
    return dict(counts)
