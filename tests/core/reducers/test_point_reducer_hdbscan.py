"""point_reducer_hdbscan: hand examples (expected values from the 5.3.1 oracle) and edge cases."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from core.errors import InvalidParameterError, MalformedExtractError
from core.registry import ExtractRecord, get_reducer
from tests.core.golden_support import differences

EXTRACTS = [
    {"frame0": {"T0_tool0_x": [1, 2, 3, 50, 51], "T0_tool0_y": [1, 2, 1, 50, 52]}},
    {"frame0": {"T0_tool0_x": [2, 52, 200, 2.5], "T0_tool0_y": [2, 51, 0, 1.5]}},
    {"frame0": {"T0_tool0_x": [1.5, 49], "T0_tool0_y": [1.8, 50.5]}},
]


@pytest.fixture(autouse=True, params=["compiled", "python"])
def path(request, monkeypatch) -> str:
    """Each test runs twice: with the compiled pass (_points_compiled) and without it."""
    if request.param == "python":
        from core.reducers import point_reducer_hdbscan as module

        monkeypatch.setattr(module, "_point_clusters", None)
    return request.param


def _reduce(extracts, **kwargs):
    spec = get_reducer("point_reducer_hdbscan")
    records = [ExtractRecord(e, user_id=i) for i, e in enumerate(extracts)]
    return spec(records, spec.parse_params(kwargs))


def test_oracle_example_eom():
    out = _reduce(EXTRACTS, min_cluster_size=3, min_samples=2)
    expected = {
        "frame0": {
            "T0_tool0_points_x": [1.0, 2.0, 3.0, 50.0, 51.0, 2.0, 52.0, 200.0, 2.5, 1.5, 49.0],
            "T0_tool0_points_y": [1.0, 2.0, 1.0, 50.0, 52.0, 2.0, 51.0, 0.0, 1.5, 1.8, 50.5],
            "T0_tool0_cluster_labels": [0, 0, 0, 1, 1, 0, 1, -1, 0, 0, 1],
            "T0_tool0_cluster_probabilities": [
                0.5708263279047432, 1.0, 0.7615773105863907, 1.0, 1.0, 1.0, 1.0, 0.0,
                0.7615773105863907, 1.0, 1.0,
            ],
            "T0_tool0_clusters_count": [6, 4],
            "T0_tool0_clusters_x": [2.0, 50.5],
            "T0_tool0_clusters_y": [1.55, 50.875],
            "T0_tool0_clusters_var_x": [0.42051742909786877, 1.6666666666666665],
            "T0_tool0_clusters_var_y": [0.20037266672909257, 0.7291666666666666],
            "T0_tool0_clusters_var_x_y": [-0.06034999245952596, 0.5833333333333333],
        }
    }  # fmt: skip
    assert not differences(out, expected)


def test_oracle_example_leaf_weighted_variances():
    frame = _reduce(EXTRACTS, min_cluster_size=3, min_samples=3, cluster_selection_method="leaf")[
        "frame0"
    ]
    assert frame["T0_tool0_clusters_var_x"] == pytest.approx(
        [0.3268741846676298, 1.6295146066661061]
    )
    assert frame["T0_tool0_clusters_var_x_y"] == pytest.approx(
        [-0.03429352288855209, 0.5786893258332633]
    )
    # the centre is the plain mean although the variances are weighted
    assert frame["T0_tool0_clusters_x"] == [2.0, 50.5]


def test_weighted_covariance_formula():
    frame = _reduce(EXTRACTS, min_cluster_size=3, min_samples=2)["frame0"]
    labels = np.array(frame["T0_tool0_cluster_labels"])
    w = np.array(frame["T0_tool0_cluster_probabilities"])[labels == 0]
    x = np.array(frame["T0_tool0_points_x"])[labels == 0]
    v1, v2 = w.sum(), (w**2).sum()
    mean = (w * x).sum() / v1
    assert frame["T0_tool0_clusters_var_x"][0] == pytest.approx(
        (w * (x - mean) ** 2).sum() / (v1 - v2 / v1)
    )


def test_below_min_cluster_size_gives_integer_zero_probabilities():
    assert _reduce([{"frame0": {"T0_tool0_x": [1, 2], "T0_tool0_y": [1, 1]}}]) == {
        "frame0": {
            "T0_tool0_points_x": [1, 2],
            "T0_tool0_points_y": [1, 1],
            "T0_tool0_cluster_labels": [-1, -1],
            "T0_tool0_cluster_probabilities": [0, 0],
        }
    }


def test_min_samples_above_the_number_of_points_is_a_parameter_error():
    # The reference lets sklearn raise a bare ValueError here.
    with pytest.raises(InvalidParameterError, match="min_samples"):
        _reduce([{"frame0": {"T0_tool0_x": [1, 2], "T0_tool0_y": [1, 1]}}], min_cluster_size=2)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"min_cluster_size": 1},
        {"cluster_selection_method": "excess"},
        {"allow_single_cluster": "no"},
    ],
)
def test_bad_parameters_raise(kwargs):
    with pytest.raises(InvalidParameterError):
        get_reducer("point_reducer_hdbscan").parse_params(kwargs)


def test_details_use_the_same_subtask_step():
    extracts = [
        {"frame0": {"T0_tool0_x": [1, 60], "T0_tool0_y": [1, 60], "T0_tool0_details": [[{"a": 1}], [{"b": 1}]]}}
        for _ in range(3)
    ]  # fmt: skip
    frame = _reduce(
        extracts,
        min_cluster_size=2,
        min_samples=1,
        details={"T0_tool0": ["question_reducer"]},
    )["frame0"]
    assert frame["T0_tool0_cluster_labels"] == [0, 1, 0, 1, 0, 1]
    assert frame["T0_tool0_clusters_details"] == [[{"a": 3}], [{"b": 3}]]


def test_details_of_marks_without_coordinates_are_a_clear_error():
    # The None marks are not clustered but their answers are still listed; the reference stops
    # with an IndexError here. The error says why the counts differ and what to do.
    extracts = [
        {"frame0": {"T0_tool0_x": [1 + i / 10, None, 50 + i / 10], "T0_tool0_y": [1, 60, 50],
                    "T0_tool0_details": [[{"a": 1}], [{"b": 1}], [{"a": 1}]]}}
        for i in range(4)
    ]  # fmt: skip
    with pytest.raises(MalformedExtractError, match=r"\(8 marks\), got 12 .*None/NaN\) coordinate"):
        _reduce(
            extracts, min_cluster_size=2, min_samples=1, details={"T0_tool0": ["question_reducer"]}
        )


def test_cluster_summaries_all_at_once_equal_one_cluster_at_a_time():
    # _summarise sums per cluster with np.bincount (mark order); the per-cluster path uses
    # np.mean and sums like np.cov: the same numbers up to the last bits.
    from core.reducers.point_reducer_hdbscan import _summarise, _summarise_each

    rng = np.random.default_rng(3)
    for _ in range(200):
        k = int(rng.integers(1, 6))
        n = int(rng.integers(2 * k, 60))
        labels = np.r_[np.arange(k), np.arange(k), rng.integers(-1, k, n - 2 * k)]
        points = rng.uniform(0, 1000, size=(n, 2)).round(1)
        probabilities = np.where(labels >= 0, rng.uniform(0.05, 1.0, n), 0.0)
        together, each = {}, {}
        _summarise(together, "T0_tool0", points, labels, probabilities)
        _summarise_each(each, "T0_tool0", points, labels, probabilities, list(range(k)))
        assert together.keys() == each.keys()
        for key, values in each.items():
            assert together[key] == pytest.approx(values, rel=1e-12, abs=1e-9), key


def test_compiled_cluster_summaries_are_the_numpy_steps_bit_for_bit(monkeypatch):
    """cluster_summaries (C) and _summarise's numpy steps: the same doubles, not just close."""
    from core.reducers import point_reducer_hdbscan as module

    assert module._compiled_summaries is not None  # built by the install (setup.py)
    rng = np.random.default_rng(11)
    for trial in range(400):
        k = int(rng.integers(1, 6))
        n = int(rng.integers(k, 80))
        labels = np.r_[np.arange(k), rng.integers(-1, k, n - k)]
        rng.shuffle(labels)
        points = rng.normal(500, 200, size=(n, 2)).round(int(rng.integers(0, 4)))
        probabilities = np.where(labels >= 0, rng.uniform(0.0, 1.0, n), 0.0)
        if trial % 5 == 0:
            probabilities[labels == 0] = 1.0  # equal weights
        if trial % 7 == 0:
            probabilities[labels == 0] = 0.0  # nothing to divide by: numpy's warning path
        compiled, numpy_steps = {}, {}
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            module._summarise(compiled, "T0_tool0", points, labels, probabilities)
            monkeypatch.setattr(module, "_compiled_summaries", None)
            module._summarise(numpy_steps, "T0_tool0", points, labels, probabilities)
            monkeypatch.undo()
        assert compiled.keys() == numpy_steps.keys()
        for key, values in numpy_steps.items():
            assert np.array_equal(compiled[key], values, equal_nan=True), (trial, key)
            assert [type(v) for v in compiled[key]] == [type(v) for v in values], key


def test_marks_too_far_apart_to_measure_are_a_clear_error():
    # Distances beyond the largest double: no clustering exists (scikit-learn fails or hangs).
    extract = {"frame0": {"T0_tool0_x": [0, 1, 2, 1e300, 1e300], "T0_tool0_y": [0, 0, 1, 0, 1]}}
    with pytest.raises(MalformedExtractError, match="frame0 T0_tool0: .*overflow"):
        _reduce([extract], min_cluster_size=2, min_samples=2)
