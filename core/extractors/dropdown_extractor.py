"""``dropdown_extractor``: the options chosen in a dropdown task, one counter per select list."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.extractors._common import (
    OBJECT,
    annotation_value,
    answer_label,
    first_annotation,
    iter_json,
)
from core.params import Params
from core.registry import extractor

__all__ = ["DropdownParams", "dropdown_extractor"]

_SIMPLE = "dropdown-simple"


class DropdownParams(Params):
    task: str = "all"


def _simple_selection(value: Any) -> Any:
    """The chosen option of a FEM simple dropdown: ``selection`` (API) or ``value`` (CSV)."""
    if value is None:
        return None
    if isinstance(value, OBJECT):
        if "selection" in value:
            return value["selection"]
        return value.get("value")
    if isinstance(value, str | list) and "selection" not in value and "value" not in value:
        return None  # the reference reads a plain string or list as "nothing selected"
    raise ValueError(value)


@extractor("dropdown_extractor", params=DropdownParams)
def dropdown_extractor(
    classification: Classification, params: DropdownParams
) -> dict[str, list[dict[str, int]]]:
    """``{"value": [{label: 1}, ...]}``, one entry per select list of the task's first annotation.

    PFE (classifier v1) stores a list of ``{"value": option, "option": bool}``, one per select
    list. FEM (v2) has one list per task, typed ``dropdown-simple`` (in ``taskType``, or
    ``task_type`` in CSV exports) with the choice in ``selection`` (or ``value``); any other v2
    annotation gives ``{"value": []}``. Labels are written as ``question_extractor`` writes them,
    so nothing selected is ``{'None': 1}``. ``{}`` if the task was not answered.

    Parameters
    ----------
    classification : Classification
    params : DropdownParams
        ``task``: the dropdown task id.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T6", "value": [{"value": "h1", "option": True}]}])
    >>> dropdown_extractor(c, DropdownParams(task="T6"))
    {'value': [{'h1': 1}]}
    >>> fem = Classification.from_export(
    ...     [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": 2, "option": True}}],
    ...     {"classifier_version": "2.0"},
    ... )
    >>> dropdown_extractor(fem, DropdownParams(task="T6"))
    {'value': [{'2': 1}]}
    """
    task = params.task
    annotation = first_annotation(classification, task)
    if annotation is None:
        return {}
    chosen: list[dict[str, int]] = []
    if not classification.is_fem:
        value = annotation_value(classification, annotation, task)
        items = iter_json(value)
        if items is None:
            raise classification.error(
                f"a dropdown value must be a list of selections, got {value!r:.80}", task=task
            )
        for item in items:
            if not isinstance(item, OBJECT) or "value" not in item:
                raise classification.error(
                    'each dropdown selection must be an object like {"value": ..., "option": true}'
                    f", got {item!r:.80}",
                    task=task,
                )
            chosen.append({_label(classification, item["value"], task): 1})
    elif annotation.get("taskType") == _SIMPLE or annotation.get("task_type") == _SIMPLE:
        value = annotation_value(classification, annotation, task)
        try:
            selection = _simple_selection(value)
        except ValueError:
            raise classification.error(
                'a dropdown-simple value must be null or an object like {"selection": 6}'
                f", got {value!r:.80}",
                task=task,
            ) from None
        chosen.append({_label(classification, selection, task): 1})
    return {"value": chosen}


def _label(classification: Classification, option: Any, task: str) -> str:
    label = answer_label(option)
    if label is None:
        raise classification.error(
            "a dropdown option must be a string, an integer or null, "
            f"got {type(option).__name__} {option!r:.80}",
            task=task,
        )
    return label
