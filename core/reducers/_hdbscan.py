"""HDBSCAN for a subject's marks: scikit-learn's results, without its per-call overhead.

``sklearn.cluster.HDBSCAN(...).fit`` costs about 3.7 ms on a typical frame of 30-60 marks, and
almost none of it is clustering: parameter validation, a k-d tree built and queried through
joblib for the core distances, Python objects in the condensed tree. Tally clusters every frame
of every subject (and, live, again on every update), so this module computes the same labels and
membership probabilities with dense numpy arrays and short Python loops (about 0.3 ms).

"The same" means bit for bit, not approximately: every step follows scikit-learn's algorithm
(``sklearn/cluster/_hdbscan``: ``_hdbscan_prims``, ``mst_from_data_matrix``,
``make_single_linkage``, ``tree_to_labels``) including its tie-breaking, so the output is
identical whenever scikit-learn's own floating-point results are:

1. core distance: the distance to the ``min_samples``-th nearest mark, the mark itself counted
   first (what ``NearestNeighbors.kneighbors`` returns; sqrt of the column-by-column sum of
   squared differences, as the k-d tree computes it);
2. minimum spanning tree of the mutual reachability distances ``max(core_i, core_j, d_ij)`` by
   Prim's algorithm from mark 0, taking at each step the lowest-indexed mark of smallest
   reachability and, for equal reachabilities, the earliest tree mark as its source;
3. edges sorted with ``np.argsort`` (same algorithm, same input, same permutation) and merged
   into a single-linkage tree with a union-find;
4. the condensed tree in breadth-first order, cluster stabilities summed row by row, clusters
   selected by excess of mass (or leaves), labels and probabilities.

The same steps are compiled (``_hdbscan_compiled.pyx``, built by ``pip install``): they take
about a tenth of the time of the Python steps here, which stay as their readable specification and
as the fallback on a machine without a C compiler. Tests hold both to scikit-learn's results.

Only the case Tally's reducers meet is covered: euclidean distances, ``algorithm`` ``auto`` or
``kd_tree``, no ``allow_single_cluster``, ``cluster_selection_epsilon = 0``, no maximum cluster
size, at most :data:`MAX_POINTS` marks. :func:`fast_hdbscan` returns ``None`` for anything else
and the caller runs scikit-learn. ``tests/core/reducers/test_hdbscan_fast.py`` compares the two on
random, clumped, duplicated and collinear point sets.

>>> pts = np.array([[0, 0], [0, 1], [1, 0], [1, 1], [9, 9], [9, 10], [10, 9], [10, 10], [50, 0]])
>>> labels, probabilities = fast_hdbscan(pts.astype(float), min_cluster_size=3, min_samples=2)
>>> labels.tolist(), probabilities.tolist()
([0, 0, 0, 0, 1, 1, 1, 1, -1], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

__all__ = ["MAX_POINTS", "fast_hdbscan", "use_compiled_spanning_tree"]

#: Up to this many marks the spanning tree is built in plain Python (numpy's per-call cost
#: dominates for small arrays).
SMALL = 64

#: Above this many marks the dense n x n distance matrix (8 n^2 bytes) gets too big; scikit-learn
#: (a k-d tree) takes over. Below it this path is faster even counting scikit-learn's 1.4 s import.
MAX_POINTS = 2000


def fast_hdbscan(
    points: np.ndarray,
    *,
    min_cluster_size: int,
    min_samples: int | None,
    metric: str = "euclidean",
    algorithm: str = "auto",
    cluster_selection_method: str = "eom",
    allow_single_cluster: bool = False,
    leaf_size: int = 40,  # the k-d tree's; no effect on the result
    **others: object,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Labels and probabilities as ``HDBSCAN(...).fit(points)`` gives them, or None if not covered.

    ``points`` is a float64 array of shape (n, d) with finite values, n >= 2 and
    ``min_samples <= n`` (the caller checks what scikit-learn would reject). OverflowError when
    distances too large for a double (marks ~1e154 apart) leave some marks unreachable.
    """
    n = points.shape[0]
    if (
        others  # e.g. cluster_selection_epsilon, max_cluster_size: not implemented here
        or metric != "euclidean"
        or algorithm not in ("auto", "kd_tree")
        or cluster_selection_method not in ("eom", "leaf")
        or allow_single_cluster
        or not 2 <= n <= MAX_POINTS
    ):
        return None
    k = min_cluster_size if min_samples is None else min_samples
    if not 1 <= k <= n:
        return None
    if _compiled_labels is not None and min_cluster_size >= 2:
        return _compiled_labels(
            np.ascontiguousarray(points, dtype=np.float64),
            min_cluster_size,
            k,
            cluster_selection_method == "leaf",
        )
    distances = _pairwise_euclidean(points)
    core = np.partition(distances, k - 1, axis=1)[:, k - 1]
    if _COMPILED_PRIM:
        sources, targets, weights = _COMPILED_PRIM[0](points, core)
    elif n <= SMALL:
        sources, targets, weights = _prim_mst_small(distances.tolist(), core.tolist())
    else:
        sources, targets, weights = _prim_mst(distances, core)
    if math.isinf(weights.max()):  # some marks infinitely far from the rest (see _prim_mst_small)
        raise OverflowError(_UNREACHABLE)
    order = np.argsort(weights)
    hierarchy = _single_linkage(sources[order], targets[order], weights[order], n)
    condensed = _condense(hierarchy, n, min_cluster_size)
    return _labels_and_probabilities(condensed, n, cluster_selection_method)


