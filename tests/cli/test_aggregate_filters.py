"""`tally aggregate` with Caesar's per-reducer filters and grouping, end to end: a hand-made
export, a grouped + filtered reducer, a subrange reducer and a rule on one group; the CSVs and
the action are what a hand computation says, whatever the row order, and a re-run fires nothing
again. `tally reduce` refuses such a reducer config (docs/rules.md, "Filters and grouping")."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from tally.cli import main

EXTRACTORS = """\
workflow_id: 77
extractor_config:
  question_extractor:
  - task: T0
  pluck_field:
  - task: P
    field_map: {species: '$.annotations.T1[0].value'}
    if_missing: reject
"""

ANSWERS = """\
reducer_config:
  question_reducer: {}
key: answers
filters:
  repeated_classifications: keep_last
  training_behavior: experiment_only
grouping:
  field_name: pluck_field.species
  if_missing: ignore
"""

FIRST_TWO = """\
reducer_config:
  count: {}
filters: {from: 0, to: 1}
"""

RULES = """\
subject_rules:
  - id: zebras-agree
    condition: ["gte", ["lookup", "answers/zebra.yes", 0], ["const", 2]]
    effects:
      - action: retire_subject
        config: {reason: consensus}
"""

# (classification, user id, user name, minute, subject, T0 answer, T1 species)
ROWS = [
    (1, 1, "alice", 1, 100, "Yes", "lion"),
    (2, 2, "bob", 2, 100, "No", "lion"),
    (3, 1, "alice", 3, 100, "No", "lion"),  # alice again: keep_last keeps this one
    (4, None, "not-logged-in-x", 4, 100, "Yes", "zebra"),  # anonymous: always kept
    (5, 3, "carol", 5, 100, "Yes", "zebra"),
    (6, 4, "dave", 6, 100, "Yes", None),  # no species: not in any group
    (7, 1, "alice", 7, 200, "Yes", "lion"),  # subject 200 is a training subject
]


def write_export(path: Path, rows) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(
            ["classification_id", "user_name", "user_id", "workflow_id", "workflow_version",
             "created_at", "metadata", "annotations", "subject_data", "subject_ids"]
        )  # fmt: skip
        for cid, user, name, minute, subject, answer, species in rows:
            annotations = [{"task": "T0", "value": answer}]
            if species:
                annotations.append({"task": "T1", "value": species})
            metadata = {"#training_subject": "true"} if subject == 200 else {"name": "x"}
            writer.writerow(
                [cid, name, "" if user is None else user, 77, "1.1",
                 f"2024-06-01 09:{minute:02d}:00 UTC", "{}", json.dumps(annotations),
                 json.dumps({str(subject): {"retired": None, **metadata}}), subject]
            )  # fmt: skip


@pytest.fixture
def configs(tmp_path):
    (tmp_path / "extractors.yaml").write_text(EXTRACTORS)
    (tmp_path / "answers.yaml").write_text(ANSWERS)
    (tmp_path / "first_two.yaml").write_text(FIRST_TWO)
    (tmp_path / "rules.yaml").write_text(RULES)
    return tmp_path


def aggregate(configs: Path, export: Path, out: Path) -> int:
    out.mkdir(exist_ok=True)
    return main(
        ["aggregate", str(export), "--extractor-config", str(configs / "extractors.yaml"),
         "--reducer-config", f"{configs / 'answers.yaml'}:question_extractor",
         f"{configs / 'first_two.yaml'}:question_extractor",
         "--rules", str(configs / "rules.yaml"), "-d", str(out), "-hb"]
    )  # fmt: skip


def read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_filtered_and_grouped_reducers_end_to_end(configs, tmp_path, capsys):
    export = tmp_path / "export.csv"
    write_export(export, ROWS)
    out = tmp_path / "out"
    assert aggregate(configs, export, out) == 0

    grouped = out / "question_reducer_question_extractor_reductions.csv"
    header = grouped.read_text().splitlines()[0].split(",")
    assert header[:5] == ["subject_id", "workflow_id", "task", "subgroup", "reducer"]
    rows = read(grouped)
    got = {
        (r["subject_id"], r["subgroup"]): {
            k[len("data.") :]: float(r[k]) for k in ("data.yes", "data.no") if k in r and r[k]
        }
        for r in rows
    }
    # lion: alice's last (No) + bob (No); zebra: anonymous Yes + carol Yes; 200 is training.
    # (A column with gaps is written as floats, as tally reduce writes it.)
    assert got == {
        ("100", "lion"): {"no": 2},
        ("100", "zebra"): {"yes": 2},
        ("200", "lion"): {},
    }

    counts = {r["subject_id"]: r for r in read(out / "count_question_extractor_reductions.csv")}
    assert counts["100"]["data.classifications"] == "2"  # cids 1 and 2: the first two
    assert counts["200"]["data.classifications"] == "1"

    actions = read(out / "actions_reductions.csv")
    assert [(a["rule_id"], a["subject_id"]) for a in actions] == [("zebras-agree", "100")]

    # `tally rules check` reads the grouped CSV the same way: zebras-agree acts on 100
    assert main(["rules", "check", str(configs / "rules.yaml"), f"{grouped}:answers"]) == 0
    assert "rule zebras-agree: 1 subjects -> retire_subject(reason=consensus)\n  100" in (
        capsys.readouterr().out
    )

    # the same export in reverse row order, in a fresh state: the same bytes
    reverse = tmp_path / "reverse.csv"
    write_export(reverse, ROWS[::-1])
    again = tmp_path / "again"
    assert aggregate(configs, reverse, again) == 0
    for name in (grouped.name, "count_question_extractor_reductions.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name

    # a re-run over the same state fires nothing again
    assert aggregate(configs, export, out) == 0
    assert len(read(out / "actions_reductions.csv")) == 1


def test_grouping_if_missing_error_rejects_the_row_and_says_why(configs, tmp_path, capsys):
    (configs / "answers.yaml").write_text(
        ANSWERS.replace("if_missing: ignore", "if_missing: error")
    )
    export = tmp_path / "export.csv"
    write_export(export, ROWS)
    assert aggregate(configs, export, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "1 rejected" in err
    assert "no value for 'pluck_field.species', which reducer config #1" in err
    assert "first classification ids with problems: 6" in err


def test_bad_filter_is_a_load_error_naming_the_config(configs, tmp_path, capsys):
    (configs / "first_two.yaml").write_text(FIRST_TWO.replace("to: 1", "to: last"))
    export = tmp_path / "export.csv"
    write_export(export, ROWS)
    assert aggregate(configs, export, tmp_path / "out") != 0
    err = capsys.readouterr().err
    assert "reducer config #2 (count): filters: to must be an integer" in err
    assert "first_two.yaml" in err


def test_tally_reduce_refuses_filters(configs, tmp_path, capsys):
    extraction = tmp_path / "question_extractor_extractions.csv"
    extraction.write_text(
        "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,"
        "extractor,data.yes\n1,alice,1,77,T0,2024-06-01 09:01:00 UTC,100,question_extractor,1\n"
    )
    code = main(["reduce", str(extraction), str(configs / "answers.yaml"), "-d", str(tmp_path)])
    assert code != 0
    err = capsys.readouterr().err
    assert "filters" in err and "tally aggregate" in err
