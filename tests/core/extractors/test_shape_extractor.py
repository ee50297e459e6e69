"""shape_extractor: every shape of the table, PFE and FEM marks, both subtask formats."""

from __future__ import annotations

import pytest

from core.errors import AnnotationParseError, InvalidParameterError
from core.shapes import SHAPE_PARAMS
from tests.core.extractors.support import FEM, run

NAME = "shape_extractor"


@pytest.mark.parametrize("shape", sorted(SHAPE_PARAMS))
def test_every_shape_writes_its_parameters_in_table_order(shape):
    params = SHAPE_PARAMS[shape]
    mark = {"tool": 1, "frame": 2, "details": []} | {p: float(i) for i, p in enumerate(params)}
    out = run(NAME, [{"task": "T3", "value": [mark]}], task="T3", shape=shape)
    assert out == {"frame2": {f"T3_tool1_{p}": [float(i)] for i, p in enumerate(params)}}
    assert list(out["frame2"]) == [f"T3_tool1_{p}" for p in params]


def test_fem_point_marks_use_tool_index_keys_and_carry_the_version():
    marks = [{"toolIndex": 0, "frame": 0, "x": 10, "y": 20, "details": []},
             {"toolIndex": 1, "frame": 0, "x": 30, "y": 40, "details": []}]  # fmt: skip
    out = run(
        NAME, [{"task": "T0", "taskType": "drawing", "value": marks}], FEM, task="T0", shape="point"
    )
    assert out == {
        "frame0": {
            "T0_toolIndex0_x": [10],
            "T0_toolIndex0_y": [20],
            "T0_toolIndex1_x": [30],
            "T0_toolIndex1_y": [40],
        },
        "classifier_version": "2.0",
    }


def test_frame_defaults_to_zero_and_null_parameters_are_skipped():
    marks = [
        {"tool": 0, "x": 1, "y": None},
        {"tool": 0, "frame": 0, "x": 3, "y": 4},
        {"tool": 0, "x": 5},
    ]
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0", shape="point") == {
        "frame0": {"T0_tool0_x": [1, 3], "T0_tool0_y": [4]}
    }


def test_a_frame_with_only_null_parameters_is_removed():
    marks = [{"tool": 0, "frame": 0, "x": None, "y": None}]
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0", shape="point") == {}


def test_without_tools_any_mark_with_the_parameters_counts():
    marks = [{"tool": 0, "frame": 0, "x": 1, "y": 2, "width": 5, "height": 6}]
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0", shape="point") == {
        "frame0": {"T0_tool0_x": [1], "T0_tool0_y": [2]}
    }


def test_graph_annotations_are_drawings():
    value = [{"toolIndex": 0, "toolType": "graph2dRangeX", "x": 5, "width": 3}]
    annotations = [{"task": "T0", "taskType": "dataVisAnnotation", "value": value}]
    assert run(NAME, annotations, FEM, task="T0", shape="column") == {
        "frame0": {"T0_toolIndex0_x": [5], "T0_toolIndex0_width": [3]},
        "classifier_version": "2.0",
    }


def test_pfe_inline_details():
    marks = [{"tool": 0, "frame": 0, "x": 1, "y": 2, "details": [{"value": 0}]},
             {"tool": 0, "frame": 1, "x": 3, "y": 4, "details": [{"value": [0, 1]}]}]  # fmt: skip
    out = run(NAME, [{"task": "T0", "value": marks}], task="T0", shape="point",
              details={"T0_tool0": ["question_extractor"]})  # fmt: skip
    assert out == {
        "frame0": {"T0_tool0_x": [1], "T0_tool0_y": [2], "T0_tool0_details": [[{"0": 1}]]},
        "frame1": {"T0_tool0_x": [3], "T0_tool0_y": [4], "T0_tool0_details": [[{"0": 1, "1": 1}]]},
    }


def fem_points(marks, subtask_values):
    """A FEM drawing annotation of (tool, x, y) marks plus one answer annotation per subtask."""
    value, answers = [], []
    for index, ((tool, x, y), values) in enumerate(zip(marks, subtask_values, strict=True)):
        details = [{"task": f"T0.{tool}.{k}"} for k in range(len(values))]
        value.append({"toolIndex": tool, "frame": 0, "x": x, "y": y, "details": details})
        answers += [
            {"task": f"T0.{tool}.{k}", "taskType": "single", "markIndex": index, "value": v}
            for k, v in enumerate(values)
        ]
    return [{"task": "T0", "taskType": "drawing", "value": value}, *answers]


