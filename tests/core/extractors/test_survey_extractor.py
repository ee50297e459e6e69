"""survey_extractor: one extract per choice, sub-questions counted like question answers."""

from __future__ import annotations

import pytest

from core.errors import AnnotationParseError
from core.registry import get_extractor
from tests.core.extractors.support import run


def test_is_registered_as_returning_a_list():
    assert get_extractor("survey_extractor").returns_list


def test_reference_example():
    value = [{"choice": "ZEBRA", "answers": {"HOWMANY": "2", "BEHAVIOR": ["EATING", "RESTING"]}}]
    assert run("survey_extractor", [{"task": "T3", "value": value}], task="T3") == [
        {
            "choice": "zebra",
            "answers_howmany": {"2": 1},
            "answers_behavior": {"eating": 1, "resting": 1},
        }
    ]


def test_each_choice_is_its_own_extract_even_when_repeated():
    value = [
        {"choice": "LION", "answers": {"HOWMANY": "1"}, "filters": {}},
        {"choice": "LION", "answers": {"HOWMANY": "2"}},
        {"choice": "FIRE"},
        {"choice": "Red Deer", "answers": {}},
    ]
    assert run("survey_extractor", [{"task": "T0", "value": value}], task="T0") == [
        {"choice": "lion", "answers_howmany": {"1": 1}},
        {"choice": "lion", "answers_howmany": {"2": 1}},
        {"choice": "fire"},
        {"choice": "red-deer"},
    ]


def test_answer_values_are_counted_as_question_answers():
    answers = {"NULL": None, "BOOL": True, "INT": 3, "EMPTY": [], "REPEATS": ["A", "A", "B"]}
    value = [{"choice": "ELK", "answers": answers}]
    assert run("survey_extractor", [{"task": "T0", "value": value}], task="T0") == [
        {
            "choice": "elk",
            "answers_null": {"None": 1},
            "answers_bool": {"True": 1},
            "answers_int": {"3": 1},
            "answers_empty": {},
            "answers_repeats": {"a": 2, "b": 1},
        }
    ]


@pytest.mark.parametrize("value", [[], ""], ids=["empty_list", "empty_string"])
def test_nothing_identified_gives_no_extracts(value):
    assert run("survey_extractor", [{"task": "T0", "value": value}], task="T0") == []


def test_unanswered_task_gives_no_extracts():
    assert run("survey_extractor", [{"task": "T1", "value": "Yes"}], task="T0") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "must be a list of choices"),
        ("LION", "each survey choice must be an object"),
        ([{"answers": {"HOWMANY": "1"}}], "each survey choice must be an object"),
        ([{"choice": 3}], "each survey choice must be an object"),
        ([{"choice": "ELK", "answers": ["1"]}], "'answers' must be an object"),
        ([{"choice": "ELK", "answers": {"Q": 1.5}}], "got float"),
    ],
    ids=["null", "question_value", "no_choice", "int_choice", "answers_list", "float_answer"],
)
def test_malformed_values_raise_a_named_error(value, message):
    with pytest.raises(AnnotationParseError, match=message) as info:
        run("survey_extractor", [{"task": "T0", "value": value}], task="T0")
    assert (info.value.classification_id, info.value.task) == (42, "T0")
