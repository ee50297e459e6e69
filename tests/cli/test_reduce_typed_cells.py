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


# ------------------------------------------------------------------------------------------
# rows compared and grouped by value (pandas' typed cells), not by text

QUESTION_HEADER = (
    "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,"
    "data.aggregation_version,data.yes,data.no\n"
)
QUESTION_CONFIG = "reducer_config:\n  question_reducer: {}\n"


def reduce_every_way(tmp_path: Path, monkeypatch, extractions: str, config: str) -> tuple[str, str]:
    """The reduction file and stderr of `tally reduce -F all`, the same (asserted) whether the
    rows are grouped in memory or spilled, reduced here or in forked workers (-c 2), with and
    without -s."""
    import tally.reduce as reduce_module
    from tests.cli.cli_support import run_tally

    source = tmp_path / "extractions.csv"
    source.write_text(extractions)
    config_path = tmp_path / "config.yaml"
    config_path.write_text(config)
    # in memory, -c 2 reduces small work here unless SERIAL_SECONDS says to fork
    paths = {"spilled": (-1, 0.25), "in-memory": (1 << 30, float("inf")), "forked": (1 << 30, 0.0)}
    flags = {"plain": [], "c2": ["-c", "2"], "stream": ["-s"], "stream-c2": ["-s", "-c", "2"]}
    outputs = {}
    for path, (in_memory, serial) in paths.items():
        monkeypatch.setattr(reduce_module, "IN_MEMORY_BYTES", in_memory)
        monkeypatch.setattr(reduce_module, "SERIAL_SECONDS", serial)
        for name, extra in flags.items():
            out = tmp_path / f"{path}-{name}"
            out.mkdir()
            args = ["-F", "all", "-d", out, "-o", "r", "-hb", *extra]
            result = run_tally("reduce", source, config_path, *args)
            assert result.code == 0, result.err
            (written,) = out.glob("*_r.csv")
            stderr = "".join(
                line for line in result.err.splitlines(keepends=True) if line.startswith("note")
            )
            outputs[path, name] = (written.read_text(), stderr)
    assert len(set(outputs.values())) == 1, outputs
    return outputs["spilled", "plain"]


def question_rows(*rows: str) -> str:
    """Extraction rows of question_extractor for workflow 77: ``cid,user,user_id,task,created
    minute,subject,yes,no``."""
    out = []
    for row in rows:
        cid, user, user_id, task, minute, subject, yes, no = row.split(",")
        out.append(
            f"{cid},{user},{user_id},77,{task},2021-03-01 10:{minute}:00 UTC,{subject},"
            f"question_extractor,5.3.1,{yes},{no}\n"
        )
    return QUESTION_HEADER + "".join(out)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        pytest.param(
            # two extraction files concatenated: one read user_id as float (a blank elsewhere)
            ("1,u1,11,T0,00,5,1.0,", "2,u2,22,T0,01,5,,1.0", "1,u1,11.0,T0,00,5,1.0,"),
            "5,77,T0,question_reducer,1,1,5.3.1\n",
            id="user_id 11 and 11.0",
        ),
        pytest.param(
            # every missing-value mark is one value (NaN)
            ("1,u1,11,T0,00,5,1.0,", "1,u1,11,T0,00,5,1.0,nan", "2,u2,22,T0,01,5,,1.0"),
            "5,77,T0,question_reducer,1,1,5.3.1\n",
            id="empty cell and nan",
        ),
        pytest.param(
            # a float id column: 1 and 1.0 are one classification; its T0 and T1 rows are not
            # duplicates of each other
            (
                "1,u1,11,T0,00,5,1.0,",
                "1,u1,11,T1,00,5,1.0,",
                "2,u2,22,T0,01,5,,1.0",
                "1.0,u1,11,T0,00,5,1,",
                "1.0,u1,11,T1,00,5,1,",
                "2,u2,22,T1,01,5,,1.0",
                "2,u2,22,T1,01,5,,1.0",
                "3,u3,33,T1,01,6,1,",
                "3,u3,33,T1,01,6,1,nan",
                "3,u3,33,T1,01,6,1,0",
            ),
            "5,77,T0,question_reducer,1.0,1.0,5.3.1\n"
            "5,77,T1,question_reducer,1.0,1.0,5.3.1\n"
            "6,77,T0,question_reducer,,,5.3.1\n"
            "6,77,T1,question_reducer,2.0,1.0,5.3.1\n",
            id="classification_id 1 and 1.0, one row per task",
        ),
    ],
)
def test_duplicate_rows_are_found_by_value(tmp_path, monkeypatch, rows, expected):
    """The reference's drop_duplicates() compares pandas' values: tally compared the texts and
    counted such a classification twice."""
    reduced, _ = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    header = "subject_id,workflow_id,task,reducer,data.yes,data.no,data.aggregation_version\n"
    assert reduced == header + expected


