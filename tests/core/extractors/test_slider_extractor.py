"""slider_extractor: the value passes through unchanged."""

from __future__ import annotations

import pytest

from core.errors import AnnotationParseError
from tests.core.extractors.support import FEM, run


@pytest.mark.parametrize("value", ["0.3", 0.3, 7, None, "", True, [1, 2], "hungry"])
def test_value_is_passed_through(value):
    assert run("slider_extractor", [{"task": "T5", "value": value}], task="T5") == {
        "slider_value": value
    }


def test_fem_and_first_annotation_only():
    annotations = [{"task": "T5", "taskType": "slider", "value": "1"}, {"task": "T5", "value": "2"}]
    assert run("slider_extractor", annotations, FEM, task="T5") == {"slider_value": "1"}


def test_unanswered_task_gives_empty_extract():
    assert run("slider_extractor", [{"task": "T0", "value": "Yes"}], task="T5") == {}


def test_missing_value_raises():
    with pytest.raises(AnnotationParseError, match="no 'value' key"):
        run("slider_extractor", [{"task": "T5"}], task="T5")
