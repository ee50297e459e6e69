"""`tally rules check` (the dry run) evaluates the values `tally aggregate`'s engine evaluates.

The reduction CSVs lose some types (a count of 12 in a column with gaps is written 12.0, a
consensus answer "1" is written 1); the dry run reads them back as the reducer gave them
(core/rules/reduction_cells.py). These tests run the engine, read its state (the reductions its
rules saw) and compare them with what the dry run reads from the CSVs the same run wrote.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import pytest

from stream.state.rocksdict_store import RocksdictStore
from tally.cli import main
from tally.commands.rules import load_reductions

HEADER = [
    "classification_id", "user_name", "user_id", "user_ip", "workflow_id", "workflow_name",
    "workflow_version", "created_at", "gold_standard", "expert", "metadata", "annotations",
    "subject_data", "subject_ids",
]  # fmt: skip
EXTRACTOR = (
    "extractor_config:\n    question_extractor:\n    -   task: T0\nworkflow_id: 77\n"
    "workflow_version: '1.1'\n"
)


def write_export(path: Path, answers: list[tuple[int, int, Any]]) -> None:
    """A classification export: one row per (user, subject, answer to T0)."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for n, (user, subject, answer) in enumerate(answers):
            writer.writerow([
                100 + n, f"user{user}", 1000 + user, "ip", 77, "wf", "1.1",
                f"2024-02-01 00:{n // 60:02d}:{n % 60:02d} UTC", "", "", "{}",
                json.dumps([{"task": "T0", "value": answer}]), json.dumps({str(subject): {}}),
                subject,
            ])  # fmt: skip


def check_output(capsys, rules: Path, *csvs: str) -> dict[str, tuple[list[str], list[str]]]:
    """``{rule id: (subjects or users acted on, error lines)}`` from `tally rules check --limit 0`."""
    capsys.readouterr()
    assert main(["rules", "check", str(rules), *csvs, "--limit", "0"]) == 0
    out: dict[str, tuple[list[str], list[str]]] = {}
    current = None
    for line in capsys.readouterr().out.splitlines():
        header = re.match(r"rule (\S+): \d+ (subjects|users) ->", line)
        if header:
            current = header.group(1)
            out[current] = ([], [])
        elif current and line.startswith("  error"):
            out[current][1].append(line)
        elif current and line.startswith("  "):
            out[current][0].extend(line.split())
    return out


def acted_on(actions: Path) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    if actions.exists():
        with actions.open(newline="") as f:
            for row in csv.DictReader(f):
                out.setdefault(row["rule_id"], []).append(row["subject_id"])
    return out


def test_a_numeric_text_answer_stays_text(tmp_path, capsys):
    """Review finding: consensus most_likely "1" (text in the engine) was read back as the
    integer 1, so a rule comparing it with "1" fired in aggregate but not in the dry run."""
    write_export(tmp_path / "export.csv", [(user, 5, 1) for user in range(3)])
    (tmp_path / "E.yaml").write_text(EXTRACTOR)
    (tmp_path / "R_question_extractor.yaml").write_text("reducer_config:\n    consensus: {}\n")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "subject_rules:\n  - id: most-likely-is-1\n"
        '    condition: ["eq", ["lookup", "consensus.most_likely", ""], ["const", "1"]]\n'
        "    effects: [{action: retire_subject, config: {reason: consensus}}]\n"
    )
    assert main([
        "aggregate", str(tmp_path / "export.csv"), "--extractor-config", str(tmp_path / "E.yaml"),
        "--reducer-config", str(tmp_path / "R_question_extractor.yaml"), "--rules", str(rules),
        "-d", str(tmp_path), "-hb",
    ]) == 0  # fmt: skip
    assert acted_on(tmp_path / "actions_reductions.csv") == {"most-likely-is-1": ["5"]}
    csv_path = str(tmp_path / "consensus_question_extractor_reductions.csv")
    assert check_output(capsys, rules, csv_path) == {"most-likely-is-1": (["5"], [])}