def test_duplicates_by_value_but_created_at_written_differently_both_count(tmp_path, monkeypatch):
    # pandas leaves created_at as text when no one format fits every cell, and then compares
    # the texts: classification 3's rows are not duplicates (3 yes votes), 1's and 2's are
    extractions = QUESTION_HEADER + (
        "1,u1,1,77,T0,2021-03-01 10:00:00 UTC,5,question_extractor,5.3.1,1.0,\n"
        "1,u1,1,77,T0,2021-03-01 10:00:00 UTC,5,question_extractor,5.3.1,1,\n"
        "2,u2,2,77,T0,2021-03-01 10:01:00 UTC,5,question_extractor,5.3.1,,1.0\n"
        "2,u2,2,77,T0,2021-03-01 10:01:00 UTC,5,question_extractor,5.3.1,nan,1.0\n"
        "3,u3,3,77,T0,2021-03-01 10:02:00 UTC,5,question_extractor,5.3.1,1.0,\n"
        "3,u3,3,77,T0,2021-03-01T10:02:00Z,5,question_extractor,5.3.1,1.0,\n"
    )
    reduced, _ = reduce_every_way(tmp_path, monkeypatch, extractions, QUESTION_CONFIG)
    assert reduced == (
        "subject_id,workflow_id,task,reducer,data.yes,data.no,data.aggregation_version\n"
        "5,77,T0,question_reducer,3,1,5.3.1\n"
    )


@pytest.mark.parametrize(
    ("subjects", "expected"),
    [
        pytest.param(
            ("5", "5.0"),
            "subject_id,workflow_id,task,reducer,data.yes,data.no,data.aggregation_version\n"
            "5.0,77,T0,question_reducer,1,1,5.3.1\n",
            id="float column: 5 and 5.0",
        ),
        pytest.param(
            ("1", "01", "2", "1.0"),
            "subject_id,workflow_id,task,reducer,data.yes,data.no,data.aggregation_version\n"
            "1.0,77,T0,question_reducer,2,1.0,5.3.1\n"
            "2.0,77,T0,question_reducer,1,,5.3.1\n",
            id="float column: 1, 01 and 1.0",
        ),
        pytest.param(
            ("10", "010", "9"),
            "subject_id,workflow_id,task,reducer,data.yes,data.aggregation_version,data.no\n"
            "9,77,T0,question_reducer,1,5.3.1,\n"
            "10,77,T0,question_reducer,1,5.3.1,1.0\n",
            id="int column: 10 and 010",
        ),
        pytest.param(
            # a text column compares texts: 5 and 5.0 are two subjects there
            ("5", "5.0", "x"),
            "subject_id,workflow_id,task,reducer,data.yes,data.aggregation_version,data.no\n"
            "5,77,T0,question_reducer,1.0,5.3.1,\n"
            "5.0,77,T0,question_reducer,,5.3.1,1.0\n"
            "x,77,T0,question_reducer,1.0,5.3.1,\n",
            id="text column: 5 and 5.0 differ",
        ),
    ],
)
def test_subjects_are_grouped_by_value(tmp_path, monkeypatch, subjects, expected):
    """pandas groups a numeric subject column by value: tally wrote one row per spelling, all
    with the same printed subject."""
    answers = ("1.0,", ",1.0", "1.0,", "1.0,")
    rows = [
        f"{n},u{n},{n},T0,0{n},{subject},{answer}"
        for n, (subject, answer) in enumerate(zip(subjects, answers, strict=False), start=1)
    ]
    reduced, _ = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    assert reduced == expected


