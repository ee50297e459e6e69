"""Clustering helpers shared by the point and shape reducers.

The reference groups every extract's marks by frame and tool, clusters each group with
scikit-learn, and summarises each cluster. These helpers reproduce the parts whose details show
in the output:

* marks are collected in extract order, one ``(x, y, ...)`` row per mark (lists of unequal length
  are cut to the shortest, as ``zip`` does);
* the all-marks lists keep numpy's type inference (ints stay ints, a ``None`` stays ``None``);
* clusters are visited in the order of ``set(labels)``, the reference's loop order;
* frames and tools come out in natural order (``frame2`` before ``frame10``). The reference uses
  ``set`` order of strings there, which changes from run to run with Python's hash seed; natural
  order is the deterministic choice (see docs/compatibility.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from core.errors import InvalidParameterError, MalformedExtractError
from core.reducers._hdbscan import fast_hdbscan
from core.registry import ExtractRecord

__all__ = [
    "ALGORITHMS",
    "METRICS",
    "cluster_order",
    "dbscan_labels",
    "frame_keys",
    "mark_array",
    "natural_key",
    "numeric_points",
    "run_dbscan",
    "run_hdbscan",
]

#: Distance metrics accepted for clustering marks (numeric metrics scikit-learn's neighbour
#: searches support; a metric/algorithm pair it rejects is reported when clustering runs).
METRICS: tuple[str, ...] = (
    "braycurtis",
    "canberra",
    "chebyshev",
    "cityblock",
    "correlation",
    "cosine",
    "euclidean",
    "haversine",
    "infinity",
    "l1",
    "l2",
    "manhattan",
    "minkowski",
    "seuclidean",
    "sqeuclidean",
)

#: Neighbour-search algorithms of scikit-learn's DBSCAN and HDBSCAN.
ALGORITHMS: tuple[str, ...] = ("auto", "ball_tree", "kd_tree", "brute")

_DIGITS = re.compile(r"(\d+)")


def natural_key(text: str) -> tuple[Any, ...]:
    """Sort key that orders the numbers inside a string by value.

    >>> sorted(["frame10", "frame2", "T1_tool0", "T0_tool10", "T0_tool9"], key=natural_key)
    ['T0_tool9', 'T0_tool10', 'T1_tool0', 'frame2', 'frame10']
    """
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(text))


def frame_keys(records: Sequence[ExtractRecord]) -> list[str]:
    """Every ``frameN`` key of any extract, in natural order."""
    seen: set[str] = set()
    for record in records:
        seen.update(k for k in record.data if isinstance(k, str) and k.startswith("frame"))
    return sorted(seen, key=natural_key)


def group_rows(
    records: Sequence[ExtractRecord],
    frames: Iterable[str],
    tool_of: Callable[[str], str],
    columns_of: Callable[[str], Sequence[str]],
    transform: Callable[[tuple], tuple] | None = None,
    *,
    reducer: str,
) -> dict[str, dict[str, list[tuple]]]:
    """``{frame: {tool: [row, ...]}}`` with one row per mark, in extract order.

    ``tool_of`` maps an extract key to its tool prefix; ``columns_of(tool)`` names the keys whose
    lists are zipped into rows. An extract contributes rows for a tool only when it has every
    column. A tool seen in a frame always gets an entry, possibly empty.
    """
    grouped: dict[str, dict[str, list[tuple]]] = {}
    tool_of_key: dict[str, str] = {}  # the same few keys come back in every extract
    for frame in frames:
        frame_data = [_frame_of(record, frame) for record in records]
        tools: set[str] = set()
        for data in frame_data:
            for key in data:
                tool = tool_of_key.get(key)
                if tool is None:
                    tool = tool_of_key[key] = tool_of(key)
                tools.add(tool)
        by_tool: dict[str, list[tuple]] = {}
        for tool in sorted(tools, key=natural_key):
            rows: list[tuple] = []
            columns = columns_of(tool)
            for data in frame_data:
                lists = []
                for c in columns:
                    if c not in data:
                        break
                    lists.append(data[c])
                else:
                    for c, values in zip(columns, lists, strict=True):
                        if values.__class__ is not list and not isinstance(values, list | tuple):
                            raise MalformedExtractError(
                                f"{frame} {c} must be a list with one value per mark, "
                                f"got {values!r:.80}",
                                reducer=reducer,
                            )
                    new = zip(*lists, strict=False)
                    rows.extend(map(transform, new) if transform else new)
            by_tool[tool] = rows
        grouped[frame] = by_tool
    return grouped


def _frame_of(record: ExtractRecord, frame: str) -> Mapping[str, Any]:
    value = record.data.get(frame)
    return value if value.__class__ is dict or isinstance(value, Mapping) else {}


def mark_array(rows: Sequence[tuple], *, reducer: str, where: str) -> np.ndarray:
    """The rows as a 2-D numpy array, with numpy's own type inference (as the reference builds it).

    An empty group cannot be laid out as columns; the reference fails there with an IndexError.
    """
    if not rows:
        raise MalformedExtractError(
            f"{where} has keys but no complete marks (empty or all-None coordinate lists)",
            reducer=reducer,
        )
    try:
        array = np.array(rows)
    except ValueError as exc:
        raise MalformedExtractError(
            f"{where}: mark values are not scalars ({exc})", reducer=reducer
        ) from exc
    if array.ndim != 2:
        raise MalformedExtractError(f"{where}: mark values are not scalars", reducer=reducer)
    return array


def numeric_points(array: np.ndarray, *, reducer: str, where: str) -> np.ndarray:
    """``array`` as finite float64, or a clear error (scikit-learn would raise a bare ValueError)."""
    if array.dtype.kind not in "biuf":
        raise MalformedExtractError(
            f"{where}: marks to cluster must be numbers, got {array.tolist()!r:.200}",
            reducer=reducer,
        )
    points = array.astype(np.float64)
    if not np.isfinite(points).all():
        raise MalformedExtractError(
            f"{where}: marks to cluster contain NaN or infinity", reducer=reducer
        )
    return points


def cluster_order(labels: np.ndarray) -> list[int]:
    """Cluster labels (noise excluded) in the order the reference visits them, ``set(labels)``.

    >>> cluster_order(np.array([1, -1, 0, 1]))
    [0, 1]
    """
    return [k for k in set(labels.tolist()) if k > -1]


#: Above this many marks the dense pairwise matrices of the fast path cost more than sklearn.
FAST_DBSCAN_MAX_POINTS = 1500


def run_dbscan(points: np.ndarray, *, reducer: str, **kwargs: Any) -> np.ndarray:
    """DBSCAN labels of ``points``, exactly as scikit-learn's ``DBSCAN(**kwargs)`` labels them.

    For the euclidean metric and for precomputed distances a dense numpy version runs instead
    (:func:`dbscan_labels`): scikit-learn spends ~10 ms per call on validation and dispatch, more
    than the clustering itself for a subject's marks. It falls back to scikit-learn when a pair of
    marks lies so close to ``eps`` that floating-point rounding in scikit-learn's neighbour search
    could decide it either way. scikit-learn's parameter errors become InvalidParameterError.
    """
    labels = _fast_dbscan(points, **kwargs)
    if labels is not None:
        return labels
    from sklearn.cluster import DBSCAN

    try:
        return DBSCAN(**kwargs).fit(points).labels_
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{reducer}: DBSCAN rejected the parameters: {exc}") from exc


def _fast_dbscan(
    points: np.ndarray, *, eps: float, min_samples: int, metric: str, **_: Any
) -> np.ndarray | None:
    n = points.shape[0]
    if n > FAST_DBSCAN_MAX_POINTS:
        return None
    if metric == "precomputed":
        return dbscan_labels(points <= eps, min_samples)
    if metric != "euclidean":
        return None
    # Summed column by column, in the order scikit-learn's k-d tree sums them.
    squared = np.zeros((n, n))
    for column in points.T:
        diff = column[:, None] - column[None, :]
        squared += diff * diff
    radius2 = eps * eps
    # scikit-learn computes these distances in other ways (k-d tree, or |x|^2 - 2x.y + |y|^2 for
    # small inputs); they agree with ours except within rounding error of the radius.
    scale = radius2 + float(np.einsum("ij,ij->i", points, points).max(initial=0.0))
    if np.any(np.abs(squared - radius2) <= 1e-10 * scale):
        return None
    return dbscan_labels(squared <= radius2, min_samples)


def dbscan_labels(adjacency: np.ndarray, min_samples: int) -> np.ndarray:
    """DBSCAN labels from a symmetric boolean "within eps" matrix (diagonal included).

    Same result as scikit-learn's ``dbscan_inner``: core marks have at least ``min_samples``
    neighbours (themselves included); clusters are the connected groups of core marks, numbered
    in order of their lowest-indexed mark; a non-core mark joins the lowest-numbered cluster it
    neighbours, if any (scikit-learn expands clusters one at a time in that order).

    >>> a = np.array([[1, 1, 0, 0], [1, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]], dtype=bool)
    >>> dbscan_labels(a, 2).tolist(), dbscan_labels(a, 3).tolist()
    ([0, 0, 0, -1], [0, 0, 0, -1])
    """
    n = adjacency.shape[0]
    labels = np.full(n, -1, dtype=np.intp)
    core = adjacency.sum(axis=1) >= min_samples
    core_idx = np.flatnonzero(core)
    if core_idx.size == 0:
        return labels
    _, rank = np.unique(
        _lowest_reachable(adjacency[np.ix_(core_idx, core_idx)]), return_inverse=True
    )
    labels[core_idx] = rank
    border_idx = np.flatnonzero(~core)
    if border_idx.size:
        touching = adjacency[np.ix_(border_idx, core_idx)]
        candidates = np.where(touching, labels[core_idx][None, :], n)
        nearest = candidates.min(axis=1)
        joined = nearest < n
        labels[border_idx[joined]] = nearest[joined]
    return labels


def _lowest_reachable(adjacency: np.ndarray) -> np.ndarray:
    """For each node, the lowest index in its connected component (diagonal must be True).

    Minimum-label propagation with pointer jumping: each round a node takes the lowest label
    among its neighbours, then the label of that label. Labels only decrease and always point to
    a node of the same component at or below the node, so the loop ends, and it ends with every
    component labelled by its lowest index.
    """
    m = adjacency.shape[0]
    label = np.arange(m)
    while True:
        lowest = np.where(adjacency, label[None, :], m).min(axis=1)
        lowest = lowest[lowest]
        if np.array_equal(lowest, label):
            return label
        label = lowest


def run_hdbscan(
    points: np.ndarray, *, reducer: str, where: str = "marks", **kwargs: Any
) -> tuple[np.ndarray, np.ndarray]:
    """HDBSCAN labels and membership probabilities of ``points``, exactly as scikit-learn's.

    The common case (euclidean, up to a few hundred marks) runs :func:`fast_hdbscan`, which
    gives scikit-learn's results ten times faster; anything else runs ``HDBSCAN.fit``.
    scikit-learn refuses ``min_samples`` larger than the number of marks (the reference crashes
    there); that and other parameter errors become InvalidParameterError. Marks so far apart
    that their distances overflow leave nothing to cluster (scikit-learn fails or never returns):
    a MalformedExtractError naming ``where``.
    """
    n = points.shape[0]
    if kwargs.get("min_samples") is not None and kwargs["min_samples"] > n:
        raise InvalidParameterError(
            f"{reducer}: min_samples ({kwargs['min_samples']}) is larger than the number of marks "
            f"({n}); lower min_samples to at most min_cluster_size"
        )
    try:
        fast = fast_hdbscan(points, **kwargs)
    except OverflowError as exc:
        raise MalformedExtractError(
            f"{where}: marks are so far apart that the distances between them overflow "
            "(coordinates of about 1e154 or more); fix or drop those coordinates",
            reducer=reducer,
        ) from exc
    if fast is not None:
        return fast
    from sklearn.cluster import HDBSCAN

    try:
        fitted = HDBSCAN(copy=True, **kwargs).fit(points)
    except (ValueError, TypeError) as exc:
        raise InvalidParameterError(f"{reducer}: HDBSCAN rejected the parameters: {exc}") from exc
    return fitted.labels_, fitted.probabilities_
