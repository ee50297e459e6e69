"""``blank`` (Caesar's ``BlankExtractor``): did the volunteer leave a task unanswered?"""

from __future__ import annotations

from core.classification import Classification
from core.extractors._caesar import caesar_annotations
from core.params import Params
from core.registry import extractor
from core.ruby import blank as ruby_blank

__all__ = ["BlankParams", "blank"]


class BlankParams(Params):
    """Keywords of ``blank``.

    task
        The task id to check (Caesar calls this keyword ``task_key``; Tally's extractors all
        name it ``task``). Default ``"T0"``, as in Caesar.
    """

    task: str = "T0"


@extractor("blank", params=BlankParams)
def blank(classification: Classification, params: BlankParams) -> dict[str, bool]:
    """``{"blank": true}`` when the task's first annotation has no answer.

    Blank means, as in Caesar: the classification has no annotations, or none for the task, or
    the task's first annotation is empty, or its ``value`` is blank in Rails' sense (null,
    ``false``, ``""`` or only spaces, ``[]``, ``{}``; ``0`` is an answer). Annotations are read
    the way Caesar stores them (combo tasks and value lists flattened, see
    ``core.extractors._caesar``), so a dropdown answer ``[{"value": ""}]`` is blank too.

    Parameters
    ----------
    classification : Classification
    params : BlankParams
        ``task``: the task id (default ``"T0"``).

    Examples
    --------
    >>> blank(Classification.from_export([{"task": "T0", "value": []}]), BlankParams())
    {'blank': True}
    >>> blank(Classification.from_export([{"task": "T0", "value": 0}]), BlankParams())
    {'blank': False}
    >>> blank(Classification.from_export([{"task": "T1", "value": "x"}]), BlankParams())
    {'blank': True}
    """
    items = caesar_annotations(classification).get(params.task)
    if not items:
        return {"blank": True}
    first = items[0]
    return {"blank": ruby_blank(first) or ruby_blank(first.get("value"))}
