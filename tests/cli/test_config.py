"""`tally config`: the YAML files of tests/golden/config/ byte for byte, and its errors."""

from __future__ import annotations

import json

import pytest
import yaml

from tests.cli.cli_support import DATA, GOLDEN, run_tally, substitute

CASES_FILE = GOLDEN / "config" / "cases.json"
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8")) if CASES_FILE.exists() else []

#: Cases where core/workflow_config deliberately differs (docs/compatibility.md, workflow config).
DIVERGENCES = {
    "caesar_wf10_min14.53_max15": (
        "--max_version 15 admits every 15.x (the reference's config compares with 15.0 and builds "
        "from 14.55; its extract step reads the same YAML as 'up to 16')"
    ),
}


@pytest.mark.parametrize("case", CASES, ids=[c["case_name"] for c in CASES])
def test_config_matches_reference(case, tmp_path):
    argv = substitute(case["argv"], {"{DATA}": DATA})
    result = run_tally(*argv, "-d", tmp_path)
    if case["exit_code"] != 0:
        assert result.code == 1, result.err
        assert result.err.startswith("tally config: error: workflow ")
        assert "in the export" in result.err  # says which ids or versions exist
        assert not list(tmp_path.iterdir())
        return
    assert result.code == 0, result.err
    written = sorted(p.name for p in tmp_path.iterdir())
    if case["case_name"] in DIVERGENCES:
        assert written != case["files"]
        return
    assert written == case["files"]
    for name in written:
        ours = (tmp_path / name).read_bytes()
        theirs = (GOLDEN / "config" / case["case_name"] / name).read_bytes()
        assert ours == theirs, name
    for name in written:
        assert (
            f"{tmp_path / name}" in result.out
        )  # "Saving ... to:\n<path>" as the reference prints


def test_verbose_says_which_version(tmp_path):
    result = run_tally(
        "config", DATA / "aggregation-for-caesar" / "wf_export.csv", "10", "-vv", "-d", tmp_path
    )
    assert result.code == 0
    assert "defaulting to version 16.55" in result.err
    ranged = run_tally(
        "config",
        DATA / "aggregation-for-caesar" / "wf_export.csv",
        "10",
        "-v",
        "14",
        "-vv",
        "-d",
        tmp_path,
    )
    assert "configuration is based on 14.55" in ranged.err


def test_keywords_reach_the_extractor_entries(tmp_path):
    result = run_tally(
        "config",
        DATA / "aggregation-for-caesar" / "wf_export.csv",
        "10",
        "-k",
        '{"T0": {"pairs": true}}',
        "-d",
        tmp_path,
    )
    assert result.code == 0
    document = yaml.safe_load((tmp_path / "Extractor_config_workflow_10_V16.55.yaml").read_text())
    assert {"task": "T0", "pairs": True} in document["extractor_config"]["question_extractor"]


def test_config_errors(tmp_path):
    wf = DATA / "aggregation-for-caesar" / "wf_export.csv"
    assert run_tally("config", wf, "10", "-k", "{not json}").code == 2
    assert run_tally("config", wf, "ten").code == 2
    assert run_tally("config", wf, "10", "-d", tmp_path / "missing").code == 2
    not_workflows = DATA / "aggregation-for-caesar" / "cls_export.csv"
    result = run_tally("config", not_workflows, "10", "-d", tmp_path)
    assert result.code == 1
    assert (
        "is not a Panoptes workflow export: missing column(s) version, minor_version, tasks, strings"
        in result.err
    )


def _workflow_csv(path, tasks):
    import csv

    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["workflow_id", "version", "minor_version", "tasks", "strings"])
        writer.writerow(["86", "1", "1", json.dumps(tasks), "{}"])
    return path


def test_skipped_parts_of_the_workflow_are_warned_about(tmp_path):
    # printed without -vv: the reference crashes here, tally writes the rest
    csv_path = _workflow_csv(
        tmp_path / "wf.csv", {"T0": {"type": None}, "T1": {"type": "single", "answers": []}}
    )
    out = tmp_path / "out"
    out.mkdir()
    result = run_tally("config", csv_path, "86", "-d", out)
    assert result.code == 0, result.err
    assert (
        f"tally config: warning: {csv_path}: workflow 86 version 1.1: task 'T0' has 'type': null"
        in result.err
    )
    assert (out / "Extractor_config_workflow_86_V1.1.yaml").exists()


def test_aggregate_configured_from_the_workflow_export_warns_about_skipped_parts(tmp_path):
    csv_path = _workflow_csv(
        tmp_path / "wf.csv", {"T0": {"type": None}, "T1": {"type": "single", "answers": []}}
    )
    export = tmp_path / "classifications.csv"
    export.write_text(
        "classification_id,user_name,user_id,workflow_id,workflow_version,created_at,"
        "annotations,metadata,subject_data,subject_ids\n"
        '1,u,1,86,1.1,2024-01-01 00:00:00 UTC,"[{""task"": ""T1"", ""value"": 0}]",{},{},5\n'
    )
    out = tmp_path / "out"
    out.mkdir()
    args = ["aggregate", export, "--workflow-csv", csv_path, "--workflow-id", "86"]
    result = run_tally(*args, "-d", out, "--state", tmp_path / "state", "-hb")
    assert result.code == 0, result.err
    assert (
        f"tally aggregate: warning: {csv_path}: workflow 86 version 1.1: task 'T0' has 'type': "
        "null" in result.err
    )


def test_malformed_input_is_a_clear_error(tmp_path):
    csv_path = _workflow_csv(tmp_path / "wf.csv", {"T0": {"type": ["single"]}})
    result = run_tally("config", csv_path, "86", "-d", tmp_path)
    assert result.code == 1
    assert "task 'T0': 'type' must be text" in result.err
    assert "Traceback" not in result.err
    wf = DATA / "aggregation-for-caesar" / "wf_export.csv"
    result = run_tally("config", wf, "10", "-k", '{"T0": {"details": ["a"]}}', "-d", tmp_path)
    assert result.code == 1
    assert "'details' must be an object" in result.err
    assert "Traceback" not in result.err
