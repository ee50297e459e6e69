"""Issue 6 in embedded mode: "retire when the shortcut nothing-here count reaches 5 or 20
classifications are in" retires exactly the subjects a hand computation from the reduction CSVs
says, each once, also after a kill -9 mid-run and a full replay."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tally.cli import main

RULES = """
rules_applied: all_matching_rules
subject_rules:
  - id: retire-nothing-here-or-enough
    condition: ["or", ["gte", ["lookup", "shortcut_reducer.nothing-here", 0], ["const", 5]],
                      ["gte", ["lookup", "count.classifications", 0], ["const", 20]]]
    effects:
      - action: retire_subject
        config: {reason: nothing_here}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    directory = tmp_path_factory.mktemp("penguins")
    assert main(["simulate", "-d", str(directory), "-n", "2500", "--seed", "11"]) == 0
    (directory / "Reducer_config_count_question_extractor.yaml").write_text(
        "reducer_config:\n    count: {}\n"
    )
    (directory / "rules.yaml").write_text(RULES)
    return directory


def args_for(project: Path, out: Path) -> list[str]:
    return [
        "aggregate",
        str(next(project.glob("*classifications.csv"))),
        "--extractor-config",
        str(next(project.glob("Extractor_config_*.yaml"))),
        "--reducer-config",
        *sorted(str(p) for p in project.glob("Reducer_config_*.yaml")),
        "--rules",
        str(project / "rules.yaml"),
        "-d",
        str(out),
        "-hb",
    ]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def hand_computed(out: Path) -> set[str]:
    """Subjects whose final reductions satisfy the rule (counts only grow, so a subject that
    satisfies it now made it true at some point)."""
    nothing = {
        r["subject_id"]: float(r.get("data.nothing-here") or 0)
        for r in read_csv(next(out.glob("shortcut_reducer_*.csv")))
    }
    counted = {
        r["subject_id"]: float(r["data.classifications"] or 0)
        for r in read_csv(next(out.glob("count_*.csv")))
    }
    return {
        s
        for s in nothing.keys() | counted.keys()
        if nothing.get(s, 0) >= 5 or counted.get(s, 0) >= 20
    }


def retired(out: Path) -> list[str]:
    return [r["subject_id"] for r in read_csv(out / "actions_reductions.csv")]


