"""``fast_hdbscan`` gives scikit-learn's HDBSCAN labels and probabilities bit for bit.

The reference clusters with ``sklearn.cluster.HDBSCAN``; Tally's fast path must not change a
single label or probability, so every case compares exact equality, on the shapes marks take in
practice (clumps of volunteers' clicks around objects, noise) and on the degenerate ones where
tie-breaking decides (duplicated marks, integer grids, collinear marks, n = min_samples).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import HDBSCAN

from core.reducers import _hdbscan as hdbscan_module
from core.reducers._hdbscan import MAX_POINTS, fast_hdbscan


def sklearn_fit(points: np.ndarray, **params) -> tuple[np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fitted = HDBSCAN(copy=True, **params).fit(points)
    return fitted.labels_, fitted.probabilities_


@pytest.fixture(params=["compiled", "python"])
def steps(request, monkeypatch) -> str:
    """Each test below runs twice: with the compiled steps and with the Python ones."""
    if request.param == "python":
        monkeypatch.setattr(hdbscan_module, "_compiled_labels", None)
    return request.param


def test_compiled_steps_are_built() -> None:
    # setup.py marks the extension optional (an install without a compiler still works); here,
    # with a compiler, a failed build must not pass unnoticed as a slow fallback.
    assert hdbscan_module._compiled_labels is not None, "run `make install` to build it"


def test_compiled_and_python_steps_agree_exactly(monkeypatch) -> None:
    # Larger sets than the scikit-learn comparisons (which are slow): past the 64-mark switch
    # between the two Python spanning trees, 3-D marks, duplicated marks.
    rng = np.random.default_rng(20261129)
    cases = list(point_sets(seed=21, count=300))
    for n in (65, 120, 400):
        clicks = rng.normal(size=(n, 2)) * rng.uniform(1, 40) + rng.uniform(0, 900, (1, 2))
        cases.append((np.vstack([clicks, clicks[: n // 5]]), 5, 3))
        cases.append((rng.uniform(0, 500, (n, 3)), 4, 4))
    for points, min_cluster_size, min_samples in cases:
        for method in ("eom", "leaf"):
            params = dict(
                min_cluster_size=min_cluster_size,
                min_samples=min_samples,
                cluster_selection_method=method,
            )
            compiled = fast_hdbscan(points, **params)
            with monkeypatch.context() as patch:
                patch.setattr(hdbscan_module, "_compiled_labels", None)
                python = fast_hdbscan(points, **params)
            np.testing.assert_array_equal(compiled[0], python[0])
            np.testing.assert_array_equal(compiled[1], python[1])


def assert_same(points: np.ndarray, **params) -> None:
    got = fast_hdbscan(points, **params)
    assert got is not None
    labels, probabilities = sklearn_fit(points, **params)
    np.testing.assert_array_equal(got[0], labels)
    np.testing.assert_array_equal(got[1], probabilities)


def point_sets(seed: int, count: int):
    rng = np.random.default_rng(seed)
    for index in range(count):
        n = int(rng.integers(2, 90))
        kind = index % 5
        if kind == 0:  # volunteers' clicks around a few objects
            centres = rng.uniform(0, 2000, size=(int(rng.integers(1, 8)), 2))
            points = centres[rng.integers(0, len(centres), n)]
            points = points + rng.normal(size=(n, 2)) * rng.uniform(1, 30)
        elif kind == 1:  # integer grid: many duplicates and equal distances
            points = rng.integers(0, 6, size=(n, 2)).astype(float)
        elif kind == 2:  # collinear integers
            points = np.c_[rng.integers(0, 20, n), np.zeros(n)].astype(float)
        elif kind == 3:  # rounded uniform noise
            points = np.round(rng.uniform(0, 100, size=(n, 2)), 1)
        else:
            points = rng.normal(size=(n, 2)) * 50
        min_cluster_size = int(rng.integers(2, 8))
        min_samples = int(rng.integers(1, min_cluster_size + 1))
        if min_samples <= n:
            yield points, min_cluster_size, min_samples


@pytest.mark.parametrize("method", ["eom", "leaf"])
def test_matches_sklearn_on_varied_point_sets(method: str, steps: str) -> None:
    for points, min_cluster_size, min_samples in point_sets(seed=len(method), count=400):
        assert_same(
            points,
            min_cluster_size=min_cluster_size,
            min_samples=min_samples,
            cluster_selection_method=method,
        )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=2, max_size=40).map(
        lambda rows: np.array(rows, dtype=float)
    ),
    st.integers(2, 6),
    st.integers(1, 6),
)
def test_matches_sklearn_on_small_integer_sets(points, min_cluster_size, min_samples) -> None:
    # hypothesis and function-scoped fixtures do not mix: both steps here, one after the other
    # Small integer coordinates maximise exact ties in distances and core distances.
    if min_samples > points.shape[0]:
        min_samples = points.shape[0]
    assert_same(points, min_cluster_size=min_cluster_size, min_samples=min_samples)
    compiled = hdbscan_module._compiled_labels
    try:
        hdbscan_module._compiled_labels = None
        assert_same(points, min_cluster_size=min_cluster_size, min_samples=min_samples)
    finally:
        hdbscan_module._compiled_labels = compiled


def test_edge_cases_match_sklearn(steps: str) -> None:
    assert_same(np.zeros((6, 2)), min_cluster_size=3, min_samples=2)  # all marks identical
    assert_same(np.array([[0.0, 0.0], [1.0, 1.0]]), min_cluster_size=2, min_samples=2)
    three_d = np.random.default_rng(5).normal(size=(40, 3))
    assert_same(three_d, min_cluster_size=4, min_samples=3)
    assert_same(np.arange(20.0).reshape(10, 2), min_cluster_size=3, min_samples=None)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # Python distances
@pytest.mark.parametrize("n", [4, 80])  # both Python spanning trees (up to 64 marks and above)
def test_marks_infinitely_far_from_the_rest_raise_a_clear_error(n: int, steps: str) -> None:
    # Finite coordinates whose distances overflow to inf leave no finite spanning tree (a mark
    # at x = 1e300 and one at 0). scikit-learn raises KeyError or never returns there; the
    # compiled steps wrote past their arrays (segfault) and the Python ones looped forever.
    near = np.c_[np.arange(n // 2, dtype=float), np.zeros(n // 2)]
    points = np.vstack([near, near + [1e300, 0.0]])
    with pytest.raises(OverflowError, match="overflow"):
        fast_hdbscan(points, min_cluster_size=2, min_samples=2)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # Python distances
def test_overflowing_distances_inside_a_connected_tree_match_sklearn(steps: str) -> None:
    # 0 to 2e154 overflows, but 1e154 apart does not: the tree needs no infinite edge.
    x = [0, 1, 2, 1e154, 1e154 + 2e138, 1e154 + 4e138, 2e154, 2e154 + 2e138, 2e154 + 4e138]
    points = np.c_[x, np.zeros(len(x))]
    with np.errstate(over="ignore"):
        assert np.isinf(hdbscan_module._pairwise_euclidean(points)).any()
    assert_same(points, min_cluster_size=2, min_samples=2)


def test_declines_what_it_does_not_cover() -> None:
    points = np.random.default_rng(0).normal(size=(20, 2))
    assert fast_hdbscan(points, min_cluster_size=3, min_samples=2, metric="manhattan") is None
    assert fast_hdbscan(points, min_cluster_size=3, min_samples=2, algorithm="brute") is None
    assert (
        fast_hdbscan(points, min_cluster_size=3, min_samples=2, allow_single_cluster=True) is None
    )
    big = np.random.default_rng(0).normal(size=(MAX_POINTS + 1, 2))
    assert fast_hdbscan(big, min_cluster_size=3, min_samples=2) is None


@pytest.fixture
def compiled_spanning_tree(monkeypatch):
    """scikit-learn's compiled Prim switched on for one test (it is process-wide), as it is on
    an install without the compiled steps."""
    monkeypatch.setattr(hdbscan_module, "_compiled_labels", None)
    assert hdbscan_module.use_compiled_spanning_tree()
    yield hdbscan_module._COMPILED_PRIM[0]
    hdbscan_module._COMPILED_PRIM.clear()


def test_compiled_spanning_tree_gives_the_same_edges_in_the_same_order(
    compiled_spanning_tree,
) -> None:
    # The worker switches it on; batch commands keep the Python steps: both must agree exactly,
    # ties included, or batch and stream reductions would differ.
    for points, _, min_samples in point_sets(seed=11, count=300):
        distances = hdbscan_module._pairwise_euclidean(points)
        core = np.partition(distances, min_samples - 1, axis=1)[:, min_samples - 1]
        expected = hdbscan_module._prim_mst(distances, core)
        small = hdbscan_module._prim_mst_small(distances.tolist(), core.tolist())
        got = compiled_spanning_tree(points, core)
        for a, b, c in zip(expected, small, got, strict=True):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(a, c)


def test_results_match_sklearn_with_the_compiled_spanning_tree(compiled_spanning_tree) -> None:
    for points, min_cluster_size, min_samples in point_sets(seed=12, count=150):
        assert_same(points, min_cluster_size=min_cluster_size, min_samples=min_samples)


def test_compiled_module_doctests() -> None:
    # pytest --doctest-modules collects .py files only; the compiled module's examples run here
    import doctest

    from core.reducers import _hdbscan_compiled

    assert doctest.testmod(_hdbscan_compiled).failed == 0