RULES = """
subject_rules:
  # review finding: "'int' needs a string or an integer, got number 1.0" in the dry run only
  - id: int-of-count
    condition: ["gte", ["int", ["lookup", "question_reducer.clear", 0]], ["const", 3]]
    effects: [{action: retire_subject}]
  - id: consensus-clear
    condition: ["and", ["eq", ["lookup", "consensus.most_likely", ""], ["const", "clear"]],
                       ["gte", ["int", ["lookup", "consensus.num_votes", 0]], ["const", 2]]]
    effects: [{action: retire_subject, config: {reason: consensus}}]
  - id: first-says-clear
    condition: ["eq", ["lookup", "first.clear", 0], ["const", 1]]
    effects: [{action: add_subject_to_set, config: {subject_set_id: 9}}]
  - id: mean-of-clear
    condition: ["and", ["lookup", "clear_stats.mean", null], ["gte", ["lookup", "clear_stats.count", 0], ["const", 2]]]
    effects: [{action: add_subject_to_collection, config: {collection_id: 4}}]
  - id: reads-the-others  # never true: makes the engine keep these reductions for the rules
    condition: ["and", ["lookup", "st.clear", 0], ["lookup", "qc.agreement", 0], ["const", false]]
  - id: counted
    condition: ["gte", ["lookup", "count.classifications", 0], ["const", 14]]
    effects: [{action: retire_subject, config: {reason: classification_count}}]
"""
REDUCERS = {
    "R_question_extractor.yaml": "reducer_config:\n    question_reducer: {}\n",
    "Rc_question_extractor.yaml": "reducer_config:\n    consensus: {}\n",
    "Rn_question_extractor.yaml": "reducer_config:\n    count: {}\n",
    "Rf_question_extractor.yaml": "reducer_config:\n    first_extract: {}\nkey: first\n",
    "Rs_question_extractor.yaml": (
        "reducer_config:\n    summary_stats:\n        summarize_field: clear\n"
        "        operations: [count, mean, min, variance]\nkey: clear_stats\n"
    ),
    "Rt_question_extractor.yaml": "reducer_config:\n    stats: {}\nkey: st\n",
    "Rq_question_extractor.yaml": (
        "reducer_config:\n    question_consensus_reducer: {}\nkey: qc\n"
    ),
}
CSVS = {
    "question_reducer": "question_reducer",
    "consensus": "consensus",
    "count": "count",
    "first": "first_extract",
    "clear_stats": "summary_stats",
    "st": "stats",
    "qc": "question_consensus_reducer",
}


@pytest.fixture(scope="module")
def aggregated(tmp_path_factory):
    directory = tmp_path_factory.mktemp("dry-run")
    assert main(["simulate", "-d", str(directory), "-n", "600", "--seed", "11", "-hb"]) == 0
    (directory / "E.yaml").write_text(
        "extractor_config:\n    question_extractor:\n    -   task: T1\n"
        "workflow_id: 21434\nworkflow_version: '46.103'\n"
    )
    for name, text in REDUCERS.items():
        (directory / name).write_text(text)
    (directory / "rules.yaml").write_text(RULES)
    out = directory / "out"
    out.mkdir()
    assert main([
        "aggregate", str(next(directory.glob("*classifications.csv"))),
        "--extractor-config", str(directory / "E.yaml"),
        "--reducer-config", *(str(directory / name) for name in REDUCERS),
        "--rules", str(directory / "rules.yaml"), "-d", str(out), "-hb",
    ]) == 0  # fmt: skip
    specs = [f"{out / f'{reducer}_question_extractor_reductions.csv'}:{key}" for key, reducer in CSVS.items()]  # fmt: skip
    return directory, out, specs


