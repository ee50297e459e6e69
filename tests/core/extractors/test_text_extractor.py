"""text_extractor: the text as typed, with the classification's gold-standard flag."""

from __future__ import annotations

import pytest

from core.errors import AnnotationParseError
from tests.core.extractors.support import run


@pytest.mark.parametrize("value", ["hello world", "", None, "line\nbreak", "Größe 🦁", 42, ["a"]])
def test_text_is_passed_through(value):
    assert run("text_extractor", [{"task": "T7", "value": value}], task="T7") == {
        "text": value,
        "gold_standard": False,
    }


def test_gold_standard_flag_comes_from_the_classification():
    out = run("text_extractor", [{"task": "T7", "value": "x"}], task="T7", gold_standard=True)
    assert out == {"text": "x", "gold_standard": True}


def test_unanswered_task_gives_empty_extract():
    assert run("text_extractor", [], task="T7") == {}


def test_missing_value_raises():
    with pytest.raises(AnnotationParseError, match="no 'value' key"):
        run("text_extractor", [{"task": "T7"}], task="T7")
