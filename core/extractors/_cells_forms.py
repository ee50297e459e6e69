"""Extractors' cells forms: a classification straight to an extract's CSV cells.

The batch extract writes every extract as CSV cells (``core.csv_layout.render_cells``). For the
commonest extractors and the usual classifications a shortcut gives those cells without
building the extract: :func:`cells_form` finds it. A shortcut returns None for anything it does
not cover, and the caller then runs the registered extractor, so results (and errors) are
always the registry's; tests compare the two on generated and real classifications.

A cells form reads only the annotations and the metadata's ``classifier_version`` (through
``Classification.is_fem``): the batch extract then checks the metadata rather than parse it
(``tally.extract``, ``metadata_stand_in``). A new form that needs more must say so there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.classification import Classification
from core.csv_layout import Cells

__all__ = ["cells_form", "row_cells"]


def cells_form(
    name: str, params: Any, version: str | None
) -> Callable[[Classification], Cells | None] | None:
    """The cells shortcut of the extractor ``name`` run with ``params`` (parsed), writing
    ``version`` as its ``aggregation_version`` (None: none), or None if it has none.

    >>> from core.extractors.question_extractor import QuestionParams
    >>> cells = cells_form("shortcut_extractor", QuestionParams(task="T2"), None)
    >>> cells(Classification.from_export([{"task": "T2", "value": ["Nothing here"]}]))
    (('nothing-here',), (1,), ('1',))
    >>> cells_form("survey_extractor", None, None) is None
    True
    """
    if name == "point_extractor_by_frame":
        from core.extractors.point_extractor_by_frame import point_cells

        return point_cells(params, version)
    if name in ("question_extractor", "shortcut_extractor"):  # the same function
        from core.extractors.question_extractor import question_cells

        return question_cells(params, version)
    return None


def row_cells(forms: list[Callable[[Classification], Cells | None] | None]) -> Any:
    """A compiled function giving every form's cells straight from a row's annotations text
    (``core.extractors._point_compiled.RowCells``: ``(annotations text, metadata stand-in)``
    -> per form its cells, or None where it declines and the forms must run on the parsed
    row), or None when it does not cover these forms or is not built.

    It covers the point form and the question forms (at most one point form).

    >>> from core.extractors.question_extractor import QuestionParams
    >>> scan = row_cells([cells_form("question_extractor", QuestionParams(task="T1"), None)])
    >>> scan is None or scan('[{"task": "T1", "value": "Red"}]', {}) is None  # (not cached yet)
    True
    >>> row_cells([None]) is None
    True
    """
    try:
        from core.extractors._point_compiled import PointCells, RowCells
    except ImportError:  # pragma: no cover - depends on the install
        return None
    from core.extractors.question_extractor import UNANSWERED, QuestionCells

    points = [form for form in forms if type(form) is PointCells]
    if len(points) > 1 or not all(
        type(form) is PointCells or type(form) is QuestionCells for form in forms
    ):
        return None
    return RowCells(tuple(forms), QuestionCells, UNANSWERED)
