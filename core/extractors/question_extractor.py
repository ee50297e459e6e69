"""``question_extractor``: count the answers of a single- or multiple-choice question."""

from __future__ import annotations

import dataclasses

from core.classification import Classification
from core.extractors._common import annotation_value, count_answers, first_annotation
from core.registry import extractor

__all__ = ["QuestionParams", "question_extractor"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuestionParams:
    task: str = "all"


@extractor("question_extractor", params=QuestionParams)
def question_extractor(classification: Classification, params: QuestionParams) -> dict[str, int]:
    """Labels of the answers in the task's first annotation, each counted per time it was given.

    Labels are slugs of the answer text; ``None``, booleans and integers (FEM answer indices)
    are written with ``str()``. Survey-style ``{"choice": ...}`` items count their choice, so
    this extractor also reads survey tasks (for user-skill weighting). A task that was not
    answered gives ``{}``; a ``null`` answer gives ``{'None': 1}``.

    Parameters
    ----------
    classification : Classification
    params : QuestionParams
        ``task``: the task id to read (``'all'``: the first annotation of any task).

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T0", "value": ["Red", "Blue", "Red"]}])
    >>> question_extractor(c, QuestionParams(task="T0"))
    {'red': 2, 'blue': 1}
    >>> fem = Classification.from_export([{"task": "T0", "taskType": "single", "value": 0}])
    >>> question_extractor(fem, QuestionParams(task="T0"))
    {'0': 1}
    >>> question_extractor(c, QuestionParams(task="T9"))
    {}
    """
    annotation = first_annotation(classification, params.task)
    if annotation is None:
        return {}
    value = annotation_value(classification, annotation, params.task)
    return count_answers(value, classification, params.task)