def test_subjects_by_value_keep_ascending_order_and_task_order(tmp_path, monkeypatch):
    # 9 and 9.0 are subject 9.0, 10 and 1e1 subject 10.0; T1 first (subject 9.0's first row)
    rows = (
        "1,u1,1,T0,00,10,1.0,",
        "2,u2,2,T1,01,9.0,,1.0",
        "3,u3,3,T0,02,9,1.0,",
        "4,u4,4,T1,03,1e1,1.0,",
    )
    reduced, _ = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    assert reduced == (
        "subject_id,workflow_id,task,reducer,data.no,data.aggregation_version,data.yes\n"
        "9.0,77,T1,question_reducer,1.0,5.3.1,\n"
        "9.0,77,T0,question_reducer,,5.3.1,1.0\n"
        "10.0,77,T1,question_reducer,,5.3.1,1.0\n"
        "10.0,77,T0,question_reducer,,5.3.1,1.0\n"
    )


def test_tasks_are_grouped_by_value(tmp_path, monkeypatch):
    # an int task column (unlikely, same code path as subjects): 1 and 01 are task 1
    rows = ("1,u1,1,1,00,1,1.0,", "2,u2,2,01,01,1,,1.0", "3,u3,3,2,02,2,1.0,")
    reduced, _ = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    assert reduced == (
        "subject_id,workflow_id,task,reducer,data.yes,data.no,data.aggregation_version\n"
        "1,77,1,question_reducer,1.0,1.0,5.3.1\n"
        "1,77,2,question_reducer,,,5.3.1\n"
        "2,77,1,question_reducer,,,5.3.1\n"
        "2,77,2,question_reducer,1.0,,5.3.1\n"
    )


def test_stream_resumes_a_journal_of_subjects_spelled_otherwise(tmp_path):
    """A -s journal holds the subjects as written back (5.0): resuming skips those whose rows
    spell them 5, and reduces the rest."""
    from tests.cli.cli_support import run_tally

    rows = (
        "1,u1,1,T0,00,5,1.0,",
        "2,u2,2,T0,01,5.0,,1.0",
        "3,u3,3,T0,02,7,1.0,",
        "4,u4,4,T0,03,,1.0,",
        "5,u5,5,T0,04,6,,1.0",
    )
    source = tmp_path / "extractions.csv"
    source.write_text(question_rows(*rows))
    config = tmp_path / "config.yaml"
    config.write_text(QUESTION_CONFIG)
    assert run_tally("reduce", source, config, "-F", "all", "-d", tmp_path, "-hb").code == 0
    expected = (tmp_path / "question_reducer_reductions.csv").read_text()
    assert expected.splitlines()[1:] == [
        "5.0,77,T0,question_reducer,1.0,1.0,5.3.1",
        "6.0,77,T0,question_reducer,,1.0,5.3.1",
        "7.0,77,T0,question_reducer,1.0,,5.3.1",
    ]
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    # subject 5.0 done (with a wrong count, to see that it is kept), 6.0 perhaps not (the last
    # subject of a journal is done again), 7.0 cut short
    (resumed / "question_reducer_reductions.csv").write_text(
        "subject_id,workflow_id,task,reducer,data\n"
        "5.0,77,T0,question_reducer,\"{'yes': 9, 'no': 1, 'aggregation_version': '5.3.1'}\"\n"
        "6.0,77,T0,question_reducer,\"{'no': 5, 'aggregation_version': '5.3.1'}\"\n"
        "7.0,77,T0,question_reducer,\"{'yes'"
    )
    result = run_tally("reduce", source, config, "-F", "all", "-d", resumed, "-hb", "-s")
    assert result.code == 0, result.err
    assert (resumed / "question_reducer_reductions.csv").read_text() == expected.replace(
        "5.0,77,T0,question_reducer,1.0,1.0", "5.0,77,T0,question_reducer,9.0,1.0"
    )


