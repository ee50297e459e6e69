"""The installed ``tally`` console script: help texts, exit statuses, progress bars."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.cli_support import (
    DATA,
    answer,
    export_row,
    question_config,
    run_tally,
    run_tally_process,
    write_export,
)


def test_top_level_help_lists_the_commands():
    result = run_tally_process("--help")
    assert result.code == 0
    for command in ("config", "extract", "reduce"):
        assert f"\n    {command} " in result.out


def test_no_command_is_a_usage_error():
    result = run_tally_process()
    assert result.code == 2
    assert "usage: tally" in result.err


@pytest.mark.parametrize(
    ("command", "flags"),
    [
        (
            "config",
            [
                "workflow_csv",
                "workflow_id",
                "-v",
                "--min_version",
                "--max_version",
                "-k",
                "-d",
                "-vv",
            ],
        ),
        (
            "extract",
            [
                "classification_csv",
                "extractor_config",
                "-d",
                "-o",
                "-O",
                "-c",
                "-vv",
                "-hb",
                "--strict",
            ],
        ),
        ("reduce", ["extracted_csv", "reducer_config", "-F", "-O", "-c", "-hb", "-d", "-o", "-s"]),
    ],
)
def test_command_help_names_every_option(command, flags):
    result = run_tally(command, "--help")
    assert result.code == 0
    for flag in flags:
        assert flag in result.out, flag
    if command == "reduce":
        assert "{first,last,all}" in result.out and "default: first" in result.out


def test_exit_status_one_for_bad_input_and_no_progress_bar_off_a_terminal(tmp_path):
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    config = question_config(tmp_path / "c.yaml")
    ok = run_tally_process("extract", export, config, "-d", tmp_path)  # no -hb: stderr is a pipe
    assert ok.code == 0, ok.err
    assert ok.err == ""  # no bar, no summary
    bad = run_tally_process(
        "extract", export, question_config(tmp_path / "c2.yaml", workflow=9), "-d", tmp_path
    )
    assert bad.code == 1
    assert bad.err.startswith("tally extract: error: no classifications of workflow 9")


def test_workshop_recipe_end_to_end(tmp_path):
    """config -> extract -> reduce with the files config wrote, as the workshop notebooks do."""
    config = run_tally_process(
        "config", DATA / "aggregation-for-caesar" / "wf_export.csv", "10", "-d", tmp_path
    )
    assert config.code == 0, config.err
    extract = run_tally_process(
        "extract",
        DATA / "aggregation-for-caesar" / "cls_export.csv",
        tmp_path / "Extractor_config_workflow_10_V16.55.yaml",
        "-d",
        tmp_path,
    )
    assert extract.code == 0, extract.err
    reduce = run_tally_process(
        "reduce",
        tmp_path / "question_extractor_extractions.csv",
        tmp_path / "Reducer_config_workflow_10_V16.55_question_extractor.yaml",
        "-d",
        tmp_path,
    )
    assert reduce.code == 0, reduce.err
    assert (tmp_path / "question_reducer_reductions.csv").read_text().count("\n") == 15
    # batch commands end with os._exit: what they printed into the pipe must still arrive
    assert extract.out.endswith("question_extractor_extractions.csv\n"), extract.out
    assert reduce.out == f"Saved reductions to {tmp_path / 'question_reducer_reductions.csv'}\n"


@pytest.mark.parametrize("fd", [1, 2])
def test_a_closed_stdout_or_stderr_is_no_error(tmp_path, fd):
    """Started with stdout or stderr closed (`>&-`), Python makes it None: the files are still
    written and the status is 0 (the batch commands' os._exit path must not flush None)."""
    tally = str(Path(sys.executable).with_name("tally"))
    wf_export = str(DATA / "aggregation-for-caesar" / "wf_export.csv")
    p = subprocess.run(
        ["sh", "-c", f'exec "$0" "$@" {fd}>&-', tally, "config", wf_export, "10", "-d", tmp_path],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "Extractor_config_workflow_10_V16.55.yaml").exists()


def _run_in_terminal(argv, cwd):
    """Run the console script with a pseudo-terminal (120 columns) as stdout and stderr."""
    import fcntl
    import os
    import pty
    import struct
    import sys
    import termios
    from pathlib import Path

    exe = str(Path(sys.executable).with_name("tally"))
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(cwd)
        fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execv(exe, ["tally", *map(str, argv)])
    data = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    os.waitpid(pid, 0)
    return data.decode(errors="replace")


def test_progress_bars_on_a_terminal_and_hidden_by_hb(tmp_path):
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    config = question_config(tmp_path / "c.yaml")
    shown = _run_in_terminal(["extract", export, config], tmp_path)
    assert "Extracting: 100%" in shown and "classifications=1, skipped=0" in shown
    hidden = _run_in_terminal(["extract", export, config, "-hb"], tmp_path)
    assert "Extracting" not in hidden
    reducer = tmp_path / "r.yaml"
    reducer.write_text("reducer_config:\n    question_reducer: {}\n", encoding="utf-8")
    shown = _run_in_terminal(["reduce", "question_extractor_extractions.csv", reducer], tmp_path)
    assert "Reducing: 100%" in shown and "1/1" in shown
