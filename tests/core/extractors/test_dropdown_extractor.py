"""dropdown_extractor: PFE select lists and FEM simple dropdowns."""

from __future__ import annotations

import pytest

from core.errors import AnnotationParseError
from tests.core.extractors.support import FEM, run


def test_pfe_one_counter_per_select_list():
    value = [
        {"select_label": "Country", "option": True, "value": "840"},
        {"select_label": "State", "option": True, "value": "FL"},
        {"select_label": "County", "option": False, "value": "Some Custom Text"},
        {"option": True, "value": None},
        {"option": True, "value": 1977},
        {"option": True, "value": True},
    ]
    assert run("dropdown_extractor", [{"task": "T1", "value": value}], task="T1") == {
        "value": [
            {"840": 1},
            {"fl": 1},
            {"some-custom-text": 1},
            {"None": 1},
            {"1977": 1},
            {"True": 1},
        ]
    }


@pytest.mark.parametrize(
    ("annotation", "metadata", "expected"),
    [
        ({"taskType": "dropdown-simple", "value": {"selection": 6, "option": True}}, FEM, [{"6": 1}]),
        ({"task_type": "dropdown-simple", "value": {"value": 6, "option": True}}, FEM, [{"6": 1}]),
        ({"taskType": "dropdown-simple", "value": {"selection": 1, "value": 9}}, FEM, [{"1": 1}]),
        ({"taskType": "dropdown-simple", "value": {"option": True}}, FEM, [{"None": 1}]),
        ({"taskType": "dropdown-simple", "value": None}, FEM, [{"None": 1}]),
        ({"taskType": "dropdown-simple", "value": "free text"}, FEM, [{"None": 1}]),
        ({"taskType": "dropdown-simple", "value": {"selection": "Größe"}}, FEM, [{"grosse": 1}]),
        ({"taskType": "dropdown", "value": {"selection": 1}}, FEM, []),
        ({"value": [{"value": "h1"}]}, FEM, []),
        ({"taskType": "dropdown-simple", "value": {"selection": 4}}, {"classifier_version": "10.0"},
         [{"4": 1}]),
    ],
    ids=["selection", "csv_task_type_value", "selection_wins", "neither_key", "null", "plain_string",
         "unicode", "not_simple_type", "no_type", "version_compared_as_numbers"],
)  # fmt: skip
def test_fem_simple_dropdown(annotation, metadata, expected):
    annotations = [{"task": "T6", **annotation}]
    assert run("dropdown_extractor", annotations, metadata, task="T6") == {"value": expected}


def test_unanswered_task_gives_empty_extract():
    assert run("dropdown_extractor", [{"task": "T0", "value": "x"}], task="T1") == {}


def test_pfe_empty_list():
    assert run("dropdown_extractor", [{"task": "T1", "value": []}], task="T1") == {"value": []}


@pytest.mark.parametrize(
    ("annotation", "metadata", "message"),
    [
        ({"value": None}, {}, "must be a list of selections"),
        ({"value": [{"option": True}]}, {}, "each dropdown selection must be an object"),
        ({"value": [{"value": 1.5}]}, {}, "got float"),
        # PFE metadata with a FEM value: the reference iterates the object's keys and fails.
        ({"taskType": "dropdown-simple", "value": {"selection": 1}}, {}, "each dropdown selection"),
        ({"taskType": "dropdown-simple", "value": 3}, FEM, "must be null or an object"),
        ({"taskType": "dropdown-simple", "value": "selection"}, FEM, "must be null or an object"),
        ({"taskType": "dropdown-simple", "value": {"selection": [1]}}, FEM, "got list"),
    ],
    ids=["pfe_null", "pfe_no_value_key", "pfe_float", "pfe_metadata_fem_value", "fem_int",
         "fem_string_naming_a_key", "fem_list_selection"],
)  # fmt: skip
def test_malformed_values_raise_a_named_error(annotation, metadata, message):
    with pytest.raises(AnnotationParseError, match=message):
        run("dropdown_extractor", [{"task": "T1", **annotation}], metadata, task="T1")