def test_fem_subtask_answers_are_separate_annotations():
    annotations = fem_points([(0, 10, 20), (0, 30, 40)], [[0, 2], [1, 0]])
    details = {
        "T0_toolIndex0_subtask0": "question_extractor",
        "T0_toolIndex0_subtask1": "question_extractor",
    }
    out = run(NAME, annotations, FEM, task="T0", shape="point", details=details)
    assert out == {
        "frame0": {
            "T0_toolIndex0_x": [10, 30], "T0_toolIndex0_y": [20, 40],
            "T0_toolIndex0_subtask0": [{"0": 1}, {"1": 1}],
            "T0_toolIndex0_subtask1": [{"2": 1}, {"0": 1}],
        },
        "classifier_version": "2.0",
    }  # fmt: skip


def test_fem_answers_are_matched_by_mark_index_after_the_tools_filter():
    # The reference looks answers up by the position in the *filtered* mark list and fails
    # here with KeyError ('T0.1.0', 0); FEM's markIndex is 1. See docs/compatibility.md.
    annotations = fem_points([(0, 10, 20), (1, 30, 40)], [[0], [1]])
    out = run(NAME, annotations, FEM, task="T0", shape="point", tools=[1],
              details={"T0_toolIndex1_subtask0": "question_extractor"})  # fmt: skip
    assert out == {
        "frame0": {
            "T0_toolIndex1_x": [30],
            "T0_toolIndex1_y": [40],
            "T0_toolIndex1_subtask0": [{"1": 1}],
        },
        "classifier_version": "2.0",
    }


def test_fem_subtask_extractor_sees_no_metadata():
    # As in the reference, a FEM dropdown answer is read the PFE way, which cannot read it.
    annotations = [
        {"task": "T0", "taskType": "drawing",
         "value": [{"toolIndex": 0, "frame": 0, "x": 1, "y": 2, "details": [{"task": "T0.0.0"}]}]},
        {"task": "T0.0.0", "taskType": "dropdown-simple", "markIndex": 0, "value": {"selection": 3}},
    ]  # fmt: skip
    with pytest.raises(
        AnnotationParseError, match=r"mark #0 subtask T0\.0\.0 \(dropdown_extractor\)"
    ):
        run(NAME, annotations, FEM, task="T0", shape="point",
            details={"T0_toolIndex0_subtask0": "dropdown_extractor"})  # fmt: skip


@pytest.mark.parametrize(
    ("annotations", "kwargs", "message"),
    [
        (fem_points([(0, 10, 20)], [[1]])[:1], {"details": {"T0_toolIndex0_subtask0": "question_extractor"}},
         "no annotation .* holds its answer"),
        ([{**fem_points([(0, 10, 20)], [[1]])[0], "value": [{"toolIndex": 0, "x": 1, "y": 2, "details": []}]}],
         {"details": {}}, "no 'frame' key"),
        (fem_points([(0, 10, 20)], [[1]]), {"details": {"T0_toolIndex0_subtask0": "nope"}},
         "names no known extractor"),
        ([{"task": "T0", "taskType": "single", "value": 1}], {}, "'task' and 'markIndex'"),
    ],
    ids=["answer_missing", "frame_missing_with_details", "unknown_extractor", "fem_answer_without_mark_index"],
)  # fmt: skip
def test_fem_failures_are_named(annotations, kwargs, message):
    with pytest.raises((AnnotationParseError, InvalidParameterError), match=message):
        run(NAME, annotations, FEM, task="T0", shape="point", **kwargs)


def test_pfe_details_on_a_mark_that_was_not_extracted():
    marks = [{"tool": 0, "frame": 0, "x": 1, "details": [{"value": 0}]}]
    with pytest.raises(AnnotationParseError, match="was not extracted"):
        run(NAME, [{"task": "T0", "value": marks}], task="T0", shape="point",
            details={"T0_tool0": ["question_extractor"]})  # fmt: skip


def test_a_mark_without_a_tool_raises():
    with pytest.raises(AnnotationParseError, match="neither 'tool'"):
        run(
            NAME,
            [{"task": "T0", "value": [{"frame": 0, "x": 1, "y": 2}]}],
            task="T0",
            shape="point",
        )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "'shape' is required"), ({"shape": "hexagon"}, "must be one of"),
     ({"shape": "point", "details": {"T0_tool0": 3}}, "'details' must map")],
    ids=["missing", "unknown", "bad_details"],
)  # fmt: skip
def test_bad_keywords(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        run(NAME, [], **kwargs)
