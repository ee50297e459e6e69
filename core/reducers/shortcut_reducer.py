"""``shortcut_reducer``: how many volunteers pressed each shortcut button."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.reducers.question_reducer import QuestionCounter, QuestionReducerParams, count_question
from core.registry import ExtractRecord, reducer

__all__ = ["ShortcutReducerParams", "shortcut_reducer"]

#: The reference registers a copy of ``question_reducer`` under this name; the keywords match.
ShortcutReducerParams = QuestionReducerParams


@reducer("shortcut_reducer", params=ShortcutReducerParams, incremental=QuestionCounter)
def shortcut_reducer(
    records: Sequence[ExtractRecord], params: ShortcutReducerParams
) -> dict[str, Any]:
    """Count, per shortcut, the ``shortcut_extractor`` extracts that contain it.

    Identical to ``question_reducer`` (``pairs``, ``track_user_ids``, output layout).

    Parameters
    ----------
    records
        ``shortcut_extractor`` extracts (``{shortcut: count}``), with their ``user_id``.
    params
        ``pairs`` and ``track_user_ids``; see ``QuestionReducerParams``.

    Returns
    -------
    dict
        ``{shortcut: number of extracts}`` in first-seen order (``{}`` for no extracts).

    Examples
    --------
    >>> recs = [ExtractRecord({"nothing-here": 1}), ExtractRecord({}), ExtractRecord({"nothing-here": 1})]
    >>> shortcut_reducer(recs, ShortcutReducerParams())
    {'nothing-here': 2}
    """
    return count_question(records, params)
