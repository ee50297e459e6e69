"""``survey_extractor``: one extract per species (choice) identified in a survey task."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.extractors._common import (
    OBJECT,
    annotation_value,
    count_answers,
    first_annotation,
    iter_json,
)
from core.params import Params
from core.registry import extractor
from core.slug import slug

__all__ = ["SurveyParams", "survey_extractor"]


class SurveyParams(Params):
    task: str = "all"


@extractor("survey_extractor", params=SurveyParams, returns_list=True)
def survey_extractor(classification: Classification, params: SurveyParams) -> list[dict[str, Any]]:
    """One dict per choice in the task's first annotation: the slugged choice and its answers.

    Each sub-question ``Q`` becomes a key ``answers_<slug(Q)>`` holding its answers counted as
    ``question_extractor`` counts them. A task that was not answered gives ``[]``; each list
    item becomes its own row in CSV output.

    Parameters
    ----------
    classification : Classification
    params : SurveyParams
        ``task``: the survey task id.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T3", "value": [
    ...     {"choice": "ZEBRA", "answers": {"HOWMANY": "2", "BEHAVIOR": ["EATING", "RESTING"]}}]}])
    >>> survey_extractor(c, SurveyParams(task="T3"))
    [{'choice': 'zebra', 'answers_howmany': {'2': 1}, 'answers_behavior': {'eating': 1, 'resting': 1}}]
    """
    task = params.task
    annotation = first_annotation(classification, task)
    if annotation is None:
        return []
    value = annotation_value(classification, annotation, task)
    items = iter_json(value)
    if items is None:
        raise classification.error(
            f"a survey value must be a list of choices, got {value!r:.80}", task=task
        )
    extracts = []
    for item in items:
        if not isinstance(item, OBJECT) or not isinstance(item.get("choice"), str):
            raise classification.error(
                'each survey choice must be an object like {"choice": "ZEBRA", "answers": {...}}'
                f", got {item!r:.80}",
                task=task,
            )
        extract: dict[str, Any] = {"choice": slug(item["choice"])}
        if "answers" in item:
            answers = item["answers"]
            if not isinstance(answers, OBJECT):
                raise classification.error(
                    f"survey 'answers' must be an object of question -> answer, got {answers!r:.80}",
                    task=task,
                )
            for question, answer in answers.items():
                extract[f"answers_{slug(question)}"] = count_answers(answer, classification, task)
        extracts.append(extract)
    return extracts