def test_rule_retires_exactly_the_hand_computed_subjects_once(project, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert main(args_for(project, out)) == 0
    subjects = retired(out)
    assert len(subjects) == len(set(subjects)), "a subject was retired twice"
    expected = hand_computed(out)
    assert expected, "the simulated data should retire some subjects"
    assert set(subjects) == expected
    rows = read_csv(out / "actions_reductions.csv")
    assert {r["effect"] for r in rows} == {"retire_subject"}
    assert {r["status"] for r in rows} == {"pending"}
    # a full replay of the same export fires nothing again
    assert main(args_for(project, out)) == 0
    assert retired(out) == subjects


def test_kill_minus_nine_mid_run_then_rerun_fires_each_effect_once(project, tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    assert main(args_for(project, reference)) == 0
    out = tmp_path / "out"
    out.mkdir()
    command = [sys.executable, "-c", "import sys; from tally.cli import main; sys.exit(main())"]
    process = subprocess.Popen([*command, *args_for(project, out)], stderr=subprocess.DEVNULL)
    state = out / ".tally-state"
    deadline = time.monotonic() + 120
    # kill once the run has committed some state but has not finished
    while time.monotonic() < deadline and process.poll() is None:
        if (out / "actions_reductions.csv").exists():
            break
        time.sleep(0.05)
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert state.exists()
    assert main(args_for(project, out)) == 0
    subjects = retired(out)
    assert len(subjects) == len(set(subjects))
    assert set(subjects) == set(retired(reference)) == hand_computed(out)
    for name in ("shortcut_reducer", "count", "question_reducer", "point_reducer_hdbscan"):
        ours = next(out.glob(f"{name}_*.csv")).read_bytes()
        assert ours == next(reference.glob(f"{name}_*.csv")).read_bytes(), name


USER_RULES = """
subject_rules: []
user_rules:
  - id: promote-busy-volunteers
    condition: ["gte", ["lookup", "activity.classifications", 0], ["const", 25]]
    effects:
      - action: promote_user
        config: {workflow_id: 9999}
"""


def test_user_reductions_and_user_rules(project, tmp_path, capsys):
    configs = tmp_path / "configs"
    configs.mkdir()
    for path in project.glob("*.yaml"):
        (configs / path.name).write_text(path.read_text())
    (configs / "Reducer_config_count_question_extractor.yaml").unlink()
    (configs / "Reducer_config_activity_question_extractor.yaml").write_text(
        "reducer_config:\n    count: {}\ntopic: reduce_by_user\nkey: activity\n"
    )
    (configs / "rules.yaml").write_text(USER_RULES)
    (configs / "x_classifications.csv").symlink_to(next(project.glob("*classifications.csv")))
    out = tmp_path / "out"
    out.mkdir()
    assert main(args_for(configs, out)) == 0
    users = read_csv(next(out.glob("count_*.csv")))
    assert users and list(users[0])[0] == "user_id"
    busy = {r["user_id"] for r in users if float(r["data.classifications"]) >= 25}
    assert busy, "the simulated data should have busy volunteers"
    actions = read_csv(out / "actions_reductions.csv")
    assert [a["effect"] for a in actions] == ["promote_user"] * len(busy)
    assert {a["user_id"] for a in actions} == busy
    assert all(a["target_kind"] == "user" and a["subject_id"] == "" for a in actions)
    # the user file's targets are volunteers, and the summary counts them apart
    err = capsys.readouterr().err
    assert f"({len(users)} volunteers, {len(users)} rows)" in err
    assert f" subjects, {len(users)} volunteers, " in err


# --- rules-file errors through the commands that load it ---------------------------------------

EXPORT_HEADER = (
    "classification_id,user_name,user_id,user_ip,workflow_id,workflow_name,workflow_version,"
    "created_at,gold_standard,expert,metadata,annotations,subject_data,subject_ids\n"
)


@pytest.fixture
def tiny_pipeline(tmp_path):
    (tmp_path / "E.yaml").write_text(
        "extractor_config:\n    question_extractor:\n    -   task: T0\n"
        "workflow_id: 77\nworkflow_version: '1.1'\n"
    )
    (tmp_path / "R_question_extractor.yaml").write_text("reducer_config:\n    count: {}\n")
    (tmp_path / "export.csv").write_text(EXPORT_HEADER)
    (tmp_path / "out").mkdir()
    return tmp_path


def _aggregate(directory: Path, rules: str) -> list[str]:
    (directory / "rules.yaml").write_text(rules)
    return [
        "aggregate", str(directory / "export.csv"),
        "--extractor-config", str(directory / "E.yaml"),
        "--reducer-config", str(directory / "R_question_extractor.yaml"),
        "--rules", str(directory / "rules.yaml"), "-d", str(directory / "out"), "-hb",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        # review: condition written twice loaded silently (YAML kept the last one)
        (
            "subject_rules:\n  - id: a\n    condition: [const, true]\n"
            "    condition: [const, false]\n    effects: [{action: retire_subject}]\n",
            "rules.yaml, line 4: key 'condition' is written twice in one mapping (also on line 3)",
        ),
        # review: the error named neither the file nor the rule
        (
            "subject_rules:\n  - id: ok\n    condition: [const, true]\n"
            "  - id: a\n    condition: [gte, [lookup, cuont.classifications, 0], [const, 1]]\n",
            "rules.yaml: reduction 'cuont', read by subject rule 'a' (line 4: condition), is not "
            "made by this pipeline (did you mean 'count'?); its subject reductions are: count",
        ),
        # review: "every rule needs an id" for id: yes
        (
            "subject_rules:\n  - id: yes\n    condition: [const, true]\n",
            "rules.yaml, line 2: subject rule #1: id must be a text or a whole number, got the "
            "boolean true",
        ),
        # review: a user rule reading subject.x loaded and silently got its default
        (
            "user_rules:\n  - id: u\n    condition: [eq, [lookup, subject.x, 0], [const, 1]]\n",
            "rules.yaml, line 2: user rule 'u': condition reads 'subject', but user rules see only",
        ),
    ],
)
def test_aggregate_refuses_a_bad_rules_file_naming_file_line_and_rule(
    tiny_pipeline, capsys, rules, message
):
    assert main(_aggregate(tiny_pipeline, rules)) == 1
    err = capsys.readouterr().err
    assert f"tally aggregate: error: {tiny_pipeline}/{message}" in err
    assert not (tiny_pipeline / "out" / "actions_reductions.csv").exists()


def test_workflow_load_and_rules_check_read_rules_files_the_same_way(tiny_pipeline, capsys):
    from tally.commands.workflow import load
    from tally.errors import InputError

    rules = tiny_pipeline / "rules.yaml"
    rules.write_text(
        "subject_rules:\n  - id: a\n    condition: [gte, [lookup, cuont.classifications, 0], "
        "[const, 1]]\n"
    )
    with pytest.raises(InputError, match=r"rules.yaml: reduction 'cuont', read by subject rule "
                       r"'a' \(line 2: condition\)"):  # fmt: skip
        load(str(tiny_pipeline / "E.yaml"), [str(tiny_pipeline / "R_question_extractor.yaml")],
             rules_path=str(rules))  # fmt: skip
    rules.write_text("subject_rules: []\nsubject_rules: []\n")
    reductions = tiny_pipeline / "count.csv"
    reductions.write_text(
        "subject_id,workflow_id,task,reducer,data.classifications\n5,77,T0,count,3\n"
    )
    assert main(["rules", "check", str(rules), str(reductions)]) == 1
    assert "rules.yaml, line 2: key 'subject_rules' is written twice" in capsys.readouterr().err


def test_aggregate_says_no_actions_file_was_written_when_none_was(tiny_pipeline, capsys):
    """Review finding: '0 new actions appended to .../actions_reductions.csv' for a file that
    was never created."""
    rows = [
        f"{100 + i},u{i},{i},ip,77,wf,1.1,2024-02-01 00:00:0{i} UTC,,,{{}},"
        f'"[{{""task"": ""T0"", ""value"": 0}}]","{{""5"": {{}}}}",5\n'
        for i in range(3)
    ]
    (tiny_pipeline / "export.csv").write_text(EXPORT_HEADER + "".join(rows))
    actions = tiny_pipeline / "out" / "actions_reductions.csv"
    never = "subject_rules:\n  - id: a\n    condition: [gte, [lookup, count.classifications, 0], [const, 9]]\n    effects: [{action: retire_subject}]\n"
    assert main(_aggregate(tiny_pipeline, never)) == 0
    err = capsys.readouterr().err
    assert f"no new actions; no actions file written ({actions})" in err
    assert "appended" not in err and not actions.exists()
    fires = never.replace("[const, 9]", "[const, 3]")
    assert main(_aggregate(tiny_pipeline, fires)) == 0
    assert f"1 new actions appended to {actions}" in capsys.readouterr().err
    assert main(_aggregate(tiny_pipeline, fires)) == 0
    assert f"no new actions ({actions} unchanged)" in capsys.readouterr().err
