"""`tally simulate`: deterministic, shaped like real Panoptes exports, and realistic enough."""

from __future__ import annotations

import csv
import hashlib
import json
import math
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from tally.simulate import (
    CLASSIFICATION_COLUMNS,
    WORKFLOW_COLUMNS,
    SimulationParams,
    simulate,
)

csv.field_size_limit(1 << 30)

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
N = 3000


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    d = tmp_path_factory.mktemp("sim")
    summary = simulate(d, SimulationParams(classifications=N, seed=7))
    with open(summary.classifications_csv, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        rows = [dict(zip(header, row, strict=True)) for row in reader]
    for row in rows:
        row["_annotations"] = json.loads(row["annotations"])
        row["_metadata"] = json.loads(row["metadata"])
        row["_subject_data"] = json.loads(row["subject_data"])
    truth = {}
    with open(summary.ground_truth, encoding="utf-8") as f:
        for line in f:
            t = json.loads(line)
            truth[t["subject_id"]] = t
    return summary, header, rows, truth


# ---- determinism ---------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes(tmp_path):
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    simulate(a, SimulationParams(classifications=500, seed=11))
    simulate(b, SimulationParams(classifications=500, seed=11))
    simulate(c, SimulationParams(classifications=500, seed=12))
    assert _digest(a) == _digest(b)
    da, dc = _digest(a), _digest(c)
    assert da.keys() == dc.keys()
    assert (
        da["penguin-watch-sim-classifications.csv"] != dc["penguin-watch-sim-classifications.csv"]
    )
    assert da["penguin-watch-sim-ground-truth.jsonl"] != dc["penguin-watch-sim-ground-truth.jsonl"]


# ---- shape ---------------------------------------------------------------------------------


def test_classification_columns_match_a_real_export(sim):
    _, header, rows, _ = sim
    assert tuple(header) == CLASSIFICATION_COLUMNS
    real = REAL / "aggregation-for-caesar" / "cls_export.csv"
    if real.exists():
        with open(real, newline="", encoding="utf-8") as f:
            assert tuple(next(csv.reader(f))) == CLASSIFICATION_COLUMNS
    assert len(rows) == N


def test_workflow_export_columns_and_tasks(sim):
    summary, _, rows, _ = sim
    with open(summary.workflows_csv, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames) == WORKFLOW_COLUMNS
        wf_rows = list(reader)
    real = REAL / "SolarJets" / "solar-jet-hunter-workflows.csv"
    if real.exists():
        with open(real, newline="", encoding="utf-8") as f:
            assert tuple(next(csv.reader(f))) == WORKFLOW_COLUMNS
    latest = max(wf_rows, key=lambda r: (int(r["version"]), int(r["minor_version"])))
    assert {r["workflow_version"] for r in rows} == {
        f"{latest['version']}.{latest['minor_version']}"
    }
    assert {r["workflow_id"] for r in rows} == {latest["workflow_id"]}
    tasks = json.loads(latest["tasks"])
    strings = json.loads(latest["strings"])
    assert tasks["T0"]["type"] == "drawing"
    assert [t["type"] for t in tasks["T0"]["tools"]] == ["point", "point"]
    assert tasks["T0"]["tools"][0]["details"][0]["type"] == "single"
    assert tasks["T0"]["unlinkedTask"] == "T2"
    assert tasks["T1"]["type"] == "single"
    assert tasks["T2"]["type"] == "shortcut"
    assert strings["T2.answers.0.label"] == "Nothing here"
    for r in wf_rows:
        json.loads(r["retirement"])
        json.loads(r["aggregation"])


def test_rows_are_valid_and_ordered(sim):
    _, _, rows, truth = sim
    stamp = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC$")
    ids = [int(r["classification_id"]) for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    created = [r["created_at"] for r in rows]
    assert all(stamp.match(c) for c in created)
    assert created == sorted(created)
    for r in rows:
        sid = r["subject_ids"]
        assert list(r["_subject_data"]) == [sid]
        assert int(sid) in truth
        assert r["gold_standard"] == "" and r["expert"] == ""
        meta = r["_metadata"]
        assert meta["finished_at"] > meta["started_at"]
        assert len(meta["subject_dimensions"]) == len(truth[int(sid)]["frames"])
    assert len({r["subject_ids"] for r in rows}) == SimulationParams(classifications=N).n_subjects


def test_annotations_use_the_pfe_export_format(sim):
    _, _, rows, truth = sim
    labels = {
        "Clear",
        "Partly obscured (snow, fog, glare)",
        "Mostly obscured or dark",
        None,
    }
    for r in rows:
        annos = r["_annotations"]
        by_task = {a["task"]: a for a in annos}
        assert [a["task"] for a in annos] in (["T0", "T1"], ["T0", "T2", "T1"])
        assert all(list(a) == ["task", "task_label", "value"] for a in annos)
        n_frames = len(truth[int(r["subject_ids"])]["frames"])
        for mark in by_task["T0"]["value"]:
            assert list(mark) == ["x", "y", "tool", "frame", "details", "tool_label"]
            assert 0 <= mark["frame"] < n_frames
            if mark["tool"] == 0:
                assert mark["tool_label"] == "Adult"
                assert len(mark["details"]) == 1 and mark["details"][0]["value"] in (0, 1, None)
            else:
                assert (mark["tool"], mark["tool_label"], mark["details"]) == (1, "Chick", [])
        assert by_task["T1"]["value"] in labels
        if "T2" in by_task:
            assert by_task["T2"] == {"task": "T2", "task_label": None, "value": ["Nothing here"]}
            assert by_task["T0"]["value"] == []


def test_ground_truth_and_configs(sim):
    summary, _, rows, truth = sim
    assert sum(t["classifications"] for t in truth.values()) == N
    per_subject = Counter(int(r["subject_ids"]) for r in rows)
    assert all(per_subject[sid] == t["classifications"] for sid, t in truth.items())
    ext = yaml.safe_load(summary.extractor_config.read_text())
    assert ext["workflow_version"] == rows[0]["workflow_version"]
    assert ext["extractor_config"]["point_extractor_by_frame"] == [
        {"task": "T0", "tools": [0, 1], "details": {"T0_tool0": ["question_extractor"]}}
    ]
    point = yaml.safe_load(summary.reducer_configs["point_extractor_by_frame"].read_text())
    assert point == {
        "reducer_config": {
            "point_reducer_hdbscan": {
                "details": {"T0_tool0": ["question_reducer"]},
                "min_cluster_size": 4,
                "min_samples": 3,
            }
        }
    }
    assert set(summary.reducer_configs) == {
        "point_extractor_by_frame",
        "question_extractor",
        "shortcut_extractor",
    }
    record = json.loads((summary.directory / "simulation.json").read_text())
    assert record["counts"]["classifications"] == N


# ---- realism -------------------------------------------------------------------------------


def test_anonymous_volunteers(sim):
    _, _, rows, _ = sim
    anon = [r for r in rows if r["user_id"] == ""]
    assert 0.1 <= len(anon) / len(rows) <= 0.4
    for r in anon:
        assert r["user_name"] == f"not-logged-in-{r['user_ip']}"
        assert re.fullmatch(r"[0-9a-f]{20}", r["user_ip"])
    registered = [r for r in rows if r["user_id"]]
    names: dict[str, set[str]] = defaultdict(set)
    for r in registered:
        names[r["user_name"]].add(r["user_id"])
    assert all(len(ids) == 1 for ids in names.values())  # a login is one user
    activity = sorted(Counter(r["user_name"] for r in registered).values(), reverse=True)
    top_tenth = activity[: max(1, len(activity) // 10)]
    assert sum(top_tenth) > 0.3 * len(registered)  # a few volunteers do a lot


def test_repeat_classifications_exist_for_both_kinds_of_user(sim):
    _, _, rows, _ = sim
    seen = Counter((r["user_name"], r["subject_ids"]) for r in rows)
    repeats = {k for k, v in seen.items() if v > 1}
    assert 0 < sum(seen[k] - 1 for k in repeats) / len(rows) < 0.06
    assert any(name.startswith("not-logged-in-") for name, _ in repeats)
    assert any(not name.startswith("not-logged-in-") for name, _ in repeats)
    flagged = [r for r in rows if r["_metadata"]["subject_selection_state"]["already_seen"]]
    assert flagged


def test_empty_subjects_get_the_shortcut(sim):
    _, _, rows, truth = sim
    empty = {sid for sid, t in truth.items() if t["empty"]}
    assert 0.1 <= len(empty) / len(truth) <= 0.3
    on_empty = [r for r in rows if int(r["subject_ids"]) in empty]
    shortcut = [r for r in on_empty if any(a["task"] == "T2" for a in r["_annotations"])]
    assert len(shortcut) / len(on_empty) > 0.6
    on_full = [r for r in rows if int(r["subject_ids"]) not in empty]
    shortcut_full = [r for r in on_full if any(a["task"] == "T2" for a in r["_annotations"])]
    assert len(shortcut_full) / len(on_full) < 0.05


def test_marks_are_noisier_far_from_the_camera(sim):
    _, _, rows, truth = sim
    near, far = [], []
    for r in rows[:1000]:
        frames = truth[int(r["subject_ids"])]["frames"]
        for m in r["_annotations"][0]["value"]:
            penguins = frames[m["frame"]]
            if not penguins:
                continue
            p = min(penguins, key=lambda p: (p["x"] - m["x"]) ** 2 + (p["y"] - m["y"]) ** 2)
            d = math.hypot(p["x"] - m["x"], p["y"] - m["y"])
            if d > 60:  # a false mark
                continue
            if p["scale"] > 0.8:
                near.append(d)
            elif p["scale"] < 0.55:
                far.append(d)
    assert near and far
    assert sum(far) / len(far) > 1.8 * sum(near) / len(near)


def test_rejects_nonsense_sizes():
    with pytest.raises(ValueError, match="subjects"):
        SimulationParams(classifications=10, subjects=11)
    with pytest.raises(ValueError, match="classifications"):
        SimulationParams(classifications=0)


# ---- command line --------------------------------------------------------------------------


def test_cli_writes_the_project(tmp_path, capsys):
    from tally.cli import main

    out = tmp_path / "penguins"
    assert main(["simulate", "-d", str(out), "--classifications", "120", "--subjects", "10",
                 "--seed", "3", "-hb"]) == 0  # fmt: skip
    printed = capsys.readouterr().out
    assert "120 classifications of 10 subjects" in printed
    record = json.loads((out / "simulation.json").read_text())
    assert record["params"]["seed"] == 3
    assert record["counts"]["classifications"] == 120
    with open(out / record["files"]["classifications"], newline="", encoding="utf-8") as f:
        assert sum(1 for _ in csv.reader(f)) == 121


def test_cli_usage_errors(tmp_path, capsys):
    from tally.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["simulate", "-d", str(tmp_path), "--classifications", "0"])
    assert exc.value.code == 2
    assert main(["simulate", "-d", str(tmp_path), "-n", "5", "--subjects", "6", "-hb"]) == 2
    assert "cannot exceed" in capsys.readouterr().err


def test_command_module_defaults_agree_with_the_generator():
    from tally.commands.simulate import DEFAULT_WORKFLOW_ID

    assert SimulationParams().workflow_id == DEFAULT_WORKFLOW_ID
