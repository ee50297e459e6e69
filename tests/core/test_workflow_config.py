"""core.workflow_config: auto-configuration from a workflow export.

Two parts: the oracle's ``panoptes_aggregation config`` runs (tests/golden/config/, compared file
by file after ``yaml.safe_load``, with the deliberate differences listed in EXPECTED_DIFFERENCES)
and synthetic cases for every task type, version rule, keyword merge and error. Where a synthetic
case pins a documented fix, the oracle's own output is quoted next to ours.
"""

from __future__ import annotations

import argparse
import copy
import csv
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from core.errors import TallyError, WorkflowConfigError, WorkflowVersionError
from core.workflow_config import (
    WorkflowVersion,
    build_config,
    select_workflow_version,
    task_labels,
    workflow_extractor_config,
    workflow_reducer_configs,
)

REPO = Path(__file__).resolve().parents[2]
GOLDEN_CONFIG = REPO / "tests" / "golden" / "config"
DATA_DIR = Path(os.environ.get("TALLY_SHARED_DATA") or REPO.parent / "shared" / "data" / "real")

csv.field_size_limit(sys.maxsize)


# --------------------------------------------------------------------------------------------
# golden: the oracle's `config` runs
# --------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExpectedDifference:
    """A golden case where Tally deliberately writes something else (see docs/compatibility.md).

    ``same_as`` names the golden case whose files Tally's output must equal instead, with
    ``workflow_version`` put into the extractor config.
    """

    reason: str
    same_as: str
    workflow_version: Any


EXPECTED_DIFFERENCES: dict[str, ExpectedDifference] = {
    "caesar_wf10_min14.53_max15": ExpectedDifference(
        reason=(
            "a major-only --max_version admits its whole major (as the reference's extract step "
            "reads it), so the config is built from 15.55; the reference's config step compared "
            "with <= 15.0 and built it from 14.55"
        ),
        same_as="caesar_wf10_min14.53_max15.55",
        workflow_version={"min": "14.53", "max": "15"},
    ),
}


def _golden_cases() -> list[dict[str, Any]]:
    path = GOLDEN_CONFIG / "cases.json"
    if not path.exists():
        return []
    return json.loads(path.read_text(encoding="utf-8"))


