"""``point_reducer_hdbscan``: cluster point marks per frame and tool with HDBSCAN."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.params import Params, field_with
from core.reducers._clustering import (
    ALGORITHMS,
    METRICS,
    cluster_order,
    natural_key,
    numeric_points,
    run_hdbscan,
)
from core.reducers._points import point_groups
from core.reducers._subtasks import NO_REDUCER, add_subtask_reductions, counting_details
from core.registry import ExtractRecord, reducer

__all__ = ["PointHdbscanParams", "point_reducer_hdbscan"]

NAME = "point_reducer_hdbscan"


class PointHdbscanParams(Params):
    min_cluster_size: int = field_with(
        5, minimum=2, doc="smallest group of marks kept as a cluster"
    )
    min_samples: int = field_with(3, minimum=1, doc="neighbours defining a core mark")
    metric: str = field_with("euclidean", choices=METRICS)
    algorithm: str = field_with("auto", choices=ALGORITHMS)
    leaf_size: int = field_with(40, minimum=1)
    cluster_selection_method: str = field_with("eom", choices=("eom", "leaf"))
    allow_single_cluster: bool = False
    details: Mapping[str, Any] | None = field_with(
        None, doc='subtask reducers, e.g. {"T0_tool0": ["question_reducer"]}'
    )


@reducer(NAME, params=PointHdbscanParams)
def point_reducer_hdbscan(
    records: Sequence[ExtractRecord], params: PointHdbscanParams
) -> dict[str, Any]:
    """Cluster each frame's points by tool with HDBSCAN; summarise every cluster.

    Keys as ``point_reducer_dbscan`` plus ``<tool>_cluster_probabilities`` (HDBSCAN membership
    strength, 0 for noise). Clustering runs when a tool has at least ``min_cluster_size``
    points. A cluster's centre is the plain mean of its points; its variances are the
    probability-weighted sample covariance (``numpy.cov`` with ``aweights``), as in the reference.

    Examples
    --------
    >>> recs = [
    ...     ExtractRecord({"frame0": {"T0_tool0_x": [1, 2, 3, 50, 51], "T0_tool0_y": [1, 2, 1, 50, 52]}}),
    ...     ExtractRecord({"frame0": {"T0_tool0_x": [2, 52, 200], "T0_tool0_y": [2, 51, 0]}}),
    ... ]
    >>> out = point_reducer_hdbscan(recs, PointHdbscanParams(min_cluster_size=3, min_samples=2))
    >>> out["frame0"]["T0_tool0_cluster_labels"]
    [0, 0, 0, 1, 1, 0, 1, -1]
    >>> out["frame0"]["T0_tool0_clusters_x"], out["frame0"]["T0_tool0_clusters_var_x_y"]
    ([2.0, 51.0], [0.0, 0.5])
    """
    compiled = _compiled_clusters(records, params)
    if compiled is not None:
        return compiled
    output: dict[str, Any] = {}
    for frame, tools in point_groups(records, reducer=NAME).items():
        out: dict[str, Any] = {}
        for tool, loc in tools.items():
            n = loc.shape[0]
            out[f"{tool}_points_x"] = loc[:, 0].tolist()
            out[f"{tool}_points_y"] = loc[:, 1].tolist()
            out[f"{tool}_cluster_labels"] = [-1] * n
            out[f"{tool}_cluster_probabilities"] = [0] * n
            if n < params.min_cluster_size:
                continue
            points = numeric_points(loc, reducer=NAME, where=f"{frame} {tool}")
            labels, probabilities = run_hdbscan(
                points,
                reducer=NAME,
                where=f"{frame} {tool}",
                min_cluster_size=params.min_cluster_size,
                min_samples=params.min_samples,
                metric=params.metric,
                algorithm=params.algorithm,
                leaf_size=params.leaf_size,
                cluster_selection_method=params.cluster_selection_method,
                allow_single_cluster=params.allow_single_cluster,
            )
            out[f"{tool}_cluster_labels"] = labels.tolist()
            out[f"{tool}_cluster_probabilities"] = probabilities.tolist()
            _summarise(out, tool, points, labels, probabilities)
        output[frame] = out
    return add_subtask_reductions(output, records, params.details, reducer=NAME)


try:  # everything below in one compiled pass, for well-formed extracts (optional, as setup.py)
    from core.reducers._points_compiled import point_clusters as _point_clusters
except ImportError:  # pragma: no cover - depends on the install
    _point_clusters = None


def compiled_params(params: PointHdbscanParams) -> bool:
    """Whether the compiled pass (``_points_compiled``) covers these params' clustering.

    >>> compiled_params(PointHdbscanParams()), compiled_params(PointHdbscanParams(metric="l1"))
    (True, False)
    """
    return (
        params.metric == "euclidean"  # as fast_hdbscan covers them
        and params.algorithm in ("auto", "kd_tree")
        and params.cluster_selection_method in ("eom", "leaf")
        and not params.allow_single_cluster
    )


def _compiled_clusters(
    records: Sequence[ExtractRecord], params: PointHdbscanParams
) -> dict[str, Any] | None:
    """:func:`point_reducer_hdbscan`'s output from ``_points_compiled.point_clusters`` (the
    grouping, clustering, summaries and counted subtask answers of this module's Python path in
    one pass), or None where that does not cover the params or the extracts."""
    if _point_clusters is None or not compiled_params(params):
        return None
    counted, details = counting_details(records, params.details)
    if not counted:
        return None
    return _point_clusters(
        records if records.__class__ is list else list(records),
        params.min_cluster_size,
        params.min_samples,
        params.cluster_selection_method == "leaf",
        details,
        natural_key,
        NO_REDUCER,
    )


def weighted_cov(members: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``np.cov(members.T, aweights=weights)`` for 2-D marks, computed the same way without its checks.

    ``np.cov`` validates its arguments in Python (an element-wise ``any`` over the weights, a
    built-in ``sum``), which costs more than the arithmetic for a cluster of a few marks. This
    follows its steps (weighted means, ``ddof = 1`` correction ``V1 - V2 / V1``, sums of weighted
    products) but sums the products with ``ndarray.sum`` rather than a BLAS ``dot``, whose last
    bit depends on memory alignment: the result is the same in every process, and equals
    ``np.cov``'s to about 1e-15 relative (see docs/compatibility.md).

    >>> m = np.array([[1.0, 2.0], [2.0, 4.0], [4.0, 5.0]])
    >>> w = np.array([1.0, 0.5, 0.25])
    >>> bool(np.allclose(weighted_cov(m, w), np.cov(m.T, aweights=w), rtol=1e-12, atol=0))
    True
    """
    total = weights.sum()
    x = members[:, 0] - (members[:, 0] * weights).sum() / total
    y = members[:, 1] - (members[:, 1] * weights).sum() / total
    fact = total - sum((weights * weights).tolist()) / total
    if fact <= 0:
        return np.cov(members.T, aweights=weights)  # its warning and its inf/nan result
    scale = 1.0 / fact
    xw, yw = x * weights, y * weights
    var_x = (x * xw).sum() * scale
    var_y = (y * yw).sum() * scale
    var_xy = (x * yw).sum() * scale
    return np.array([[var_x, var_xy], [var_xy, var_y]])


