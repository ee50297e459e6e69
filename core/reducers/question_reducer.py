"""``question_reducer``: how many volunteers gave each answer (optionally, which volunteers)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.params import Params
from core.reducers._counting import VERSION_KEY, add_counts, answer_keys
from core.registry import ExtractRecord, reducer

__all__ = [
    "QuestionCounter",
    "QuestionReducerParams",
    "count_answers",
    "count_question",
    "question_reducer",
]


class QuestionReducerParams(Params):
    """Keywords of ``question_reducer`` (and ``shortcut_reducer``).

    pairs
        Count each extract's whole set of answers as one answer, ``'+'``-joined in sorted order
        (a blank extract then counts as the answer ``''``, as in the reference).
    track_user_ids
        Also list, per answer, the ``user_id`` of every extract that gave it (None for anonymous).
    """

    pairs: bool = False
    track_user_ids: bool = False


def _tally(state: dict, record: ExtractRecord, params: QuestionReducerParams, *, in_place: bool):
    """Count ``record`` into ``state``'s dicts (which the caller owns).

    ``in_place`` appends to the user-id lists; otherwise a touched list is replaced by a new one,
    so a shallow copy of the state can be updated without changing the original.
    """
    counts = state["counts"]
    user_ids = state["user_ids"]
    for key in answer_keys(record.data, pairs=params.pairs):
        counts[key] = counts.get(key, 0) + 1
        if params.track_user_ids:
            if in_place:
                user_ids.setdefault(key, []).append(record.user_id)
            else:
                user_ids[key] = [*user_ids.get(key, ()), record.user_id]


class QuestionCounter:
    """Incremental form: state ``{"counts": {answer: n}, "user_ids": {answer: [ids]}}``.

    Dict insertion order is first-seen order, which is also the batch reducer's key order.
    ``user_ids`` stays empty unless ``track_user_ids`` is set; with it the state grows by one id
    per answer given (bounded by the subject's number of classifications).

    Examples
    --------
    >>> p = QuestionReducerParams(track_user_ids=True)
    >>> s = QuestionCounter.add(QuestionCounter.init(p), ExtractRecord({"yes": 1}, user_id=4), p)
    >>> s = QuestionCounter.merge(s, QuestionCounter.add(s, ExtractRecord({"no": 1}), p), p)
    >>> QuestionCounter.result(s, p)
    {'yes': 2, 'user_ids_yes': [4, 4], 'no': 1, 'user_ids_no': [None]}
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: QuestionReducerParams) -> dict[str, Any]:
        return {"counts": {}, "user_ids": {}}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: QuestionReducerParams) -> dict:
        new = {"counts": dict(state["counts"]), "user_ids": dict(state["user_ids"])}
        _tally(new, record, params, in_place=False)
        return new

    @staticmethod
    def merge(a: dict, b: dict, params: QuestionReducerParams) -> dict:
        counts = dict(a["counts"])
        add_counts(counts, b["counts"])
        user_ids = dict(a["user_ids"])
        for key, ids in b["user_ids"].items():
            user_ids[key] = [*user_ids.get(key, ()), *ids]
        return {"counts": counts, "user_ids": user_ids}

    @staticmethod
    def result(state: dict, params: QuestionReducerParams) -> dict[str, Any]:
        # The reference writes each answer's id list right after its count.
        out: dict[str, Any] = {}
        for key, n in state["counts"].items():
            out[key] = n
            if params.track_user_ids:
                out[f"user_ids_{key}"] = list(state["user_ids"].get(key, ()))
        return out


def count_answers(extracts: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """How many extracts contain each answer, in first-seen order: ``count_question`` with the
    default params, straight from the extracts' data (a subtask reducer's work, per cluster).

    >>> count_answers([{"a": 1, "aggregation_version": "5.3.1"}, {"b": 1, "a": 1}])
    {'a': 2, 'b': 1}
    """
    counts: dict[str, int] = {}
    get = counts.get
    for data in extracts:
        for key in data:
            if key != VERSION_KEY:
                counts[key] = get(key, 0) + 1
    return counts


def count_question(
    records: Sequence[ExtractRecord], params: QuestionReducerParams
) -> dict[str, Any]:
    """The batch fold shared by ``question_reducer`` and ``shortcut_reducer``: O(records).

    >>> count_question([ExtractRecord({"a": 1, "aggregation_version": "5.3.1"}),
    ...                 ExtractRecord({"b": 1, "a": 1})], QuestionReducerParams())
    {'a': 2, 'b': 1}
    """
    if not params.pairs and not params.track_user_ids:  # the common case, inline
        return count_answers([record.data for record in records])
    state = QuestionCounter.init(params)
    for record in records:
        _tally(state, record, params, in_place=True)
    return QuestionCounter.result(state, params)


@reducer("question_reducer", params=QuestionReducerParams, incremental=QuestionCounter)
def question_reducer(
    records: Sequence[ExtractRecord], params: QuestionReducerParams
) -> dict[str, Any]:
    """Count, per answer, the extracts that contain it (the extract's own counts are ignored).

    Parameters
    ----------
    records
        ``question_extractor`` extracts (``{answer: count}``), with their ``user_id``.
    params
        ``pairs`` and ``track_user_ids``; see :class:`QuestionReducerParams`.

    Returns
    -------
    dict
        ``{answer: number of extracts}`` in first-seen order; with ``track_user_ids`` each answer
        is followed by ``user_ids_<answer>``. No extracts give ``{}``.

    Examples
    --------
    >>> recs = [ExtractRecord({"a": 1, "b": 1}, user_id=1), ExtractRecord({"a": 1}, user_id=2)]
    >>> question_reducer(recs, QuestionReducerParams())
    {'a': 2, 'b': 1}
    >>> question_reducer(recs, QuestionReducerParams(pairs=True))
    {'a+b': 1, 'a': 1}
    >>> question_reducer(recs, QuestionReducerParams(track_user_ids=True))
    {'a': 2, 'user_ids_a': [1, 2], 'b': 1, 'user_ids_b': [1]}
    """
    return count_question(records, params)