_UNREACHABLE = "fast_hdbscan: distances overflow: no finite spanning tree"

try:  # the same steps compiled (setup.py builds them; optional, for machines without a compiler)
    from core.reducers._hdbscan_compiled import hdbscan_labels as _compiled_labels
except ImportError:  # pragma: no cover - depends on the install
    _compiled_labels = None


#: scikit-learn's compiled Prim, once :func:`use_compiled_spanning_tree` loaded it (empty: the
#: Python steps below). A speed switch only: both give the same edges in the same order.
_COMPILED_PRIM: list[Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, ...]]] = []


def use_compiled_spanning_tree() -> bool:
    """Cluster with compiled code from now on; True if it is in use.

    With this module's own compiled steps built (the normal install), they are in use already
    and nothing needs loading. Without them, scikit-learn's compiled Prim takes over the
    spanning tree (:func:`_load_sklearn_prim`).
    """
    if _compiled_labels is not None:
        return True
    return _load_sklearn_prim()


def _load_sklearn_prim() -> bool:
    """Build spanning trees with scikit-learn's compiled Prim from now on; True if it is in use.

    The spanning tree is most of the clustering time on a frame of a hundred marks (about 0.9
    ms in Python, 0.1 ms compiled), but loading it imports ``sklearn.cluster`` (about 1.5 s).
    Long-running processes that re-cluster subjects on every classification (the stream worker)
    call this once; one-shot commands keep the Python steps. The results do not change:
    ``mst_from_data_matrix`` is the function the Python steps reproduce, and it is checked
    against them here on a few point sets before it is used (on any difference, or if this
    scikit-learn lacks it, the Python steps stay): a grid and duplicates for the tie-breaking,
    fractional 2-D and 3-D marks for the last bits of the distances (the edge weights are
    scikit-learn's own distances, so a build that sums them another way fails the check).
    """
    if _COMPILED_PRIM:
        return True
    try:
        from sklearn.cluster._hdbscan._linkage import mst_from_data_matrix
        from sklearn.metrics._dist_metrics import DistanceMetric64

        euclidean = DistanceMetric64.get_metric("euclidean")

        def compiled(points: np.ndarray, core: np.ndarray) -> tuple[np.ndarray, ...]:
            edges = mst_from_data_matrix(
                np.ascontiguousarray(points, dtype=np.float64),
                np.ascontiguousarray(core, dtype=np.float64),
                euclidean,
                1.0,
            )
            return (
                edges["current_node"].astype(np.intp),
                edges["next_node"].astype(np.intp),
                edges["distance"].astype(np.float64),
            )

        # Ties (a grid, duplicates) and marks with fractional coordinates, where a compiled
        # distance summed another way (a fused multiply-add) would differ in the last bit.
        rng = np.random.default_rng(20261128)
        grid = np.array([[x % 5, (x * 7) % 4] for x in range(40)], dtype=float)
        clicks = rng.normal(size=(60, 2)) * 37.3 + rng.uniform(0, 900, size=(1, 2))
        for points in (grid, np.vstack([clicks, clicks[:7]]), rng.uniform(0, 1e3, (90, 3))):
            distances = _pairwise_euclidean(points)
            core = np.partition(distances, 2, axis=1)[:, 2]
            expected = _prim_mst(distances, core)
            got = compiled(points, core)
            if not all(np.array_equal(a, b) for a, b in zip(expected, got, strict=True)):
                return False
    except Exception:  # noqa: BLE001 - another scikit-learn: keep the Python steps
        return False
    _COMPILED_PRIM.append(compiled)
    return True


