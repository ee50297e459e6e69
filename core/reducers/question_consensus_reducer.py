"""``question_consensus_reducer``: the most common answer, its vote count and its vote share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.params import Params
from core.reducers._counting import add_counts, answer_keys
from core.registry import ExtractRecord, reducer

__all__ = ["QuestionConsensusCounter", "QuestionConsensusParams", "question_consensus_reducer"]


class QuestionConsensusParams(Params):
    """Keywords of ``question_consensus_reducer``.

    pairs
        Treat each extract's whole set of answers as one answer (``'+'``-joined, sorted).
    """

    pairs: bool = False


def _tally(counts: dict[str, int], record: ExtractRecord, params: QuestionConsensusParams) -> None:
    for key in answer_keys(record.data, pairs=params.pairs):
        counts[key] = counts.get(key, 0) + 1


class QuestionConsensusCounter:
    """Incremental form: state ``{"counts": {answer: n}}`` in first-seen order.

    Not order-sensitive except for ties: like ``Counter.most_common``, a tie for the top count
    goes to the answer seen first.

    Examples
    --------
    >>> p = QuestionConsensusParams()
    >>> s = QuestionConsensusCounter.init(p)
    >>> for answer in ["no", "yes", "yes"]:
    ...     s = QuestionConsensusCounter.add(s, ExtractRecord({answer: 1}), p)
    >>> QuestionConsensusCounter.result(s, p)
    {'most_likely': 'yes', 'num_votes': 2, 'agreement': 0.6666666666666666}
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: QuestionConsensusParams) -> dict[str, Any]:
        return {"counts": {}}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: QuestionConsensusParams) -> dict:
        counts = dict(state["counts"])
        _tally(counts, record, params)
        return {"counts": counts}

    @staticmethod
    def merge(a: dict, b: dict, params: QuestionConsensusParams) -> dict:
        counts = dict(a["counts"])
        add_counts(counts, b["counts"])
        return {"counts": counts}

    @staticmethod
    def result(state: dict, params: QuestionConsensusParams) -> dict[str, Any]:
        counts = state["counts"]
        if not counts:
            return {"num_votes": 0}
        # max() keeps the first of equal counts, i.e. the answer seen first.
        top = max(counts, key=counts.__getitem__)
        return {
            "most_likely": top,
            "num_votes": counts[top],
            "agreement": counts[top] / sum(counts.values()),
        }


@reducer(
    "question_consensus_reducer",
    params=QuestionConsensusParams,
    incremental=QuestionConsensusCounter,
)
def question_consensus_reducer(
    records: Sequence[ExtractRecord], params: QuestionConsensusParams
) -> dict[str, Any]:
    """The answer given most often, how often, and its share of all answers given.

    Parameters
    ----------
    records
        ``question_extractor`` extracts (``{answer: count}``; the counts are ignored).
    params
        ``pairs``; see :class:`QuestionConsensusParams`.

    Returns
    -------
    dict
        ``most_likely`` (ties go to the answer seen first), ``num_votes`` (its count) and
        ``agreement`` (``num_votes`` over the total of all answers' counts, unrounded).
        With no answers at all: ``{"num_votes": 0}``.

    Examples
    --------
    >>> recs = [ExtractRecord({"yes": 1}), ExtractRecord({"no": 1}), ExtractRecord({"yes": 1})]
    >>> question_consensus_reducer(recs, QuestionConsensusParams())
    {'most_likely': 'yes', 'num_votes': 2, 'agreement': 0.6666666666666666}
    >>> question_consensus_reducer([], QuestionConsensusParams())
    {'num_votes': 0}
    """
    counts: dict[str, int] = {}
    for record in records:
        _tally(counts, record, params)
    return QuestionConsensusCounter.result({"counts": counts}, params)
