"""Caesar's ``pluck_field`` extractor: the JSONPath subset over the prepare document, if_missing."""

from __future__ import annotations

import pytest

from core.classification import Classification
from core.errors import AnnotationParseError, InvalidParameterError
from core.extractors._caesar import prepare
from core.extractors.pluck_field import compile_path, evaluate, pluck_field
from core.registry import get_extractor

CLASSIFICATION = Classification.from_export(
    [
        {"task": "T0", "value": "Yes"},
        {"task": "T1", "value": [{"choice": "LION"}, {"choice": "HOG"}]},
    ],
    {"session": "abc", "viewport": {"width": 800}},
    classification_id=11,
    user_id=5,
    context={
        "workflow_id": 3,
        "subject_id": 99,
        "subject": {"id": 99, "metadata": {"#ra": 12.5, "name with space": "x"}},
        "created_at": "2024-01-01T00:00:00Z",
    },
)


def _pluck(field_map, if_missing="error"):
    params = get_extractor("pluck_field").parse_params(
        {"field_map": field_map, "if_missing": if_missing}
    )
    return pluck_field(CLASSIFICATION, params)


def test_prepare_document_shape():
    doc = prepare(CLASSIFICATION)
    assert list(doc) == [
        "id", "project_id", "workflow_id", "workflow_version", "subject_id", "user_id",
        "annotations", "metadata", "subject", "created_at", "updated_at",
    ]  # fmt: skip
    assert (doc["id"], doc["user_id"], doc["workflow_id"]) == (11, 5, 3)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("$.annotations.T0[0].value", "Yes"),
        ("$.annotations.T1[0].value[*].choice", ["LION", "HOG"]),
        ("$.annotations.T1[0].value[-1].choice", "HOG"),
        ("$.subject.metadata['#ra']", 12.5),
        ("$.subject.metadata.#ra", 12.5),
        ('$.subject.metadata["name with space"]', "x"),
        ("$.metadata.viewport.width", 800),
        ("$.metadata.*", ["abc", {"width": 800}]),
        ("$.metadata['session','viewport']", ["abc", {"width": 800}]),
        ("$.user_id", 5),
        ("$.updated_at", None),  # present with a null: a match
    ],
)
def test_paths(path, expected):
    assert _pluck({"out": path}) == {"out": expected}


def test_several_fields_in_field_map_order():
    assert _pluck({"b": "$.user_id", "a": "$.id"}) == {"b": 5, "a": 11}


def test_if_missing():
    missing = {"x": "$.metadata.nope", "y": "$.id"}
    with pytest.raises(AnnotationParseError, match=r"classification 11: .*'\$\.metadata\.nope'"):
        _pluck(missing)
    assert _pluck(missing, "ignore") == {"x": None, "y": 11}
    assert _pluck(missing, "reject") == []
    assert _pluck({"x": "$.annotations.T0[5]"}, "ignore") == {"x": None}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({}, "'field_map' is required"),
        ({"field_map": {"a": "metadata.x"}}, "must start with"),
        ({"field_map": {"a": "$..x"}}, "recursive descent"),
        ({"field_map": {"a": "$.a[1:2]"}}, "unsupported selector"),
        ({"field_map": {"a": "$.a[?(@.b)]"}}, "unsupported selector"),
        ({"field_map": {"a": "$.x"}, "if_missing": "skip"}, "must be one of"),
    ],
)
def test_bad_params(raw, message):
    with pytest.raises(InvalidParameterError, match=message):
        get_extractor("pluck_field").parse_params(raw)


def test_compile_and_evaluate_subset():
    assert compile_path("$.a[0][*].b") == ("a", 0, "*", "b")
    assert evaluate(compile_path("$.a[*]"), {"a": {"x": 1, "y": 2}}) == [1, 2]
    assert evaluate(compile_path("$"), {"a": 1}) == [{"a": 1}]
    assert evaluate(compile_path("$.a.b"), {"a": [{"b": 1}]}) == []


def test_output_is_a_copy():
    out = _pluck({"a": "$.annotations.T1[0].value"})
    out["a"][0]["choice"] = "changed"
    assert CLASSIFICATION.annotations["T1"][0]["value"][0]["choice"] == "LION"