def _pairwise_euclidean(points: np.ndarray) -> np.ndarray:
    """Distances summed column by column, the order scikit-learn's distance metric uses."""
    columns = iter(points.T)
    first = next(columns)
    squared = np.subtract.outer(first, first)
    squared *= squared  # 0 + dx * dx, exactly as the first term of the running sum
    for column in columns:
        diff = np.subtract.outer(column, column)
        diff *= diff
        squared += diff
    return np.sqrt(squared, out=squared)


def _prim_mst_small(
    distances: list[list[float]], core: list[float]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_prim_mst` in plain Python: faster than numpy calls for a few dozen marks."""
    n = len(core)
    best = [math.inf] * n
    source = [0] * n
    outside = list(range(1, n))
    sources, targets, weights = [], [], []
    current = 0
    for _ in range(n - 1):
        own_core = core[current]
        row = distances[current]
        nearest, nearest_reach = -1, math.inf
        for j in outside:
            reach = row[j]
            if core[j] > reach:
                reach = core[j]
            if own_core > reach:
                reach = own_core
            if reach < best[j]:  # strictly: on a tie the earlier source stays
                best[j] = reach
                source[j] = current
            if best[j] < nearest_reach:  # strictly: the lowest index wins a tie
                nearest, nearest_reach = j, best[j]
        if nearest == -1:
            # Every mark left is infinitely far (distances overflow): no tree joins them.
            # scikit-learn (and _prim_mst) add a self-loop of mark 0 here, after which it fails or
            # never returns.
            raise OverflowError(_UNREACHABLE)
        sources.append(source[nearest])
        targets.append(nearest)
        weights.append(nearest_reach)
        outside.remove(nearest)
        current = nearest
    return np.array(sources, dtype=np.intp), np.array(targets, dtype=np.intp), np.array(weights)


def _prim_mst(distances: np.ndarray, core: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Edges of the minimum spanning tree in the order ``mst_from_data_matrix`` adds them.

    The graph is the mutual reachability ``max(core_i, core_j, d_ij)``, one row at a time.
    """
    n = distances.shape[0]
    best = np.full(n, np.inf)  # smallest reachability from the tree, +inf once in the tree
    source = np.zeros(n, dtype=np.intp)
    outside = np.ones(n, dtype=bool)
    sources = np.empty(n - 1, dtype=np.intp)
    targets = np.empty(n - 1, dtype=np.intp)
    weights = np.empty(n - 1)
    row = np.empty(n)
    closer = np.empty(n, dtype=bool)
    current = 0
    for i in range(n - 1):
        outside[current] = False
        best[current] = np.inf
        np.maximum(distances[current], core, out=row)
        np.maximum(row, core[current], out=row)
        # Strictly smaller only: on a tie the earlier source stays, as in scikit-learn.
        np.less(row, best, out=closer)
        closer &= outside
        np.copyto(best, row, where=closer)
        np.copyto(source, current, where=closer)
        nxt = int(best.argmin())  # lowest index among equal minima
        sources[i] = source[nxt]
        targets[i] = nxt
        weights[i] = best[nxt]
        current = nxt
    return sources, targets, weights


def _single_linkage(
    sources: np.ndarray, targets: np.ndarray, weights: np.ndarray, n: int
) -> list[tuple[int, int, float, int]]:
    """``(left, right, distance, size)`` merges, as ``make_single_linkage`` builds them."""
    parent = [-1] * (2 * n - 1)
    size = [1] * n + [0] * (n - 1)
    next_label = n
    merges = []
    for a, b, w in zip(sources.tolist(), targets.tolist(), weights.tolist(), strict=True):
        ra, rb = _find(parent, a), _find(parent, b)
        merges.append((ra, rb, w, size[ra] + size[rb]))
        parent[ra] = parent[rb] = next_label
        size[next_label] = size[ra] + size[rb]
        next_label += 1
    return merges


def _find(parent: list[int], node: int) -> int:
    root = node
    while parent[root] != -1:
        root = parent[root]
    while parent[node] != -1 and parent[node] != root:
        parent[node], node = root, parent[node]
    return root


def _bfs(hierarchy: list[tuple[int, int, float, int]], root: int, n: int) -> list[int]:
    """Nodes below ``root`` (itself included) level by level, left before right."""
    result: list[int] = []
    queue = [root]
    while queue:
        result.extend(queue)
        queue = [child for node in queue if node >= n for child in hierarchy[node - n][:2]]
    return result


def _condense(
    hierarchy: list[tuple[int, int, float, int]], n: int, min_cluster_size: int
) -> list[tuple[int, int, float, int]]:
    """Condensed tree rows ``(parent cluster, child, lambda, child size)`` in scikit-learn's order.

    Clusters are numbered from ``n`` (the root) in the order they are born; a child below ``n``
    is a mark falling out of its cluster at ``lambda = 1 / distance``.
    """
    root = 2 * (n - 1)
    relabel = {root: n}
    next_label = n + 1
    rows: list[tuple[int, int, float, int]] = []
    ignored: set[int] = set()
    for node in _bfs(hierarchy, root, n):
        if node < n or node in ignored:
            continue
        left, right, distance, _ = hierarchy[node - n]
        lam = 1.0 / distance if distance > 0.0 else math.inf
        left_count = hierarchy[left - n][3] if left >= n else 1
        right_count = hierarchy[right - n][3] if right >= n else 1
        label = relabel[node]
        if left_count >= min_cluster_size and right_count >= min_cluster_size:
            relabel[left] = next_label
            rows.append((label, next_label, lam, left_count))
            relabel[right] = next_label + 1
            rows.append((label, next_label + 1, lam, right_count))
            next_label += 2
            continue
        if left_count >= min_cluster_size:
            relabel[left] = label  # the cluster goes on in its large child
            dropped = (right,)
        elif right_count >= min_cluster_size:
            relabel[right] = label
            dropped = (left,)
        else:
            dropped = (left, right)
        for child in dropped:
            for sub in _bfs(hierarchy, child, n):
                if sub < n:
                    rows.append((label, sub, lam, 1))
                ignored.add(sub)
    return rows


def _labels_and_probabilities(
    rows: list[tuple[int, int, float, int]], n: int, method: str
) -> tuple[np.ndarray, np.ndarray]:
    root = n
    # Stability: sum over a cluster's rows of (lambda - the cluster's birth lambda) * size,
    # accumulated in row order (float addition order matters for ties between clusters).
    birth = {root: 0.0}
    for _, child, lam, size in rows:
        if size > 1:
            birth[child] = lam
    stability: dict[int, float] = {}
    children: dict[int, list[int]] = {}
    up: dict[int, int] = {}
    for parent, child, lam, size in rows:
        stability[parent] = stability.get(parent, 0.0) + (lam - birth[parent]) * size
        up[child] = parent
        if size > 1:
            children.setdefault(parent, []).append(child)
    clusters = sorted(stability, reverse=True)[:-1]  # every cluster but the root
    if method == "eom":
        selected = dict.fromkeys(clusters, True)
        for node in clusters:  # children before parents: labels grow with depth
            below = sum(stability[c] for c in children.get(node, ()))
            if below > stability[node]:
                selected[node] = False
                stability[node] = below
            else:
                stack = list(children.get(node, ()))
                while stack:
                    sub = stack.pop()
                    selected[sub] = False
                    stack.extend(children.get(sub, ()))
        chosen = sorted(c for c, keep in selected.items() if keep)
    else:  # leaf: clusters without cluster children
        chosen = sorted(c for c in clusters if c not in children)
    label_of = {c: i for i, c in enumerate(chosen)}
    # Max lambda of a chosen cluster's own rows (its last contiguous run, as scikit-learn reads
    # it; the runs of one cluster only grow in lambda, so this is the maximum).
    death: dict[int, float] = {}
    previous = None
    for parent, _, lam, _ in rows:
        if parent != previous:
            death[parent] = lam
            previous = parent
        elif lam > death[parent]:
            death[parent] = lam
    labels = np.full(n, -1, dtype=np.intp)
    probabilities = np.zeros(n)
    for _, child, lam, size in rows:
        if size > 1:
            continue
        node = up[child]
        while node not in label_of and node != root:
            node = up[node]
        if node == root:
            continue
        labels[child] = label_of[node]
        max_lambda = death[node]
        if max_lambda == 0.0 or math.isinf(lam):
            probabilities[child] = 1.0
        else:
            probabilities[child] = min(lam, max_lambda) / max_lambda
    return labels, probabilities
