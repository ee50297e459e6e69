"""shape_reducer_dbscan: hand examples (expected values from the 5.3.1 oracle) and edge cases."""

from __future__ import annotations

import pytest

from core.errors import InvalidParameterError, MalformedExtractError
from core.registry import ExtractRecord, get_reducer
from core.shapes import SHAPE_PARAMS
from tests.core.golden_support import differences


def _reduce(extracts, **kwargs):
    spec = get_reducer("shape_reducer_dbscan")
    records = [ExtractRecord(e, user_id=i + 1) for i, e in enumerate(extracts)]
    return spec(records, spec.parse_params(kwargs))


def _marks(tool, shape, *rows, frame="frame0"):
    """One extract per row: ``{frame: {"<tool>_<param>": [value]}}``."""
    return [
        {frame: {f"{tool}_{p}": [v] for p, v in zip(SHAPE_PARAMS[shape], row, strict=True)}}
        for row in rows
    ]


def test_verified_point_example():
    # Reference notes §3.2.
    extracts = [{"frame0": {"T0_tool0_x": [1, 1.5, 2], "T0_tool0_y": [1, 1, 1]}}] * 3
    out = _reduce(extracts, shape="point", eps=5, min_samples=2)
    assert not differences(
        out,
        {
            "frame0": {
                "T0_tool0_point_x": [1.0, 1.5, 2.0] * 3,
                "T0_tool0_point_y": [1.0] * 9,
                "T0_tool0_cluster_labels": [0] * 9,
                "T0_tool0_clusters_count": [9],
                "T0_tool0_clusters_x": [1.5],
                "T0_tool0_clusters_y": [1.0],
            }
        },
    )


def test_circle():
    extracts = [
        {"frame0": {"T0_tool1_x": [10, 50], "T0_tool1_y": [10, 52], "T0_tool1_r": [5, 8]}},
        {"frame0": {"T0_tool1_x": [11, 49], "T0_tool1_y": [9, 50], "T0_tool1_r": [6, 9]}},
        {"frame0": {"T0_tool1_x": [12], "T0_tool1_y": [10], "T0_tool1_r": [4]}},
    ]
    frame = _reduce(extracts, shape="circle", min_samples=2)["frame0"]
    assert list(frame) == [
        "T0_tool1_circle_x", "T0_tool1_circle_y", "T0_tool1_circle_r", "T0_tool1_cluster_labels",
        "T0_tool1_clusters_count", "T0_tool1_clusters_x", "T0_tool1_clusters_y",
        "T0_tool1_clusters_r",
    ]  # fmt: skip
    assert frame["T0_tool1_cluster_labels"] == [0, 1, 0, 1, 0]
    assert frame["T0_tool1_clusters_y"] == pytest.approx([9.666666666666666, 51.0])
    assert frame["T0_tool1_clusters_r"] == [5.0, 8.5]


ELLIPSES = _marks(
    "T0_tool0", "ellipse", (10, 10, 20, 10, 175), (11, 10, 10, 21, 95), (10, 11, 19, 10, -2)
)


def test_ellipse_angle_is_circular_but_not_symmetric_by_default():
    frame = _reduce(ELLIPSES, shape="ellipse", min_samples=2)["frame0"]
    assert frame["T0_tool0_cluster_labels"] == [-1, -1, -1]


def test_ellipse_symmetric_normalises_and_averages_the_angle():
    frame = _reduce(ELLIPSES, shape="ellipse", min_samples=2, symmetric=True)["frame0"]
    assert frame["T0_tool0_ellipse_rx"] == [20, 21, 19]
    assert frame["T0_tool0_ellipse_ry"] == [10, 10, 10]
    assert frame["T0_tool0_ellipse_angle"] == [175, 5, 178]
    assert frame["T0_tool0_cluster_labels"] == [0, -1, 0]
    assert frame["T0_tool0_clusters_angle"] == [176.5]


