"""The subtask ("details") step shared by the clustering reducers."""

from __future__ import annotations

import dataclasses

import pytest

from core.errors import MalformedExtractError
from core.reducers import _subtasks
from core.reducers._subtasks import _drop_empty_entries, _version, add_subtask_reductions
from core.registry import ExtractRecord


@pytest.mark.parametrize(
    ("value", "release"),
    [
        ("1.0", (1, 0)),
        ("2.0", (2, 0)),
        (2.0, (2, 0)),
        (2, (2,)),
        ("v2.1.3", (2, 1, 3)),
        ("x", None),
    ],
)
def test_classifier_version(value, release):
    assert _version(value) == release


def test_clean_up_removes_collected_positions_from_every_later_list():
    # The reference collects the positions of [] entries over the frame's keys and removes all
    # positions collected so far from each list it visits.
    output = {
        "frame0": {
            "T0_tool0_points_x": [1, 2, 3],
            "T0_tool0_details": [[{"a": 1}], [], [{"b": 1}]],
            "T0_tool1_details": [[{"c": 1}], [{"d": 1}], []],
        }
    }
    _drop_empty_entries(output, reducer="r")
    assert output == {
        "frame0": {
            "T0_tool0_points_x": [1, 2, 3],
            "T0_tool0_details": [[{"a": 1}], [{"b": 1}]],
            "T0_tool1_details": [[{"c": 1}]],
        }
    }


def test_clean_up_that_the_reference_cannot_finish_raises():
    output = {"frame0": {"a_details": [[], [], []], "b_details": [[{"x": 1}]]}}
    with pytest.raises(MalformedExtractError, match="IndexError"):
        _drop_empty_entries(output, reducer="r")


@dataclasses.dataclass
class _FailingSpec:
    name: str = "failing_reducer"

    def parse_params(self, raw):
        return None

    def func(self, records, params):
        raise ValueError("cannot reduce")


def test_v2_subtask_reducer_value_error_aborts_the_step(monkeypatch):
    monkeypatch.setattr(_subtasks, "get_reducer", lambda name: _FailingSpec())
    records = [
        ExtractRecord(
            {
                "classifier_version": "2.0",
                "frame0": {"T0_toolIndex0_x": [1], "T0_toolIndex0_subtask0": [{"a": 1}]},
            }
        )
    ]
    output = {"frame0": {"T0_toolIndex0_point_x": [1], "T0_toolIndex0_cluster_labels": [0]}}
    add_subtask_reductions(
        output, records, {"T0_toolIndex0_subtask0": "failing_reducer"}, reducer="r"
    )
    # the concatenated answers stay, no _clusters key and no classifier_version
    assert output == {
        "frame0": {
            "T0_toolIndex0_point_x": [1],
            "T0_toolIndex0_cluster_labels": [0],
            "T0_toolIndex0_subtask0": [{"a": 1}],
        }
    }


def test_unparseable_classifier_version_skips_the_step():
    records = [ExtractRecord({"classifier_version": "beta", "frame0": {"T0_tool0_details": [[]]}})]
    output = {"frame0": {}}
    assert add_subtask_reductions(output, records, {"T0_tool0": []}, reducer="r") == {"frame0": {}}


def test_non_list_details_entry_is_malformed():
    records = [ExtractRecord({"frame0": {"T0_tool0_details": {"a": 1}}})]
    with pytest.raises(MalformedExtractError, match="one entry per mark"):
        add_subtask_reductions(
            {"frame0": {}}, records, {"T0_tool0": ["question_reducer"]}, reducer="r"
        )
