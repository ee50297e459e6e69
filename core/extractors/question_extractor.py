"""``question_extractor``: count the answers of a single- or multiple-choice question."""

from __future__ import annotations

import dataclasses

from core.classification import Classification
from core.extractors._common import first_annotation_value
from core.registry import extractor
from core.slug import slug

__all__ = ["QuestionParams", "question_extractor"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class QuestionParams:
    task: str = "all"


def count_answers(value: object) -> dict[str, int]:
    """Slugged answer -> count; repeated answers add up, a blank answer gives ``{}``."""
    counts: dict[str, int] = {}
    if value is None:
        return counts
    answers = value if isinstance(value, list) else [value]
    for answer in answers:
        if isinstance(answer, dict):
            answer = answer.get("choice")
        key = slug(answer)
        counts[key] = counts.get(key, 0) + 1
    return counts


@extractor("question_extractor", params=QuestionParams)
def question_extractor(classification: Classification, params: QuestionParams) -> dict[str, int]:
    """Slugged answers of the task's first annotation, each counted once per time it was given.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T0", "value": ["Red", "Blue"]}])
    >>> question_extractor(c, QuestionParams(task="T0"))
    {'red': 1, 'blue': 1}
    """
    return count_answers(first_annotation_value(classification, params.task))
