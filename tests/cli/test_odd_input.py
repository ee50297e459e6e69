"""Odd input and odd options for `tally config | extract | reduce`, found in a user-level audit.

Each test pins one fix: the message names the file and says how to fix it, the exit status is
0 / 1 (bad input) / 2 (usage), and nothing is dropped without being counted.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.cli_support import (
    DATA,
    GOLDEN,
    answer,
    export_row,
    extractor_config,
    question_config,
    read_csv,
    run_tally,
    write_export,
    write_yaml,
)
from tests.cli.test_entry_point import _run_in_terminal

WORKFLOWS = DATA / "aggregation-for-caesar" / "wf_export.csv"


# ------------------------------------------------------------------------------------------
# extract: the skip summary counts what it says


def test_summary_counts_malformed_rows_among_the_classifications(tmp_path):
    export = write_export(
        tmp_path / "e.csv", [export_row(i, 5, answer("T0", "Yes")) for i in (1, 2, 3)]
    )
    with open(export, "a", encoding="utf-8") as f:
        f.write("4,bob,2\n")  # a cut-off row: its workflow is unknown, but it was skipped
    result = run_tally("extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path)
    assert result.code == 0, result.err
    assert "skipped 1 of 4 classifications:" in result.err  # was "1 of 3"


def test_summary_tells_failed_entries_from_skipped_classifications(tmp_path):
    """A survey entry failing on a question task loses that entry only, not the classification."""
    export = write_export(
        tmp_path / "e.csv",
        [export_row(1, 5, answer("T0", "Yes")), export_row(2, 5, "not json")],
    )
    config = extractor_config(
        tmp_path / "c.yaml",
        {
            "question_extractor": [{"task": "T0"}],
            "survey_extractor": [{"task": "T0"}],
        },
    )
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    assert len(read_csv(tmp_path / "question_extractor_extractions.csv")[1]) == 1
    assert (
        "skipped 1 of 2 classifications; 1 more lost an extractor entry "
        "(their other entries were extracted):"
    ) in result.err
    assert "1 x survey_extractor could not read task T0 (classification ids 1)" in result.err

    only_entries = write_export(tmp_path / "ok.csv", [export_row(1, 5, answer("T0", "Yes"))])
    result = run_tally("extract", only_entries, config, "-d", tmp_path, "-hb")
    assert "skipped 0" not in result.err
    assert "1 of 1 classifications lost an extractor entry" in result.err


def test_metadata_that_is_not_an_object_says_so(tmp_path):
    export = write_export(
        tmp_path / "e.csv",
        [export_row(1, 5, answer("T0", "Yes")), export_row(2, 5, answer("T0", "No"), metadata=[])],
    )
    result = run_tally("extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path)
    assert result.code == 0, result.err
    assert "1 x metadata is not a JSON object (classification ids 2)" in result.err
    verbose = run_tally(
        "extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path, "-vv"
    )
    assert "skipped classification 2: metadata is not a JSON object" in verbose.err
    assert "(data row 2)" in verbose.err


def test_progress_counts_are_written_as_whole_numbers(tmp_path):
    rows = [export_row(i, i, answer("T0", "Yes")) for i in range(1, 1201)]
    export = write_export(tmp_path / "e.csv", rows)
    shown = _run_in_terminal(["extract", export, question_config(tmp_path / "c.yaml")], tmp_path)
    assert "classifications=1,200" in shown  # tqdm wrote 1200 as "1.2e+3"


# ------------------------------------------------------------------------------------------
# extract: configs and files that are not what they should be


def _error(result) -> str:
    assert result.code == 1, (result.code, result.err)
    assert "Traceback" not in result.err
    return result.err


def test_a_reducer_config_given_to_extract(tmp_path):
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    reducer = write_yaml(tmp_path / "r.yaml", {"reducer_config": {"question_reducer": {}}})
    err = _error(run_tally("extract", export, reducer, "-d", tmp_path))
    assert "r.yaml is a reducer config" in err and "Extractor_config_workflow_" in err


def test_numeric_workflow_version_names_the_config(tmp_path):
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    config = question_config(tmp_path / "numeric.yaml", version=1.1)
    err = _error(run_tally("extract", export, config, "-d", tmp_path))
    assert "numeric.yaml: workflow_version is the number 1.1" in err


@pytest.mark.parametrize(("delimiter", "name"), [(";", "';'"), ("\t", "tabs")])
def test_spreadsheet_resaved_exports_with_another_separator(tmp_path, delimiter, name):
    comma = write_export(tmp_path / "comma.csv", [export_row(1, 5, answer("T0", "Yes"))])
    with open(comma, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    other = tmp_path / "resaved.csv"
    with open(other, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, delimiter=delimiter).writerows(rows)
    err = _error(run_tally("extract", other, question_config(tmp_path / "c.yaml"), "-d", tmp_path))
    assert f"resaved.csv is separated by {name}, not commas" in err

    workflows = tmp_path / "workflows.csv"
    with open(WORKFLOWS, encoding="utf-8", newline="") as f, open(workflows, "w") as out:
        csv.writer(out, delimiter=delimiter).writerows(csv.reader(f))
    err = _error(run_tally("config", workflows, "10", "-d", tmp_path))
    assert f"workflows.csv is separated by {name}, not commas" in err

    extracted = tmp_path / "extracted.csv"
    extracted.write_text(
        delimiter.join(["classification_id", "subject_id", "task", "created_at", "workflow_id"])
        + "\n"
    )
    reducer = write_yaml(tmp_path / "r.yaml", {"reducer_config": {"question_reducer": {}}})
    err = _error(run_tally("reduce", extracted, reducer, "-d", tmp_path))
    assert (
        f"extracted.csv is separated by {name}, not commas, so it is not an extraction CSV" in err
    )


# ------------------------------------------------------------------------------------------
# options: -o, -d, -c


@pytest.mark.parametrize("command", ["extract", "reduce"])
def test_output_name_with_a_directory_is_a_usage_error(tmp_path, command):
    result = run_tally(command, "in.csv", "c.yaml", "-d", tmp_path, "-o", "sub/name")
    assert result.code == 2
    assert "expected a base name without a directory, got 'sub/name'" in result.err
    assert "-d sub -o name" in result.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any directory")
@pytest.mark.parametrize("command", ["config", "extract", "reduce"])
def test_read_only_output_directory_is_a_usage_error(tmp_path, command):
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o555)
    try:
        result = run_tally(
            command, "in.csv", "7" if command == "config" else "c.yaml", "-d", read_only
        )
    finally:
        read_only.chmod(0o755)
    assert result.code == 2
    assert "cannot write into" in result.err


def test_os_errors_name_the_users_directory_not_temporary_files():
    from tally.cli import _describe_os_error

    err = PermissionError(13, "Permission denied", "/data/out/.tally-extract-x1y2")
    assert _describe_os_error(err).startswith("cannot write or read '/data/out': Permission denied")
    err = FileNotFoundError(2, "No such file", "/data/out/.question_x.csv.123.tmp")
    assert _describe_os_error(err) == "cannot write or read '/data/out': No such file"


def test_cpu_count_above_the_cpus_is_capped(tmp_path):
    """`-c 1000` forked a thousand workers for a seven-row file (5 s on 2 cores)."""
    from tally.parallel import cpus_available

    # one more than allowed: a regression forks a few processes, not a thousand
    requested = str(max(cpus_available(), 2) + 1)
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    result = run_tally(
        "extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path, "-c", requested
    )
    assert result.code == 0, result.err
    assert f"-c {requested} is more than the" in result.err and "CPUs available" in result.err


# ------------------------------------------------------------------------------------------
# config


def test_keywords_for_a_task_no_extractor_reads(tmp_path):
    result = run_tally(
        "config", WORKFLOWS, "10", "-d", tmp_path, "-k", '{"T9": {"dot_freq": "line"}}'
    )
    err = _error(result)
    assert "-k/--keywords names task T9" in err and "configured tasks: T0, T1" in err
    assert not list(tmp_path.iterdir())


def test_keywords_that_move_a_task_are_refused(tmp_path):
    """`-k '{"T0": {"task": "T9"}}'` said "names task T0, but no extractor reads it": the
    merged "task" key had moved T0's entries to T9 (the reference writes that config)."""
    result = run_tally("config", WORKFLOWS, "10", "-d", tmp_path, "-k", '{"T0": {"task": "T9"}}')
    err = _error(result)
    assert "-k/--keywords for task T0 sets 'task' to 'T9'" in err
    assert "key the keywords by it" in err
    assert not list(tmp_path.iterdir())
    same = run_tally("config", WORKFLOWS, "10", "-d", tmp_path, "-k", '{"T0": {"task": "T0"}}')
    assert same.code == 0, same.err


