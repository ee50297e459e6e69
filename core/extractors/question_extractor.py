"""``question_extractor``: count the answers of a single- or multiple-choice question."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.csv_layout import Cells, render_cells
from core.extractors._common import annotation_value, count_answers, first_annotation
from core.params import Params
from core.registry import extractor

__all__ = ["UNANSWERED", "QuestionCells", "QuestionParams", "question_cells", "question_extractor"]

#: Distinct answers whose cells :func:`question_cells` keeps (a project has a few dozen).
CACHED_ANSWERS = 4096


class QuestionParams(Params):
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


UNANSWERED = object()  # QuestionCells.answers' key of a classification without the task
_DECLINE = object()  # _answer_key: not an answer question_cells covers


def question_cells(params: QuestionParams, version: str | None) -> QuestionCells | None:
    """A function: classification -> ``render_cells(question_extractor(c, params), version)``,
    or None where it declines (the caller then runs the extractor); None when there is no such
    shortcut for these params.

    The batch extract's per-row path: the cells depend only on the answer given (a text, a list
    of texts or null, in the common case), so they are made once per distinct answer.

    >>> cells = question_cells(QuestionParams(task="T0"), "5.3.1")
    >>> cells(Classification.from_export([{"task": "T0", "value": "Red"}]))
    (('red', 'aggregation_version'), (1, 4), ('1', '5.3.1'))
    >>> cells(Classification.from_export([{"task": "T1", "value": "Red"}]))
    (('aggregation_version',), (4,), ('5.3.1',))
    """
    task = params.task
    if task == "all" or "." in task:
        return None
    return QuestionCells(params, version)


class QuestionCells:
    """:func:`question_cells`' function: a classification -> its cells, or None (declined).

    ``answers`` holds the cells made so far per distinct answer (the key is what
    ``_answer_key`` gives: a text, a tuple of texts, None, or ``UNANSWERED``); the compiled
    row scanner (``core.extractors._point_compiled.RowCells``) reads an answer from the
    annotations' JSON text and looks its cells up there.
    """

    __slots__ = ("answers", "params", "prefix", "task", "version")

    def __init__(self, params: QuestionParams, version: str | None) -> None:
        self.params = params
        self.version = version
        self.task = params.task
        self.prefix = params.task + "."  # first_annotation's tasks: task itself and "task.i.j"
        self.answers: dict[Any, Cells] = {}

    def __call__(self, classification: Classification) -> Cells | None:
        answer = _answer_key(
            classification.annotations, self.task, self.prefix, UNANSWERED, _DECLINE
        )
        if answer is _DECLINE:
            return None
        answers = self.answers
        found = answers.get(answer)
        if found is None:
            found = render_cells(question_extractor(classification, self.params), self.version)
            if len(answers) < CACHED_ANSWERS:
                answers[answer] = found
        return found


def _answer_key_py(annotations: Any, task: str, prefix: str, unanswered: Any, decline: Any) -> Any:
    """The answer of the first annotation of ``task`` (or of a key starting with ``prefix``:
    ``first_annotation``'s FEM subtasks), as ``question_cells`` caches it: the text, a tuple of
    texts, None; ``unanswered`` without such an annotation; ``decline`` for any other value, a
    missing one (the extractor's error) or an annotation that is not a dict.

    >>> _answer_key_py({"T0": [{"value": ["a", "b"]}]}, "T0", "T0.", "-", "x")
    ('a', 'b')
    >>> _answer_key_py({"T1": [{"value": 3}]}, "T0", "T0.", "-", "x"), _answer_key_py({"T0": [{"value": 3}]}, "T0", "T0.", "-", "x")
    ('-', 'x')
    """
    annotation = None
    for key, items in annotations.items():
        if items and (key == task or key.startswith(prefix)):
            annotation = items[0]
            break
    if annotation is None:
        return unanswered
    if annotation.__class__ is not dict:
        return decline
    answer = annotation.get("value", decline)
    if answer.__class__ is list:
        for item in answer:
            if item.__class__ is not str:
                return decline
        return tuple(answer)
    if answer.__class__ is not str and answer is not None:
        return decline
    return answer


try:  # setup.py builds it; optional, for machines without a C compiler
    from core._classification_compiled import answer_key as _answer_key
except ImportError:  # pragma: no cover - depends on the install
    _answer_key = _answer_key_py
