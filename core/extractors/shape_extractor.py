"""``shape_extractor``: the parameters of every drawn shape, per frame, tool and parameter."""

from __future__ import annotations

import functools
from typing import Any

from core.classification import Classification
from core.errors import InvalidParameterError
from core.extractors._subtasks import finish_drawing_extract
from core.extractors._tools import check_details, drawing_task
from core.params import Params, field_with
from core.registry import extractor
from core.shapes import SHAPE_PARAMS, SHAPES

__all__ = ["ShapeParams", "shape_extractor"]


@functools.lru_cache(maxsize=4096)
def _output_keys(prefix: str, names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(f"{prefix}_{name}" for name in names)


class ShapeParams(Params):
    task: str = "all"
    shape: str | None = field_with(None, choices=SHAPES)
    tools: tuple[int, ...] | None = None
    details: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.shape is None:
            raise InvalidParameterError(
                "shape_extractor: 'shape' is required; one of " + ", ".join(sorted(SHAPE_PARAMS))
            )
        check_details(self.details, owner="shape_extractor")


@extractor("shape_extractor", params=ShapeParams)
def shape_extractor(classification: Classification, params: ShapeParams) -> dict[str, Any]:
    """Per frame, one list per tool and shape parameter: ``frameN: {"T0_tool1_x": [...], ...}``.

    Reads PFE marks (``tool``, keys ``T0_tool<i>_<param>``) and FEM marks (``toolIndex``, keys
    ``T0_toolIndex<i>_<param>``; the extract then also carries the top-level
    ``classifier_version``). A mark is taken only if it has every parameter of the shape (so,
    without ``tools``, a rectangle's corner also counts as a point); a ``null`` parameter is
    skipped, which can leave the lists of one tool with different lengths. ``frame`` defaults
    to 0.

    Parameters
    ----------
    classification : Classification
    params : ShapeParams
        ``shape`` (required): one of ``core.shapes.SHAPES``. ``task``: the drawing task id.
        ``tools``: tool indices to keep (default all). ``details``: subtask extractors, in the
        PFE form ``{"T0_tool0": ["question_extractor", None]}`` or the FEM form
        ``{"T0_toolIndex0_subtask0": "question_extractor"}`` (see ``_subtasks``).

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T2", "value": [
    ...     {"tool": 2, "frame": 1, "x": 1, "y": 2, "r": 3, "details": []}]}])
    >>> shape_extractor(c, ShapeParams(shape="circle", tools=(2,)))
    {'frame1': {'T2_tool2_x': [1], 'T2_tool2_y': [2], 'T2_tool2_r': [3]}}

    FEM point marks, with a question asked about each mark:

    >>> fem = Classification.from_export([
    ...     {"task": "T0", "taskType": "drawing", "value": [
    ...         {"toolIndex": 0, "frame": 0, "x": 1, "y": 2, "details": [{"task": "T0.0.0"}]}]},
    ...     {"task": "T0.0.0", "taskType": "single", "markIndex": 0, "value": 1},
    ... ], {"classifier_version": "2.0"})
    >>> shape_extractor(fem, ShapeParams(
    ...     task="T0", shape="point", details={"T0_toolIndex0_subtask0": "question_extractor"}))
    {'frame0': {'T0_toolIndex0_x': [1], 'T0_toolIndex0_y': [2], 'T0_toolIndex0_subtask0': [{'1': 1}]}, 'classifier_version': '2.0'}
    """
    drawn, answers = drawing_task(classification, params.task, params.tools)
    names = SHAPE_PARAMS[params.shape]
    required = frozenset(names)
    extract: dict[str, Any] = {}
    for annotation in drawn:
        task = annotation.task
        for index, mark in annotation.marks:
            if "tool" in mark:
                prefix = f"{task}_tool{mark['tool']}"
            elif "toolIndex" in mark:
                prefix = f"{task}_toolIndex{mark['toolIndex']}"
            else:
                raise classification.error(
                    f"mark #{index} has neither 'tool' (PFE) nor 'toolIndex' (FEM): "
                    f"{dict(mark)!r:.120}",
                    task=str(task),
                )
            if not mark.keys() >= required:
                continue
            frame_key = f"frame{mark.get('frame', 0)}"
            frame = extract.setdefault(frame_key, {})
            for name, key in zip(names, _output_keys(prefix, names), strict=True):
                value = mark[name]
                if value is not None:
                    frame.setdefault(key, []).append(value)
            if not frame:
                del extract[frame_key]
    return finish_drawing_extract(classification, extract, drawn, answers, params.details)
