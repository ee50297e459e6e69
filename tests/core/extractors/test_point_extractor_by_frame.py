"""point_extractor_by_frame: PFE points per frame and tool, inline (v1) subtask details."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import AnnotationParseError, InvalidParameterError
from core.extractors._subtasks import NO_EXTRACTOR
from tests.core.extractors.support import FEM, run

NAME = "point_extractor_by_frame"


def point(tool, frame, x, y, details=()):
    return {"tool": tool, "frame": frame, "x": x, "y": y, "details": list(details)}


def test_reference_example_with_details():
    annotations = [{"task": "T2", "value": [point(0, 0, 5, 10, [{"value": 1}])]}]
    out = run(NAME, annotations, task="T2", details={"T2_tool0": ["question_extractor"]})
    assert out == {
        "frame0": {"T2_tool0_x": [5], "T2_tool0_y": [10], "T2_tool0_details": [[{"1": 1}]]}
    }


def test_frames_and_tools_in_first_seen_order():
    marks = [
        point(0, 0, 1.5, 2.5),
        point(1, 0, 3, 4),
        point(0, 2, 5, 6),
        point(1, 1, 7, 8),
        point(0, 0, 9, 10),
    ]
    out = run(NAME, [{"task": "T0", "value": marks}], task="T0", tools=[0, 1])
    assert out == {
        "frame0": {
            "T0_tool0_x": [1.5, 9],
            "T0_tool0_y": [2.5, 10],
            "T0_tool1_x": [3],
            "T0_tool1_y": [4],
        },
        "frame2": {"T0_tool0_x": [5], "T0_tool0_y": [6]},
        "frame1": {"T0_tool1_x": [7], "T0_tool1_y": [8]},
    }


def test_tools_filter():
    marks = [point(1, 0, 3, 4), point(0, 0, 1, 2)]
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0", tools=[0]) == {
        "frame0": {"T0_tool0_x": [1], "T0_tool0_y": [2]}
    }
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0", tools=[3]) == {}


def test_a_mark_without_x_or_y_opens_its_frame_but_adds_no_point():
    marks = [{"tool": 0, "frame": 1, "x": 3}, point(0, 0, 1, 2)]
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0") == {
        "frame1": {},
        "frame0": {"T0_tool0_x": [1], "T0_tool0_y": [2]},
    }


def test_details_lists_stay_aligned_with_marks_not_with_points():
    # As in the reference: the point list skips the mark without x/y, the details list does not.
    marks = [{"tool": 0, "frame": 0, "details": [{"value": 1}]}, point(0, 0, 3, 4, [{"value": 0}])]
    out = run(
        NAME,
        [{"task": "T0", "value": marks}],
        task="T0",
        details={"T0_tool0": ["question_extractor"]},
    )
    assert out == {
        "frame0": {
            "T0_tool0_x": [3],
            "T0_tool0_y": [4],
            "T0_tool0_details": [[{"1": 1}], [{"0": 1}]],
        }
    }


def test_details_null_or_unknown_extractor_is_written_as_the_reference_string():
    marks = [point(0, 0, 1, 2, [{"value": "free text"}, {"value": 0}, {"value": 1}])]
    details = {"T0_tool0": [None, "question_extractor", "no_such_extractor"]}
    out = run(NAME, [{"task": "T0", "value": marks}], task="T0", details=details)
    assert out["frame0"]["T0_tool0_details"] == [[NO_EXTRACTOR, {"0": 1}, NO_EXTRACTOR]]
    assert NO_EXTRACTOR == "No extractor for this subtask type"


def test_details_run_any_subtask_extractor_on_the_detail():
    marks = [
        point(
            0,
            0,
            1,
            2,
            [
                {"value": [{"value": "abc123", "option": True}]},
                {"value": "0.7"},
                {"value": "Größe"},
            ],
        )
    ]
    details = {"T0_tool0": ["dropdown_extractor", "slider_extractor", "text_extractor"]}
    out = run(NAME, [{"task": "T0", "value": marks}], task="T0", details=details)
    assert out["frame0"]["T0_tool0_details"] == [
        [
            {"value": [{"abc123": 1}]},
            {"slider_value": "0.7"},
            {"text": "Größe", "gold_standard": False},
        ]
    ]


def test_details_for_another_tool_only():
    marks = [point(0, 0, 1, 2, [{"value": 0}]), point(1, 0, 3, 4, [{"value": [0, 1]}])]
    out = run(
        NAME,
        [{"task": "T0", "value": marks}],
        task="T0",
        details={"T0_tool1": ["question_extractor"]},
    )
    assert out == {
        "frame0": {
            "T0_tool0_x": [1], "T0_tool0_y": [2], "T0_tool1_x": [3], "T0_tool1_y": [4],
            "T0_tool1_details": [[{"0": 1, "1": 1}]],
        }
    }  # fmt: skip


def test_more_subtasks_than_configured_extractors_is_a_config_error():
    marks = [point(0, 0, 1, 2, [{"value": 0}, {"value": 1}])]
    with pytest.raises(InvalidParameterError, match="names 1 subtask extractor"):
        run(
            NAME,
            [{"task": "T0", "value": marks}],
            task="T0",
            details={"T0_tool0": ["question_extractor"]},
        )


def test_fem_marks_point_to_shape_extractor():
    marks = [{"toolIndex": 0, "toolType": "point", "frame": 0, "x": 3, "y": 4, "details": []}]
    with pytest.raises(AnnotationParseError, match="shape_extractor with shape: point") as info:
        run(NAME, [{"task": "T0", "taskType": "drawing", "value": marks}], FEM, task="T0")
    assert (info.value.classification_id, info.value.task) == (42, "T0")


def test_fem_metadata_with_pfe_marks_adds_classifier_version():
    out = run(
        NAME, [{"task": "T0", "taskType": "drawing", "value": [point(0, 0, 1, 2)]}], FEM, task="T0"
    )
    assert out == {"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [2]}, "classifier_version": "2.0"}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"tool": 0, "x": 3, "y": 4}], "no 'frame' key"),
        ([{"frame": 0, "x": 3, "y": 4}], "no 'tool' key"),
        (["abc"], "mark #0 must be a JSON object"),
        ([None], "mark #0 must be a JSON object"),
        (None, "must be a list of marks"),
        ("ab", "mark #0 must be a JSON object"),
    ],
    ids=["no_frame", "no_tool", "string_mark", "null_mark", "null_value", "string_value"],
)
def test_malformed_marks_raise_a_named_error(value, message):
    with pytest.raises(AnnotationParseError, match=message):
        run(NAME, [{"task": "T0", "value": value}], task="T0")


def test_tools_filter_drops_string_marks_as_the_reference_does():
    marks = ["abc", point(0, 0, 1, 2)]
    assert run(NAME, [{"task": "T0", "value": marks}], task="T0", tools=[0]) == {
        "frame0": {"T0_tool0_x": [1], "T0_tool0_y": [2]}
    }
    with pytest.raises(AnnotationParseError):
        run(NAME, [{"task": "T0", "value": ["a tool"]}], task="T0", tools=[0])


def test_bad_details_keyword():
    with pytest.raises(InvalidParameterError, match="'details' must map"):
        run(NAME, [], details={"T0_tool0": [1]})


DETAIL_VALUES = [0, 1, 7, -1, True, False, None, "Standing up", "", " x ", [0, 1], [], {}, 1.5]


@pytest.mark.parametrize("value", DETAIL_VALUES, ids=repr)
@pytest.mark.parametrize("keyed", [True, False])
def test_inline_question_detail_matches_the_registry_call(value, keyed):
    """_add_pfe counts a plain answer inline; the result (or error) is the full call's."""
    from core.classification import Classification
    from core.extractors._subtasks import _question_answer, _run_subtask
    from core.registry import EXTRACTORS

    detail = {"value": value} if keyed else {"other": value}
    carrier = Classification({}, {}, "1")
    try:
        expected = _run_subtask(carrier, "question_extractor", "ST", detail, "mark #0", "T0")
    except AnnotationParseError:
        expected = "error"
    inline = _question_answer(detail)
    assert inline is None or inline == expected
    marks = [point(0, 0, 1, 2, [detail])]
    details = {"T0_tool0": ["question_extractor"]}
    try:
        out = run(NAME, [{"task": "T0", "value": marks}], task="T0", details=details)
        got = out["frame0"]["T0_tool0_details"][0][0]
    except AnnotationParseError:
        got = "error"
    assert got == expected
    assert "question_extractor" in EXTRACTORS