def test_malformed_version_options_are_usage_errors(tmp_path):
    for option in ("-v", "--min_version", "--max_version"):
        result = run_tally("config", WORKFLOWS, "10", "-d", tmp_path, option, "latest")
        assert result.code == 2, option
        assert "not a workflow version: 'latest'" in result.err


def test_bad_tasks_json_names_the_export(tmp_path):
    with open(WORKFLOWS, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    rows[-1][rows[0].index("tasks")] = "{not json"
    broken = tmp_path / "workflows.csv"
    with open(broken, "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerows(rows)
    err = _error(run_tally("config", broken, "10", "-d", tmp_path))
    assert f"{broken}: workflow 10 version 16.55: the 'tasks' column is not valid JSON" in err


def test_config_into_a_closed_pipe_still_writes_every_file(tmp_path):
    """`tally config ... | head -1` wrote one YAML file of three and said "[Errno 32] Broken pipe"."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the first print now fails with EPIPE
    try:
        process = subprocess.run(
            [str(Path(sys.executable).with_name("tally")), "config", WORKFLOWS, "10"],
            cwd=tmp_path,
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write_end)
    assert process.returncode == 141, process.stderr
    assert process.stderr == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "Extractor_config_workflow_10_V16.55.yaml",
        "Reducer_config_workflow_10_V16.55_question_extractor.yaml",
        "Task_labels_workflow_10_V16.55.yaml",
    ]


@pytest.mark.parametrize(
    ("command", "table", "config"),
    [
        ("extract", "CLASSIFICATION_CSV", "EXTRACTOR_CONFIG"),
        ("reduce", "EXTRACTED_CSV", "REDUCER_CONFIG"),
    ],
)
def test_swapped_positional_arguments(tmp_path, command, table, config):
    """extract said "extractor config 'x.csv' is not valid YAML: mapping values are not allowed"."""
    result = run_tally(command, "config.yaml", "data.csv", "-d", tmp_path)
    assert result.code == 2
    assert f"the arguments are in the wrong order: {table} first, then {config}" in result.err


def test_scratch_directories_of_a_killed_run_are_reported(tmp_path):
    """kill -9 leaves .tally-extract-* (12 MB at 20k classifications); the next run said nothing."""
    left = tmp_path / ".tally-extract-k9"
    left.mkdir()
    (left / "k0-00000000.spill").write_bytes(b"x" * 1_000_000)
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    result = run_tally("extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path)
    assert result.code == 0, result.err
    assert f"{left} holds 1.0 MB left by an interrupted run" in result.err
    assert left.exists()  # never removed: another run may be using it


def test_scratch_directories_name_their_run(tmp_path):
    """A dead run's directory is reported with its pid; a live run's is not reported at all."""
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)  # fmt: skip
    dead = tmp_path / f".tally-reduce-{int(ended.stdout)}-abc"
    live = tmp_path / f".tally-reduce-{os.getpid()}-def"
    dead.mkdir()
    live.mkdir()
    extracted = tmp_path / "question_extractor_extractions.csv"
    extracted.write_text(
        "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,"
        "data.yes\n1,a,1,5,T0,2024-01-01 00:00:00 UTC,7,question_extractor,1.0\n"
    )
    config = write_yaml(tmp_path / "r.yaml", {"reducer_config": {"question_reducer": {}}})
    result = run_tally("reduce", extracted, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    assert (
        f"{dead} holds 0.0 MB left by an interrupted run (process {int(ended.stdout)}" in result.err
    )
    assert str(live) not in result.err


# ------------------------------------------------------------------------------------------
# classifications without a subject


def _kenya_with_blank_subject(tmp_path: Path) -> tuple[Path, str]:
    """kenya-sample.csv with data row 37's subject_ids emptied; its classification id."""
    with open(DATA / "Data-digging" / "kenya-sample.csv", encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("subject_ids")
    rows[37][column] = ""
    export = tmp_path / "kenya-blank-subject.csv"
    with open(export, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows(rows)
    return export, rows[37][rows[0].index("classification_id")]


def test_classifications_without_subject_ids_are_skipped_and_counted(tmp_path):
    """They were extracted with a blank subject_id, which `reduce` then pooled into one bogus
    subject."""
    export, cid = _kenya_with_blank_subject(tmp_path)
    config = (
        GOLDEN / "cli" / "kenya-sample" / "configs" / "Extractor_config_workflow_2030_V73-90.yaml"
    )
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    assert f"1 x empty subject_ids (classification ids {cid})" in result.err
    header, rows = read_csv(tmp_path / "question_extractor_extractions.csv")
    assert len(rows) == 169  # of 170 classifications
    subjects = [row[header.index("subject_id")] for row in rows]
    assert "" not in subjects
    assert cid not in [row[0] for row in rows]

    strict = run_tally("extract", export, config, "-d", tmp_path, "-hb", "--strict")
    assert strict.code == 1
    assert f"classification {cid} (data row 37): empty subject_ids" in strict.err


@pytest.mark.parametrize("spilled", [False, True], ids=["in memory", "spilled"])
@pytest.mark.parametrize("stream", [[], ["-s"]], ids=["", "-s"])
def test_reduce_leaves_extract_rows_without_a_subject_out(tmp_path, monkeypatch, spilled, stream):
    """An extraction file the reference wrote from such classifications has blank subject_id
    cells: they were pooled into one bogus subject '' (e.g. 2 votes for 'daytime')."""
    import tally.reduce as reduce_module

    if spilled:
        monkeypatch.setattr(reduce_module, "IN_MEMORY_BYTES", -1)
    kenya = GOLDEN / "cli" / "kenya-sample"
    with open(kenya / "out" / "question_extractor_extractions.csv", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    column = rows[0].index("subject_id")
    blanked = [rows[5][0], rows[40][0]]  # their classification ids
    for n in (5, 40):
        rows[n][column] = ""
    with_blanks = tmp_path / "with_blanks.csv"
    without = tmp_path / "without.csv"
    for path, kept in ((with_blanks, rows), (without, [r for r in rows if r[column]])):
        with open(path, "w", encoding="utf-8", newline="") as f:
            csv.writer(f, lineterminator="\n").writerows(kept)
    config = kenya / "configs" / "Reducer_config_question.yaml"

    result = run_tally("reduce", with_blanks, config, "-d", tmp_path, "-o", "b", "-hb", *stream)
    assert result.code == 0, result.err
    assert (
        f"skipped 2 extract rows with a blank subject_id (data row 5: classification "
        f"{blanked[0]}, data row 40: classification {blanked[1]}); they belong to no subject"
    ) in result.err
    assert run_tally("reduce", without, config, "-d", tmp_path, "-o", "w", "-hb").code == 0
    header, reduced = read_csv(tmp_path / "question_reducer_b.csv")
    assert all(row[0] for row in reduced)
    # the same reductions; the subject column reads as floats, as pandas reads it with gaps
    assert (header, [[str(int(float(r[0]))), *r[1:]] for r in reduced]) == read_csv(
        tmp_path / "question_reducer_w.csv"
    )
    assert reduced[0][0] == "2237578.0"
