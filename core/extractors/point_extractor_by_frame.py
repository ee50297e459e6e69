"""``point_extractor_by_frame``: PFE point marks, per frame and tool."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.classification import Classification
from core.csv_layout import Cells, render_cells
from core.extractors._subtasks import (
    NO_EXTRACTOR,
    _question_answer,
    _subtask_extractor,
    finish_drawing_extract,
)
from core.extractors._tools import check_details, drawing_task, frame_key, mark_field
from core.params import Params
from core.registry import extractor
from core.slug import slug

__all__ = ["PointByFrameParams", "point_cells", "point_extractor_by_frame"]


class PointByFrameParams(Params):
    task: str = "all"
    tools: tuple[int, ...] | None = None
    details: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        check_details(self.details, owner="point_extractor_by_frame")


@extractor("point_extractor_by_frame", params=PointByFrameParams)
def point_extractor_by_frame(
    classification: Classification, params: PointByFrameParams
) -> dict[str, Any]:
    """Per frame, the ``x`` and ``y`` lists of each tool: ``frameN: {"T0_tool0_x": [...], ...}``.

    Every mark needs ``tool`` and ``frame``; one without ``x`` or ``y`` still opens its frame
    but adds no point. FEM marks (``toolIndex``) are rejected: use ``shape_extractor`` with
    ``shape: point`` for FEM point tasks.

    Parameters
    ----------
    classification : Classification
    params : PointByFrameParams
        ``task``: the drawing task id. ``tools``: tool indices to keep (default all).
        ``details``: subtask extractors per tool, ``{"T0_tool0": ["question_extractor", None]}``;
        the frame then gets ``T0_tool0_details``, one list of extracts per mark.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T2", "value": [
    ...     {"tool": 0, "frame": 0, "x": 5, "y": 10, "details": [{"value": 1}]}]}])
    >>> point_extractor_by_frame(c, PointByFrameParams(details={"T2_tool0": ["question_extractor"]}))
    {'frame0': {'T2_tool0_x': [5], 'T2_tool0_y': [10], 'T2_tool0_details': [[{'1': 1}]]}}
    """
    try:
        fast = _one_pass(classification, params)
    except Exception:  # noqa: BLE001 - the checked path raises the right error, or succeeds
        fast = None
    return fast if fast is not None else _checked_pass(classification, params)


def _checked_pass(classification: Classification, params: PointByFrameParams) -> dict[str, Any]:
    """The extract, reading the marks as the reference does and raising where it would crash."""
    drawn, answers = drawing_task(classification, params.task, params.tools)
    extract: dict[str, Any] = {}
    for annotation in drawn:
        task = annotation.task
        for index, mark in annotation.marks:
            if "toolIndex" in mark:
                raise classification.error(
                    f"mark #{index} is a FEM (classifier v2) mark with 'toolIndex'; "
                    "point_extractor_by_frame reads only PFE marks. For FEM point tasks configure "
                    "shape_extractor with shape: point (and FEM-style details "
                    "{'T0_toolIndex0_subtask0': 'question_extractor'}).",
                    task=str(task),
                )
            frame = extract.setdefault(frame_key(classification, task, index, mark), {})
            key = f"{task}_tool{mark_field(classification, task, index, mark, 'tool')}"
            if "x" in mark and "y" in mark:
                frame.setdefault(f"{key}_x", []).append(mark["x"])
                frame.setdefault(f"{key}_y", []).append(mark["y"])
    return finish_drawing_extract(classification, extract, drawn, answers, params.details)


def _one_pass(classification: Classification, params: PointByFrameParams) -> dict[str, Any] | None:
    """The extract of a well-formed PFE classification in one pass over its marks, else None.

    The checked path above reads the marks three times (``drawing_task``, the points, then
    ``_add_pfe`` for the subtasks), so that a malformed mark raises the same error as the
    reference would crash with, at the same point. Here each mark is read once; anything not
    plainly well-formed (FEM, non-object marks, missing keys, a detail needing a full subtask
    extractor) returns None, and the caller runs the checked path, which gives the result or
    the error; this function mutates nothing, so falling back is always safe. Tests check that
    both paths give the same extract, key order included, on arbitrary and on realistic JSON.

    The ``<tool>_details`` keys go after a frame's point lists, in order of first use, as the
    separate subtask pass adds them.
    """
    task = params.task
    if task == "all":
        return None
    if classification.is_fem:
        return None
    tools = params.tools
    details = params.details
    extract: dict[str, Any] = {}
    # (frame name, tool key) -> the per-mark subtask lists, in order of first use
    subtasks: dict[tuple[str, str], list[Any]] = {}
    for annotation in classification.for_task(task):
        if annotation.__class__ is not dict or "task" not in annotation:
            return None
        marks = annotation.get("value")
        if marks.__class__ is not list:
            return None
        filtered = tools is not None and annotation.get("taskType", "drawing") == "drawing"
        annotation_task = annotation["task"]
        # (frame, tool) of integer-valued marks -> their _Slot; other values (0.0, True,
        # "0": equal keys, other names) look their names up every time
        slots: dict[tuple[int, int], _Slot] = {}
        for mark in marks:
            if mark.__class__ is not dict or "toolIndex" in mark or "tool" not in mark:
                return None
            tool = mark["tool"]
            if filtered and tool not in tools:
                continue
            if "frame" not in mark:
                return None
            frame_value = mark["frame"]
            if frame_value.__class__ is int and tool.__class__ is int:
                slot = slots.get((frame_value, tool))
                if slot is None:
                    slot = slots[(frame_value, tool)] = _Slot(
                        extract, f"frame{frame_value}", f"{annotation_task}_tool{tool}", details
                    )
            else:
                slot = _Slot(
                    extract, f"frame{frame_value}", f"{annotation_task}_tool{tool}", details
                )
            if "x" in mark and "y" in mark:
                if slot.xs is None:
                    slot.open_points()
                slot.xs.append(mark["x"])  # type: ignore[union-attr]
                slot.ys.append(mark["y"])  # type: ignore[union-attr]
            names = slot.names
            if names is None:
                continue
            answers = mark.get("details")
            if answers.__class__ is not list or len(answers) > len(names):
                return None
            per_detail = []
            for position, answer in enumerate(answers):
                name = names[position]
                if name == "question_extractor":
                    if answer.__class__ is dict and (value := answer.get("value")).__class__ is int:
                        per_detail.append({str(value): 1})  # _question_answer's commonest case
                        continue
                    counted = _question_answer(answer)
                    if counted is None:
                        return None
                    per_detail.append(counted)
                elif _subtask_extractor(name) is None:
                    per_detail.append(NO_EXTRACTOR)
                else:
                    return None
            if slot.subtasks is None:
                slot.subtasks = subtasks.setdefault((slot.frame_name, slot.tool_key), [])
            slot.subtasks.append(per_detail)
    for (frame_name, tool_key), lists in subtasks.items():
        extract[frame_name][f"{tool_key}_details"] = lists
    return extract


class _Slot:
    """What :func:`_one_pass` writes for one frame and tool: names, point lists, subtasks."""

    __slots__ = ("frame", "frame_name", "names", "subtasks", "tool_key", "xs", "ys")

    def __init__(
        self,
        extract: dict[str, Any],
        frame_name: str,
        tool_key: str,
        details: dict[str, Any] | None,
    ) -> None:
        frame = extract.get(frame_name)
        if frame is None:
            frame = extract[frame_name] = {}
        self.frame: dict[str, Any] = frame
        self.frame_name = frame_name
        self.tool_key = tool_key
        self.xs: list[Any] | None = None
        self.ys: list[Any] | None = None
        # the tool's configured subtask extractors; None: no details for this tool
        self.names: list[Any] | None = None
        if details is not None and tool_key in details:
            names = details[tool_key]
            if names.__class__ is not list:  # null or one name: the checked path's errors
                raise _Decline
            self.names = names
        self.subtasks: list[Any] | None = None

    def open_points(self) -> None:
        """Find or add the ``_x`` and ``_y`` lists (x first: the order pandas gives them)."""
        frame, key = self.frame, self.tool_key
        xs = frame.get(f"{key}_x")
        if xs is None:
            xs = frame[f"{key}_x"] = []
            ys = frame[f"{key}_y"] = []
        else:
            ys = frame[f"{key}_y"]
        self.xs, self.ys = xs, ys


class _Decline(Exception):
    """A case :func:`_one_pass` leaves to the checked path."""


# ------------------------------------------------------------------------------------------
# the extract's CSV cells directly


def point_cells(
    params: PointByFrameParams, version: str | None
) -> Callable[[Classification], Cells | None] | None:
    """A function: classification -> ``render_cells(point_extractor_by_frame(c, params),
    version)``, or None where it declines (the caller then runs the extractor); None when
    there is no such shortcut for these params.

    The batch extract's per-row path: a well-formed PFE classification's cells are written
    without the extract dict, by the compiled ``_point_compiled.point_cells`` when it is built
    (else ``_point_cells_py``, the same texts).

    >>> cells = point_cells(PointByFrameParams(task="T2"), "5.3.1")
    >>> cells(Classification.from_export([{"task": "T2", "value": [
    ...     {"tool": 0, "frame": 0, "x": 5, "y": 10.5}]}], {}))
    (('aggregation_version', 'frame0.T2_tool0_x', 'frame0.T2_tool0_y'), (4, 4, 4), ('5.3.1', '[5]', '[10.5]'))
    """
    task = params.task
    if task == "all" or "." in task:
        return None
    if _point_cells_compiled is None:  # pragma: no cover - depends on the install
        return lambda classification: _point_cells_py(classification, params, version)
    details = params.details
    tools = None if params.tools is None else tuple(params.tools)

    def slot_names_of(frame: int, tool: int) -> tuple[str, str, str, tuple[int, ...] | None] | bool:
        # the column names of a frame and tool, and its subtask codes (as _one_pass reads them)
        tool_key = f"{task}_tool{tool}"
        codes = None
        if details is not None and tool_key in details:
            names = details[tool_key]
            if names.__class__ is not list:
                return False
            codes = tuple(
                0 if name == "question_extractor" else 1 if _subtask_extractor(name) is None else 2
                for name in names
            )
        prefix = f"frame{frame}.{tool_key}"
        return (f"{prefix}_x", f"{prefix}_y", f"{prefix}_details", codes)

    # not FEM (is_fem), then the compiled point_cells; its flags: every cell is text
    return _PointCells(task, tools, slot_names_of, slug, version)


def _point_cells_py(
    classification: Classification, params: PointByFrameParams, version: str | None
) -> Cells | None:
    """The Python form of the compiled ``point_cells``: ``_one_pass``, then ``render_cells``."""
    try:
        extract = _one_pass(classification, params)
    except Exception:  # noqa: BLE001 - the extractor's checked path says what is wrong
        return None
    return None if extract is None else render_cells(extract, version)


try:  # setup.py builds it; optional, for machines without a C compiler
    from core.extractors._point_compiled import PointCells as _PointCells
    from core.extractors._point_compiled import point_cells as _point_cells_compiled
except ImportError:  # pragma: no cover - depends on the install
    _point_cells_compiled = _PointCells = None