# The one-pass fast path must give exactly the checked path's extract (key order included) or
# decline; the checked path alone decides errors.

_point_keys = st.sampled_from(["tool", "frame", "x", "y", "details", "toolIndex", "tool_label"])
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-1, 2), st.floats(-5, 5, allow_nan=False),
    st.sampled_from(["", "0", "T0", "Standing up", "tool"]),
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_point_keys, inner, max_size=4),
    max_leaves=8,
)
_detail = st.one_of(
    st.fixed_dictionaries({"value": st.one_of(st.integers(-1, 3), st.booleans(), st.none(),
                                                 st.sampled_from(["Yes", "Lying down"]))}),
    st.fixed_dictionaries({"value": _json}),
    _json,
)  # fmt: skip
# Mostly integers; values equal to them but written differently ("0", 0.0, True) must not
# share their frame or tool names.
_index = st.one_of(st.integers(0, 2), st.integers(0, 2), st.sampled_from(["0", 0.0, True, 1.0]))
_well_formed_mark = st.fixed_dictionaries(
    {"tool": _index, "frame": _index},
    optional={
        "x": st.floats(0, 2000, allow_nan=False),
        "y": st.floats(0, 2000, allow_nan=False),
        "details": st.lists(_detail, max_size=3),
        "tool_label": st.just("Adult"),
    },
)
_annotation = st.fixed_dictionaries(
    {"task": st.sampled_from(["T0", "T0", "T1", "T0.0", 0])},
    optional={
        "value": st.one_of(
            st.lists(_well_formed_mark, max_size=6),  # mostly well-formed, as in real exports
            st.lists(_well_formed_mark, max_size=6),
            st.lists(st.one_of(_well_formed_mark, _json), max_size=4),
            _json,
        ),
        "taskType": st.sampled_from(["drawing", "drawing", "single"]),
    },
)
_details_param = st.one_of(
    st.none(),
    st.just({}),
    st.just({"T0_tool0": ["question_extractor"]}),
    st.just({"T0_tool0": ["question_extractor"], "T0_tool1": ["question_extractor", None]}),
    st.just(
        {"T0_tool0": ["question_extractor", None], "T0_tool1": ["no_such", "question_extractor"]}
    ),
    st.just({"T0_tool1": ["slider_extractor"], "T0_tool2": "question_extractor"}),
    st.just({"T0_tool0": None}),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    annotations=st.lists(_annotation, max_size=3),
    metadata=st.sampled_from([{}, {"classifier_version": "1.0"}, {"classifier_version": "2.0"},
                              {"classifier_version": 2}, {"classifier_version": None}]),
    task=st.sampled_from(["T0", "T0", "all", "T0.0"]),
    tools=st.none() | st.lists(st.integers(0, 2), max_size=2),
    details=_details_param
    | st.just({"T0_tool0": ["question_extractor"], "T0_tool0.0": [None], "T0_toolTrue": []}),
)  # fmt: skip
def test_one_pass_matches_the_checked_path(annotations, metadata, task, tools, details):
    from core.classification import Classification
    from core.extractors.point_extractor_by_frame import (
        PointByFrameParams,
        _checked_pass,
        _one_pass,
    )

    classification = Classification.from_export(annotations, metadata, classification_id=3)
    params = PointByFrameParams(
        task=task, tools=None if tools is None else tuple(tools), details=details
    )
    try:
        fast = _one_pass(classification, params)
    except Exception:  # noqa: BLE001 - declining by raising is allowed too
        fast = None
    if fast is None:
        return
    checked = _checked_pass(classification, params)  # must not raise either
    assert repr(fast) == repr(checked)


