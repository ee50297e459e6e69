"""`tally aggregate` after a run that stopped part-way: the next run repairs what it left behind.

The interruptions are real and deterministic: a CSV path the snapshot cannot replace (a
directory in the way), so the run fails after every state batch is committed. And a state
directory that cannot be opened (another run holds it, damaged, not one) is a clear error.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tally.cli import main
from tests.cli.cli_support import aggregate_project


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "-d", str(directory), "-n", "600", "--seed", "7"]) == 0
    return directory


aggregate = aggregate_project


def first_rows(export: Path, path: Path, count: int) -> Path:
    """The header and the first ``count`` data rows of ``export``, written to ``path``."""
    with export.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows[: count + 1])
    return path


def reduction_csvs(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.glob("*_reductions.csv"))}


@pytest.fixture
def export(penguins):
    return next(penguins.glob("*classifications.csv"))


@pytest.fixture
def uninterrupted(penguins, export, tmp_path):
    once = tmp_path / "once"
    once.mkdir()
    assert aggregate(export, penguins, once) == 0
    return reduction_csvs(once)


def test_csvs_left_stale_by_a_failed_snapshot_are_rewritten_by_the_next_run(
    penguins, export, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(first_rows(export, tmp_path / "older.csv", 300), penguins, out) == 0
    stale = reduction_csvs(out)
    assert stale != uninterrupted
    # The first CSV the snapshot writes cannot be replaced: the run commits every state batch
    # of the full export, then fails before any CSV is written.
    first = out / sorted(stale)[0]
    first.unlink()
    first.mkdir()
    capsys.readouterr()
    assert aggregate(export, penguins, out) == 1
    err = capsys.readouterr().err
    assert f"tally aggregate: error: cannot write {first}: Is a directory." in err
    assert "run again to write the CSVs" in err
    first.rmdir()
    first.write_bytes(stale[first.name])
    assert reduction_csvs(out) == stale

    # Nothing new to apply, yet the CSVs are older than the state: they are rewritten.
    assert aggregate(export, penguins, out) == 0
    err = capsys.readouterr().err
    assert "0 classifications applied" in err
    assert "stopped before its CSVs were written" in err
    assert reduction_csvs(out) == uninterrupted

    # Repaired once: the run after that has nothing to do.
    assert aggregate(export, penguins, out) == 0
    assert "no reduction changed; CSVs left as they were" in capsys.readouterr().err
    assert reduction_csvs(out) == uninterrupted


def test_a_snapshot_cut_between_two_files_is_completed_by_the_next_run(
    penguins, export, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(first_rows(export, tmp_path / "older.csv", 300), penguins, out) == 0
    stale = reduction_csvs(out)
    # The last CSV is in the way: the ones before it are new, it stays old.
    last = out / sorted(stale)[-1]
    shutil.move(last, tmp_path / "saved.csv")
    last.mkdir()
    assert aggregate(export, penguins, out) == 1
    last.rmdir()
    shutil.move(tmp_path / "saved.csv", last)
    assert reduction_csvs(out) != uninterrupted
    assert aggregate(export, penguins, out) == 0
    assert reduction_csvs(out) == uninterrupted


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_disk_full_while_writing_the_csvs_names_the_file_and_the_next_run_repairs(
    penguins, export, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(first_rows(export, tmp_path / "older.csv", 300), penguins, out) == 0
    second = out / sorted(reduction_csvs(out))[1]
    # Each CSV is written to .<name>.<pid>.tmp, then renamed (tally.tables.atomic_text_file):
    # that name linked to /dev/full makes the write fail with ENOSPC, as a full disk does.
    temporary = out / f".{second.name}.{os.getpid()}.tmp"
    temporary.symlink_to("/dev/full")
    capsys.readouterr()
    assert aggregate(export, penguins, out) == 1
    err = capsys.readouterr().err
    assert f"tally aggregate: error: cannot write {second}: No space left on device." in err
    assert not temporary.is_symlink()  # the temporary file is cleaned up: "space freed"
    assert aggregate(export, penguins, out) == 0
    assert reduction_csvs(out) == uninterrupted


LIMITED_RUN = """
import resource, signal, sys
# Past 100 kB a write fails with EFBIG ("File too large") instead of killing the process,
# as a full disk fails it with ENOSPC: the state's write-ahead log gets there first.
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
from tally.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs POSIX file size limits")
def test_a_state_write_that_fails_is_a_clear_error_and_the_next_run_finishes(
    penguins, export, uninterrupted, tmp_path, capsys
):
    out = tmp_path / "out"
    out.mkdir()
    extractor = str(next(penguins.glob("Extractor_config_*.yaml")))
    reducers = sorted(str(p) for p in penguins.glob("Reducer_config_*.yaml"))
    args = [str(export), "--extractor-config", extractor, "--reducer-config", *reducers]
    run = subprocess.run(
        [sys.executable, "-c", LIMITED_RUN, "aggregate", *args, "-d", str(out), "-hb"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 1, run.stderr
    state = out / ".tally-state"
    assert f"tally aggregate: error: cannot write to the state directory {state}" in run.stderr
    assert "Traceback" not in run.stderr
    assert aggregate(export, penguins, out) == 0
    assert reduction_csvs(out) == uninterrupted


def test_a_state_directory_in_use_by_another_run_is_a_clear_error(
    penguins, export, tmp_path, capsys
):
    state = tmp_path / "state"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from stream.state.rocksdict_store import RocksdictStore\n"
            f"store = RocksdictStore({str(state)!r}); print('open', flush=True); sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline() == "open\n"
        out = tmp_path / "out"
        out.mkdir()
        assert aggregate(export, penguins, out, "--state", str(state)) == 1
    finally:
        holder.communicate("", timeout=60)
    err = capsys.readouterr().err
    assert f"the state directory {state} is in use by another run" in err
    assert "Traceback" not in err
    # once the other run is done, the directory works
    assert aggregate(export, penguins, out, "--state", str(state)) == 0


def test_a_damaged_state_directory_is_a_clear_error(penguins, export, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(export, penguins, out) == 0
    (out / ".tally-state" / "CURRENT").write_text("hello\n")
    capsys.readouterr()
    assert aggregate(export, penguins, out) == 1
    err = capsys.readouterr().err
    assert f"cannot open the state directory {out / '.tally-state'}" in err
    assert "it is damaged, or not a state directory" in err


@pytest.mark.parametrize("kind", ["file", "directory of other files"])
def test_a_state_path_that_is_not_a_state_directory_is_refused(
    penguins, export, tmp_path, capsys, kind
):
    state = tmp_path / "state"
    if kind == "file":
        state.write_text("notes\n")
    else:
        state.mkdir()
        (state / "notes.txt").write_text("notes\n")
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(export, penguins, out, "--state", str(state)) == 1
    err = capsys.readouterr().err
    assert str(state) in err and "pass a new" in err
    if kind != "file":
        assert sorted(p.name for p in state.iterdir()) == ["notes.txt"]
