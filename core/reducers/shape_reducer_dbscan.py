"""``shape_reducer_dbscan``: cluster drawn shapes per frame and tool with DBSCAN."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.errors import InvalidParameterError, MalformedExtractError
from core.params import Params, field_with
from core.reducers._clustering import (
    ALGORITHMS,
    cluster_order,
    frame_keys,
    group_rows,
    mark_array,
    numeric_points,
    run_dbscan,
)
from core.reducers._clustering_shapes import NORMALISE, angle_factor, average, distance_matrix
from core.reducers._subtasks import add_subtask_reductions
from core.registry import ExtractRecord, reducer
from core.shapes import SHAPE_PARAMS, SHAPES

__all__ = ["ShapeDbscanParams", "shape_reducer_dbscan"]

NAME = "shape_reducer_dbscan"

# v1 keys name the tool ``T0_tool1``, v2 keys ``T0_toolIndex1``.
_TOOL = re.compile(r"(T[0-9]+)_(tool[Index]*[0-9]+)")


class ShapeDbscanParams(Params):
    shape: str | None = field_with(None, doc="the drawn shape (required), e.g. 'point', 'circle'")
    symmetric: bool = field_with(False, doc="treat symmetric drawings of a shape as the same")
    eps: float = field_with(5.0, doc="neighbourhood radius in shape-parameter space; > 0")
    eps_t: float = field_with(0.5, doc="time tolerance of the IoU metric (not used by euclidean)")
    min_samples: int = field_with(3, minimum=1)
    algorithm: str = field_with("auto", choices=ALGORITHMS)
    leaf_size: int = field_with(30, minimum=1)
    p: float | None = field_with(None, minimum=0)
    metric_type: str = field_with("euclidean", doc="'euclidean' (any letter case)")
    estimate_average: bool = field_with(False, doc="IoU metric only")
    details: Mapping[str, Any] | None = field_with(
        None, doc='subtask reducers: {"T0_toolIndex0_subtask0": "question_reducer"} (FEM) or v1'
    )

    def __post_init__(self) -> None:
        if self.shape is None:
            raise InvalidParameterError(
                f"{NAME}: 'shape' is required; one of {', '.join(sorted(SHAPES))}"
            )
        if self.shape not in SHAPE_PARAMS:
            raise InvalidParameterError(
                f"{NAME}: 'shape' must be one of {', '.join(sorted(SHAPES))}, got {self.shape!r}"
            )
        if not self.eps > 0:
            raise InvalidParameterError(f"{NAME}: 'eps' must be > 0, got {self.eps!r}")
        metric = self.metric_type.lower()
        if metric == "iou":
            raise InvalidParameterError(
                f"{NAME}: metric_type 'IoU' is not supported yet; use 'euclidean'"
            )
        if metric != "euclidean":
            raise InvalidParameterError(
                f"{NAME}: 'metric_type' must be 'euclidean' or 'IoU', got {self.metric_type!r}"
            )


def _tool_of(key: str) -> str:
    match = _TOOL.search(key)
    if match is None:
        raise MalformedExtractError(
            f"extract key {key!r} does not name a task and tool (like 'T0_tool0_x')", reducer=NAME
        )
    return f"{match.group(1)}_{match.group(2)}"


def _normaliser(shape: str, symmetric: bool):
    normalise = NORMALISE.get(shape) if symmetric else None
    if normalise is None:
        return None

    def checked(row: tuple) -> tuple:
        try:
            return normalise(row)
        except TypeError as exc:
            raise MalformedExtractError(
                f"{shape} mark {row!r} has a non-numeric parameter", reducer=NAME
            ) from exc

    return checked


@reducer(NAME, params=ShapeDbscanParams)
def shape_reducer_dbscan(
    records: Sequence[ExtractRecord], params: ShapeDbscanParams
) -> dict[str, Any]:
    """Cluster each frame's shapes by tool with DBSCAN on their parameters.

    Per frame and tool: ``<tool>_<shape>_<param>`` for every mark, ``<tool>_cluster_labels``;
    with at least ``min_samples`` marks, per cluster (in label order) ``<tool>_clusters_count``
    and ``<tool>_clusters_<param>`` (the mean; an angle is averaged around the circle).
    ``details`` adds subtask reductions; FEM (v2) extracts then also give a top-level
    ``classifier_version``.

    Examples
    --------
    >>> recs = [ExtractRecord({"frame0": {"T0_tool0_x": [1, 1.5, 2], "T0_tool0_y": [1, 1, 1]}})] * 3
    >>> out = shape_reducer_dbscan(recs, ShapeDbscanParams(shape="point", eps=5, min_samples=2))
    >>> out["frame0"]["T0_tool0_clusters_count"], out["frame0"]["T0_tool0_clusters_x"]
    ([9], [1.5])
    """
    shape = params.shape
    assert shape is not None  # checked by the params
    names = SHAPE_PARAMS[shape]
    factor = angle_factor(shape, params.symmetric)
    grouped = group_rows(
        records,
        frame_keys(records),
        _tool_of,
        lambda tool: [f"{tool}_{name}" for name in names],
        _normaliser(shape, params.symmetric),
        reducer=NAME,
    )
    output: dict[str, Any] = {}
    for frame, tools in grouped.items():
        out: dict[str, Any] = {}
        for tool, rows in tools.items():
            where = f"{frame} {tool}"
            if rows or len(names) > 1:
                loc = mark_array(rows, reducer=NAME, where=where)
            else:  # a one-parameter shape with no marks lays out as an empty column
                loc = np.empty((0, 1))
            for i, name in enumerate(names):
                out[f"{tool}_{shape}_{name}"] = loc[:, i].tolist()
            out[f"{tool}_cluster_labels"] = [-1] * loc.shape[0]
            if loc.shape[0] < params.min_samples:
                continue
            points = numeric_points(loc, reducer=NAME, where=where)
            common = {
                "eps": params.eps,
                "min_samples": params.min_samples,
                "algorithm": params.algorithm,
                "leaf_size": params.leaf_size,
                "p": params.p,
            }
            if factor is None:
                labels = run_dbscan(points, reducer=NAME, metric="euclidean", **common)
            else:
                distances = distance_matrix(points, factor)
                labels = run_dbscan(distances, reducer=NAME, metric="precomputed", **common)
            out[f"{tool}_cluster_labels"] = labels.tolist()
            counts: list[int] = []
            centres: list[np.ndarray] = []
            for label in cluster_order(labels):
                members = points[labels == label]
                counts.append(int(members.shape[0]))
                centres.append(average(members, factor))
            if counts:
                out[f"{tool}_clusters_count"] = counts
                for i, name in enumerate(names):
                    out[f"{tool}_clusters_{name}"] = [float(c[i]) for c in centres]
        output[frame] = out
    return add_subtask_reductions(output, records, params.details, reducer=NAME)
