"""all_tasks_empty_extractor: True only when no annotation has a non-null value."""

from __future__ import annotations

import pytest

from tests.core.extractors.support import run

CASES = [
    ("no_annotations", [], {}, True),
    ("all_null", [{"task": "T0", "value": None}, {"task": "T1", "value": None}], {}, True),
    ("value_key_missing", [{"task": "T0"}], {}, True),
    ("one_answered", [{"task": "T0", "value": None}, {"task": "T1", "value": "Yes"}], {}, False),
    ("empty_list_is_an_answer", [{"task": "T0", "value": []}], {}, False),
    ("empty_string_is_an_answer", [{"task": "T0", "value": ""}], {}, False),
    ("zero_is_an_answer", [{"task": "T0", "value": 0}], {}, False),
    ("false_is_an_answer", [{"task": "T0", "value": False}], {}, False),
    ("task_filter", [{"task": "T0", "value": None}, {"task": "T1", "value": "Yes"}],
     {"task": "T0"}, True),
    ("task_filter_missing_task", [{"task": "T0", "value": "Yes"}], {"task": "T5"}, True),
    ("fem_subtask_included", [{"task": "T0", "value": None}, {"task": "T0.0.0", "value": 1}],
     {"task": "T0"}, False),
]  # fmt: skip


@pytest.mark.parametrize(
    ("annotations", "kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_result(annotations, kwargs, expected):
    assert run("all_tasks_empty_extractor", annotations, **kwargs) == {"result": expected}
