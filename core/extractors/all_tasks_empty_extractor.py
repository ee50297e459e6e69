"""``all_tasks_empty_extractor``: did the volunteer leave every task blank?"""

from __future__ import annotations

from core.classification import Classification
from core.extractors._common import task_annotations
from core.params import Params
from core.registry import extractor

__all__ = ["AllTasksEmptyParams", "all_tasks_empty_extractor"]


class AllTasksEmptyParams(Params):
    task: str = "all"


@extractor("all_tasks_empty_extractor", params=AllTasksEmptyParams)
def all_tasks_empty_extractor(
    classification: Classification, params: AllTasksEmptyParams
) -> dict[str, bool]:
    """``{"result": True}`` when no annotation of the task(s) has a non-null value.

    An annotation without a ``value`` key counts as empty, and so does a classification with
    no annotations at all. Pair it with ``first_n_true_reducer``.

    Parameters
    ----------
    classification : Classification
    params : AllTasksEmptyParams
        ``task``: the task to look at; ``'all'`` (the default) looks at every task.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T0", "value": None}, {"task": "T1"}])
    >>> all_tasks_empty_extractor(c, AllTasksEmptyParams())
    {'result': True}
    >>> c = Classification.from_export([{"task": "T0", "value": None}, {"task": "T1", "value": []}])
    >>> all_tasks_empty_extractor(c, AllTasksEmptyParams())
    {'result': False}
    """
    annotations = task_annotations(classification, params.task)
    return {"result": all(a.get("value") is None for a in annotations)}