def _summarise(
    out: dict[str, Any],
    tool: str,
    points: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
) -> None:
    """Count, plain mean and probability-weighted covariance of each cluster.

    All clusters at once: the stream re-clusters a subject on every classification, and a dozen
    numpy calls per cluster cost more than the clustering. HDBSCAN numbers its clusters 0..k-1,
    the order the reference visits them (``set(labels)``). Per-cluster sums run in mark order
    (``np.bincount``), so the results can differ from ``np.mean``/``np.cov`` (pairwise sums) in
    the last bits only; a cluster whose weights make ``np.cov`` divide by zero goes through
    :func:`weighted_cov` for its warning and inf/nan values. The numpy steps below are also
    compiled (``cluster_summaries`` in ``_hdbscan_compiled.pyx``, the same doubles), which is
    what runs on a normal install.
    """
    order = cluster_order(labels)
    if not order:
        return
    k = len(order)
    if order != list(range(k)):  # not HDBSCAN's numbering: one cluster at a time
        _summarise_each(out, tool, points, labels, probabilities, order)
        return
    if _compiled_summaries is not None:
        summaries = _compiled_summaries(
            np.ascontiguousarray(points, dtype=np.float64),
            np.ascontiguousarray(labels, dtype=np.intp),
            np.ascontiguousarray(probabilities, dtype=np.float64),
            k,
        )
        if summaries is not None:
            for key, values in zip(_SUMMARY_KEYS, summaries, strict=True):
                out[f"{tool}_clusters_{key}"] = values
            return
        _summarise_each(out, tool, points, labels, probabilities, order)
        return
    members = labels >= 0
    label = labels[members]
    x, y = points[members, 0], points[members, 1]
    weight = probabilities[members]
    count = np.bincount(label, minlength=k)
    total = np.bincount(label, weight, k)
    centre_x = np.bincount(label, x, k) / count
    centre_y = np.bincount(label, y, k) / count
    with np.errstate(divide="ignore", invalid="ignore"):  # total 0: np.cov's case, below
        dx = x - (np.bincount(label, x * weight, k) / total)[label]
        dy = y - (np.bincount(label, y * weight, k) / total)[label]
        fact = total - np.bincount(label, weight * weight, k) / total
    if not (fact > 0).all():
        _summarise_each(out, tool, points, labels, probabilities, order)
        return
    dxw, dyw = dx * weight, dy * weight
    out[f"{tool}_clusters_count"] = count.tolist()
    out[f"{tool}_clusters_x"] = centre_x.tolist()
    out[f"{tool}_clusters_y"] = centre_y.tolist()
    out[f"{tool}_clusters_var_x"] = (np.bincount(label, dx * dxw, k) / fact).tolist()
    out[f"{tool}_clusters_var_y"] = (np.bincount(label, dy * dyw, k) / fact).tolist()
    out[f"{tool}_clusters_var_x_y"] = (np.bincount(label, dx * dyw, k) / fact).tolist()


_SUMMARY_KEYS = ("count", "x", "y", "var_x", "var_y", "var_x_y")

try:  # the steps below in C, the same doubles (built by `pip install`; optional)
    from core.reducers._hdbscan_compiled import cluster_summaries as _compiled_summaries
except ImportError:  # pragma: no cover - depends on the install
    _compiled_summaries = None


def _summarise_each(
    out: dict[str, Any],
    tool: str,
    points: np.ndarray,
    labels: np.ndarray,
    probabilities: np.ndarray,
    order: list[int],
) -> None:
    keys = _SUMMARY_KEYS
    columns: dict[str, list[Any]] = {k: [] for k in keys}
    for label in order:
        in_cluster = labels == label
        members = points[in_cluster]
        centre = members.mean(axis=0)
        cov = weighted_cov(members, probabilities[in_cluster])
        columns["count"].append(int(in_cluster.sum()))
        columns["x"].append(float(centre[0]))
        columns["y"].append(float(centre[1]))
        columns["var_x"].append(float(cov[0, 0]))
        columns["var_y"].append(float(cov[1, 1]))
        columns["var_x_y"].append(float(cov[0, 1]))
    for key in keys:
        out[f"{tool}_clusters_{key}"] = columns[key]
