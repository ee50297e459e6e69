"""``shortcut_extractor``: count the shortcut answers ("Nothing here") of a task."""

from __future__ import annotations

from core.classification import Classification
from core.extractors.question_extractor import QuestionParams, question_extractor
from core.registry import extractor

__all__ = ["ShortcutParams", "shortcut_extractor"]

#: The reference registers a copy of ``question_extractor`` under this name; the keywords match.
ShortcutParams = QuestionParams


@extractor("shortcut_extractor", params=ShortcutParams)
def shortcut_extractor(classification: Classification, params: ShortcutParams) -> dict[str, int]:
    """Labels of the shortcut answers in the task's first annotation, each counted.

    Identical to ``question_extractor`` (labels, counting, ``{}`` when not answered).

    Parameters
    ----------
    classification : Classification
    params : ShortcutParams
        ``task``: the task id to read.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T4", "value": ["Nothing here"]}])
    >>> shortcut_extractor(c, ShortcutParams(task="T4"))
    {'nothing-here': 1}
    """
    return question_extractor(classification, params)
