"""`tally extract`: layout, row filtering, bad rows, odd exports and every input error."""

from __future__ import annotations

import pytest

from tests.cli.cli_support import (
    DATA,
    EXPORT_COLUMNS,
    answer,
    export_row,
    extractor_config,
    question_config,
    read_csv,
    run_tally,
    write_export,
    write_yaml,
)

INFO = [
    "classification_id",
    "user_name",
    "user_id",
    "workflow_id",
    "task",
    "created_at",
    "subject_id",
    "extractor",
]


@pytest.fixture
def small(tmp_path):
    rows = [
        export_row(1, 100, answer("T0", "Yes")),
        export_row(2, 100, answer("T0", "No"), user="not-logged-in-ab", user_id=""),
        export_row(3, 101, answer("T0", ["Yes", "No"]), version="2.1"),  # other version: skipped
        export_row(4, 101, answer("T0", "Yes"), workflow=8),  # other workflow: skipped
        export_row(5, 101, []),  # blank: a row with only the version
    ]
    return write_export(tmp_path / "export.csv", rows), question_config(tmp_path / "ext.yaml")


def test_layout_and_cell_text(small, tmp_path):
    export, config = small
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    header, rows = read_csv(tmp_path / "question_extractor_extractions.csv")
    assert header == [*INFO, "data.yes", "data.aggregation_version", "data.no"]
    assert rows == [
        # user_id has a gap in the export, so pandas (and we) write it as a float
        [
            "1",
            "alice",
            "1.0",
            "7",
            "T0",
            "2024-01-01 00:00:01 UTC",
            "100",
            "question_extractor",
            "1.0",
            "5.3.1",
            "",
        ],
        [
            "2",
            "not-logged-in-ab",
            "",
            "7",
            "T0",
            "2024-01-01 00:00:02 UTC",
            "100",
            "question_extractor",
            "",
            "5.3.1",
            "1.0",
        ],
        [
            "5",
            "alice",
            "1.0",
            "7",
            "T0",
            "2024-01-01 00:00:05 UTC",
            "101",
            "question_extractor",
            "",
            "5.3.1",
            "",
        ],
    ]
    assert result.out.strip().endswith("question_extractor_extractions.csv")


def test_output_name_order_and_no_version(tmp_path):
    export = write_export(
        tmp_path / "e.csv",
        [export_row(1, 9, answer("T0", ["b", "a"])), export_row(2, 9, answer("T0", "c"))],
    )
    config = extractor_config(
        tmp_path / "c.yaml", {"question_extractor": [{"task": "T0", "no_version": True}]}
    )
    assert (
        run_tally("extract", export, config, "-d", tmp_path, "-o", "out.csv", "-O", "-hb").code == 0
    )
    header, rows = read_csv(tmp_path / "question_extractor_out.csv")
    assert header == [*INFO, "data.a", "data.b", "data.c"]  # sorted, no aggregation_version
    assert [r[8:] for r in rows] == [["1.0", "1.0", ""], ["", "", "1.0"]]


@pytest.mark.parametrize(
    ("spec", "kept"),
    [
        ("1.1", ["1.1"]),
        (
            "1",
            ["1.1", "1.9", "2"],
        ),  # major only: 1.x up to and including 2 (the reference's reading)
        ({"min": "1.9"}, ["1.9", "2", "2.1", "3", "3.1", "10.1"]),
        (
            {"min": "1.9", "max": "2"},
            ["1.9", "2", "2.1", "3"],
        ),  # major-only max: next major inclusive
        ({"max": "1.10"}, ["1.1", "1.9"]),  # semantic: 1.9 < 1.10
    ],
)
def test_workflow_version_selection(tmp_path, spec, kept):
    versions = ["1.1", "1.9", "2", "2.1", "3", "3.1", "10.1"]
    rows = [export_row(i + 1, 5, answer("T0", "x"), version=v) for i, v in enumerate(versions)]
    export = write_export(tmp_path / "e.csv", rows)
    config = question_config(tmp_path / "c.yaml", version=spec)
    assert run_tally("extract", export, config, "-d", tmp_path, "-hb").code == 0
    _, out = read_csv(tmp_path / "question_extractor_extractions.csv")
    assert [versions[int(r[0]) - 1] for r in out] == kept


