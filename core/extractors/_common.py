"""Helpers shared by extractors: reading annotations the way the reference does, but checked.

The reference reads annotations with bare indexing (``annotation['value']``) and Python iteration,
so malformed input either crashes with a ``KeyError``/``TypeError`` or, for some shapes, quietly
yields a result (iterating a string gives its characters). These helpers reproduce the quiet
results exactly and turn every crash into an :class:`~core.errors.AnnotationParseError` that
names the classification and the task.

>>> answer_label("Nothing here"), answer_label(0), answer_label(None), answer_label(True)
('nothing-here', '0', 'None', 'True')
>>> answer_label(0.5) is None  # the reference cannot label a float
True
>>> iter_json("ab"), iter_json({"k": 1}), iter_json(None)
(['a', 'b'], ['k'], None)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.classification import Classification
from core.slug import slug

__all__ = [
    "OBJECT",
    "annotation_value",
    "answer_label",
    "count_answers",
    "first_annotation",
    "iter_json",
    "task_annotations",
    "version_text",
]

#: ``isinstance`` target for a JSON object; plain dicts are checked first, which is much
#: cheaper than the ``Mapping`` ABC check alone.
OBJECT = (dict, Mapping)


def answer_label(value: Any) -> str | None:
    """An answer as the reference labels it, or None when it has no label.

    ``None``, booleans and integers are written with ``str()`` (``'None'``, ``'True'``, ``'0'``);
    strings are slugged; anything else (floats, lists, objects) makes the reference raise.
    """
    if isinstance(value, str):
        return slug(value)
    if value is None or isinstance(value, int):  # bool is an int
        return str(value)
    return None


def count_answers(value: Any, classification: Classification, task: str) -> dict[str, int]:
    """Answer label -> how many times it was given, for a question (or survey answer) value.

    A list counts each item (a survey-style ``{"choice": ...}`` item counts its choice); any
    other value counts as one answer, so a blank answer gives ``{'None': 1}``.
    """
    is_list = isinstance(value, list)
    counts: dict[str, int] = {}
    for answer in value if is_list else (value,):
        if is_list and isinstance(answer, OBJECT):
            if "choice" not in answer:
                raise classification.error(
                    f"a list answer given as an object needs a 'choice' key, got {answer!r:.80}",
                    task=task,
                )
            answer = answer["choice"]
        label = answer_label(answer)
        if label is None:
            raise classification.error(
                "an answer must be a string, an integer, a boolean or null, "
                f"got {type(answer).__name__} {answer!r:.80}",
                task=task,
            )
        counts[label] = counts.get(label, 0) + 1
    return counts


def iter_json(value: Any) -> list[Any] | None:
    """The items Python's ``for`` loop yields over a JSON value; None if it is not iterable.

    A list gives its items, a string its characters and an object its keys, exactly what the
    reference's loops see.
    """
    if isinstance(value, list):
        return value
    if isinstance(value, str | dict | Mapping):
        return list(value)
    return None


def _checked(classification: Classification, annotation: Any, task: str) -> Mapping[str, Any]:
    if not isinstance(annotation, OBJECT):
        raise classification.error(
            f"annotation must be a JSON object, got {annotation!r:.80}", task=task
        )
    return annotation


def task_annotations(classification: Classification, task: str) -> list[Mapping[str, Any]]:
    """Every annotation of ``task`` (FEM subtask annotations ``task.i.j`` included), checked."""
    return [_checked(classification, a, task) for a in classification.for_task(task)]


def first_annotation(classification: Classification, task: str) -> Mapping[str, Any] | None:
    """The first annotation of ``task``, or None when the task was not answered.

    Cheaper than :func:`task_annotations` for the extractors that only read the first one.
    """
    annotations = classification.annotations
    if task == "all":
        for items in annotations.values():
            if items:
                return _checked(classification, items[0], task)
        return None
    for key, items in annotations.items():
        if items and key.split(".", 1)[0] == task:
            return _checked(classification, items[0], task)
    return None


def annotation_value(
    classification: Classification, annotation: Mapping[str, Any], task: str
) -> Any:
    """``annotation['value']``; a missing value is an error, as in the reference."""
    try:
        return annotation["value"]
    except KeyError:
        raise classification.error(
            f"annotation has no 'value' key: {dict(annotation)!r:.120}",
            task=str(annotation.get("task", task)),
        ) from None


def version_text(raw: Any) -> str:
    """The classifier version as the reference prints it (``str(packaging.version.parse(raw))``).

    Release numbers lose leading zeros (``'2.00'`` -> ``'2.0'``) and a leading ``v`` is dropped;
    other forms are kept as written.

    >>> version_text("2.0"), version_text("v2.00"), version_text(2)
    ('2.0', '2.0', '2')
    """
    text = str(raw).strip()
    body = text[1:] if text[:1] in ("v", "V") else text
    parts = body.split(".")
    if parts and all(p.isdigit() for p in parts):
        return ".".join(str(int(p)) for p in parts)
    return text
