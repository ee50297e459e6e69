"""The extractors' cells shortcuts (``core/extractors/_cells_forms.py``) give the registry's cells.

Whenever a shortcut answers, its cells must be ``render_cells`` of the registered extractor's
extract, byte for byte (key order included); where it declines, the batch extract runs the
extractor. The compiled point form and its Python form are both checked, on generated
classifications (malformed ones included) and on well-formed ones, which they must take.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.classification import Classification
from core.csv_layout import render_cells
from core.extractors._cells_forms import cells_form
from core.extractors.point_extractor_by_frame import (
    PointByFrameParams,
    _point_cells_py,
    point_cells,
    point_extractor_by_frame,
)
from core.extractors.question_extractor import QuestionParams, question_extractor
from tests.core.extractors.test_point_extractor_by_frame import (
    _annotation,
    _details_param,
    _json,
    _penguin_mark,
)

VERSIONS = st.sampled_from(["5.3.1", None])


def _registry_cells(extractor, classification, params, version):
    try:
        return render_cells(extractor(classification, params), version)
    except Exception:  # noqa: BLE001 - an error: a shortcut must have declined
        return "error"


def _check_point(classification, params, version):
    expected = _registry_cells(point_extractor_by_frame, classification, params, version)
    compiled = point_cells(params, version)
    answers = [] if compiled is None else [compiled(classification)]
    answers.append(_point_cells_py(classification, params, version))
    for answer in answers:
        if answer is not None:
            assert answer == expected
    return answers


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    annotations=st.lists(_annotation, max_size=3),
    metadata=st.sampled_from([{}, {"classifier_version": "2.0"}, {"classifier_version": 2}]),
    task=st.sampled_from(["T0", "T0", "all", "T0.0"]),
    tools=st.none() | st.lists(st.integers(0, 2), max_size=2),
    details=_details_param,
    version=VERSIONS,
)
def test_point_cells_are_the_extractors_or_decline(
    annotations, metadata, task, tools, details, version
):
    classification = Classification.from_export(annotations, metadata, classification_id=3)
    params = PointByFrameParams(
        task=task, tools=None if tools is None else tuple(tools), details=details
    )
    _check_point(classification, params, version)


# Coordinates as exports hold them, and the numbers whose text str() and orjson spell apart
_coordinate = st.one_of(
    st.floats(0, 2000, allow_nan=False),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(2**63), 2**63 - 1),
    st.sampled_from([1e-5, 1e16, 1.5e-7, -0.0, 0.0001, 123456789012345678, 10.00001]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    marks=st.lists(
        st.tuples(_penguin_mark, _coordinate, _coordinate, st.booleans()), max_size=10
    ),
    more=st.lists(_penguin_mark, max_size=3),
    tools=st.none() | st.lists(st.integers(0, 2), min_size=1, max_size=2),
    details=st.sampled_from([
        None,
        {"T0_tool0": ["question_extractor", None], "T0_tool1": [None, "question_extractor"],
         "T0_tool2": ["question_extractor", "no_such_extractor"]},
        {"T0_tool1": ["question_extractor", "question_extractor"]},
    ]),
    version=VERSIONS,
)  # fmt: skip
def test_point_cells_take_well_formed_pfe_marks(marks, more, tools, details, version):
    value = []
    for mark, x, y, keep_xy in marks:
        mark = dict(mark)
        if keep_xy:
            mark["x"], mark["y"] = x, y
        else:  # a mark without a point still opens its frame
            del mark["x"]
        value.append(mark)
    annotations = [{"task": "T0", "value": value}, {"task": "T1", "value": "Clear"}]
    if more:
        annotations.append({"task": "T0", "value": more})
    classification = Classification.from_export(annotations, {}, classification_id=3)
    params = PointByFrameParams(
        task="T0", tools=None if tools is None else tuple(tools), details=details
    )
    compiled, python = _check_point(classification, params, version)
    assert python is not None
    assert compiled is not None  # the compiled form covers what exports hold


@pytest.mark.parametrize(
    "x", [1.0, 2, -0.0, 1e-05, 1e16, 1e22, math.inf, -math.inf, math.nan, 2**63 - 1, -(2**63)]
)
def test_point_cells_write_numbers_as_str(x):
    annotations = [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": x, "y": 1.5}]}]
    classification = Classification.from_export(annotations, {})
    compiled = point_cells(PointByFrameParams(task="T0"), "5.3.1")
    _, _, texts = compiled(classification)
    assert texts == ("5.3.1", str([x]), "[1.5]")


def test_point_cells_decline_what_they_do_not_cover():
    params = PointByFrameParams(task="T0", details={"T0_tool0": ["question_extractor"]})
    compiled = point_cells(params, "5.3.1")

    def cells(marks, metadata=None, more=()):
        annotations = [{"task": "T0", "value": marks}, *more]
        return compiled(Classification.from_export(annotations, metadata or {}))

    assert cells([{"tool": 0, "frame": 0, "x": 1, "y": 2, "details": [{"value": 1}]}])
    assert cells([{"tool": 0, "frame": 0, "x": 2**64, "y": 2}]) is None  # str(), not orjson
    assert cells([{"tool": 0, "frame": 0, "x": "1", "y": 2}]) is None
    assert cells([{"tool": 0, "frame": 0.0, "x": 1, "y": 2}]) is None
    assert cells([{"tool": 0, "frame": 0, "details": [{"value": 1.5}]}]) is None
    assert cells([{"tool": 0, "frame": 0}], {"classifier_version": "2.0"}) is None
    assert cells([], more=[{"task": "T0.0.0", "value": 1}]) is None
    assert point_cells(PointByFrameParams(task="all"), None) is None


def test_point_cells_python_form_is_used_without_the_extension(monkeypatch):
    import core.extractors.point_extractor_by_frame as module

    monkeypatch.setattr(module, "_point_cells_compiled", None)
    params = PointByFrameParams(task="T0")
    annotations = [{"task": "T0", "value": [{"tool": 0, "frame": 1, "x": 1, "y": 2.5}]}]
    classification = Classification.from_export(annotations, {})
    assert module.point_cells(params, "5.3.1")(classification) == render_cells(
        point_extractor_by_frame(classification, params), "5.3.1"
    )


def test_point_cells_are_compiled():
    import core.extractors.point_extractor_by_frame as module

    assert module._point_cells_compiled is not None, "run setup.py build_ext --inplace"


_question_value = st.one_of(
    _json,
    st.sampled_from(["Clear", "Mostly obscured or dark", "", "Ñandú", "a.b"]),
    st.lists(st.sampled_from(["Nothing here", "Other", "x"]), max_size=3),
)
_question_annotation = st.fixed_dictionaries(
    {"task": st.sampled_from(["T1", "T1", "T2", "T1.0.0", 1])},
    optional={"value": _question_value},
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.lists(_question_annotation, max_size=3), min_size=1, max_size=4),
    name=st.sampled_from(["question_extractor", "shortcut_extractor"]),
    task=st.sampled_from(["T1", "T2", "all", "T1.0"]),
    version=VERSIONS,
)
def test_question_cells_are_the_extractors_or_decline(rows, name, task, version):
    params = QuestionParams(task=task)
    cells = cells_form(name, params, version)
    for row in rows:  # one form over many rows: its cache must not mix them up
        try:
            classification = Classification.from_export(row, {}, classification_id=1)
        except Exception:  # noqa: BLE001 - not a classification at all
            continue
        expected = _registry_cells(question_extractor, classification, params, version)
        answer = None if cells is None else cells(classification)
        if answer is not None:
            assert answer == expected


@pytest.mark.parametrize(
    "value", ["Clear", ["Nothing here"], [], ["a", "b", "a"], None, 3, [1], {"x": 1}, True]
)
def test_question_cells_take_text_answers(value):
    params = QuestionParams(task="T1")
    cells = cells_form("question_extractor", params, "5.3.1")
    classification = Classification.from_export([{"task": "T1", "value": value}])
    expected = _registry_cells(question_extractor, classification, params, "5.3.1")
    answer = cells(classification)
    assert answer == expected or answer is None
    if (
        value is None
        or isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    ):
        assert answer is not None
    unanswered = Classification.from_export([{"task": "T0", "value": value}])
    assert cells(unanswered) == (("aggregation_version",), (4,), ("5.3.1",))


@settings(max_examples=500, deadline=None)
@given(
    groups=st.dictionaries(
        st.sampled_from(["T1", "T2", "T1.0.0", "T10", "T1.x"]),
        st.lists(st.one_of(st.none(), _question_annotation, st.just([])), max_size=2),
        max_size=4,
    ),
    task=st.sampled_from(["T1", "T2"]),
)
def test_the_compiled_answer_key_is_the_python_forms(groups, task):
    """question_cells' cache key (compiled) is the Python form's, declines included."""
    import core.extractors.question_extractor as module

    compiled = pytest.importorskip("core._classification_compiled").answer_key
    unanswered, decline = object(), object()
    args = (groups, task, task + ".", unanswered, decline)
    assert compiled(*args) == module._answer_key_py(*args)
    assert module._answer_key is compiled


_ONE_FORM = {}  # one compiled form across examples: its is_fem per version text is remembered


@settings(max_examples=300, deadline=None)
@given(
    version_text=st.sampled_from(
        [None, "1.0", "2.0", "2", "1.9", "2.0b1", "2.0.dev0", "v2.1", "", "x", 2, 1.5, None]
    ),
    fem_mark=st.booleans(),
)
def test_point_cells_ask_is_fem_of_each_classification(version_text, fem_mark):
    # the compiled form asks is_fem once per version text: the same answers as asking each time
    params = PointByFrameParams(task="T0")
    form = _ONE_FORM.setdefault("form", point_cells(params, "5.3.1"))
    metadata = {} if version_text is None else {"classifier_version": version_text}
    mark = {"x": 1.5, "y": 2, "frame": 0, "tool": 0}
    if fem_mark:
        mark = {"x": 1.5, "y": 2, "frame": 0, "toolIndex": 0}
    classification = Classification.from_export([{"task": "T0", "value": [mark]}], metadata)
    expected = None if classification.is_fem else _point_cells_py(classification, params, "5.3.1")
    assert form(classification) == expected