def test_bad_rows_are_skipped_and_summarised(tmp_path):
    rows = [
        export_row(1, 5, answer("T0", "Yes")),
        export_row(2, 5, '[{"task": "T0", "value": '),  # truncated JSON
        export_row(3, 5, answer("T0", "No"), metadata="not json"),
        export_row(4, 5, [{"value": "no task key"}]),
        export_row(5, 5, answer("T0", 1.5)),  # the extractor cannot slug a float
        export_row(6, 5, answer("T0", "No")),
    ]
    export = write_export(tmp_path / "e.csv", rows)
    config = question_config(tmp_path / "c.yaml")
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    _, out = read_csv(tmp_path / "question_extractor_extractions.csv")
    assert [r[0] for r in out] == ["1", "6"]
    assert "skipped 4 of 6 classifications" in result.err
    assert "invalid JSON in annotations (classification ids 2)" in result.err
    assert "invalid JSON in metadata (classification ids 3)" in result.err
    assert "malformed annotations (classification ids 4)" in result.err
    assert "question_extractor" in result.err and "ids 5" in result.err

    verbose = run_tally("extract", export, config, "-d", tmp_path, "-hb", "-vv")
    assert "skipped classification 2: invalid JSON in annotations" in verbose.err

    strict = run_tally("extract", export, config, "-d", tmp_path, "-hb", "--strict")
    assert strict.code == 1
    assert "classification 2 (data row 2): invalid JSON in annotations" in strict.err


def test_classifications_without_an_id_are_skipped(tmp_path):
    """The reference extracts them with a NaN id; tally aggregate and the stream count a
    classification once by its id, so two id-less ones of a subject were one there."""
    rows = [export_row(n, 5, answer("T0", "Yes"), user=f"u{n}") for n in range(1, 5)]
    rows[1]["classification_id"] = ""
    rows[2]["classification_id"] = "NA"
    export = write_export(tmp_path / "e.csv", rows)
    config = question_config(tmp_path / "c.yaml")
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    _, out = read_csv(tmp_path / "question_extractor_extractions.csv")
    # (written as the reference writes the ids of a column pandas read with gaps: floats)
    assert [r[0] for r in out] == ["1.0", "4.0"]
    assert "skipped 2 of 4 classifications" in result.err
    assert "2 x empty classification_id (classification ids '', 'NA')" in result.err

    strict = run_tally("extract", export, config, "-d", tmp_path, "-hb", "--strict")
    assert strict.code == 1
    assert (
        "classification '' (data row 2): empty classification_id: the classification_id cell "
        "is empty" in strict.err
    )


def test_short_row_is_a_bad_row(tmp_path):
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    with open(export, "a", encoding="utf-8") as f:
        f.write("2,bob,2\n")
    result = run_tally(
        "extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path, "-hb"
    )
    assert result.code == 0
    assert "1 x malformed CSV row (classification ids 2)" in result.err


def test_export_without_user_columns(tmp_path):
    columns = [c for c in EXPORT_COLUMNS if c not in ("user_id", "user_ip", "user_name")]
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))], columns)
    result = run_tally(
        "extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path, "-hb"
    )
    assert result.code == 0, result.err
    header, rows = read_csv(tmp_path / "question_extractor_extractions.csv")
    assert header[:8] == INFO and rows[0][1:3] == ["", ""]


def test_unanswered_survey_task_gives_header_only_file(tmp_path):
    """The reference crashes with KeyError: 'data' and writes nothing (docs/compatibility.md)."""
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "Yes"))])
    config = extractor_config(
        tmp_path / "c.yaml",
        {
            "question_extractor": [{"task": "T0"}],
            "survey_extractor": [{"task": "T9"}],
        },
    )
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    assert "survey_extractor produced no extracts (task T9)" in result.err
    header, rows = read_csv(tmp_path / "survey_extractor_extractions.csv")
    assert header == INFO and rows == []
    assert len(read_csv(tmp_path / "question_extractor_extractions.csv")[1]) == 1


def test_workers_keep_input_order(tmp_path):
    export = DATA / "Data-digging" / "kenya-sample.csv"
    config = write_yaml(
        tmp_path / "c.yaml",
        {
            "workflow_id": 2030,
            "workflow_version": {"min": "73.6", "max": "90"},
            "extractor_config": {
                "question_extractor": [{"task": "T1"}],
                "survey_extractor": [{"task": "T3"}],
                "point_extractor_by_frame": [{"task": "T2", "tools": [0], "details": {}}],
            },
        },
    )
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    assert run_tally("extract", export, config, "-d", one, "-hb").code == 0
    assert run_tally("extract", export, config, "-d", two, "-hb", "-c", "3").code == 0
    for name in ("question_extractor", "survey_extractor", "point_extractor_by_frame"):
        path = f"{name}_extractions.csv"
        assert (one / path).read_bytes() == (two / path).read_bytes()


