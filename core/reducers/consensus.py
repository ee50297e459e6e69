"""``consensus`` (Caesar's ``ConsensusReducer``): the most common extract, by its set of keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import MalformedExtractError
from core.params import Params
from core.registry import ExtractRecord, reducer
from core.ruby import blank, kind

__all__ = ["ConsensusParams", "VoteCounter", "consensus", "vote_key"]

_NAME = "consensus"
#: Written by panoptes-style extraction CSVs next to the extractor's own keys; not a vote.
IGNORED_KEYS = frozenset({"aggregation_version"})


class ConsensusParams(Params):
    """Keywords of ``consensus``.

    ignore_empty_extracts
        Skip extracts whose data is empty (``{}``) instead of counting them as a vote for ``""``.
    """

    ignore_empty_extracts: bool = False


def vote_key(record: ExtractRecord) -> str:
    """The vote an extract casts: its data's keys, sorted and ``'+'``-joined (``{"LION": 1,
    "BIRD": 1}`` votes ``"BIRD+LION"``); empty (or null) data votes ``""``."""
    data = record.data
    if data is None:
        return ""
    if not isinstance(data, Mapping):
        raise MalformedExtractError(
            f"extract data must be an object, got {kind(data)} {data!r:.80}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    keys = sorted(str(k) for k in data if k not in IGNORED_KEYS)
    return "+".join(keys)


def _vote(counts: dict[str, int], record: ExtractRecord, params: ConsensusParams) -> None:
    data = record.data
    if params.ignore_empty_extracts and (
        blank(data) or (isinstance(data, Mapping) and all(k in IGNORED_KEYS for k in data))
    ):
        return
    key = vote_key(record)
    counts[key] = counts.get(key, 0) + 1


def _result(counts: Mapping[str, int]) -> dict[str, Any]:
    most_likely, num_votes = None, 0
    for key, n in counts.items():
        if most_likely is None or not num_votes > n:  # a tie goes to the later key (Caesar's max)
            most_likely, num_votes = key, n
    if num_votes == 0:
        return {"num_votes": 0}
    return {
        "most_likely": most_likely,
        "num_votes": num_votes,
        "agreement": num_votes / sum(counts.values()),
    }


class VoteCounter:
    """Incremental form: ``{"counts": {vote key: n}}`` in first-seen order (Caesar's ``store``).

    ``merge(a, b)`` keeps a's keys first, then b's new ones. One entry per distinct vote key.

    Examples
    --------
    >>> p = ConsensusParams()
    >>> s = VoteCounter.init(p)
    >>> for d in ({"LION": 1}, {"HOG": 1}, {"LION": 1}):
    ...     s = VoteCounter.add(s, ExtractRecord(d), p)
    >>> s, VoteCounter.result(s, p)
    ({'counts': {'LION': 2, 'HOG': 1}}, {'most_likely': 'LION', 'num_votes': 2, 'agreement': 0.6666666666666666})
    """

    state_version = 1
    order_sensitive = False  # only which of several tied keys wins depends on the order

    @staticmethod
    def init(params: ConsensusParams) -> dict[str, Any]:
        return {"counts": {}}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: ConsensusParams) -> dict:
        counts = dict(state["counts"])
        _vote(counts, record, params)
        return {"counts": counts}

    @staticmethod
    def merge(a: dict, b: dict, params: ConsensusParams) -> dict:
        counts = dict(a["counts"])
        for key, n in b["counts"].items():
            counts[key] = counts.get(key, 0) + n
        return {"counts": counts}

    @staticmethod
    def result(state: dict, params: ConsensusParams) -> dict[str, Any]:
        return _result(state["counts"])


@reducer(_NAME, params=ConsensusParams, incremental=VoteCounter)
def consensus(records: Sequence[ExtractRecord], params: ConsensusParams) -> dict[str, Any]:
    """Caesar's ``consensus``: which set of answers most extracts gave, and how strongly.

    Parameters
    ----------
    records
        Extracts whose data's *keys* are the answers (``question`` or ``survey`` extracts).
    params
        ``ignore_empty_extracts`` (see :class:`ConsensusParams`).

    Returns
    -------
    dict
        ``{"most_likely": vote key, "num_votes": n, "agreement": n / total votes}``, or
        ``{"num_votes": 0}`` when nothing was counted. The vote key is the data's keys sorted and
        joined with ``'+'``, so an extract naming LION and BIRD is one vote for ``"BIRD+LION"``
        and an empty extract a vote for ``""`` (unless ``ignore_empty_extracts``).

    Notes
    -----
    A tie goes to the tied key that was seen *last* for the first time, i.e. the later one in
    first-seen order: Caesar's ``CountingHash#max`` keeps the running maximum only while it is
    strictly greater. The quirk is kept so that rules written against Caesar fire on the same
    subjects. (In Caesar's running mode the order comes back from Postgres jsonb, which sorts
    keys by length first, after every reload; Tally always uses first-seen order.) The
    ``aggregation_version`` key of panoptes-style extraction CSVs is not a vote.

    Examples
    --------
    >>> recs = [ExtractRecord({"LION": 1}), ExtractRecord({"HOG": 1}), ExtractRecord({"LION": 1})]
    >>> consensus(recs, ConsensusParams())
    {'most_likely': 'LION', 'num_votes': 2, 'agreement': 0.6666666666666666}
    >>> consensus(recs[:2], ConsensusParams())  # a tie: the later key wins
    {'most_likely': 'HOG', 'num_votes': 1, 'agreement': 0.5}
    >>> consensus([ExtractRecord({})], ConsensusParams(ignore_empty_extracts=True))
    {'num_votes': 0}
    """
    counts: dict[str, int] = {}
    for record in records:
        _vote(counts, record, params)
    return _result(counts)
