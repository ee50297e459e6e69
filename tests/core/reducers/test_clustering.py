"""The shared clustering helpers: the fast DBSCAN path must label exactly as scikit-learn does."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.cluster import DBSCAN

from core.reducers._clustering import _fast_dbscan, cluster_order, natural_key, run_dbscan
from core.reducers._clustering_shapes import distance_matrix

_points = st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=40).map(
    lambda rows: np.array(rows, dtype=float)
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    _points,
    st.sampled_from([1.0, 2.5, 3.0, 5.0, 7.3]),
    st.integers(1, 5),
    st.sampled_from(["auto", "kd_tree", "ball_tree", "brute"]),
    st.sampled_from([1.0, 0.1, 1 / 3]),
)
def test_euclidean_labels_match_sklearn(points, eps, min_samples, algorithm, scale):
    # Integer grids at eps 5 have exact 3-4-5 ties, which must fall back to sklearn.
    points = points * scale
    kwargs = {
        "eps": eps * scale,
        "min_samples": min_samples,
        "metric": "euclidean",
        "algorithm": algorithm,
        "leaf_size": 30,
        "p": None,
    }
    expected = DBSCAN(**kwargs).fit(points).labels_
    assert run_dbscan(points, reducer="test", **kwargs).tolist() == expected.tolist()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.tuples(st.floats(0, 50), st.floats(0, 360)), min_size=1, max_size=25).map(
        lambda rows: np.array(rows)
    ),
    st.sampled_from([2.0, 10.0, 30.0]),
    st.integers(1, 4),
    st.sampled_from([1, 2, 3]),
)
def test_precomputed_labels_match_sklearn(points, eps, min_samples, factor):
    distances = distance_matrix(points, factor)
    kwargs = {"eps": eps, "min_samples": min_samples, "metric": "precomputed"}
    expected = DBSCAN(**kwargs).fit(distances).labels_
    assert _fast_dbscan(distances, **kwargs).tolist() == expected.tolist()


def test_exact_ties_fall_back_to_sklearn():
    points = np.array([[0.0, 0.0], [3.0, 4.0]])
    assert _fast_dbscan(points, eps=5.0, min_samples=2, metric="euclidean") is None
    assert _fast_dbscan(points, eps=5.5, min_samples=2, metric="euclidean").tolist() == [0, 0]


def test_other_metrics_use_sklearn():
    assert _fast_dbscan(np.zeros((2, 2)), eps=1.0, min_samples=1, metric="manhattan") is None


@pytest.mark.parametrize(
    ("labels", "order"),
    [([1, -1, 0, 1], [0, 1]), ([-1, -1], []), (list(range(40))[::-1], list(range(40)))],
)
def test_cluster_order_is_the_reference_set_order(labels, order):
    assert cluster_order(np.array(labels)) == order


def test_natural_key():
    keys = ["frame10", "frame1", "frame2"]
    assert sorted(keys, key=natural_key) == ["frame1", "frame2", "frame10"]
