"""The annotation model: grouping by task, FEM subtask keys, version detection, malformed input.

Malformed annotations raise AnnotationParseError naming the classification (and the task where
there is one), never a bare KeyError or TypeError. Mark-level shapes are only read by the drawing
extractors, so those cases run through ``point_extractor_by_frame`` and ``shape_extractor``.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import core.classification as classification_module
from core.classification import Classification
from core.errors import AnnotationParseError
from tests.core.extractors.support import FEM, run

PFE_EXPORT = [
    {"task": "T0", "value": "Yes"},
    {
        "task": "T2",
        "value": [{"tool": 0, "frame": 0, "x": 101.2, "y": 201.7, "details": [{"value": 1}]}],
    },
    {"task": "T1", "value": ["Red", "Blue"]},
    {"task": "T0", "value": "again"},
]
FEM_EXPORT = [
    {"task": "T0", "taskType": "single", "value": 0},
    {"task": "T2", "taskType": "drawing",
     "value": [{"toolIndex": 0, "toolType": "point", "frame": 0, "x": 100, "y": 200, "details": [{"task": "T2.0.0"}]}]},
    {"task": "T2.0.0", "taskType": "single", "markIndex": 0, "value": 1},
    {"task": "T6", "task_type": "dropdown-simple", "value": {"value": "h1", "option": True}},
]  # fmt: skip


def test_pfe_export_is_grouped_by_task_in_first_seen_order():
    c = Classification.from_export(PFE_EXPORT, {}, classification_id=1)
    assert list(c.annotations) == ["T0", "T2", "T1"]
    assert [a["value"] for a in c.for_task("T0")] == ["Yes", "again"]
    assert not c.is_fem
    assert c.classifier_version == (1, 0)


def test_fem_subtask_annotations_belong_to_their_task():
    c = Classification.from_export(FEM_EXPORT, FEM, classification_id=2)
    assert c.is_fem
    assert list(c.annotations) == ["T0", "T2", "T2.0.0", "T6"]
    assert [a["task"] for a in c.for_task("T2")] == ["T2", "T2.0.0"]
    assert [a["task"] for a in c.for_task("T2.0.0")] == []  # selection is by the part before "."
    assert [a["task"] for a in c.for_task("all")] == ["T0", "T2", "T2.0.0", "T6"]


def test_prefix_is_not_a_task_match():
    c = Classification.from_export([{"task": "T10", "value": 1}, {"task": "T1", "value": 2}])
    assert [a["value"] for a in c.for_task("T1")] == [2]


@pytest.mark.parametrize(
    ("metadata", "fem"),
    [({}, False), ({"classifier_version": "1.0"}, False), ({"classifier_version": "1.9"}, False),
     ({"classifier_version": "2.0"}, True), ({"classifier_version": "2.1"}, True),
     ({"classifier_version": "10.0"}, True), ({"classifier_version": "2"}, True),
     # pre-releases come before their release, as the reference's packaging.version orders them
     ({"classifier_version": "2.0b1"}, False), ({"classifier_version": "2.0.dev0"}, False),
     ({"classifier_version": "2.0rc1"}, False), ({"classifier_version": "2.1a1"}, True),
     ({"classifier_version": "2.0.1b1"}, True), ({"classifier_version": "2.0.post1"}, True)],
)  # fmt: skip
def test_version_detection(metadata, fem):
    assert Classification.from_export([], metadata).is_fem is fem


def test_grouped_input_is_accepted_as_it_is():
    c = Classification.from_export({"T0": [{"value": "Yes"}], "T1": []}, {}, classification_id=3)
    assert c.for_task("T0") == [{"value": "Yes"}]


def test_gold_standard_flag_defaults_to_false():
    assert Classification.from_export([]).gold_standard is False
    assert Classification.from_export([], gold_standard=True).gold_standard is True


@pytest.mark.parametrize(
    ("annotations", "metadata", "message", "task", "index"),
    [
        ({"not": "a list"}, {}, "grouped by task must map task ids to lists", "not", None),
        ("T0=Yes", {}, "annotations must be a JSON list", None, None),
        ([{"task": "T0", "value": 1}, "Yes"], {}, "annotation must be a JSON object", None, 1),
        ({"T0": ["Yes"]}, {}, "annotation must be a JSON object", "T0", 0),
        ([{"value": 1}], {}, "no 'task' key", None, 0),
        ([], ["2.0"], "metadata must be a JSON object", None, None),
    ],
    ids=["grouped_value_not_list", "not_a_list", "annotation_not_object",
         "grouped_annotation_not_object", "no_task_key", "metadata_not_object"],
)  # fmt: skip
def test_malformed_classifications_raise_a_named_error(annotations, metadata, message, task, index):
    with pytest.raises(AnnotationParseError, match=message) as info:
        Classification.from_export(annotations, metadata, classification_id=99)
    assert type(info.value) is AnnotationParseError
    assert (info.value.classification_id, info.value.task, info.value.index) == (99, task, index)
    assert str(info.value).startswith("classification 99")


@pytest.mark.parametrize("name", ["point_extractor_by_frame", "shape_extractor"])
@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "a drawing value must be a list of marks"),
        (3, "a drawing value must be a list of marks"),
        ([{"tool": 0, "frame": 0, "x": 1, "y": 2}, "mark"], "mark #1 must be a JSON object"),
        ([[0, 1, 2]], "mark #0 must be a JSON object"),
    ],
    ids=["value_null", "value_number", "mark_string", "mark_list"],
)
def test_malformed_drawings_name_classification_and_task(name, value, message):
    kwargs = {"shape": "point"} if name == "shape_extractor" else {}
    with pytest.raises(AnnotationParseError, match=message) as info:
        run(name, [{"task": "T4", "value": value}], task="T4", classification_id=99, **kwargs)
    assert type(info.value) is AnnotationParseError
    assert (info.value.classification_id, info.value.task) == (99, "T4")
    assert str(info.value).startswith("classification 99, task T4: ")


def test_a_mark_missing_x_or_y_is_skipped_as_the_reference_does():
    # The reference returns a result here, so Tally returns the same one rather than raising:
    # shape_extractor skips the mark; point_extractor_by_frame still opens the mark's frame.
    marks = [{"tool": 0, "frame": 1, "x": 1}, {"tool": 0, "frame": 0, "x": 3, "y": 4}]
    annotations = [{"task": "T0", "value": marks}]
    assert run("shape_extractor", annotations, task="T0", shape="point") == {
        "frame0": {"T0_tool0_x": [3], "T0_tool0_y": [4]}
    }
    assert run("point_extractor_by_frame", annotations, task="T0") == {
        "frame1": {},
        "frame0": {"T0_tool0_x": [3], "T0_tool0_y": [4]},
    }


def test_an_empty_drawing_value_is_iterated_like_the_reference():
    # Python iterates "" and {} to nothing, so the reference returns an empty extract.
    for value in ("", {}, []):
        assert (
            run("shape_extractor", [{"task": "T0", "value": value}], task="T0", shape="point") == {}
        )


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)
_annotation = st.one_of(
    st.fixed_dictionaries(
        {"task": st.sampled_from(["T0", "T1", "T0.0.0", 0, 1.5, None, True]), "value": _json}
    ),
    _json,
)


@settings(max_examples=300, deadline=None)
@given(
    annotations=st.one_of(st.lists(_annotation, max_size=5), _json),
    metadata=st.one_of(st.dictionaries(st.text(max_size=3), _json, max_size=3), _json),
)
def test_export_rows_read_alike_on_the_fast_and_the_checked_path(annotations, metadata):
    """Plain lists and dicts take a fast path; ``context={}`` forces the checked one."""

    def read(**context):
        try:
            c = Classification.from_export(annotations, metadata, classification_id=9, **context)
        except AnnotationParseError as exc:
            return str(exc)
        return (c, list(c.annotations), [list(map(id, v)) for v in c.annotations.values()])

    assert read() == read(context={})


_json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
_annotation_lists = st.lists(
    st.one_of(
        st.dictionaries(
            st.sampled_from(["task", "value", "markIndex"]),
            st.one_of(st.sampled_from(["T0", "T1", "T0.0.0"]), _json_scalars),
            max_size=3,
        ),
        _json_scalars,
        st.lists(_json_scalars, max_size=2),
    ),
    max_size=5,
)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(_annotation_lists, st.dictionaries(st.text(max_size=2), st.lists(st.just({})))),
    st.one_of(st.dictionaries(st.sampled_from(["classifier_version"]), st.just("2.0")), st.none()),
    st.sampled_from([False, True]),
    st.sampled_from([None, 5]),
)
def test_the_compiled_usual_classification_is_the_python_forms(
    annotations, metadata, gold_standard, user_id
):
    """The compiled grouping of the usual export row builds what the Python form builds, and
    declines (None) the same rows."""
    compiled = pytest.importorskip("core._classification_compiled").usual_classification
    args = (Classification, annotations, metadata, 9, gold_standard, user_id)
    expected = classification_module._usual_classification_py(*args)
    made = compiled(*args)
    if expected is None:
        assert made is None
        return
    assert type(made) is Classification and made == expected
    assert made.__dict__ == expected.__dict__
    assert list(made.annotations) == list(expected.annotations)  # tasks in export order


def test_from_export_uses_the_compiled_grouping():
    compiled = pytest.importorskip("core._classification_compiled").usual_classification
    assert classification_module._usual_classification is compiled