# ------------------------------------------------------------------------------------------
# input errors: exit status 1 and a message that says what to fix


def _error(result) -> str:
    assert result.code == 1, (result.code, result.err)
    assert "Traceback" not in result.err
    return result.err


def test_not_a_panoptes_export(tmp_path):
    export = tmp_path / "e.csv"
    export.write_text("a,b,subject_ids\n1,2,3\n", encoding="utf-8")
    err = _error(run_tally("extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path))
    assert "is not a Panoptes classification export" in err
    assert (
        "missing column(s) classification_id, workflow_id, workflow_version, created_at, annotations, metadata"
        in err
    )


def test_empty_and_header_only_exports(tmp_path):
    config = question_config(tmp_path / "c.yaml")
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "is empty" in _error(run_tally("extract", empty, config, "-d", tmp_path))
    header_only = write_export(tmp_path / "h.csv", [])
    assert "has a header but no classification rows" in _error(
        run_tally("extract", header_only, config, "-d", tmp_path)
    )


def test_workflow_id_or_version_matching_nothing(tmp_path):
    export = write_export(
        tmp_path / "e.csv",
        [export_row(1, 5, answer("T0", "x"), version=v) for v in ("1.1", "1.1", "2.3")],
    )
    err = _error(
        run_tally(
            "extract", export, question_config(tmp_path / "c.yaml", workflow=99), "-d", tmp_path
        )
    )
    assert "no classifications of workflow 99" in err and "workflow ids present: 7 (3 rows)" in err
    err = _error(
        run_tally(
            "extract", export, question_config(tmp_path / "c.yaml", version="5.1"), "-d", tmp_path
        )
    )
    assert (
        "match workflow_version 5.1" in err
        and "versions present: 1.1 (2 rows), 2.3 (1 rows)" in err
    )


def test_unparsable_and_unknown_configs(tmp_path):
    export = write_export(tmp_path / "e.csv", [export_row(1, 5, answer("T0", "x"))])
    broken = tmp_path / "broken.yaml"
    broken.write_text("extractor_config: {question_extractor: [\n", encoding="utf-8")
    assert "is not valid YAML" in _error(run_tally("extract", export, broken, "-d", tmp_path))
    typo = extractor_config(tmp_path / "typo.yaml", {"question_extracter": [{"task": "T0"}]})
    err = _error(run_tally("extract", export, typo, "-d", tmp_path))
    assert "unknown extractor 'question_extracter'; did you mean 'question_extractor'?" in err
    bad_keyword = extractor_config(
        tmp_path / "kw.yaml", {"question_extractor": [{"task": "T0", "taks": 1}]}
    )
    assert "unknown keyword 'taks'" in _error(
        run_tally("extract", export, bad_keyword, "-d", tmp_path)
    )
    no_task = extractor_config(tmp_path / "nt.yaml", {"question_extractor": [{}]})
    assert "must be a mapping with a 'task' key" in _error(
        run_tally("extract", export, no_task, "-d", tmp_path)
    )
    not_config = write_yaml(tmp_path / "nc.yaml", ["a", "list"])
    assert "must be a YAML mapping" in _error(
        run_tally("extract", export, not_config, "-d", tmp_path)
    )
    float_version = write_yaml(
        tmp_path / "fv.yaml",
        {
            "workflow_id": 7,
            "workflow_version": 1.10,
            "extractor_config": {"question_extractor": [{"task": "T0"}]},
        },
    )
    assert "write it as text" in _error(run_tally("extract", export, float_version, "-d", tmp_path))


def test_not_utf8(tmp_path):
    export = write_export(
        tmp_path / "latin1.csv", [export_row(1, 5, answer("T0", "Jos\xe9"), user="Jos\xe9")]
    )
    export.write_bytes(export.read_text(encoding="utf-8").encode("latin-1"))
    err = _error(run_tally("extract", export, question_config(tmp_path / "c.yaml"), "-d", tmp_path))
    assert "is not UTF-8 text" in err and "iconv" in err


def test_missing_files_are_usage_errors(tmp_path):
    config = question_config(tmp_path / "c.yaml")
    assert run_tally("extract", tmp_path / "nope.csv", config).code == 1
    assert run_tally("extract", tmp_path / "nope.csv", config, "-d", tmp_path / "no-dir").code == 2
    assert run_tally("extract", "x.csv").code == 2
    assert run_tally("extract", "x.csv", "c.yaml", "-c", "0").code == 2
