"""`tally reduce` on extraction cells that pandas reads as typed values (numbers, booleans, times)
as the reference does. Each expected file is what panoptes_aggregation 5.3.1 wrote for the same input
(`panoptes_aggregation reduce extractions.csv config.yaml -F all`, PYTHONHASHSEED=0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tally.cli import main

HEADER = (
    "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,"
    "data.aggregation_version,data.choice,data.answers_hm.1,data.answers_hm.2\n"
)
REDUCED_HEADER = (
    "subject_id,workflow_id,task,reducer,data.choice,data.total_vote_count,data.choice_count,"
    "data.aggregation_version,data.answers_hm.1,data.answers_hm.2\n"
)


def reduce_survey(tmp_path: Path, rows: str) -> str:
    extractions = tmp_path / "extractions.csv"
    extractions.write_text(HEADER + rows)
    config = tmp_path / "config.yaml"
    config.write_text("reducer_config:\n  survey_reducer: {}\n")
    args = [str(extractions), str(config), "-F", "all", "-d", str(tmp_path), "-o", "r", "-hb"]
    assert main(["reduce", *args]) == 0
    return (tmp_path / "survey_reducer_r.csv").read_text()


@pytest.mark.parametrize(
    ("choices", "expected"),
    [
        # slugged choice ids that are all numbers: pandas reads the column as integers
        (
            ("10", "20", "10"),
            "5,77,T0,survey_reducer,10,3,2,5.3.1,2.0,\n5,77,T0,survey_reducer,20,3,1,5.3.1,,1.0\n",
        ),
        # ... or all booleans
        (
            ("true", "false"),
            "5,77,T0,survey_reducer,True,2,1,5.3.1,1.0,\n"
            "5,77,T0,survey_reducer,False,2,1,5.3.1,,1.0\n",
        ),
    ],
)
def test_survey_choices_read_as_numbers_or_booleans(tmp_path, choices, expected):
    answers = ("1,", ",1", "1,")
    rows = "".join(
        f"{i},u{i},{11 * i},77,T0,2021-03-01 10:0{i}:00 UTC,5,survey_extractor,5.3.1,"
        f"{choice},{answer}\n"
        for i, (choice, answer) in enumerate(zip(choices, answers, strict=False), start=1)
    )
    assert reduce_survey(tmp_path, rows) == REDUCED_HEADER + expected


def test_created_at_with_utc_offsets_orders_by_the_instant(tmp_path):
    # 11:30+02:00 is 09:30 UTC, before 10:00+00:00: the reference (pandas) puts it first
    extractions = tmp_path / "extractions.csv"
    extractions.write_text(
        "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,"
        "data.aggregation_version,data.result\n"
        "1,u1,1,77,T0,2021-03-01T10:00:00+00:00,1,all_tasks_empty_extractor,5.3.1,False\n"
        "2,u2,2,77,T0,2021-03-01T11:30:00+02:00,1,all_tasks_empty_extractor,5.3.1,True\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text("reducer_config:\n  first_n_true_reducer:\n    n: 1\n")
    args = [str(extractions), str(config), "-F", "all", "-d", str(tmp_path), "-o", "r", "-hb"]
    assert main(["reduce", *args]) == 0
    assert (tmp_path / "first_n_true_reducer_r.csv").read_text() == (
        "subject_id,workflow_id,task,reducer,data.result,data.aggregation_version\n"
        "1,77,T0,first_n_true_reducer,True,5.3.1\n"
    )
