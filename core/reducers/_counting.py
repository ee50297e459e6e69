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
    """``value`` read the way ``collections.Counter(value)`` reads it, checked for a JSON state.

    A mapping is taken as answer -> count (counts must be numbers). A list, or a string, counts
    its elements (a string's characters: garbage in, the reference's garbage out). Anything
    else, or a non-string answer, raises :class:`~core.errors.MalformedExtractError`.

    >>> as_counts(["1", "1", "2"], reducer="r", what="answers")
    {'1': 2, '2': 1}
    """
    cid = getattr(record, "classification_id", None)

    def bad(reason: str) -> MalformedExtractError:
        return MalformedExtractError(f"{what}: {reason}", reducer=reducer, classification_id=cid)

    if isinstance(value, Mapping):
        for answer, count in value.items():
            if not isinstance(answer, str):
                raise bad(f"answers must be strings, got {answer!r:.80}")
            if not isinstance(count, int | float):
                raise bad(f"the count of {answer!r} must be a number, got {count!r:.80}")
        return value
    if isinstance(value, str | list | tuple):
        counts: dict[str, int] = {}
        for answer in value:
            if not isinstance(answer, str):
                raise bad(f"answers must be strings, got {answer!r:.80}")
            counts[answer] = counts.get(answer, 0) + 1
        return counts
    raise bad(f"expected an object of answer counts, got {value!r:.80}")


def add_counts(into: dict[str, Any], counts: Mapping[str, Any]) -> None:
    """Add ``counts`` into ``into`` in place; new answers go to the end."""
    for answer, count in counts.items():
        into[answer] = into.get(answer, 0) + count


def copy_counts(counts: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh dict with the same answers, counts and order."""
    return dict(counts)