_answer = st.fixed_dictionaries(
    {"value": st.one_of(st.integers(0, 3), st.none(), st.sampled_from(["Yes", "Lying down"]))}
)
_penguin_mark = st.fixed_dictionaries(
    {
        "x": st.floats(0, 2000, allow_nan=False),
        "y": st.floats(0, 2000, allow_nan=False),
        "tool": st.integers(0, 2),
        "frame": st.integers(0, 2),
        "details": st.lists(_answer, max_size=2),
    },
    optional={"tool_label": st.just("Adult")},
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    marks=st.lists(_penguin_mark, max_size=8),
    more=st.lists(_penguin_mark, max_size=3),
    tools=st.none() | st.lists(st.integers(0, 2), min_size=1, max_size=2),
    details=st.sampled_from([
        None,
        {"T0_tool0": ["question_extractor", None], "T0_tool1": [None, "question_extractor"],
         "T0_tool2": ["question_extractor", "no_such_extractor"]},
        {"T0_tool1": ["question_extractor", "question_extractor"]},
    ]),
)  # fmt: skip
def test_one_pass_takes_well_formed_pfe_marks(marks, more, tools, details):
    from core.classification import Classification
    from core.extractors.point_extractor_by_frame import (
        PointByFrameParams,
        _checked_pass,
        _one_pass,
    )

    annotations = [{"task": "T0", "value": marks}, {"task": "T1", "value": "Clear"}]
    if more:
        annotations.append({"task": "T0", "value": more})
    classification = Classification.from_export(annotations, {}, classification_id=3)
    params = PointByFrameParams(
        task="T0", tools=None if tools is None else tuple(tools), details=details
    )
    fast = _one_pass(classification, params)
    assert fast is not None
    assert repr(fast) == repr(_checked_pass(classification, params))
