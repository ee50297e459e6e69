"""``survey_reducer``: one row per species (choice) marked, with its sub-question answer counts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.errors import MalformedExtractError
from core.params import Params
from core.reducers._counting import VERSION_KEY, add_counts, as_counts
from core.registry import ExtractRecord, reducer

__all__ = ["SurveyCounter", "SurveyReducerParams", "survey_reducer"]

_NAME = "survey_reducer"


class SurveyReducerParams(Params):
    """``survey_reducer`` takes no keywords."""


def _tally(state: dict, record: ExtractRecord, *, in_place: bool) -> None:
    """Count one survey row into ``state``; without ``in_place`` touched parts are replaced."""
    data = record.data
    if "choice" not in data:
        raise MalformedExtractError(
            f"a survey extract needs a 'choice' key, got keys {sorted(data)!r}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    choice = data["choice"]
    # Slugged choice ids can look like numbers or booleans ("10", "true"): read back from an
    # extraction CSV whose choice column holds only such ids, they are ints, floats or bools,
    # which the reference counts as they are. NaN (`choice != choice`) is a blank cell.
    if not isinstance(choice, str | int | float) or choice != choice:
        raise MalformedExtractError(
            f"a survey extract's 'choice' must be a string or number, got {choice!r:.80}",
            reducer=_NAME,
            classification_id=record.classification_id,
        )
    state["rows"] += 1
    choices = state["choices"]
    entry = choices.get(choice)
    if entry is None:
        entry = {"count": 0, "answers": {}}
    elif not in_place:
        entry = {"count": entry["count"], "answers": dict(entry["answers"])}
    choices[choice] = entry
    entry["count"] += 1
    answers = entry["answers"]
    for key, value in data.items():
        if key in ("choice", VERSION_KEY):
            continue
        counts = as_counts(value, reducer=_NAME, what=repr(key), record=record)
        totals = answers.get(key)
        if totals is None:
            totals = answers[key] = {}
        elif not in_place:
            totals = answers[key] = dict(totals)
        add_counts(totals, counts)


class SurveyCounter:
    """Incremental form: ``{"rows": n, "choices": {choice: {"count": k, "answers": {q: {a: n}}}}}``.

    Choices, questions and answers keep first-seen order, as the batch reducer outputs them.

    Examples
    --------
    >>> p = SurveyReducerParams()
    >>> s = SurveyCounter.add(SurveyCounter.init(p), ExtractRecord({"choice": "lion"}), p)
    >>> t = SurveyCounter.add(SurveyCounter.init(p), ExtractRecord({"choice": "lion"}), p)
    >>> SurveyCounter.result(SurveyCounter.merge(s, t, p), p)
    [{'choice': 'lion', 'total_vote_count': 2, 'choice_count': 2}]
    """

    state_version = 1
    order_sensitive = False

    @staticmethod
    def init(params: SurveyReducerParams) -> dict[str, Any]:
        return {"rows": 0, "choices": {}}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: SurveyReducerParams) -> dict:
        new = {"rows": state["rows"], "choices": dict(state["choices"])}
        _tally(new, record, in_place=False)
        return new

    @staticmethod
    def merge(a: dict, b: dict, params: SurveyReducerParams) -> dict:
        choices = {
            c: {"count": e["count"], "answers": {q: dict(n) for q, n in e["answers"].items()}}
            for c, e in a["choices"].items()
        }
        for choice, other in b["choices"].items():
            entry = choices.setdefault(choice, {"count": 0, "answers": {}})
            entry["count"] += other["count"]
            for key, counts in other["answers"].items():
                add_counts(entry["answers"].setdefault(key, {}), counts)
        return {"rows": a["rows"] + b["rows"], "choices": choices}

    @staticmethod
    def result(state: dict, params: SurveyReducerParams) -> list[dict[str, Any]]:
        out = []
        for choice, entry in state["choices"].items():
            row: dict[str, Any] = {
                "choice": choice,
                "total_vote_count": state["rows"],
                "choice_count": entry["count"],
            }
            for key, counts in entry["answers"].items():
                row[key] = dict(counts)
            out.append(row)
        return out


@reducer("survey_reducer", params=SurveyReducerParams, incremental=SurveyCounter, returns_list=True)
def survey_reducer(
    records: Sequence[ExtractRecord], params: SurveyReducerParams
) -> list[dict[str, Any]]:
    """One dict per choice marked: how often, out of how many rows, and the answers given.

    Parameters
    ----------
    records
        ``survey_extractor`` rows: ``{"choice": slug, "answers_<question>": {answer: n}, ...}``.
        A classification that marked two species contributes two rows.
    params
        None (see :class:`SurveyReducerParams`).

    Returns
    -------
    list of dict
        In first-seen choice order: ``choice``, ``total_vote_count`` (the number of survey
        **rows** for the subject, as in the reference, not of classifications), ``choice_count``
        (rows with this choice) and each ``answers_<question>`` summed over those rows.
        No rows give ``[]``.

    Notes
    -----
    Answer counts are summed. The reference's ``Counter`` arithmetic also drops totals that are
    not positive, which no extractor produces; such counts are kept here. A row without
    ``choice`` (or with a blank, list or dict one) raises :class:`~core.errors.MalformedExtractError`
    (the reference: ``KeyError``).

    Examples
    --------
    >>> recs = [
    ...     ExtractRecord({"choice": "zebra", "answers_howmany": {"1": 1}}),
    ...     ExtractRecord({"choice": "zebra", "answers_howmany": {"2": 1}}),
    ...     ExtractRecord({"choice": "lion"}),
    ... ]
    >>> for row in survey_reducer(recs, SurveyReducerParams()):
    ...     print(row)
    {'choice': 'zebra', 'total_vote_count': 3, 'choice_count': 2, 'answers_howmany': {'1': 1, '2': 1}}
    {'choice': 'lion', 'total_vote_count': 3, 'choice_count': 1}
    """
    state = SurveyCounter.init(params)
    for record in records:
        _tally(state, record, in_place=True)
    return SurveyCounter.result(state, params)