def typed(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [typed(v) for v in value]
    return (type(value).__name__, value)


def test_the_dry_run_reads_the_values_the_engine_evaluated(aggregated):
    """Every reduction the engine's rules saw (kept in its state, next to the fired ids) is what
    the dry run reads from the CSVs, type for type: 12 not 12.0, "clear" text, 0.5 a float."""
    _, out, specs = aggregated
    from_csvs, _ = load_reductions(specs)
    seen = 0
    with RocksdictStore(out / ".tally-state") as store:
        for key, head in store.items("h|21434|"):
            subject = int(key.rsplit("|", 1)[1])
            assert typed(head["rules"]) == typed(from_csvs[subject]), subject
            seen += 1
    assert seen == len(from_csvs) == 40


def test_the_dry_run_acts_on_the_subjects_aggregate_fired_for(aggregated, capsys):
    directory, out, specs = aggregated
    fired = acted_on(out / "actions_reductions.csv")
    checked = check_output(capsys, directory / "rules.yaml", *specs)
    # every rule here can only become true (counts grow, first never changes) or is read on
    # the final reductions, so the subjects fired over the run are those true at its end
    for rule in ("int-of-count", "first-says-clear", "counted"):
        assert fired.get(rule), f"{rule} should act on some simulated subjects"
        assert sorted(checked[rule][0]) == sorted(fired[rule]), rule
    assert all(errors == [] for _, errors in checked.values())


USER_RULES = """
subject_rules:
  - id: enough
    condition: ["gte", ["lookup", "count.classifications", 0], ["const", 12]]
    effects: [{action: retire_subject}]
user_rules:
  - id: promote
    condition: ["gte", ["lookup", "ucount.classifications", 0], ["const", 5]]
    effects: [{action: promote_user, config: {workflow_id: 2002}}]
"""


def test_user_rules_are_checked_on_user_reductions_or_named_as_not_checked(
    aggregated, tmp_path, capsys
):
    """Review finding: the dry run skipped user rules without a word."""
    directory, _, _ = aggregated
    (tmp_path / "Ru_question_extractor.yaml").write_text(
        "reducer_config:\n    count: {}\ntopic: reduce_by_user\nkey: ucount\n"
    )
    rules = tmp_path / "rules.yaml"
    rules.write_text(USER_RULES)
    assert main([
        "aggregate", str(next(directory.glob("*classifications.csv"))),
        "--extractor-config", str(directory / "E.yaml"),
        "--reducer-config", str(directory / "Rn_question_extractor.yaml"),
        str(tmp_path / "Ru_question_extractor.yaml"),
        "--rules", str(rules), "-d", str(tmp_path), "-hb",
    ]) == 0  # fmt: skip
    fired: dict[str, list[str]] = {}
    with (tmp_path / "actions_reductions.csv").open(newline="") as f:
        for row in csv.DictReader(f):
            fired.setdefault(row["rule_id"], []).append(row[f"{row['target_kind']}_id"])
    assert fired["promote"] and fired["enough"]
    subjects, users = sorted(tmp_path.glob("count_question_extractor_reductions*.csv"))
    assert users.read_text().startswith("user_id,")
    checked = check_output(capsys, rules, str(subjects), f"{users}:ucount")
    assert sorted(checked["enough"][0]) == sorted(fired["enough"])
    assert sorted(checked["promote"][0]) == sorted(fired["promote"])
    # without the user CSV the user rules are named as not checked, not silently skipped
    capsys.readouterr()
    assert main(["rules", "check", str(rules), str(subjects)]) == 0
    out = capsys.readouterr().out
    assert "1 user rule(s) not checked (promote): no user reduction CSV given" in out
    assert "rule enough:" in out
    # and a user CSV under the wrong name is warned about, naming the rule that reads it
    assert main(["rules", "check", str(rules), str(subjects), str(users)]) == 0
    err = capsys.readouterr().err
    assert f"warning: {rules}: reduction 'ucount', read by user rule 'promote' (line 7: " in err
    assert "is in none of the given user CSVs (they hold: count;" in err
