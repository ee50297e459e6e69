"""Any JSON an export might hold: every issue-3 extractor returns plain data or a TallyError.

The reference crashes with bare KeyError/TypeError on many of these inputs; Tally must instead
name the classification and task (AnnotationParseError) or the bad keyword (InvalidParameterError).
"""

from __future__ import annotations

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.classification import Classification
from core.errors import AnnotationParseError, InvalidParameterError
from core.registry import get_extractor

KEYS = ["task", "value", "tool", "toolIndex", "frame", "x", "y", "r", "details", "markIndex",
        "taskType", "task_type", "choice", "answers", "selection", "option"]  # fmt: skip
TASKS = ["T0", "T1", "T0.0.0", "T0.1.0"]

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 3), st.floats(-1, 1, allow_nan=False),
    st.sampled_from(["", "T0.0.0", "tool", "Yes", "dropdown-simple", "drawing", "single", "2.0"]),
)  # fmt: skip
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=12,
)
annotation = st.fixed_dictionaries(
    {"task": st.sampled_from(TASKS)},
    optional={k: json_values for k in ("value", "taskType", "markIndex")},
)
metadata = st.sampled_from([{}, {"classifier_version": "2.0"}, {"classifier_version": "1.0"}])
details = st.one_of(
    st.none(),
    st.just({}),
    st.just({"T0_tool0": ["question_extractor", None], "T0_tool1": ["dropdown_extractor"]}),
    st.just(
        {"T0_toolIndex0_subtask0": "question_extractor", "T0_toolIndex1_subtask0": "text_extractor"}
    ),
)

SIMPLE = ["question_extractor", "shortcut_extractor", "survey_extractor", "slider_extractor",
          "text_extractor", "dropdown_extractor", "all_tasks_empty_extractor"]  # fmt: skip


def _check(name, annotations, meta, kwargs):
    spec = get_extractor(name)
    classification = Classification.from_export(annotations, meta, classification_id=5)
    try:
        out = spec(classification, spec.parse_params(kwargs))
    except AnnotationParseError as exc:
        assert exc.classification_id == 5
        assert str(exc).startswith("classification 5")
        return
    except InvalidParameterError:
        return
    assert isinstance(out, list if spec.returns_list else dict)
    orjson.dumps(out)


@pytest.mark.parametrize("name", SIMPLE)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    annotations=st.lists(annotation, max_size=3), meta=metadata, task=st.sampled_from(["T0", "all"])
)
def test_simple_extractors(name, annotations, meta, task):
    _check(name, annotations, meta, {"task": task})


@pytest.mark.parametrize("name", ["shape_extractor", "point_extractor_by_frame"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    annotations=st.lists(annotation, max_size=3),
    meta=metadata,
    tools=st.none() | st.lists(st.integers(0, 2), max_size=2),
    details=details,
    shape=st.sampled_from(["point", "circle"]),
)
def test_drawing_extractors(name, annotations, meta, tools, details, shape):
    kwargs = {"task": "T0"}
    if tools is not None:
        kwargs["tools"] = tools
    if details is not None:
        kwargs["details"] = details
    if name == "shape_extractor":
        kwargs["shape"] = shape
    _check(name, annotations, meta, kwargs)