def test_fan_rotation_averaged_across_zero():
    fans = _marks("T0_tool0", "fan", (5, 5, 30, 40, 358), (6, 5, 31, 42, 3), (5, 6, 29, 41, 1))
    frame = _reduce(fans, shape="fan", min_samples=2, eps=6)["frame0"]
    assert frame["T0_tool0_cluster_labels"] == [0, 0, 0]
    assert frame["T0_tool0_clusters_spread"] == [41.0]
    assert frame["T0_tool0_clusters_rotation"] == [0.667]


@pytest.mark.parametrize(
    ("symmetric", "x1", "labels", "centre_y2"),
    [(False, [0, 101, 2], [0, -1, 0], 0.5), (True, [0, 1, 2], [0, 0, 0], 0.3333333333333333)],
)
def test_line_endpoints_ordered_when_symmetric(symmetric, x1, labels, centre_y2):
    lines = _marks(
        "T3_tool0", "line", (0, 0, 100, 1), (101, 0, 1, 2), (2, 1, 99, 0), frame="frame1"
    )
    frame = _reduce(lines, shape="line", min_samples=2, symmetric=symmetric)["frame1"]
    assert frame["T3_tool0_line_x1"] == x1
    assert frame["T3_tool0_cluster_labels"] == labels
    assert frame["T3_tool0_clusters_y2"] == pytest.approx([centre_y2])


def test_one_parameter_shape():
    extracts = [
        {"frame0": {"T0_tool2_y": [10, 80]}},
        {"frame0": {"T0_tool2_y": [12]}},
        {"frame0": {"T0_tool2_y": [11, 79.5]}},
    ]
    frame = _reduce(extracts, shape="fullWidthLine", min_samples=2)["frame0"]
    assert frame["T0_tool2_fullWidthLine_y"] == [10.0, 80.0, 12.0, 11.0, 79.5]
    assert frame["T0_tool2_clusters_count"] == [3, 2]
    assert frame["T0_tool2_clusters_y"] == [11.0, 79.75]


V2 = [
    {
        "classifier_version": "2.0",
        "frame0": {
            "T0_toolIndex0_x": [0.0, 100.0],
            "T0_toolIndex0_y": [0.0, 100.0],
            "T0_toolIndex0_subtask0": [{"0": 1}, {"1": 1}],
        },
    },
    {
        "classifier_version": "2.0",
        "frame0": {
            "T0_toolIndex0_x": [1.0, 101.0],
            "T0_toolIndex0_y": [0.0, 100.0],
            "T0_toolIndex0_subtask0": [{"1": 1}, {"1": 1}],
        },
    },
    {
        "classifier_version": "2.0",
        "frame0": {
            "T0_toolIndex0_x": [0.5],
            "T0_toolIndex0_y": [1.0],
            "T0_toolIndex0_subtask0": [{"0": 1}],
        },
    },
]
V2_CLUSTERS = {
    "T0_toolIndex0_point_x": [0.0, 100.0, 1.0, 101.0, 0.5],
    "T0_toolIndex0_point_y": [0.0, 100.0, 0.0, 100.0, 1.0],
    "T0_toolIndex0_cluster_labels": [0, 1, 0, 1, 0],
    "T0_toolIndex0_clusters_count": [3, 2],
    "T0_toolIndex0_clusters_x": [0.5, 100.5],
    "T0_toolIndex0_clusters_y": [0.3333333333333333, 100.0],
}


def test_v2_details():
    out = _reduce(
        V2, shape="point", min_samples=2, details={"T0_toolIndex0_subtask0": "question_reducer"}
    )
    expected = {
        "frame0": {
            **V2_CLUSTERS,
            "T0_toolIndex0_subtask0": [{"0": 1}, {"1": 1}, {"1": 1}, {"1": 1}, {"0": 1}],
            "T0_toolIndex0_subtask0_clusters": [{"0": 2, "1": 1}, {"1": 2}],
        },
        "classifier_version": "2.0",
    }
    assert not differences(out, expected)


def test_v2_empty_details_still_report_the_classifier_version():
    out = _reduce(V2, shape="point", min_samples=2, details={})
    assert not differences(out, {"frame0": V2_CLUSTERS, "classifier_version": "2.0"})


