"""question_extractor (and shortcut_extractor, its copy): labels and counts as the oracle writes them."""

from __future__ import annotations

import pytest

from core.errors import AnnotationParseError
from tests.core.extractors.support import FEM, run

#: (id, first annotation's value, expected extract); checked against panoptes-aggregation 5.3.1.
ANSWERS = [
    ("single", "Yes", {"yes": 1}),
    ("multiple", ["Red", "Blue"], {"red": 1, "blue": 1}),
    ("repeated_answers_add_up", ["a", "a", "A", "b"], {"a": 3, "b": 1}),
    ("null_is_the_string_None", None, {"None": 1}),
    ("bool_kept_as_str", True, {"True": 1}),
    ("false_kept_as_str", False, {"False": 1}),
    ("int_kept_as_str", 0, {"0": 1}),
    ("negative_int", -3, {"-3": 1}),
    ("list_of_null_bool_int", [None, True, False, 1], {"None": 1, "True": 1, "False": 1, "1": 1}),
    ("survey_like_choices", [{"choice": "ZEBRA"}, {"choice": "LION"}, {"choice": "ZEBRA"}],
     {"zebra": 2, "lion": 1}),
    ("choice_null", [{"choice": None}], {"None": 1}),
    ("empty_list", [], {}),
    ("empty_string", "", {"": 1}),
    ("unicode", "Ñandú Größe", {"nandu-grosse": 1}),
    ("punctuation", "Can't tell / maybe?", {"can-t-tell-maybe": 1}),
    ("numeric_string", "0.3", {"0-3": 1}),
]  # fmt: skip


@pytest.mark.parametrize("name", ["question_extractor", "shortcut_extractor"])
@pytest.mark.parametrize(
    ("value", "expected"), [a[1:] for a in ANSWERS], ids=[a[0] for a in ANSWERS]
)
def test_answers_are_labelled_and_counted(name, value, expected):
    assert run(name, [{"task": "T0", "value": value}], task="T0") == expected


def test_key_order_is_first_seen_order():
    out = run("question_extractor", [{"task": "T0", "value": ["b", "a", "b"]}], task="T0")
    assert list(out) == ["b", "a"]


def test_unanswered_task_gives_empty_extract():
    assert run("question_extractor", [{"task": "T1", "value": "x"}], task="T0") == {}
    assert run("question_extractor", [], task="T0") == {}


def test_only_the_first_annotation_of_the_task_counts():
    annotations = [{"task": "T0", "value": "First"}, {"task": "T0", "value": "Second"}]
    assert run("question_extractor", annotations, task="T0") == {"first": 1}


def test_task_selects_fem_subtask_keys_but_not_longer_task_ids():
    annotations = [{"task": "T0.0.0", "value": "sub"}, {"task": "T0", "value": "main"}]
    assert run("question_extractor", annotations, task="T0") == {"sub": 1}
    annotations = [{"task": "T10", "value": "ten"}, {"task": "T1", "value": "one"}]
    assert run("question_extractor", annotations, task="T1") == {"one": 1}


def test_default_task_all_reads_the_first_annotation():
    annotations = [{"task": "T3", "value": "three"}, {"task": "T0", "value": "zero"}]
    assert run("question_extractor", annotations) == {"three": 1}


def test_fem_answer_indices():
    assert run("question_extractor", [{"task": "T1", "value": [0, 2]}], FEM, task="T1") == {
        "0": 1,
        "2": 1,
    }


@pytest.mark.parametrize(
    ("annotation", "message"),
    [
        ({"task": "T0", "value": 1.5}, "got float 1.5"),
        ({"task": "T0", "value": {"a": 1}}, "got dict"),
        ({"task": "T0", "value": [["a", "b"]]}, "got list"),
        ({"task": "T0", "value": [{"label": "x"}]}, "needs a 'choice' key"),
        ({"task": "T0"}, "no 'value' key"),
    ],
    ids=["float", "object", "nested_list", "object_without_choice", "no_value"],
)
def test_answers_the_oracle_cannot_label_raise_a_named_error(annotation, message):
    with pytest.raises(AnnotationParseError, match=message) as info:
        run("question_extractor", [annotation], task="T0", classification_id=7)
    assert info.value.classification_id == 7
    assert info.value.task == "T0"
    assert str(info.value).startswith("classification 7, task T0: ")
