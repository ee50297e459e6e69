"""`tally reduce -s` resuming what a stopped run left: journals cut anywhere, damaged files.

The extracts are the kenya-sample golden's (real Panoptes data); every resumed file must be
byte for byte what an uninterrupted run writes.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tally.errors import InputError
from tests.cli.cli_support import GOLDEN, run_tally

KENYA = GOLDEN / "cli" / "kenya-sample"
QUESTION_EXTRACTS = KENYA / "out" / "question_extractor_extractions.csv"
QUESTION_CONFIG = KENYA / "configs" / "Reducer_config_question.yaml"
OUTPUT = "question_reducer_reductions.csv"
HEADER = "subject_id,workflow_id,task,reducer,data\n"


@pytest.fixture(scope="module")
def expected(tmp_path_factory):
    """The question reduction an uninterrupted run writes."""
    out = tmp_path_factory.mktemp("full")
    assert run_tally("reduce", QUESTION_EXTRACTS, QUESTION_CONFIG, "-d", out, "-hb").code == 0
    return (out / OUTPUT).read_bytes()


@pytest.fixture(scope="module")
def journal(tmp_path_factory):
    """The journal text of a -s run stopped just before it finalizes."""
    import tally.reduce as reduce_module

    def stopped(path, *args, **kwargs):
        raise InputError("stopped before finalizing")

    out = tmp_path_factory.mktemp("journal")
    original = reduce_module._finalize_journal
    reduce_module._finalize_journal = stopped
    try:
        result = run_tally("reduce", QUESTION_EXTRACTS, QUESTION_CONFIG, "-d", out, "-hb", "-s")
    finally:
        reduce_module._finalize_journal = original
    assert result.code == 1 and "stopped before finalizing" in result.err
    text = (out / OUTPUT).read_text(encoding="utf-8")
    assert text.startswith(HEADER) and text.count("\n") > 50
    return text


def _resume(tmp_path, text: str):
    (tmp_path / OUTPUT).write_text(text, encoding="utf-8")
    return run_tally("reduce", QUESTION_EXTRACTS, QUESTION_CONFIG, "-d", tmp_path, "-hb", "-s")


def test_a_journal_cut_anywhere_in_its_first_row_resumes_to_the_full_file(
    tmp_path, expected, journal
):
    """The first data row cut short (``22`` of subject 2237578) was appended to: the resumed
    file lost that subject and gained a bogus 222237578, or a cut data cell crashed the
    finalizer (AttributeError), since a journal without a whole row was not rewritten."""
    first_row = journal.splitlines(keepends=True)[1]
    assert first_row.startswith("2237578,2030,T1,question_reducer,")
    for cut in range(1, len(first_row)):
        result = _resume(tmp_path, HEADER + first_row[:cut])
        assert result.code == 0, (cut, result.err)
        assert "incomplete last line" in result.err
        assert (tmp_path / OUTPUT).read_bytes() == expected, first_row[:cut]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param(HEADER, id="header only"),
        pytest.param(HEADER[:-1], id="header without its line end"),
        pytest.param(HEADER[:9], id="header cut short"),
        pytest.param(
            "subject_id,workflow_id,task,reducer,data.daytime,data.N", id="final header cut"
        ),
    ],
)
def test_a_journal_stopped_in_its_header_resumes_to_the_full_file(tmp_path, expected, text):
    result = _resume(tmp_path, text)
    assert result.code == 0, result.err
    assert (tmp_path / OUTPUT).read_bytes() == expected


def test_a_journal_cut_in_a_later_row_resumes_to_the_full_file(tmp_path, expected, journal):
    lines = journal.splitlines(keepends=True)
    for keep in (2, 30, len(lines) - 1):
        for cut in (0, 3, len(lines[keep]) // 2, len(lines[keep]) - 1):
            result = _resume(tmp_path, "".join(lines[:keep]) + lines[keep][:cut])
            assert result.code == 0, result.err
            assert (tmp_path / OUTPUT).read_bytes() == expected, (keep, cut)


def test_a_finished_file_cut_short_is_reduced_again(tmp_path, expected):
    """A finished file is written whole; one without its last line end was being rewritten
    (by the reference's final rewrite, say) and may lack rows: it counts as unfinished."""
    result = _resume(tmp_path, expected.decode("utf-8")[:-20])
    assert result.code == 0, result.err
    assert "last line is incomplete; reducing everything again" in result.err
    assert (tmp_path / OUTPUT).read_bytes() == expected


def test_a_damaged_journal_row_is_an_error_that_changes_nothing(tmp_path, journal):
    """A whole line of the wrong width is damage, not a stopped write: it was skipped, so the
    finished file silently lost that subject's row."""
    lines = journal.splitlines(keepends=True)
    lines[10] = "2237600,2030\n"
    text = "".join(lines)
    result = _resume(tmp_path, text)
    assert result.code == 1
    assert "Traceback" not in result.err
    assert f"{OUTPUT}, line 11: 2 fields where a -s journal has 5" in result.err
    assert "nothing was changed; move it away" in result.err
    assert (tmp_path / OUTPUT).read_text(encoding="utf-8") == text


# ------------------------------------------------------------------------------------------
# journals of the reference's `reduce -s` (a team switching tools mid-run)

REFERENCE_JOURNALS = Path(__file__).parent / "reference_journals"


@pytest.mark.parametrize(
    ("reducer", "extracts", "config"),
    [
        ("survey_reducer", "survey_extractor_extractions.csv", "Reducer_config_survey.yaml"),
        (
            "point_reducer_dbscan",
            "point_extractor_by_frame_extractions.csv",
            "Reducer_config_point_dbscan.yaml",
        ),
    ],
)
def test_a_reference_journal_resumes_to_the_file_a_fresh_run_writes(
    tmp_path, reducer, extracts, config
):
    """The reference writes survey/point reductions as ``OrderedDict([...])`` reprs: they were
    'not a Python literal', found only after reducing everything and appending to the file."""
    extracts, config = KENYA / "out" / extracts, KENYA / "configs" / config
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert run_tally("reduce", extracts, config, "-d", fresh, "-hb", "-F", "all").code == 0
    expected = (fresh / f"{reducer}_reductions.csv").read_bytes()
    reference = (REFERENCE_JOURNALS / f"{reducer}_kenya-sample.csv").read_bytes()
    assert b"OrderedDict([" in reference
    lines = reference.splitlines(keepends=True)
    for name, text in {
        "whole": reference,
        "stopped mid-line": b"".join(lines[:30]) + lines[30][:40],
        "stopped after a line": b"".join(lines[:12]),
    }.items():
        out = tmp_path / name
        out.mkdir()
        (out / f"{reducer}_reductions.csv").write_bytes(text)
        result = run_tally("reduce", extracts, config, "-d", out, "-hb", "-F", "all", "-s")
        assert result.code == 0, (name, result.err)
        assert "resuming from last run" in result.err
        assert (out / f"{reducer}_reductions.csv").read_bytes() == expected, name


@pytest.mark.parametrize(
    "bad_cell",
    [
        "\"OrderedDict([('choice', 'grff'), ('total_vote_count', 1)\"",  # cut inside a line
        "\"__import__('os').system('true')\"",
        "5",
    ],
)
def test_an_unreadable_journal_cell_is_refused_before_any_work(tmp_path, journal, bad_cell):
    """The cell was only parsed when finalizing: after reducing every other subject and
    appending them, so the journal was changed and every re-run failed the same way."""
    lines = journal.splitlines(keepends=True)
    subject, workflow, task, reducer, _ = next(csv.reader([lines[20]]))
    lines[20] = f"{subject},{workflow},{task},{reducer},{bad_cell}\n"
    text = "".join(lines)
    result = _resume(tmp_path, text)
    assert result.code == 1
    assert "Traceback" not in result.err
    assert f"{OUTPUT}, line 21: unreadable data cell" in result.err
    assert f"move it away (with .{OUTPUT}.stream-settings.json, if there)" in result.err
    assert "resuming" not in result.err and "Saved" not in result.out
    assert (tmp_path / OUTPUT).read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir()] == [OUTPUT]  # no settings file, no scratch