def _parse_args(args: list[str]) -> dict[str, Any]:
    """The `config` subcommand's options, as build_config keywords."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("-vv", "--verbose", action="store_true")
    parser.add_argument("-v", "--version")
    parser.add_argument("--min_version")
    parser.add_argument("--max_version")
    parser.add_argument("-k", "--keywords", type=json.loads, default={})
    parser.add_argument("-d", "--dir")
    ns = parser.parse_args(args)
    return {
        "version": ns.version,
        "min_version": ns.min_version,
        "max_version": ns.max_version,
        "keywords": ns.keywords,
    }


def _read_rows(relative: str) -> list[dict[str, str]]:
    path = DATA_DIR / relative
    if not path.exists():
        pytest.skip(f"real export {path} not available")
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _golden_files(case_name: str) -> dict[str, Any]:
    folder = GOLDEN_CONFIG / case_name
    return {
        path.name: yaml.safe_load(path.read_text(encoding="utf-8"))
        for path in sorted(folder.glob("*.yaml"))
    }


_CASES = _golden_cases()


@pytest.mark.skipif(not _CASES, reason="tests/golden/config/cases.json not generated yet")
@pytest.mark.parametrize("case", _CASES, ids=[c["case_name"] for c in _CASES])
def test_matches_oracle_config(case: dict[str, Any]) -> None:
    rows = _read_rows(case["workflow_csv"])
    kwargs = _parse_args(case["args"])
    if case["exit_code"] != 0:
        assert case["case_name"] not in EXPECTED_DIFFERENCES
        with pytest.raises(TallyError):
            build_config(rows, case["workflow_id"], **kwargs)
        return
    ours = build_config(rows, case["workflow_id"], **kwargs)
    actual = json.loads(json.dumps(ours.files()))  # plain data, as YAML would give it back
    difference = EXPECTED_DIFFERENCES.get(case["case_name"])
    if difference is None:
        expected = _golden_files(case["case_name"])
    else:
        if not (GOLDEN_CONFIG / difference.same_as).is_dir():
            pytest.skip(f"golden case {difference.same_as} (the expected output) is missing")
        expected = _golden_files(difference.same_as)
        for name, document in expected.items():
            if name.startswith("Extractor_config_"):
                document["workflow_version"] = difference.workflow_version
        assert actual != _golden_files(case["case_name"]), "difference no longer needed"
    assert sorted(actual) == sorted(expected)
    for name in expected:
        assert actual[name] == expected[name], name


def test_expected_differences_name_golden_cases() -> None:
    if not _CASES:
        pytest.skip("tests/golden/config/cases.json not generated yet")
    names = {c["case_name"] for c in _CASES}
    for case_name, difference in EXPECTED_DIFFERENCES.items():
        assert case_name in names
        assert difference.same_as in names


# --------------------------------------------------------------------------------------------
# helpers for synthetic workflows
# --------------------------------------------------------------------------------------------


def question(task_id: str, kind: str = "single", answers: int = 2) -> dict[str, Any]:
    return {
        "type": kind,
        "question": f"{task_id}.question",
        "help": f"{task_id}.help",
        "answers": [{"label": f"{task_id}.answers.{i}.label"} for i in range(answers)],
    }


def drawing(*tools: dict[str, Any]) -> dict[str, Any]:
    return {"type": "drawing", "instruction": "instruction", "tools": list(tools)}


def tool(kind: str, *details: str | dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "details": [d if isinstance(d, dict) else {"type": d} for d in details],
    }


def row(workflow_id: int, version: str, tasks: Any, strings: Any = None) -> dict[str, str]:
    major, minor = version.split(".")
    return {
        "workflow_id": str(workflow_id),
        "version": major,
        "minor_version": minor,
        "tasks": tasks if isinstance(tasks, str) else json.dumps(tasks),
        "strings": strings if isinstance(strings, str) else json.dumps(strings or {}),
    }


# --------------------------------------------------------------------------------------------
# versions
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("newer", "older"),
    [("14.55", "14.6"), ("14.10", "14.9"), ("15.1", "14.99"), ("2.0.1", "2"), ("100", "99.99")],
)
def test_versions_compare_number_by_number(newer: str, older: str) -> None:
    assert WorkflowVersion.parse(newer) > WorkflowVersion.parse(older)


def test_version_trailing_zero_is_equal_but_kept_in_text() -> None:
    assert WorkflowVersion.parse("3") == WorkflowVersion.parse("3.0")
    assert hash(WorkflowVersion.parse("3")) == hash(WorkflowVersion.parse("3.0.0"))
    assert str(WorkflowVersion.parse("3.0")) == "3.0"
    assert str(WorkflowVersion.parse(" v16.055 ")) == "16.55"


@pytest.mark.parametrize("text", ["", "abc", "3.x", "-1", "3..4", "1.2-beta", None])
def test_malformed_version_is_rejected(text: Any) -> None:
    with pytest.raises(WorkflowVersionError, match="not a workflow version"):
        WorkflowVersion.parse(text)


@given(
    st.lists(st.integers(0, 300), min_size=1, max_size=4),
    st.lists(st.integers(0, 300), min_size=1, max_size=4),
)
def test_version_order_agrees_with_packaging(a: list[int], b: list[int]) -> None:
    packaging_version = pytest.importorskip("packaging.version")
    text_a, text_b = ".".join(map(str, a)), ".".join(map(str, b))
    ours = (WorkflowVersion.parse(text_a), WorkflowVersion.parse(text_b))
    theirs = (packaging_version.Version(text_a), packaging_version.Version(text_b))
    assert (ours[0] < ours[1]) == (theirs[0] < theirs[1])
    assert (ours[0] == ours[1]) == (theirs[0] == theirs[1])
    assert str(ours[0]) == str(theirs[0])


VERSION_ROWS = [
    row(17, v, {"T0": question("T0")}) for v in ["14.6", "14.55", "14.7", "13.99", "15.1", "3.0"]
] + [row(17, "14.55", {"T0": question("T0"), "T1": question("T1")}), row(18, "1.1", {})]


@pytest.mark.parametrize(
    ("kwargs", "chosen", "recorded", "matched"),
    [
        ({}, "15.1", "15.1", ["3.0", "13.99", "14.6", "14.7", "14.55", "14.55", "15.1"]),
        ({"version": "14"}, "14.55", "14", ["14.6", "14.7", "14.55", "14.55"]),
        ({"version": "14.0"}, "14.55", "14.0", ["14.6", "14.7", "14.55", "14.55"]),
        ({"version": "14.6"}, "14.6", "14.6", ["14.6"]),
        ({"version": "14.6.0"}, "14.6", "14.6.0", ["14.6"]),
        ({"version": "3"}, "3.0", "3", ["3.0"]),
        ({"min_version": "14.7"}, "15.1", {"min": "14.7"}, ["14.7", "14.55", "14.55", "15.1"]),
        ({"max_version": "14.7"}, "14.7", {"max": "14.7"}, ["3.0", "13.99", "14.6", "14.7"]),
        # a major-only max admits its whole major (the reference's config step: <= 14.0)
        (
            {"max_version": "14"},
            "14.55",
            {"max": "14"},
            ["3.0", "13.99", "14.6", "14.7", "14.55", "14.55"],
        ),
        (
            {"min_version": "14", "max_version": "14.54"},
            "14.7",
            {"min": "14", "max": "14.54"},
            ["14.6", "14.7"],
        ),
        # -v wins over the bounds, as in the reference's code (its help text says the opposite)
        ({"version": "14.6", "min_version": "15"}, "14.6", "14.6", ["14.6"]),
    ],
)
def test_version_selection(
    kwargs: dict[str, Any], chosen: str, recorded: Any, matched: list[str]
) -> None:
    selection = select_workflow_version(VERSION_ROWS, 17, **kwargs)
    assert str(selection.version) == chosen
    assert selection.workflow_version == recorded
    assert [str(v) for v in selection.matched] == matched


def test_repeated_version_uses_first_row() -> None:
    selection = select_workflow_version(VERSION_ROWS, "17", version="14.55")
    assert selection.row is VERSION_ROWS[1]


@pytest.mark.parametrize(
    ("workflow_id", "kwargs", "message"),
    [
        (99, {}, r"workflow 99 is not in the workflow export; workflow ids in the export: 17, 18$"),
        (
            17,
            {"version": "16"},
            r"no version matching version '16' \(every 16.x\); versions in the export: 3.0, 13.99, 14.6, 14.7, 14.55, 15.1$",
        ),
        (17, {"version": "14.60"}, r"no version matching version '14.60';"),
        (17, {"min_version": "15.2"}, r"no version matching min_version '15.2';"),
        (
            17,
            {"min_version": "15", "max_version": "14"},
            r"min_version '15' and max_version '14' \(every 14.x included\)",
        ),
        (17, {"version": "fourteen"}, r"not a workflow version: 'fourteen'"),
        ("x", {}, r"not a workflow id: 'x'"),
    ],
)
def test_version_errors_say_what_exists(
    workflow_id: Any, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(WorkflowVersionError, match=message):
        select_workflow_version(VERSION_ROWS, workflow_id, **kwargs)


def test_empty_export() -> None:
    with pytest.raises(WorkflowVersionError, match="the export has no rows"):
        select_workflow_version([], 1)


def test_bad_version_cell_names_the_row() -> None:
    rows = [row(5, "1.1", {}), {**row(5, "1.1", {}), "minor_version": ""}]
    with pytest.raises(WorkflowVersionError, match=r"row 2 \(workflow 5\).*'minor_version'"):
        select_workflow_version(rows, 5)


def test_int_cells_are_accepted() -> None:
    rows = [{"workflow_id": 5, "version": 2, "minor_version": 10, "tasks": {}, "strings": {}}]
    assert build_config(rows, 5).version_label == "2.10"


# --------------------------------------------------------------------------------------------
# extractor config: every task type
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task_type", "extractor"),
    [
        ("single", "question_extractor"),
        ("multiple", "question_extractor"),
        ("shortcut", "shortcut_extractor"),
        ("dropdown", "dropdown_extractor"),
        ("survey", "survey_extractor"),
        ("slider", "slider_extractor"),
        ("text", "text_extractor"),
        # task-level tool types map through the same table, as in the reference
        ("point", "point_extractor_by_frame"),
        ("rectangle", "shape_extractor"),
        ("polygon", "polygon_extractor"),
    ],
)
def test_plain_task_types(task_type: str, extractor: str) -> None:
    config = workflow_extractor_config({"T3": {"type": task_type}})
    assert config == {extractor: [{"task": "T3"}]}


@pytest.mark.parametrize(
    "task_type",
    [
        "combo",
        "highlighter",
        "crop",
        "transcription",
        "dropdown-simple",
        "dataVisAnnotation",
        "flexibleSurvey",
    ],
)
def test_unmapped_task_types_are_skipped(task_type: str) -> None:
    assert workflow_extractor_config({"T0": {"type": task_type, "tasks": ["T1"]}}) == {}


def test_combo_children_are_configured() -> None:
    tasks = {
        "T0": {"type": "combo", "tasks": ["T1", "T2"]},
        "T1": {"type": "text"},
        "T2": {"type": "text"},
    }
    assert workflow_extractor_config(tasks) == {"text_extractor": [{"task": "T1"}, {"task": "T2"}]}


SHAPES = [
    "rectangle", "circle", "column", "ellipse", "fullWidthLine", "fullHeightLine", "line",
    "rotateRectangle", "triangle", "fan",
]  # fmt: skip


@pytest.mark.parametrize("shape", SHAPES)
def test_shape_tools(shape: str) -> None:
    config = workflow_extractor_config({"T0": drawing(tool("point"), tool(shape, "single"))})
    assert config[f"shape_extractor_{shape}"] == [
        {
            "task": "T0",
            "tools": [1],
            "details": {"T0_tool1": ["question_extractor"]},
            "shape": shape,
        }
    ]
    reducers = workflow_reducer_configs(config)
    assert reducers[f"shape_extractor_{shape}"] == {
        "shape_reducer_dbscan": {"details": {"T0_tool1": ["question_reducer"]}, "shape": shape}
    }


@pytest.mark.parametrize(
    ("tool_type", "extractor", "reducer"),
    [
        ("point", "point_extractor_by_frame", "point_reducer_dbscan"),
        ("polygon", "polygon_extractor", "polygon_reducer"),
        ("freehandLine", "polygon_extractor", "polygon_reducer"),
        ("bezier", "bezier_extractor", "polygon_reducer"),
    ],
)
def test_other_drawing_tools(tool_type: str, extractor: str, reducer: str) -> None:
    config = workflow_extractor_config({"T2": drawing(tool(tool_type))})
    assert config == {extractor: [{"task": "T2", "tools": [0], "details": {}}]}
    assert workflow_reducer_configs(config) == {extractor: {reducer: {}}}


def test_unmapped_tools_are_skipped() -> None:
    tasks = {"T0": drawing(tool("temporalPoint"), tool("highlighter"), tool("circle"))}
    assert workflow_extractor_config(tasks) == {
        "shape_extractor_circle": [{"task": "T0", "tools": [2], "details": {}, "shape": "circle"}]
    }
    assert workflow_extractor_config({"T0": drawing(tool("temporalPoint"))}) == {}


def test_tools_grouped_by_extractor_in_first_seen_order() -> None:
    tasks = {
        "T0": drawing(
            tool("point"), tool("line"), tool("point", question("a"), question("b", "multiple"), "nonsense"),
            tool("polygon"), tool("rectangle"), tool("freehandLine"), tool("bezier"),
        )
    }  # fmt: skip
    config = workflow_extractor_config(tasks)
    assert list(config) == [
        "point_extractor_by_frame", "shape_extractor_line", "polygon_extractor",
        "shape_extractor_rectangle", "bezier_extractor",
    ]  # fmt: skip
    assert config["point_extractor_by_frame"] == [
        {
            "task": "T0",
            "tools": [0, 2],
            "details": {"T0_tool2": ["question_extractor", "question_extractor", None]},
        }
    ]
    assert config["polygon_extractor"] == [{"task": "T0", "tools": [3, 5], "details": {}}]


def test_detail_types_map_to_sub_extractors() -> None:
    details = ["single", "multiple", "dropdown", "slider", "text", "survey", "shortcut", "point",
               "rectangle", "drawing", "combo", {"no": "type"}]  # fmt: skip
    config = workflow_extractor_config({"T0": drawing(tool("circle", *details))})
    assert config["shape_extractor_circle"][0]["details"] == {
        "T0_tool0": [
            "question_extractor", "question_extractor", "dropdown_extractor", "slider_extractor",
            "text_extractor", "survey_extractor", "shortcut_extractor", "point_extractor_by_frame",
            "shape_extractor", None, None, None,
        ]
    }  # fmt: skip
    assert workflow_reducer_configs(config)["shape_extractor_circle"]["shape_reducer_dbscan"]["details"] == {
        "T0_tool0": [
            "question_reducer", "question_reducer", "dropdown_reducer", "slider_reducer",
            "text_reducer", "survey_reducer", "shortcut_reducer", "point_reducer_dbscan",
            "shape_reducer_dbscan", None, None, None,
        ]
    }  # fmt: skip


@pytest.mark.parametrize(
    ("tool_type", "extractor"),
    [("polygon", "poly_line_text_extractor"), ("line", "line_text_extractor")],
)
def test_transcription_tools(tool_type: str, extractor: str) -> None:
    config = workflow_extractor_config({"T4": drawing(tool(tool_type, "text"))})
    assert config == {extractor: [{"task": "T4"}]}
    assert workflow_reducer_configs(config) == {extractor: {"poly_line_text_reducer": {}}}
    # more than one detail, or a non-text one: an ordinary polygon / line tool
    plain = workflow_extractor_config({"T4": drawing(tool(tool_type, "text", "single"))})
    assert extractor not in plain


def test_transcription_tool_after_other_tools_gets_empty_details() -> None:
    # the reference's shared template dict: the text entry picks up `details: {}`
    tasks = {
        "T0": drawing(
            tool("circle"), tool("polygon", "text"), tool("temporalPoint"), tool("circle")
        )
    }
    config = workflow_extractor_config(tasks, keywords={"T0": {"dot_freq": "word"}})
    assert config == {
        "shape_extractor_circle": [
            {"task": "T0", "tools": [0, 3], "dot_freq": "word", "details": {}, "shape": "circle"}
        ],
        "poly_line_text_extractor": [{"task": "T0", "dot_freq": "word", "details": {}}],
    }
    reducers = workflow_reducer_configs(config)
    assert reducers["poly_line_text_extractor"] == {"poly_line_text_reducer": {"dot_freq": "word"}}


def test_transcription_tool_before_other_tools() -> None:
    # the reference stops with KeyError 'tools' here (and for two transcription tools in a task)
    tasks = {
        "T0": drawing(
            tool("polygon", "text"), tool("circle"), tool("line", "text"), tool("polygon", "text")
        )
    }
    assert workflow_extractor_config(tasks) == {
        "poly_line_text_extractor": [{"task": "T0", "details": {}}],
        "shape_extractor_circle": [{"task": "T0", "tools": [1], "details": {}, "shape": "circle"}],
        "line_text_extractor": [{"task": "T0", "details": {}}],
    }


def test_tool_without_details() -> None:
    # FEM tools may omit `details`; the reference stops with KeyError 'details'
    tasks = {"T0": drawing({"type": "circle"}, {"type": "polygon", "details": None})}
    assert workflow_extractor_config(tasks) == {
        "shape_extractor_circle": [{"task": "T0", "tools": [0], "details": {}, "shape": "circle"}],
        "polygon_extractor": [{"task": "T0", "tools": [1], "details": {}}],
    }


def test_drawing_without_tools() -> None:
    assert workflow_extractor_config({"T0": {"type": "drawing", "tools": []}}) == {}
    assert workflow_extractor_config({"T0": {"type": "drawing"}}) == {}


def test_extractor_keys_follow_task_order() -> None:
    tasks = {
        "T9": {"type": "text"},
        "T1": question("T1"),
        "T0": drawing(tool("point")),
        "T2": question("T2", "multiple"),
    }
    config = workflow_extractor_config(tasks)
    assert list(config) == ["text_extractor", "question_extractor", "point_extractor_by_frame"]
    assert config["question_extractor"] == [{"task": "T1"}, {"task": "T2"}]


# --------------------------------------------------------------------------------------------
# presets
# --------------------------------------------------------------------------------------------


def test_shakespeares_world() -> None:
    tasks = {"init": {"question": "init.question", "type": "single", "answers": []}}
    config = workflow_extractor_config(tasks, keywords={"init": {"x": 1}, "T2": {"y": 2}})
    assert config == {
        "question_extractor": [{"task": "T0"}, {"task": "T3"}],
        "sw_extractor": [{"task": "T2"}],
        "sw_variant_extractor": [{"task": "T2"}],
        "sw_graphic_extractor": [{"task": "T2"}],
    }
    assert list(config) == [
        "question_extractor",
        "sw_extractor",
        "sw_variant_extractor",
        "sw_graphic_extractor",
    ]
    reducers = workflow_reducer_configs(config)
    assert reducers == {
        "question_extractor": {"question_reducer": {}},
        "sw_extractor": {"poly_line_text_reducer": {"dot_freq": "line"}},
        "sw_graphic_extractor": {"rectangle_reducer": {}},
        "sw_variant_extractor": {"sw_variant_reducer": {}},
    }
    assert list(reducers) == sorted(reducers)
    # the preset is returned fresh every time
    config["sw_extractor"].append({"task": "T9"})
    assert workflow_extractor_config(tasks)["sw_extractor"] == [{"task": "T2"}]


def test_shakespeares_world_needs_the_exact_tasks() -> None:
    tasks = {"init": {"question": "init.question", "type": "single", "answers": [{"label": "a"}]}}
    assert list(workflow_extractor_config(tasks)) == ["question_extractor"]


def test_annotate() -> None:
    config = workflow_extractor_config(
        {"T0": {"type": "annotate-transcribe"}, "T1": question("T1")}
    )
    assert config == {
        "question_extractor": [{"task": "T0"}, {"task": "T3"}],
        "sw_extractor": [{"task": "T2"}],
        "sw_graphic_extractor": [{"task": "T2"}],
    }
    assert workflow_reducer_configs(config)["sw_graphic_extractor"] == {"rectangle_reducer": {}}


# --------------------------------------------------------------------------------------------
# keywords (-k/--keywords)
# --------------------------------------------------------------------------------------------


def test_keywords_are_merged_into_each_entry_of_their_task() -> None:
    tasks = {
        "T0": drawing(tool("point"), tool("circle")),
        "T1": question("T1"),
        "T4": drawing(tool("polygon", "text")),
    }
    keywords = {
        "T0": {"eps": 5, "tools": [9]},
        "T1": {"pairs": True, "task": "T1"},
        "T4": {"dot_freq": "line"},
        "T7": {"x": 1},
    }
    config = workflow_extractor_config(tasks, keywords=keywords)
    assert config == {
        # a keyword named like a generated one seeds it (the reference's dict merge)
        "point_extractor_by_frame": [{"task": "T0", "tools": [9, 0], "eps": 5, "details": {}}],
        "shape_extractor_circle": [
            {"task": "T0", "tools": [9, 1], "eps": 5, "details": {}, "shape": "circle"}
        ],
        "question_extractor": [{"task": "T1", "pairs": True}],
        "poly_line_text_extractor": [{"task": "T4", "dot_freq": "line"}],
    }
    assert list(config["shape_extractor_circle"][0]) == ["task", "tools", "eps", "details", "shape"]
    # only dot_freq (and shape, details) reach the reducer configs
    assert workflow_reducer_configs(config) == {
        "point_extractor_by_frame": {"point_reducer_dbscan": {}},
        "poly_line_text_extractor": {"poly_line_text_reducer": {"dot_freq": "line"}},
        "question_extractor": {"question_reducer": {}},
        "shape_extractor_circle": {"shape_reducer_dbscan": {"shape": "circle"}},
    }


def test_keywords_are_not_shared_with_the_caller() -> None:
    keywords = {"T0": {"ids": [1, 2]}}
    config = workflow_extractor_config({"T0": question("T0")}, keywords=keywords)
    config["question_extractor"][0]["ids"].append(3)
    assert keywords == {"T0": {"ids": [1, 2]}}


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        (["T0"], "keywords must map task ids"),
        ({"T0": "dot_freq=line"}, "keywords for task 'T0' must be an object"),
        ({"T0": {"tools": 3}}, "'tools' must be a list"),
    ],
)
def test_bad_keywords(keywords: Any, message: str) -> None:
    with pytest.raises(WorkflowConfigError, match=message):
        workflow_extractor_config({"T0": drawing(tool("point"))}, keywords=keywords)


# --------------------------------------------------------------------------------------------
# reducer configs, and the fix for issue #280
# --------------------------------------------------------------------------------------------

SHARED_KEY_TASKS = {
    "T0": drawing(tool("point", question("T0.tools.0.details.0")), tool("circle", "single")),
    "T1": question("T1"),
    "T3": drawing(tool("circle"), tool("point", "text", "multiple"), tool("circle", "slider")),
}

# what panoptes_aggregation 5.3.1 writes for SHARED_KEY_TASKS (issue #280: T0's details are lost)
ORACLE_SHARED_KEY_REDUCERS = {
    "point_extractor_by_frame": {
        "point_reducer_dbscan": {"details": {"T3_tool1": ["text_reducer", "question_reducer"]}}
    },
    "question_extractor": {"question_reducer": {}},
    "shape_extractor_circle": {
        "shape_reducer_dbscan": {"details": {"T3_tool2": ["slider_reducer"]}, "shape": "circle"}
    },
}


def test_details_of_tasks_sharing_an_extractor_are_merged() -> None:
    config = workflow_extractor_config(SHARED_KEY_TASKS)
    assert config["point_extractor_by_frame"] == [
        {"task": "T0", "tools": [0], "details": {"T0_tool0": ["question_extractor"]}},
        {
            "task": "T3",
            "tools": [1],
            "details": {"T3_tool1": ["text_extractor", "question_extractor"]},
        },
    ]
    reducers = workflow_reducer_configs(config)
    assert reducers == {
        "point_extractor_by_frame": {
            "point_reducer_dbscan": {
                "details": {
                    "T0_tool0": ["question_reducer"],
                    "T3_tool1": ["text_reducer", "question_reducer"],
                }
            }
        },
        "question_extractor": {"question_reducer": {}},
        "shape_extractor_circle": {
            "shape_reducer_dbscan": {
                "details": {"T0_tool1": ["question_reducer"], "T3_tool2": ["slider_reducer"]},
                "shape": "circle",
            }
        },
    }
    # the only difference from the oracle: the earlier tasks' details are kept
    for key, oracle in ORACLE_SHARED_KEY_REDUCERS.items():
        (name, ours), (oracle_name, theirs) = (
            next(iter(reducers[key].items())),
            next(iter(oracle.items())),
        )
        assert name == oracle_name
        assert {k: v for k, v in ours.items() if k != "details"} == {
            k: v for k, v in theirs.items() if k != "details"
        }
        assert theirs.get("details", {}).items() <= ours.get("details", {}).items()


def test_same_dot_freq_for_tasks_sharing_an_extractor() -> None:
    tasks = {"T0": drawing(tool("polygon", "text")), "T1": drawing(tool("polygon", "text"))}
    one = workflow_reducer_configs(
        workflow_extractor_config(tasks, keywords={"T1": {"dot_freq": "line"}})
    )
    assert one == {"poly_line_text_extractor": {"poly_line_text_reducer": {"dot_freq": "line"}}}
    both = workflow_reducer_configs(
        workflow_extractor_config(
            tasks, keywords={"T0": {"dot_freq": "word"}, "T1": {"dot_freq": "word"}}
        )
    )
    assert both == {"poly_line_text_extractor": {"poly_line_text_reducer": {"dot_freq": "word"}}}


def test_conflicting_dot_freq_is_an_error() -> None:
    # the reference silently keeps the last task's value ('line')
    tasks = {"T0": drawing(tool("polygon", "text")), "T1": drawing(tool("polygon", "text"))}
    config = workflow_extractor_config(
        tasks, keywords={"T0": {"dot_freq": "word"}, "T1": {"dot_freq": "line"}}
    )
    with pytest.raises(
        WorkflowConfigError,
        match=r"tasks 'T0' and 'T1' both use poly_line_text_extractor .*dot_freq \('word' vs 'line'\)",
    ):
        workflow_reducer_configs(config)


def test_reducer_keyword_order_follows_the_reference() -> None:
    config = {"line_text_extractor": [{"task": "T0", "shape": "x", "dot_freq": "word"}]}
    kwargs = workflow_reducer_configs(config)["line_text_extractor"]["poly_line_text_reducer"]
    assert list(kwargs) == ["dot_freq", "shape"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"nonsense_extractor": [{"task": "T0"}]},
            "no default reducer for extractor 'nonsense_extractor'",
        ),
        (
            {
                "point_extractor_by_frame": [
                    {"task": "T0", "details": {"T0_tool0": ["x_extractor"]}}
                ]
            },
            "sub-extractor 'x_extractor'",
        ),
        (
            {
                "point_extractor_by_frame": [
                    {"task": "T0", "details": {"T0_tool0": "question_extractor"}}
                ]
            },
            "must be a list",
        ),
    ],
)
def test_reducer_config_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(WorkflowConfigError, match=message):
        workflow_reducer_configs(config)


# --------------------------------------------------------------------------------------------
# task labels
# --------------------------------------------------------------------------------------------


def test_labels_skip_help_and_keep_strings_order() -> None:
    strings = {
        "T1.question": "Q1", "T0.help": "", "T0.question": "Q0", "T0.tools.0.details.0.help": "h",
        "T0.tools.0.label": "Dot", "T5.question": "not configured",
    }  # fmt: skip
    config = {"question_extractor": [{"task": "T1"}], "point_extractor_by_frame": [{"task": "T0"}]}
    labels = task_labels(strings, {}, config)
    assert labels == {"T1.question": "Q1", "T0.question": "Q0", "T0.tools.0.label": "Dot"}
    assert list(labels) == ["T1.question", "T0.question", "T0.tools.0.label"]


def test_labels_match_task_ids_exactly() -> None:
    # the reference's prefix test also keeps T10.*, T11.* and T1x.* when only T1 is configured
    strings = {
        "T1.question": "Q1",
        "T10.question": "Q10",
        "T11.instruction": "I11",
        "T1x.bar": "odd",
        "T2.question": "Q2",
    }
    config = {"question_extractor": [{"task": "T1"}, {"task": "T2"}]}
    oracle = {
        "T1.question": "Q1",
        "T10.question": "Q10",
        "T11.instruction": "I11",
        "T1x.bar": "odd",
        "T2.question": "Q2",
    }
    ours = task_labels(strings, {}, config)
    assert ours == {"T1.question": "Q1", "T2.question": "Q2"}
    assert set(oracle) - set(ours) == {"T10.question", "T11.instruction", "T1x.bar"}
    # when T10 is configured too, both agree
    config["text_extractor"] = [{"task": "T10"}, {"task": "T11"}, {"task": "T1x"}]
    assert task_labels(strings, {}, config) == oracle


DROPDOWN_TASKS = {
    "T0": {
        "type": "dropdown",
        "help": "T0.help",
        "instruction": "T0.instruction",
        "selects": [
            {"id": "a", "title": "Country", "options": {"*": [
                {"label": "T0.selects.0.options.*.0.label", "value": "h-us"},
                {"label": "T0.selects.0.options.*.1.label", "value": "h-ca"}]}},
            {"id": "b", "title": "State", "condition": "a", "options": {
                "h-us": [{"label": "T0.selects.1.options.h-us.0.label", "value": "h-ny"}],
                "h-ca": [{"label": "T0.selects.1.options.h-ca.0.label", "value": "h-on"}]}},
        ],
    },
    "T1": {"type": "text", "instruction": "T1.instruction"},
}  # fmt: skip
DROPDOWN_STRINGS = {
    "T0.help": "",
    "T0.instruction": "Where?",
    "T0.selects.0.options.*.0.label": "USA",
    "T0.selects.0.options.*.1.label": "Canada",
    "T0.selects.1.options.h-us.0.label": "New York",
    "T0.selects.1.options.h-ca.0.label": "Ontario",
    "T1.instruction": "Notes",
}


def test_dropdown_option_labels() -> None:
    config = workflow_extractor_config(DROPDOWN_TASKS)
    assert config == {"dropdown_extractor": [{"task": "T0"}], "text_extractor": [{"task": "T1"}]}
    assert workflow_reducer_configs(config)["dropdown_extractor"] == {"dropdown_reducer": {}}
    assert task_labels(DROPDOWN_STRINGS, DROPDOWN_TASKS, config) == {
        "T0.instruction": "Where?",
        "T0.selects.0.options.*.0.label": {"h-us": "USA"},
        "T0.selects.0.options.*.1.label": {"h-ca": "Canada"},
        "T0.selects.1.options.h-us.0.label": {"h-ny": "New York"},
        "T0.selects.1.options.h-ca.0.label": {"h-on": "Ontario"},
        "T1.instruction": "Notes",
    }


def test_dropdown_keys_of_other_shapes_stay_text() -> None:
    # the reference cannot unpack these keys and stops with a ValueError
    strings = {"T0.selects.0.title": "Country", "T0.selects.0.options.*.0.label": "USA"}
    labels = task_labels(strings, DROPDOWN_TASKS, {"dropdown_extractor": [{"task": "T0"}]})
    assert labels == {
        "T0.selects.0.title": "Country",
        "T0.selects.0.options.*.0.label": {"h-us": "USA"},
    }


def test_dropdown_label_for_a_missing_option() -> None:
    strings = {"T0.selects.0.options.*.7.label": "Mexico"}
    with pytest.raises(
        WorkflowConfigError, match=r"'T0.selects.0.options.\*.7.label' names no option"
    ):
        task_labels(strings, DROPDOWN_TASKS, {"dropdown_extractor": [{"task": "T0"}]})


# --------------------------------------------------------------------------------------------
# build_config: the whole thing, file names, errors
# --------------------------------------------------------------------------------------------


def test_build_config_files_and_names() -> None:
    strings = {**DROPDOWN_STRINGS, "T3.question": "Q3"}
    tasks = {**DROPDOWN_TASKS, "T3": question("T3")}
    rows = [row(42, "3.7", {"T0": question("T0")}), row(42, "3.14", tasks, strings)]
    config = build_config(rows, 42, version="3", keywords={"T1": {"x": 1}})
    assert config.workflow_id == 42
    assert config.workflow_version == "3"
    assert config.version_label == "3.14"
    assert config.matched_versions == ("3.7", "3.14")
    assert config.file_names == [
        "Extractor_config_workflow_42_V3.14.yaml",
        "Reducer_config_workflow_42_V3.14_dropdown_extractor.yaml",
        "Reducer_config_workflow_42_V3.14_question_extractor.yaml",
        "Reducer_config_workflow_42_V3.14_text_extractor.yaml",
        "Task_labels_workflow_42_V3.14.yaml",
    ]
    assert config.extractor_config == {
        "workflow_id": 42,
        "workflow_version": "3",
        "extractor_config": {
            "dropdown_extractor": [{"task": "T0"}],
            "text_extractor": [{"task": "T1", "x": 1}],
            "question_extractor": [{"task": "T3"}],
        },
    }
    assert list(config.extractor_config) == ["workflow_id", "workflow_version", "extractor_config"]
    assert config.reducer_configs["text_extractor"] == {"reducer_config": {"text_reducer": {}}}
    assert config.task_labels["T3.question"] == "Q3"
    assert config.files()[config.task_labels_file_name] is config.task_labels


def test_range_is_recorded_as_min_max() -> None:
    rows = [row(1, v, {"T0": question("T0")}) for v in ["1.1", "2.3", "2.10"]]
    config = build_config(rows, 1, min_version="2", max_version="2.4")
    assert config.extractor_config["workflow_version"] == {"min": "2", "max": "2.4"}
    assert config.version_label == "2.3"


def test_documents_are_plain_and_unshared() -> None:
    """Every document dumps with PyYAML and has no anchors (no object appears twice)."""
    tasks = {**SHARED_KEY_TASKS, "T4": drawing(tool("circle"), tool("polygon", "text"))}
    config = build_config(
        [row(3, "1.1", tasks, {"T0.question": "q"})],
        3,
        keywords={"T4": {"dot_freq": "line", "ids": [1]}},
    )
    for name, document in config.files().items():
        text = yaml.dump(document, default_flow_style=False, indent=4)
        assert "&id" not in text, name
        assert yaml.safe_load(text) == document


def test_inputs_are_not_mutated() -> None:
    tasks = {**SHARED_KEY_TASKS, "T4": drawing(tool("polygon", "text"))}
    rows = [
        row(3, "1.1", tasks),
        {
            "workflow_id": 3,
            "version": 1,
            "minor_version": 2,
            "tasks": copy.deepcopy(tasks),
            "strings": {"T0.x": "y"},
        },
    ]
    keywords = {"T4": {"dot_freq": "line"}, "T0": {"eps": [1]}}
    before = copy.deepcopy((rows, keywords))
    config = build_config(rows, 3, keywords=keywords)
    assert config.version_label == "1.2"
    config.extractor_config["extractor_config"]["point_extractor_by_frame"][0]["eps"].append(2)
    assert (rows, keywords) == before


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        (
            "tasks",
            '{"T0": {"type": "single"',
            r"workflow 7 version 2.5: the 'tasks' column is not valid JSON",
        ),
        (
            "strings",
            "{'T0.question': 'Python, not JSON'}",
            r"workflow 7 version 2.5: the 'strings' column is not valid JSON",
        ),
        ("strings", "__import__('os').getcwd()", r"the 'strings' column is not valid JSON"),
        ("strings", "[1, 2]", r"the 'strings' column must be a JSON object"),
        ("tasks", "[]", r"workflow 7 version 2.5: 'tasks' must be a JSON object"),
        (
            "tasks",
            '{"T0": {"question": "no type"}}',
            r"workflow 7 version 2.5: task 'T0' has no 'type'",
        ),
        ("tasks", None, r"the 'tasks' column must be JSON text"),
    ],
)
def test_unreadable_rows_name_the_workflow(column: str, value: Any, message: str) -> None:
    good = row(7, "2.5", {"T0": question("T0")}, {"T0.question": "q"})
    with pytest.raises(WorkflowConfigError, match=message):
        build_config([{**good, column: value}], 7)


def test_only_the_chosen_row_is_parsed() -> None:
    rows = [row(7, "1.1", "not json", "not json"), row(7, "2.5", {"T0": question("T0")})]
    assert build_config(rows, 7).version_label == "2.5"


def test_empty_workflow() -> None:
    config = build_config([row(13459, "1.1", {}, {})], 13459)
    assert config.files() == {
        "Extractor_config_workflow_13459_V1.1.yaml": {
            "workflow_id": 13459,
            "workflow_version": "1.1",
            "extractor_config": {},
        },
        "Task_labels_workflow_13459_V1.1.yaml": {},
    }


# --------------------------------------------------------------------------------------------
# malformed tasks: clear errors instead of tracebacks, notes for what is skipped
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tasks", "message"),
    [
        ({"T0": {"type": ["single"]}}, r"task 'T0': 'type' must be text.*got \['single'\]"),
        ({"T0": {"type": {"x": 1}}}, r"task 'T0': 'type' must be text.*got \{'x': 1\}"),
        ({"T0": drawing({"type": ["polygon"], "details": []})}, r"task 'T0' tool 0: 'type' must"),
        ({"T0": drawing({"type": {"a": 1}, "details": []})}, r"tool 0: 'type' must be text"),
    ],
)
def test_non_text_types_are_errors(tasks: dict[str, Any], message: str) -> None:
    # the reference (and tally before) stopped with TypeError: unhashable type
    with pytest.raises(WorkflowConfigError, match=message):
        workflow_extractor_config(tasks)


@pytest.mark.parametrize(
    ("details", "message"),
    [
        (["a"], r"'details' must be an object of tool key.*got \['a'\].*-k/--keywords"),
        (5, "'details' must be an object"),
        ("abc", "'details' must be an object"),
        ({"x": [["a"]]}, r"no default reducer for sub-extractor \['a'\]"),
        ({"x": [{"a": 1}]}, r"no default reducer for sub-extractor \{'a': 1\}"),
    ],
)
def test_bad_details_keywords_are_errors(details: Any, message: str) -> None:
    extractors = workflow_extractor_config(
        {"T0": question("T0")}, keywords={"T0": {"details": details}}
    )
    with pytest.raises(WorkflowConfigError, match=message):
        workflow_reducer_configs(extractors)


@pytest.mark.parametrize(
    ("tasks", "config", "note"),
    [
        (
            {"T0": drawing({"details": []}, tool("point"))},
            {"point_extractor_by_frame": [{"task": "T0", "tools": [1], "details": {}}]},
            "task 'T0' tool 0 has no 'type' (missing or null); skipped",
        ),
        (
            {"T0": drawing({"type": None, "details": []})},
            {},
            "task 'T0' tool 0 has no 'type' (missing or null); skipped",
        ),
        (
            {"T0": {"type": "drawing", "tools": None}},
            {},
            "drawing task 'T0' has no 'tools' (missing or null); nothing configured",
        ),
        (
            {"T0": drawing({"type": "point", "details": None})},
            {"point_extractor_by_frame": [{"task": "T0", "tools": [0], "details": {}}]},
            "task 'T0' tool 0 has 'details': null; read as no details",
        ),
        (
            {"T0": drawing({"type": "point", "details": ["single"]})},
            {
                "point_extractor_by_frame": [
                    {"task": "T0", "tools": [0], "details": {"T0_tool0": [None]}}
                ]
            },
            "task 'T0' tool 0 detail 0 is not an object with a text 'type' ('single')",
        ),
        (
            {"T0": {"type": None}, "T1": question("T1")},
            {"question_extractor": [{"task": "T1"}]},
            "task 'T0' has 'type': null; skipped",
        ),
    ],
)
def test_malformed_parts_are_skipped_with_a_note(
    tasks: dict[str, Any], config: dict[str, Any], note: str
) -> None:
    # the reference stops with a bare exception on each of these
    notes: list[str] = []
    assert workflow_extractor_config(tasks, notes=notes) == config
    assert len(notes) == 1
    assert notes[0].startswith(note)


def test_tool_omitting_details_needs_no_note() -> None:
    notes: list[str] = []
    workflow_extractor_config({"T0": drawing({"type": "circle"})}, notes=notes)
    assert notes == []


def test_build_config_notes_name_the_workflow() -> None:
    rows = [
        {
            "workflow_id": "86",
            "version": "1",
            "minor_version": "1",
            "tasks": json.dumps({"T0": {"type": None}, "T1": question("T1")}),
            "strings": "{}",
        }
    ]
    assert build_config(rows, 86).notes == (
        "workflow 86 version 1.1: task 'T0' has 'type': null; skipped (no extractor configured)",
    )


DROPDOWN_CONFIG = {"dropdown_extractor": [{"task": "T0"}]}


def dropdown_with_value(value: Any) -> dict[str, Any]:
    option = {"label": "T0.selects.0.options.*.0.label", "value": value}
    return {"T0": {"type": "dropdown", "selects": [{"options": {"*": [option]}}]}}


def test_dropdown_option_value_null_keeps_its_mapping() -> None:
    # as the reference: {null: label}, not the bare label
    labels = task_labels(
        {"T0.selects.0.options.*.0.label": "Nothing"}, dropdown_with_value(None), DROPDOWN_CONFIG
    )
    assert labels == {"T0.selects.0.options.*.0.label": {None: "Nothing"}}


@pytest.mark.parametrize("value", [[1], {"a": 1}])
def test_dropdown_option_value_must_be_a_key(value: Any) -> None:
    with pytest.raises(WorkflowConfigError, match=r"'value' of dropdown option '\*' 0 of select 0"):
        task_labels(
            {"T0.selects.0.options.*.0.label": "x"}, dropdown_with_value(value), DROPDOWN_CONFIG
        )