def test_v2_without_details_has_no_classifier_version():
    assert "classifier_version" not in _reduce(V2, shape="point", min_samples=2)


def test_v2_version_as_a_float_from_a_csv_round_trip():
    # The reference's packaging.version.parse raises TypeError on 2.0 (a float).
    extracts = [{**e, "classifier_version": 2.0} for e in V2]
    out = _reduce(
        extracts,
        shape="point",
        min_samples=2,
        details={"T0_toolIndex0_subtask0": "question_reducer"},
    )
    assert out["classifier_version"] == "2.0"
    assert out["frame0"]["T0_toolIndex0_subtask0_clusters"] == [{"0": 2, "1": 1}, {"1": 2}]


def test_mixed_classifier_versions_skip_the_subtask_step():
    extracts = [*V2[:2], {"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}}]
    out = _reduce(
        extracts,
        shape="point",
        min_samples=2,
        details={"T0_toolIndex0_subtask0": "question_reducer"},
    )
    assert "classifier_version" not in out
    assert list(out["frame0"]) == [
        "T0_tool0_point_x", "T0_tool0_point_y", "T0_tool0_cluster_labels",
        "T0_toolIndex0_point_x", "T0_toolIndex0_point_y", "T0_toolIndex0_cluster_labels",
        "T0_toolIndex0_clusters_count", "T0_toolIndex0_clusters_x", "T0_toolIndex0_clusters_y",
    ]  # fmt: skip


def test_v2_subtask_of_an_unused_tool_gives_empty_clusters():
    # Divergence: the reference raises KeyError('T0_toolIndex1_cluster_labels').
    out = _reduce(
        V2,
        shape="point",
        min_samples=2,
        details={
            "T0_toolIndex0_subtask0": "question_reducer",
            "T0_toolIndex1_subtask0": "question_reducer",
        },
    )
    assert out["frame0"]["T0_toolIndex1_subtask0"] == []
    assert out["frame0"]["T0_toolIndex1_subtask0_clusters"] == []
    assert out["frame0"]["T0_toolIndex0_subtask0_clusters"] == [{"0": 2, "1": 1}, {"1": 2}]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, "'shape' is required"),
        ({"shape": "blob"}, "'shape' must be one of"),
        ({"shape": "point", "metric_type": "IoU"}, "not supported yet"),
        ({"shape": "point", "metric_type": "manhattan"}, "'metric_type' must be"),
        ({"shape": "point", "eps": 0}, "'eps' must be > 0"),
    ],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        get_reducer("shape_reducer_dbscan").parse_params(kwargs)


def test_metric_type_is_case_insensitive():
    spec = get_reducer("shape_reducer_dbscan")
    assert (
        spec.parse_params({"shape": "point", "metric_type": "Euclidean"}).metric_type == "Euclidean"
    )


@pytest.mark.parametrize(
    ("extract", "message"),
    [
        ({"frame0": {"tool0_x": [1], "tool0_y": [1]}}, "does not name a task and tool"),
        ({"frame0": {"T0_tool0_x": [], "T0_tool0_y": []}}, "no complete marks"),
        ({"frame0": {"T0_tool0_x": 1.0, "T0_tool0_y": 2.0}}, "must be a list"),
    ],
)
def test_malformed_extracts(extract, message):
    with pytest.raises(MalformedExtractError, match=message):
        _reduce([extract], shape="point")


def test_none_parameter_kept_when_not_clustering_and_rejected_when_clustering():
    extract = {"frame0": {"T0_tool0_x": [1, None], "T0_tool0_y": [1, 2]}}
    frame = _reduce([extract], shape="point")["frame0"]
    assert frame["T0_tool0_point_x"] == [1, None]
    with pytest.raises(MalformedExtractError, match="must be numbers"):
        _reduce([extract], shape="point", min_samples=2)


def test_ragged_parameter_lists_are_cut_to_the_shortest():
    extract = {"frame0": {"T0_tool0_x": [1, 3], "T0_tool0_y": [4]}}
    frame = _reduce([extract], shape="point")["frame0"]
    assert frame["T0_tool0_point_x"] == [1]
