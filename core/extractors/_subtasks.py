"""Mark subtasks (``details``): extracting the answers given about each drawn mark.

A subtask answer is extracted by running the configured extractor on a classification that
holds only that answer, as the reference does. The two front ends need different configs:

* PFE (classifier v1): answers are inline in each mark, ``mark["details"] = [{"value": ...}]``.
  Config ``{"T0_tool0": ["question_extractor", None]}`` names one extractor per detail; the
  frame gets ``T0_tool0_details``: per mark, a list with one extract per detail, or the string
  ``'No extractor for this subtask type'`` where the name is null or unknown.
* FEM (classifier v2): marks list their subtasks, ``mark["details"] = [{"task": "T0.0.0"}]``,
  and each answer is a separate annotation ``{"task": "T0.0.0", "markIndex": k, ...}``. Config
  ``{"T0_toolIndex0_subtask0": "question_extractor"}``; the frame gets that key with one extract
  per mark.

Unlike the reference, a FEM answer is matched to its mark by the mark's index in the drawing
annotation (FEM's ``markIndex``), not by its position after the ``tools`` filter, so filtering
out earlier marks no longer loses or mismatches answers (see docs/compatibility.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

from core.classification import Classification
from core.errors import AnnotationParseError, InvalidParameterError, UnknownExtractorError
from core.extractors._common import OBJECT, answer_label, iter_json, version_text
from core.extractors._tools import frame_key, mark_field
from core.registry import ExtractorSpec, get_extractor

if TYPE_CHECKING:
    from core.extractors._tools import DrawnAnnotation

__all__ = ["NO_EXTRACTOR", "add_subtask_extracts", "finish_drawing_extract"]

#: What the reference writes for a PFE detail whose configured extractor is null or unknown.
NO_EXTRACTOR = "No extractor for this subtask type"

#: The subtask extractor whose common case :func:`_question_answer` computes inline.
_QUESTION = "question_extractor"


@cache
def _subtask_extractor(name: Any) -> ExtractorSpec | None:
    """The registered extractor ``name`` (loading just its module), None if there is none."""
    if not isinstance(name, str):
        return None
    try:
        return get_extractor(name)
    except UnknownExtractorError:
        return None


@cache
def _default_params(name: str) -> Any:
    # Subtask extractors run with their defaults (task 'all'), as in the reference.
    return get_extractor(name).parse_params({})


def _run_subtask(
    classification: Classification,
    name: str,
    group: str,
    answer: Any,
    where: str,
    task: Any,
) -> Any:
    mock = Classification({group: [answer]}, {}, classification.classification_id)
    try:
        return get_extractor(name).func(mock, _default_params(name))
    except AnnotationParseError as exc:
        raise classification.error(f"{where} ({name}): {exc.reason}", task=str(task)) from exc


def _question_answer(detail: Any) -> dict[str, int] | None:
    """``question_extractor`` on a PFE detail holding one plain answer, or None for any other case.

    A single answer (a string, integer, boolean or null) counts once: ``{label: 1}``, exactly
    what the registry call gives, without building a classification for it (this runs once per
    mark). Lists, missing values and bad answers return None and take the full call, which also
    raises its errors.

    >>> _question_answer({"value": 1}), _question_answer({"value": "Standing up"})
    ({'1': 1}, {'standing-up': 1})
    >>> _question_answer({"value": [0, 1]}) is None, _question_answer({}) is None
    (True, True)
    """
    if detail.__class__ is not dict:
        return None
    value = detail.get("value", detail)  # the detail itself: no 'value' key
    if value is detail or value.__class__ is list:
        return None
    label = answer_label(value)
    return None if label is None else {label: 1}


def _details_of(
    classification: Classification, task: Any, index: int, mark: Mapping[str, Any]
) -> list[Any]:
    details = mark_field(classification, task, index, mark, "details")
    items = iter_json(details)
    if items is None:
        raise classification.error(
            f"mark #{index} 'details' must be a list, got {details!r:.80}", task=str(task)
        )
    return items


def _frame_of(
    classification: Classification,
    extract: dict[str, Any],
    frame_name: str,
    task: Any,
    index: int,
    mark: Mapping[str, Any],
) -> dict[str, Any]:
    try:
        return extract[frame_name]
    except KeyError:
        raise classification.error(
            f"mark #{index} has subtask answers but was not extracted itself "
            f"(a shape parameter is missing or null): {dict(mark)!r:.120}",
            task=str(task),
        ) from None


def finish_drawing_extract(
    classification: Classification,
    extract: dict[str, Any],
    drawn: list[DrawnAnnotation],
    answers: dict[tuple[Any, Any], Mapping[str, Any]] | None,
    details: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Complete a drawing extract: FEM's top-level ``classifier_version``, then the subtasks."""
    if answers is not None:
        extract["classifier_version"] = version_text(classification.metadata["classifier_version"])
    if details is not None:
        add_subtask_extracts(classification, extract, drawn, answers, details)
    return extract


