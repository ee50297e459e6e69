"""Caesar's ``blank`` extractor: Rails' blank? on the task's first annotation, Caesar's normalisation."""

from __future__ import annotations

import pytest

from core.classification import Classification
from core.extractors.blank import BlankParams, blank
from core.registry import get_extractor


def _blank(annotations, task="T0"):
    return blank(Classification.from_export(annotations), BlankParams(task=task))["blank"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, True), (False, True), ("", True), ("   ", True), ([], True), ({}, True),
        (0, False), ("no", False), (True, False), (["a"], False), ({"a": 1}, False),
    ],
)  # fmt: skip
def test_value_blankness(value, expected):
    assert _blank([{"task": "T0", "value": value}]) is expected


def test_missing_task_or_annotations_is_blank():
    assert _blank([]) is True
    assert _blank([{"task": "T1", "value": "x"}]) is True
    assert _blank([{"task": "T0"}]) is True


def test_only_the_first_annotation_counts():
    assert _blank([{"task": "T0", "value": ""}, {"task": "T0", "value": "x"}]) is True


def test_value_lists_are_flattened_like_caesar():
    # [{"value": ""}] becomes the annotation {"value": "", "task": "T0"}: blank.
    assert _blank([{"task": "T0", "value": [{"value": "", "option": True}]}]) is True
    assert _blank([{"task": "T0", "value": [{"value": "h1", "option": True}]}]) is False


def test_combo_children_are_their_own_tasks():
    combo = [{"task": "T9", "value": [{"task": "T0", "value": "yes"}]}]
    assert _blank(combo) is False
    assert _blank(combo, task="T9") is True


def test_grouped_input_without_task_keys():
    c = Classification.from_export({"T0": [{"value": "x"}]})
    assert blank(c, BlankParams())["blank"] is False


def test_default_task_is_t0_and_keyword_is_task():
    spec = get_extractor("blank")
    assert spec.parse_params({}).task == "T0"
    with pytest.raises(Exception, match="did you mean"):
        spec.parse_params({"task_kee": "T1"})
