"""``point_reducer_dbscan``: cluster point marks per frame and tool with DBSCAN."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.errors import InvalidParameterError
from core.params import Params, field_with
from core.reducers._clustering import (
    ALGORITHMS,
    METRICS,
    cluster_order,
    numeric_points,
    run_dbscan,
)
from core.reducers._points import point_groups
from core.reducers._subtasks import add_subtask_reductions
from core.registry import ExtractRecord, reducer

__all__ = ["PointDbscanParams", "point_reducer_dbscan"]

NAME = "point_reducer_dbscan"


class PointDbscanParams(Params):
    eps: float = field_with(5.0, doc="neighbourhood radius, in pixels; must be > 0")
    min_samples: int = field_with(3, minimum=1, doc="marks needed to form a cluster core")
    metric: str = field_with("euclidean", choices=METRICS)
    algorithm: str = field_with("auto", choices=ALGORITHMS)
    leaf_size: int = field_with(30, minimum=1)
    p: float | None = field_with(None, minimum=0, doc="Minkowski power (metric 'minkowski')")
    details: Mapping[str, Any] | None = field_with(
        None, doc='subtask reducers, e.g. {"T0_tool0": ["question_reducer"]}'
    )

    def __post_init__(self) -> None:
        if not self.eps > 0:
            raise InvalidParameterError(f"{NAME}: 'eps' must be > 0, got {self.eps!r}")


@reducer(NAME, params=PointDbscanParams)
def point_reducer_dbscan(
    records: Sequence[ExtractRecord], params: PointDbscanParams
) -> dict[str, Any]:
    """Cluster each frame's points by tool with DBSCAN; summarise every cluster.

    Per frame and tool: ``<tool>_points_x`` / ``_points_y`` (every point, ``None`` coordinates
    dropped), ``_cluster_labels`` (-1 = noise). When there are at least ``min_samples`` points,
    per cluster (in label order): ``_clusters_count``, ``_clusters_x`` / ``_clusters_y`` (mean)
    and ``_clusters_var_x`` / ``_var_y`` / ``_var_x_y`` (sample covariance, ``None`` for a
    one-point cluster). ``details`` adds subtask reductions (see ``core.reducers._subtasks``).

    Examples
    --------
    >>> recs = [ExtractRecord({"frame0": {"T0_tool0_x": [1, 2], "T0_tool0_y": [1, 3]}}),
    ...         ExtractRecord({"frame0": {"T0_tool0_x": [1.5, 50], "T0_tool0_y": [2, 50]}})]
    >>> out = point_reducer_dbscan(recs, PointDbscanParams())
    >>> out["frame0"]["T0_tool0_cluster_labels"], out["frame0"]["T0_tool0_clusters_x"]
    ([0, 0, 0, -1], [1.5])
    >>> out["frame0"]["T0_tool0_clusters_var_y"]
    [1.0]
    """
    output: dict[str, Any] = {}
    for frame, tools in point_groups(records, reducer=NAME).items():
        out: dict[str, Any] = {}
        for tool, loc in tools.items():
            out[f"{tool}_points_x"] = loc[:, 0].tolist()
            out[f"{tool}_points_y"] = loc[:, 1].tolist()
            out[f"{tool}_cluster_labels"] = [-1] * loc.shape[0]
            if loc.shape[0] < params.min_samples:
                continue
            points = numeric_points(loc, reducer=NAME, where=f"{frame} {tool}")
            labels = run_dbscan(
                points,
                reducer=NAME,
                eps=params.eps,
                min_samples=params.min_samples,
                metric=params.metric,
                algorithm=params.algorithm,
                leaf_size=params.leaf_size,
                p=params.p,
            )
            out[f"{tool}_cluster_labels"] = labels.tolist()
            _summarise(out, tool, points, labels)
        output[frame] = out
    return add_subtask_reductions(output, records, params.details, reducer=NAME)


def _summarise(out: dict[str, Any], tool: str, points: np.ndarray, labels: np.ndarray) -> None:
    """Count, mean and sample covariance of each cluster, in the reference's order."""
    keys = ("count", "x", "y", "var_x", "var_y", "var_x_y")
    columns: dict[str, list[Any]] = {k: [] for k in keys}
    for label in cluster_order(labels):
        members = points[labels == label]
        centre = members.mean(axis=0)
        columns["count"].append(int(members.shape[0]))
        columns["x"].append(float(centre[0]))
        columns["y"].append(float(centre[1]))
        if members.shape[0] > 1:
            cov = np.cov(members.T)
            columns["var_x"].append(float(cov[0, 0]))
            columns["var_y"].append(float(cov[1, 1]))
            columns["var_x_y"].append(float(cov[0, 1]))
        else:
            columns["var_x"].append(None)
            columns["var_y"].append(None)
            columns["var_x_y"].append(None)
    if columns["count"]:
        for key in keys:
            out[f"{tool}_clusters_{key}"] = columns[key]
