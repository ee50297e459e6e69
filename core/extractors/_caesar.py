"""What Caesar's extractors see of a classification: its annotations normalised and grouped by
task (Caesar's ``Annotation.parse``), and the ``prepare`` payload that ``pluck_field`` reads.

>>> c = Classification.from_export([
...     {"task": "T0", "value": [{"task": "T1", "value": "yes"}, {"task": "T2", "value": 3}]},
...     {"task": "T3", "value": [{"value": "a", "option": True}, {"value": "b"}]}])
>>> caesar_annotations(c)["T3"]
[{'value': 'a', 'option': True, 'task': 'T3'}, {'value': 'b', 'task': 'T3'}]
>>> sorted(caesar_annotations(c))
['T1', 'T2', 'T3']
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.classification import Classification

__all__ = ["caesar_annotations", "prepare"]


def _nested(value: Any, key: str) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(item, Mapping) for item in value)
        and any(key in item for item in value)
    )


def _flatten(items: list, task: str | None) -> list[Mapping[str, Any]]:
    out: list[Mapping[str, Any]] = []
    for item in items:
        if not isinstance(item, Mapping):
            continue
        value = item.get("value")
        if _nested(value, "task"):  # a combo task: its children are annotations themselves
            out.extend(_flatten(value, item.get("task", task)))
        elif _nested(value, "value"):  # one annotation per inner item, tagged with the task
            out.extend({**inner, "task": item.get("task", task)} for inner in value)
        else:
            out.append(item if "task" in item or task is None else {**item, "task": task})
    return out


def caesar_annotations(classification: Classification) -> dict[str, list[Mapping[str, Any]]]:
    """The annotations as Caesar stores them: combo tasks and value lists flattened, grouped by
    ``task`` in first-seen order. Annotations given already grouped (Caesar's own form) and
    lacking a ``task`` key take the group's task. The input is not modified."""
    grouped: dict[str, list[Mapping[str, Any]]] = {}
    for task, items in classification.annotations.items():
        for annotation in _flatten(list(items), task):
            grouped.setdefault(str(annotation.get("task", task)), []).append(annotation)
    return grouped


def prepare(classification: Classification) -> dict[str, Any]:
    """Caesar's ``Classification#prepare``: the document ``pluck_field`` paths are read from.

    Fields the caller did not provide (in ``classification.context``) are null.
    """
    context = classification.context
    return {
        "id": classification.classification_id,
        "project_id": context.get("project_id"),
        "workflow_id": context.get("workflow_id"),
        "workflow_version": context.get("workflow_version"),
        "subject_id": context.get("subject_id"),
        "user_id": classification.user_id,
        "annotations": caesar_annotations(classification),
        "metadata": classification.metadata,
        "subject": context.get("subject"),
        "created_at": context.get("created_at"),
        "updated_at": context.get("updated_at"),
    }
