"""`tally aggregate` on an export with bad rows: each is reported with its reason (the wording
`tally extract` uses where it has one), never counted as "for other workflows/versions", and
`--strict` stops at the first, naming the file, its line and the classification once."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from tally.cli import main
from tests.cli.cli_support import aggregate_project


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "-d", str(directory), "-n", "300", "--seed", "5"]) == 0
    return directory


def aggregate(export: Path, directory: Path, out: Path, *extra: str) -> int:
    out.mkdir(exist_ok=True)
    return aggregate_project(export, directory, out, *extra)


def read_export(directory: Path) -> tuple[list[str], list[list[str]]]:
    with next(directory.glob("*classifications.csv")).open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    return header, rows


def write_export(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows([header, *rows])
    return path


# what is wrong: (how to break a data row, the reason reported); rows the adapter refuses
BREAKS = {
    "empty subject_ids": (
        lambda row, at: row.__setitem__(at["subject_ids"], ""),
        "empty subject_ids",
    ),
    "subject_ids NA": (
        lambda row, at: row.__setitem__(at["subject_ids"], "NA"),
        "empty subject_ids: subject_ids is 'NA'",
    ),
    "short row": (
        lambda row, at: row.__delitem__(slice(5, None)),
        "malformed CSV row: 5 fields where the header has",
    ),
    "empty workflow_version": (
        lambda row, at: row.__setitem__(at["workflow_version"], ""),
        "invalid workflow_version: ''",
    ),
    "unreadable workflow_version": (
        lambda row, at: row.__setitem__(at["workflow_version"], "latest"),
        "invalid workflow_version: 'latest'",
    ),
}


def broken_export(penguins: Path, path: Path, breaks: dict[int, str]) -> tuple[Path, list[str]]:
    """The simulated export with data row ``n`` broken as ``ALL_BREAKS[breaks[n]]`` says; the
    broken rows' classification ids."""
    header, rows = read_export(penguins)
    at = {name: i for i, name in enumerate(header)}
    ids = []
    for n, what in breaks.items():
        ids.append(rows[n][at["classification_id"]])
        ALL_BREAKS[what][0](rows[n], at)
    return write_export(path, header, rows), ids


