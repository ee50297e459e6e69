"""point_reducer_dbscan: hand examples (expected values from the 5.3.1 oracle) and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import InvalidParameterError, MalformedExtractError
from core.reducers._subtasks import NO_REDUCER
from core.reducers.point_reducer_dbscan import PointDbscanParams, point_reducer_dbscan
from core.registry import ExtractRecord, get_reducer
from tests.core.golden_support import differences


def _records(*extracts, user_ids=None):
    user_ids = user_ids or list(range(1, len(extracts) + 1))
    return [ExtractRecord(e, user_id=u) for e, u in zip(extracts, user_ids, strict=True)]


def _reduce(records, **kwargs):
    spec = get_reducer("point_reducer_dbscan")
    return spec(records, spec.parse_params(kwargs))


def test_verified_example_with_details():
    # Reference notes §3.2: five users, one point each, v1 details answered 0/1/0/1/0.
    answers = ["0", "1", "0", "1", "0"]
    records = _records(
        *(
            {
                "frame0": {
                    "T2_tool0_x": [100 + i],
                    "T2_tool0_y": [200 - i],
                    "T2_tool0_details": [[{a: 1}]],
                }
            }
            for i, a in enumerate(answers)
        )
    )
    out = _reduce(records, details={"T2_tool0": ["question_reducer"]})
    expected = {
        "frame0": {
            "T2_tool0_points_x": [100, 101, 102, 103, 104],
            "T2_tool0_points_y": [200, 199, 198, 197, 196],
            "T2_tool0_cluster_labels": [0, 0, 0, 0, 0],
            "T2_tool0_clusters_count": [5],
            "T2_tool0_clusters_x": [102.0],
            "T2_tool0_clusters_y": [198.0],
            "T2_tool0_clusters_var_x": [2.5],
            "T2_tool0_clusters_var_y": [2.5],
            "T2_tool0_clusters_var_x_y": [-2.5],
            "T2_tool0_details": [[{"0": 1}], [{"1": 1}], [{"0": 1}], [{"1": 1}], [{"0": 1}]],
            "T2_tool0_clusters_details": [[{"0": 3, "1": 2}]],
        }
    }
    assert not differences(out, expected)
    assert isinstance(out["frame0"]["T2_tool0_points_x"][0], int)  # numpy keeps ints


def test_none_coordinates_dropped_and_single_point_cluster_has_no_variance():
    records = _records(
        {"frame0": {"T0_tool0_x": [1.0, None, 30.0], "T0_tool0_y": [1.0, 5.0, None]}},
        {"frame0": {"T0_tool0_x": [1.5], "T0_tool0_y": [1.0]}},
        {"frame0": {"T0_tool0_x": [90.0], "T0_tool0_y": [90.0]}},
    )
    frame = _reduce(records, min_samples=1)["frame0"]
    assert frame["T0_tool0_points_x"] == [1.0, 1.5, 90.0]
    assert frame["T0_tool0_cluster_labels"] == [0, 0, 1]
    assert frame["T0_tool0_clusters_count"] == [2, 1]
    assert frame["T0_tool0_clusters_var_x"] == [0.125, None]
    assert frame["T0_tool0_clusters_var_x_y"] == [0.0, None]


def test_too_few_points_are_all_noise_without_cluster_keys():
    records = _records({"frame0": {"T0_tool0_x": [1, 2], "T0_tool0_y": [1, 1]}})
    assert _reduce(records) == {
        "frame0": {
            "T0_tool0_points_x": [1, 2],
            "T0_tool0_points_y": [1, 1],
            "T0_tool0_cluster_labels": [-1, -1],
        }
    }


def test_frames_and_tools_in_natural_order():
    records = _records(
        {
            "frame10": {"T0_tool10_x": [1], "T0_tool10_y": [1]},
            "frame2": {
                "T0_tool9_x": [1],
                "T0_tool9_y": [1],
                "T0_tool10_x": [2],
                "T0_tool10_y": [2],
            },
        }
    )
    out = _reduce(records)
    assert list(out) == ["frame2", "frame10"]
    assert [k for k in out["frame2"] if k.endswith("_points_x")] == [
        "T0_tool9_points_x",
        "T0_tool10_points_x",
    ]


def test_no_reducer_placeholder_and_user_ids_reach_the_subtask_reducer():
    records = _records(
        *(
            {"frame0": {"T0_tool0_x": [5], "T0_tool0_y": [5], "T0_tool0_details": [[{"a": 1}, {}]]}}
            for _ in range(3)
        ),
        user_ids=[7, None, 9],
    )
    out = _reduce(records, details={"T0_tool0": ["question_reducer", None]})
    assert out["frame0"]["T0_tool0_clusters_details"] == [[{"a": 3}, NO_REDUCER]]


def test_ragged_details_take_the_reference_clean_up_path():
    # Marks with different numbers of subtask answers: the reference's numpy stacking raises
    # ValueError, its handler deletes the [] entries and no _clusters_details is written.
    records = _records(
        *({"frame0": {"T0_tool0_x": [1, 2], "T0_tool0_y": [1, 1], "T0_tool0_details": [[{"a": 1}], []]}}
          for _ in range(2))
    )  # fmt: skip
    frame = _reduce(records, min_samples=2, details={"T0_tool0": ["question_reducer"]})["frame0"]
    assert frame["T0_tool0_details"] == [[{"a": 1}], [{"a": 1}]]
    assert "T0_tool0_clusters_details" not in frame
    assert frame["T0_tool0_clusters_count"] == [4]


def test_details_for_a_tool_without_marks_give_an_empty_list():
    records = _records({"frame0": {"T0_tool1_x": [1], "T0_tool1_y": [1]}})
    frame = _reduce(records, details={"T0_tool0": ["question_reducer"]})["frame0"]
    assert frame["T0_tool0_details"] == []
    assert "T0_tool0_clusters_details" not in frame


def test_empty_input_gives_an_empty_reduction():
    assert _reduce([]) == {}
    assert _reduce(_records({}, {"frame0": {}})) == {"frame0": {}}


@pytest.mark.parametrize(
    ("extracts", "kwargs", "message"),
    [
        ([{"frame0": {"T0_tool0_x": [None], "T0_tool0_y": [1]}}], {}, "no complete marks"),
        (
            [{"frame0": {"T0_tool0_x": [1, 1, 1], "T0_tool0_y": [1, 1, 1]}}],
            {"details": {"T0_tool0": ["question_reducer"]}},
            "one list of subtask answers per mark",
        ),
        (
            [{"frame0": {"T0_tool0_x": ["a", "b", "c"], "T0_tool0_y": [1, 1, 1]}}],
            {},
            "must be numbers",
        ),
    ],
)
def test_malformed_extracts_raise(extracts, kwargs, message):
    with pytest.raises(MalformedExtractError, match=message):
        _reduce(_records(*extracts), **kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [{"eps": 0}, {"eps": -1.0}, {"min_samples": 0}, {"metric": "nope"}, {"algorithm": "fast"}],
)
def test_bad_parameters_raise(kwargs):
    with pytest.raises(InvalidParameterError):
        get_reducer("point_reducer_dbscan").parse_params(kwargs)


def test_metric_algorithm_mismatch_is_a_parameter_error():
    records = _records({"frame0": {"T0_tool0_x": [1, 2, 3], "T0_tool0_y": [1, 2, 3]}})
    with pytest.raises(InvalidParameterError, match="DBSCAN rejected"):
        _reduce(records, metric="cosine", algorithm="kd_tree")


_coordinate = st.integers(min_value=0, max_value=60)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(st.tuples(_coordinate, _coordinate), min_size=0, max_size=6), max_size=6),
    st.sampled_from([2.0, 5.0, 9.0]),
    st.integers(min_value=1, max_value=4),
)
def test_clusters_summarise_their_members(marks, eps, min_samples):
    records = _records(
        *(
            {"frame0": {"T0_tool0_x": [x for x, _ in m], "T0_tool0_y": [y for _, y in m]}}
            if m
            else {"frame0": {}}  # the extractor writes no keys for a tool without marks
            for m in marks
        )
    )
    out = point_reducer_dbscan(records, PointDbscanParams(eps=eps, min_samples=min_samples))
    frame = out.get("frame0", {})
    if "T0_tool0_cluster_labels" not in frame:
        return
    labels = np.array(frame["T0_tool0_cluster_labels"])
    xy = np.column_stack([frame["T0_tool0_points_x"], frame["T0_tool0_points_y"]])
    clusters = sorted(set(labels.tolist()) - {-1})
    assert frame.get("T0_tool0_clusters_count", []) == [int((labels == k).sum()) for k in clusters]
    for i, k in enumerate(clusters):
        assert frame["T0_tool0_clusters_x"][i] == pytest.approx(xy[labels == k, 0].mean())
        assert frame["T0_tool0_clusters_y"][i] == pytest.approx(xy[labels == k, 1].mean())
    # the shape reducer clusters points the same way
    shape = get_reducer("shape_reducer_dbscan")
    same = shape(
        records, shape.parse_params({"shape": "point", "eps": eps, "min_samples": min_samples})
    )
    assert same["frame0"]["T0_tool0_cluster_labels"] == frame["T0_tool0_cluster_labels"]
