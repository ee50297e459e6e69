"""Drawing tasks: the marks of each annotation, the ``tools`` filter, the FEM subtask split.

A drawing annotation's ``value`` is a list of marks, each an object with ``tool`` (PFE) or
``toolIndex`` (FEM), an optional ``frame``, the shape's parameters and ``details``. Every mark
keeps its index in the annotation's own list, which is what FEM's ``markIndex`` counts, even
after the ``tools`` filter has dropped earlier marks.

The reference's ``tool_wrapper`` filters only annotations whose ``taskType`` is absent or
``'drawing'``, keeps a mark once for a matching ``tool`` and once more for a matching
``toolIndex``, and silently drops marks that are strings or lists (unless they contain the word
``tool``, which makes it crash). This module reproduces that, and raises
:class:`~core.errors.AnnotationParseError` wherever the reference would crash.

>>> c = Classification.from_export([{"task": "T0", "value": [
...     {"tool": 0, "x": 1, "y": 2}, {"tool": 1, "x": 3, "y": 4}, {"tool": 0, "x": 5, "y": 6}]}])
>>> drawn, answers = drawing_task(c, "T0", tools=(0,))
>>> [(index, mark["x"]) for index, mark in drawn[0].marks]
[(0, 1), (2, 5)]
>>> answers is None  # PFE: subtask answers are inline in each mark
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from core.classification import Classification
from core.errors import InvalidParameterError
from core.extractors._common import OBJECT, annotation_value, iter_json, task_annotations

__all__ = [
    "DrawnAnnotation",
    "Mark",
    "check_details",
    "drawing_task",
    "frame_key",
    "mark_field",
]

#: A mark and its index in its annotation's ``value`` list (FEM's ``markIndex``).
Mark = tuple[int, Mapping[str, Any]]

_DRAWING_TYPES = ("drawing", "dataVisAnnotation")


class DrawnAnnotation(NamedTuple):  # not a dataclass: ~1 ms less at every extract's start
    """One drawing annotation: its task id (as written in the annotation) and its marks."""

    task: Any
    marks: list[Mark]


def drawing_task(
    classification: Classification, task: str, tools: Sequence[int] | None
) -> tuple[list[DrawnAnnotation], dict[tuple[Any, Any], Mapping[str, Any]] | None]:
    """The drawing annotations of ``task`` with their (tool-filtered) marks.

    For FEM classifications the task's other annotations are subtask answers; they are returned
    keyed by ``(subtask id, markIndex)``. For PFE the second item is None.
    """
    annotations = task_annotations(classification, task)
    answers = None
    if classification.is_fem:
        drawings = []
        answers = {}
        for annotation in annotations:
            if annotation.get("taskType", "drawing") in _DRAWING_TYPES:
                drawings.append(annotation)
                continue
            if "task" not in annotation or "markIndex" not in annotation:
                raise classification.error(
                    "a FEM annotation that is not a drawing must be a mark's subtask answer "
                    f"with 'task' and 'markIndex' keys, got {dict(annotation)!r:.120}",
                    task=task,
                )
            key = (annotation["task"], annotation["markIndex"])
            try:
                answers[key] = annotation
            except TypeError:
                raise classification.error(
                    f"markIndex must be an integer, got {annotation['markIndex']!r:.40}", task=task
                ) from None
        annotations = drawings
    drawn = []
    for annotation in annotations:
        if "task" not in annotation:
            raise classification.error(
                f"a drawing annotation needs a 'task' key, got {dict(annotation)!r:.120}",
                task=task,
            )
        marks = _marks(classification, annotation, task, tools)
        drawn.append(DrawnAnnotation(annotation["task"], marks))
    return drawn, answers


def _marks(
    classification: Classification,
    annotation: Mapping[str, Any],
    task: str,
    tools: Sequence[int] | None,
) -> list[Mark]:
    value = annotation_value(classification, annotation, task)
    items = iter_json(value)
    if items is None:
        raise classification.error(
            f"a drawing value must be a list of marks, got {value!r:.80}", task=task
        )
    filtered = tools is not None and annotation.get("taskType", "drawing") == "drawing"
    marks: list[Mark] = []
    for index, mark in enumerate(items):
        if isinstance(mark, OBJECT):
            if not filtered:
                marks.append((index, mark))
                continue
            # A mark is kept once per matching key, as the reference does.
            if "tool" in mark and mark["tool"] in tools:
                marks.append((index, mark))
            if "toolIndex" in mark and mark["toolIndex"] in tools:
                marks.append((index, mark))
        elif not (
            filtered
            and isinstance(mark, str | list)
            and "tool" not in mark
            and "toolIndex" not in mark
        ):
            raise classification.error(
                f"mark #{index} must be a JSON object with the shape's parameters, got {mark!r:.80}",
                task=str(annotation["task"]),
            )
        # else: the reference's tools filter drops a string or list mark without a word.
    return marks


def mark_field(
    classification: Classification, task: Any, index: int, mark: Mapping[str, Any], field: str
) -> Any:
    """``mark[field]``, where the reference requires it; a missing key is an error."""
    try:
        return mark[field]
    except KeyError:
        raise classification.error(
            f"mark #{index} has no {field!r} key: {dict(mark)!r:.120}", task=str(task)
        ) from None


def frame_key(
    classification: Classification, task: Any, index: int, mark: Mapping[str, Any]
) -> str:
    """``frame<N>`` for a mark that must have a ``frame`` (no default here, as in the reference)."""
    return f"frame{mark_field(classification, task, index, mark, 'frame')}"


def check_details(details: Mapping[str, Any] | None, *, owner: str) -> None:
    """Validate a ``details`` keyword: subtask key -> extractor name, or list of names (PFE)."""
    if details is None:
        return
    for key, names in details.items():
        ok = names is None or isinstance(names, str)
        if isinstance(names, list | tuple):
            ok = all(n is None or isinstance(n, str) for n in names)
        if not (isinstance(key, str) and ok):
            raise InvalidParameterError(
                f"{owner}: 'details' must map keys like 'T0_tool0' to a list of extractor names "
                "(PFE) or keys like 'T0_toolIndex0_subtask0' to one name (FEM), "
                f"got {key!r}: {names!r}"
            )