def test_bad_rows_are_reported_with_reasons_not_counted_as_other_workflows(
    penguins, tmp_path, capsys
):
    breaks = {10: "empty subject_ids", 20: "short row", 30: "empty workflow_version"}
    breaks[40] = "unreadable workflow_version"
    breaks[50] = "subject_ids NA"
    export, ids = broken_export(penguins, tmp_path / "bad.csv", breaks)
    assert aggregate(export, penguins, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "295 classifications applied" in err
    assert "0 for other workflows/versions, 5 rejected" in err
    for what in breaks.values():
        assert f"skipped x1: {BREAKS[what][1]}" in err
    assert f"first classification ids with problems: {', '.join(ids)}" in err


def test_rows_of_other_workflows_and_versions_are_not_checked(penguins, tmp_path, capsys):
    # As in tally extract: another workflow's row is looked at no further than its workflow
    # id, another version's (of this workflow) no further than its version.
    header, rows = read_export(penguins)
    at = {name: i for i, name in enumerate(header)}
    rows[3][at["workflow_id"]] = "999"
    rows[3][at["workflow_version"]] = ""
    rows[3][at["subject_ids"]] = ""
    rows[4][at["workflow_version"]] = "1.1"
    rows[4][at["subject_ids"]] = ""
    export = write_export(tmp_path / "other.csv", header, rows)
    assert aggregate(export, penguins, tmp_path / "out") == 0
    assert "2 for other workflows/versions, 0 rejected" in capsys.readouterr().err


def test_classifications_without_an_id_are_rejected_not_taken_for_repeats(
    penguins, tmp_path, capsys
):
    # The engine counts a classification once by its id: a second id-less classification of
    # a subject was counted as 'already applied'. tally extract skips them too.
    header, rows = read_export(penguins)
    at = {name: i for i, name in enumerate(header)}
    subject = rows[0][at["subject_ids"]]
    same_subject = [n for n, row in enumerate(rows) if row[at["subject_ids"]] == subject]
    assert len(same_subject) >= 2
    for n, blank in zip(same_subject, ("", "NA"), strict=False):
        rows[n][at["classification_id"]] = blank
    export = write_export(tmp_path / "no-id.csv", header, rows)
    assert aggregate(export, penguins, tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert "298 classifications applied, 0 already applied" in err
    assert "0 for other workflows/versions, 2 rejected" in err
    assert "skipped x1: empty classification_id\n" in err
    assert "skipped x1: empty classification_id: classification_id is 'NA'" in err

    assert aggregate(export, penguins, tmp_path / "strict", "--strict") == 1
    assert (
        f"line {same_subject[0] + 2}: classification '': empty classification_id"
        in capsys.readouterr().err
    )


# and one the engine rejects (annotations a JSON object, not a list)
ALL_BREAKS = {
    **BREAKS,
    "annotations not a list": (
        lambda row, at: row.__setitem__(at["annotations"], '{"task": "T1"}'),
        "annotations grouped by task must map task ids to lists",
    ),
    # (the state cannot hold it: the run stopped with "cannot store int at key ...")
    "subject id beyond 64 bits": (
        lambda row, at: row.__setitem__(at["subject_ids"], "123456789012345678901234567890"),
        "subject_ids 123456789012345678901234567890 does not fit in 64 bits",
    ),
}


@pytest.mark.parametrize("what", list(ALL_BREAKS))
def test_strict_stops_at_the_bad_row_naming_file_line_and_classification(
    penguins, tmp_path, capsys, what
):
    export, (cid,) = broken_export(penguins, tmp_path / "bad.csv", {70: what})
    out = tmp_path / "out"
    assert aggregate(export, penguins, out, "--strict") == 1
    err = capsys.readouterr().err
    # data row 70 (from 0) is on line 72: the header is line 1
    assert f"tally aggregate: error: {export}, line 72: classification {cid}: " in err
    assert ALL_BREAKS[what][1] in err
    assert err.count(cid) == 1
    # The rows before it were applied, none after it: a run without --strict on the same
    # state finds 70 applied and applies the other 229.
    assert aggregate(export, penguins, out) == 0
    err = capsys.readouterr().err
    assert "300 rows read: 229 classifications applied, 70 already applied" in err
    assert "1 rejected" in err


def test_an_unreadable_line_is_named_once(penguins, tmp_path, capsys):
    header, rows = read_export(penguins)
    export = write_export(tmp_path / "latin1.csv", header, rows)
    lines = export.read_bytes().split(b"\n")
    lines[5] = lines[5].replace(b"UTC", b"UT\xc7", 1)  # not UTF-8
    export.write_bytes(b"\n".join(lines))
    assert aggregate(export, penguins, tmp_path / "out") == 1
    err = capsys.readouterr().err
    assert "is not UTF-8" in err
    assert err.count(str(export)) == 1


def test_the_summary_counts_every_skipped_row_even_beyond_the_reasons_it_spells_out():
    from stream.embedded import SHOW_REASONS, AggregateSummary

    summary = AggregateSummary(rows=30)
    summary.outcomes["rejected"] = 14
    summary.rejected = [(cid, f"reason {cid % (SHOW_REASONS + 2)}") for cid in range(14)]
    report = summary.report()
    spelled = [line for line in report.splitlines() if line.startswith("  skipped x")]
    assert len(spelled) == SHOW_REASONS + 1
    assert spelled[-1].startswith("  skipped x2 more, for 2 other reasons")
    assert sum(int(re.match(r"  skipped x(\d+)", line)[1]) for line in spelled) == 14
