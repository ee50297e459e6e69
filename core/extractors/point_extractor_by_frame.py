"""``point_extractor_by_frame``: PFE point marks, per frame and tool."""

from __future__ import annotations

import dataclasses
from typing import Any

from core.classification import Classification
from core.extractors._subtasks import finish_drawing_extract
from core.extractors._tools import check_details, drawing_task, frame_key, mark_field
from core.registry import extractor

__all__ = ["PointByFrameParams", "point_extractor_by_frame"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class PointByFrameParams:
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
