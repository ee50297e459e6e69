"""``question_reducer``: how many volunteers gave each answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from core.registry import ExtractRecord, reducer

__all__ = ["QuestionCounter", "QuestionReducerParams", "question_reducer"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuestionReducerParams:
    pairs: bool = False
    track_user_ids: bool = False


def _answer_keys(data: Mapping[str, Any], pairs: bool) -> list[str]:
    keys = [k for k in data if k != "aggregation_version"]
    if pairs:
        return ["+".join(sorted(keys))] if keys else []
    return keys


class QuestionCounter:
    """Incremental form: state ``{"counts": {answer: n}, "user_ids": {answer: [ids]}}``.

    Dict insertion order is first-seen order, which is also the batch reducer's key order.

    >>> p = QuestionReducerParams()
    >>> s = QuestionCounter.add(QuestionCounter.init(p), ExtractRecord({"yes": 1}), p)
    >>> QuestionCounter.result(s, p)
    {'yes': 1}
    """

    state_version = 1

    @staticmethod
    def init(params: QuestionReducerParams) -> dict[str, Any]:
        return {"counts": {}, "user_ids": {}}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: QuestionReducerParams) -> dict:
        counts = dict(state["counts"])
        user_ids = dict(state["user_ids"])
        for key in _answer_keys(record.data, params.pairs):
            counts[key] = counts.get(key, 0) + 1
            if params.track_user_ids:
                user_ids[key] = [*user_ids.get(key, []), record.user_id]
        return {"counts": counts, "user_ids": user_ids}

    @staticmethod
    def merge(a: dict, b: dict, params: QuestionReducerParams) -> dict:
        counts = dict(a["counts"])
        user_ids = dict(a["user_ids"])
        for key, n in b["counts"].items():
            counts[key] = counts.get(key, 0) + n
        for key, ids in b["user_ids"].items():
            user_ids[key] = [*user_ids.get(key, []), *ids]
        return {"counts": counts, "user_ids": user_ids}

    @staticmethod
    def result(state: dict, params: QuestionReducerParams) -> dict[str, Any]:
        out: dict[str, Any] = dict(state["counts"])
        if params.track_user_ids:
            for key, ids in state["user_ids"].items():
                out[f"user_ids_{key}"] = list(ids)
        return out


@reducer("question_reducer", params=QuestionReducerParams, incremental=QuestionCounter)
def question_reducer(
    records: Sequence[ExtractRecord], params: QuestionReducerParams
) -> dict[str, Any]:
    """Count, per answer, the extracts that contain it (the extract's own counts are ignored).

    Examples
    --------
    >>> recs = [ExtractRecord({"a": 1, "b": 1}), ExtractRecord({"a": 1})]
    >>> question_reducer(recs, QuestionReducerParams(pairs=True))
    {'a+b': 1, 'a': 1}
    """
    state = QuestionCounter.init(params)
    for record in records:
        state = QuestionCounter.add(state, record, params)
    return QuestionCounter.result(state, params)