# ------------------------------------------------------------------------------------------
# rows without a task


def test_rows_with_a_blank_task_are_left_out_with_a_note(tmp_path, monkeypatch):
    """The reference reduces none of them and writes an empty reduction of task NaN for every
    subject; tally reduced them as one more task ''. Now they are left out, as rows without a
    subject are (tally reduce writes the reference's file without its blank-task rows)."""
    rows = ("1,u1,11,T0,00,5,1.0,", "2,u2,22,,01,5,,1.0", "3,u3,33,T0,01,6,,1.0")
    reduced, notes = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    # the reference: the same file with "5,77,,question_reducer,,5.3.1," after the subject 5
    # row and "6,77,,question_reducer,,5.3.1," at the end
    assert reduced == (
        "subject_id,workflow_id,task,reducer,data.yes,data.aggregation_version,data.no\n"
        "5,77,T0,question_reducer,1.0,5.3.1,\n"
        "6,77,T0,question_reducer,,5.3.1,1.0\n"
    )
    assert notes == (
        f"note: {tmp_path / 'extractions.csv'}: skipped 1 extract row with a blank task (data "
        "row 2: classification 2); it belongs to no task (the reference reduces none of them: it "
        "writes an empty reduction of task NaN for every subject; `tally extract` writes the task "
        "of its config)\n"
    )


def test_a_subject_with_only_blank_task_rows_is_reduced_for_every_task(tmp_path, monkeypatch):
    # every missing-value mark is a blank task; a row without subject and task is named once
    rows = (
        "1,u1,1,nan,00,5,1,",
        "2,u2,2,T0,01,5,,1",
        "3,u3,3,,02,7,1,",
        "4,u4,4,,02,,1,",
        "5,u5,5,T1,02,6,1,",
    )
    reduced, notes = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    # the reference's rows of tasks T0 and T1 (it adds one of task NaN per subject, and subject
    # NaN; those come first in its file, so its header starts with data.aggregation_version)
    assert reduced == (
        "subject_id,workflow_id,task,reducer,data.no,data.aggregation_version,data.yes\n"
        "5.0,77,T0,question_reducer,1.0,5.3.1,\n"
        "5.0,77,T1,question_reducer,,5.3.1,\n"
        "6.0,77,T0,question_reducer,,5.3.1,\n"
        "6.0,77,T1,question_reducer,,5.3.1,1.0\n"
        "7.0,77,T0,question_reducer,,5.3.1,\n"
        "7.0,77,T1,question_reducer,,5.3.1,\n"
    )
    assert "blank subject_id (data row 4: classification 4); it belongs" in notes
    assert "2 extract rows with a blank task (data row 1: classification 1, data row 3:" in notes
    assert notes.count("note: ") == 2


def test_only_blank_task_rows_give_a_header_only_file(tmp_path, monkeypatch):
    rows = ("1,u1,1,,00,5,1,", "2,u2,2,NA,01,6,,1")
    reduced, notes = reduce_every_way(tmp_path, monkeypatch, question_rows(*rows), QUESTION_CONFIG)
    assert reduced == "subject_id,workflow_id,task,reducer\n"
    assert notes.count("note: ") == 1  # the blank tasks, not 'every reduction is empty'