def add_subtask_extracts(
    classification: Classification,
    extract: dict[str, Any],
    drawn: list[DrawnAnnotation],
    answers: dict[tuple[Any, Any], Mapping[str, Any]] | None,
    details: Mapping[str, Any],
) -> None:
    """Add the subtask extracts configured in ``details`` to ``extract``'s frames, in place.

    ``answers`` is None for PFE classifications and the FEM answers by ``(subtask, markIndex)``
    otherwise (see :func:`core.extractors._tools.drawing_task`).
    """
    if answers is None:
        _add_pfe(classification, extract, drawn, details)
    else:
        _add_fem(classification, extract, drawn, answers, details)


def _add_pfe(
    classification: Classification,
    extract: dict[str, Any],
    drawn: list[DrawnAnnotation],
    details: Mapping[str, Any],
) -> None:
    for annotation in drawn:
        task = annotation.task
        for index, mark in annotation.marks:
            prefix = f"{task}_tool{mark_field(classification, task, index, mark, 'tool')}"
            # The reference reads every mark's frame here (no default), configured or not.
            frame_name = frame_key(classification, task, index, mark)
            if prefix not in details:
                continue
            frame = _frame_of(classification, extract, frame_name, task, index, mark)
            per_detail: list[Any] = []
            frame.setdefault(f"{prefix}_details", []).append(per_detail)
            names = details[prefix]
            for position, detail in enumerate(_details_of(classification, task, index, mark)):
                try:
                    name = names[position]
                except (IndexError, TypeError):
                    raise InvalidParameterError(
                        f"'details' for {prefix} names {len(names or ())} subtask extractor(s), "
                        f"but mark #{index} of task {task} has subtask #{position}; "
                        "list one extractor (or null) per subtask of the tool"
                    ) from None
                if name == _QUESTION and (counted := _question_answer(detail)) is not None:
                    per_detail.append(counted)
                elif _subtask_extractor(name) is not None:
                    where = f"mark #{index} subtask #{position}"
                    per_detail.append(_run_subtask(classification, name, "ST", detail, where, task))
                else:
                    per_detail.append(NO_EXTRACTOR)


def _add_fem(
    classification: Classification,
    extract: dict[str, Any],
    drawn: list[DrawnAnnotation],
    answers: dict[tuple[Any, Any], Mapping[str, Any]],
    details: Mapping[str, Any],
) -> None:
    for annotation in drawn:
        task = annotation.task
        for index, mark in annotation.marks:
            # The reference reads every mark's frame here (no default), configured or not.
            frame_name = frame_key(classification, task, index, mark)
            for detail in _details_of(classification, task, index, mark):
                subtask = detail.get("task") if isinstance(detail, OBJECT) else None
                parts = subtask.split(".") if isinstance(subtask, str) else ()
                if len(parts) < 3:
                    raise classification.error(
                        f"mark #{index} details must be like {{'task': 'T0.0.0'}}, "
                        f"got {detail!r:.80}",
                        task=str(task),
                    )
                key = f"{parts[0]}_toolIndex{parts[1]}_subtask{parts[2]}"
                if key not in details:
                    continue
                frame = _frame_of(classification, extract, frame_name, task, index, mark)
                name = details[key]
                if _subtask_extractor(name) is None:
                    raise InvalidParameterError(
                        f"'details' names no known extractor for {key}: {name!r}; "
                        "FEM subtasks need one extractor name per subtask key"
                    )
                try:
                    answer = answers[(subtask, index)]
                except KeyError:
                    raise classification.error(
                        f"mark #{index} lists subtask {subtask} but no annotation "
                        f"{{'task': {subtask!r}, 'markIndex': {index}}} holds its answer",
                        task=str(task),
                    ) from None
                where = f"mark #{index} subtask {subtask}"
                frame.setdefault(key, []).append(
                    _run_subtask(classification, name, key, answer, where, task)
                )
