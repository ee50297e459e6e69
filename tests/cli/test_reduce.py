"""`tally reduce`: grouping, every subject x task, -F, -s (resume), -c, and every input error."""

from __future__ import annotations

import csv
import itertools
import math

import pytest

from tally.errors import InputError
from tests.cli.cli_support import (
    DATA,
    answer,
    export_row,
    extractor_config,
    question_config,
    read_csv,
    run_tally,
    write_export,
    write_yaml,
)

REDUCE_INFO = ["subject_id", "workflow_id", "task", "reducer"]


def extract(tmp_path, rows, tasks=("T0",)):
    export = write_export(tmp_path / "export.csv", rows)
    config = question_config(tmp_path / "ext.yaml", tasks)
    result = run_tally("extract", export, config, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    return tmp_path / "question_extractor_extractions.csv"


@pytest.fixture
def question_reducer(tmp_path):
    return write_yaml(tmp_path / "red.yaml", {"reducer_config": {"question_reducer": {}}})


def test_every_subject_and_task_in_subject_order(tmp_path, question_reducer):
    rows = [
        export_row(1, 30, answer("T1", "b")),  # T1 first in the file, but subject 20 sorts first
        export_row(2, 20, answer("T0", "a") + answer("T1", "a")),
        export_row(3, 100, answer("T0", "a")),  # numeric order: 100 after 30
    ]
    extracted = extract(tmp_path, rows, tasks=("T1", "T0"))
    result = run_tally("reduce", extracted, question_reducer, "-d", tmp_path, "-hb", "-F", "all")
    assert result.code == 0, result.err
    header, out = read_csv(tmp_path / "question_reducer_reductions.csv")
    # tasks in order of first appearance after sorting by subject: T1 (subject 20 row ...)
    assert [r[:3] for r in out] == [
        ["20", "7", "T1"],
        ["20", "7", "T0"],
        ["30", "7", "T1"],
        ["30", "7", "T0"],  # no extracts: still a row, with only the version
        ["100", "7", "T1"],
        ["100", "7", "T0"],
    ]
    assert header == [*REDUCE_INFO, "data.a", "data.aggregation_version", "data.b"]
    assert out[3][4:] == ["", "5.3.1", ""]
    assert out[0][4:] == ["1.0", "5.3.1", ""]


def _repeats(tmp_path):
    rows = [
        export_row(1, 5, answer("T0", "first"), user="ann", created_at="2024-01-01 10:00:00 UTC"),
        export_row(2, 5, answer("T0", "second"), user="ann", created_at="2024-01-02 10:00:00 UTC"),
        export_row(
            3,
            5,
            answer("T0", "anon1"),
            user="not-logged-in-x",
            user_id="",
            created_at="2024-01-01 09:00:00 UTC",
        ),
        export_row(
            4,
            5,
            answer("T0", "anon2"),
            user="not-logged-in-x",
            user_id="",
            created_at="2024-01-03 09:00:00 UTC",
        ),
        export_row(
            5, 5, answer("T0", "bob"), user="bob", user_id="2", created_at="2024-01-02 11:00:00 UTC"
        ),
    ]
    return extract(tmp_path, rows)


@pytest.mark.parametrize(
    ("flag", "kept"),
    [
        (["-F", "all"], {"first", "second", "anon1", "anon2", "bob"}),
        (["-F", "first"], {"first", "anon1", "bob"}),
        ([], {"first", "anon1", "bob"}),  # default: first, as documented (the reference ignores -F)
        (["-F", "last"], {"second", "anon2", "bob"}),
    ],
)
def test_repeat_filter_by_user_name(tmp_path, question_reducer, flag, kept):
    extracted = _repeats(tmp_path)
    assert run_tally("reduce", extracted, question_reducer, "-d", tmp_path, "-hb", *flag).code == 0
    header, (row,) = read_csv(tmp_path / "question_reducer_reductions.csv")
    answers = {
        name[5:]
        for name, cell in zip(header, row, strict=True)
        if name.startswith("data.") and cell
    }
    assert answers - {"aggregation_version"} == kept


def test_track_user_ids_gets_pandas_values(tmp_path):
    """The reference hands reducers float user ids and NaN for anonymous volunteers."""
    extracted = _repeats(tmp_path)
    config = write_yaml(
        tmp_path / "r.yaml", {"reducer_config": {"question_reducer": {"track_user_ids": True}}}
    )
    assert run_tally("reduce", extracted, config, "-d", tmp_path, "-hb", "-F", "all").code == 0
    header, (row,) = read_csv(tmp_path / "question_reducer_reductions.csv")
    cells = dict(zip(header, row, strict=True))
    assert cells["data.user_ids_anon1"] == "[nan]"
    assert cells["data.user_ids_bob"] == "[2.0]"


def test_duplicate_rows_count_once(tmp_path, question_reducer):
    extracted = extract(
        tmp_path, [export_row(1, 5, answer("T0", "a")), export_row(2, 5, answer("T0", "a"))]
    )
    lines = extracted.read_text(encoding="utf-8").splitlines(keepends=True)
    extracted.write_text("".join([*lines, lines[1]]), encoding="utf-8")  # classification 1 twice
    assert (
        run_tally("reduce", extracted, question_reducer, "-d", tmp_path, "-hb", "-F", "all").code
        == 0
    )
    header, (row,) = read_csv(tmp_path / "question_reducer_reductions.csv")
    assert dict(zip(header, row, strict=True))["data.a"] == "2"


@pytest.fixture(scope="module")
def kenya(tmp_path_factory):
    """Real extracts (kenya-sample: points, questions, survey) for the -c/-s/-O checks."""
    root = tmp_path_factory.mktemp("kenya")
    config = write_yaml(
        root / "ext.yaml",
        {
            "workflow_id": 2030,
            "workflow_version": {"min": "73.6", "max": "90"},
            "extractor_config": {
                "survey_extractor": [{"task": "T3"}],
                "point_extractor_by_frame": [{"task": "T2", "tools": [0], "details": {}}],
            },
        },
    )
    result = run_tally(
        "extract", DATA / "Data-digging" / "kenya-sample.csv", config, "-d", root, "-hb"
    )
    assert result.code == 0, result.err
    survey = write_yaml(root / "survey.yaml", {"reducer_config": {"survey_reducer": {}}})
    points = write_yaml(
        root / "points.yaml",
        {"reducer_config": {"point_reducer_dbscan": {"eps": 30, "min_samples": 2}}},
    )
    return root, [
        ("survey_extractor_extractions.csv", survey),
        ("point_extractor_by_frame_extractions.csv", points),
    ]


@pytest.mark.parametrize("case", [0, 1])
def test_workers_and_stream_give_identical_files(kenya, tmp_path, case, monkeypatch):
    import tally.reduce as reduce_module

    root, cases = kenya
    extracted, config = cases[case]
    variants = {"plain": [], "c2": ["-c", "2"], "stream": ["-s"], "stream_c2": ["-s", "-c", "2"]}
    outputs = {}
    # Small files are grouped in memory; the same runs through the spill files (big files).
    # In memory, -c 2 reduces small work in this process (SERIAL_SECONDS): forked too.
    paths = {"spilled": (-1, 0.25), "in-memory": (1 << 30, math.inf), "forked": (1 << 30, 0.0)}
    for (path, (in_memory, serial)), (name, flags) in itertools.product(
        paths.items(), variants.items()
    ):
        monkeypatch.setattr(reduce_module, "IN_MEMORY_BYTES", in_memory)
        monkeypatch.setattr(reduce_module, "SERIAL_SECONDS", serial)
        out = tmp_path / f"{name}-{path}"
        out.mkdir()
        result = run_tally(
            "reduce", root / extracted, config, "-d", out, "-hb", "-F", "all", *flags
        )
        assert result.code == 0, result.err
        (written,) = out.glob("*_reductions.csv")
        outputs[path, name] = written.read_bytes()
    assert len(outputs) == 12
    assert len(set(outputs.values())) == 1


def test_stream_resumes_after_an_interruption(kenya, tmp_path):
    root, cases = kenya
    extracted, config = cases[0]
    full = tmp_path / "full"
    full.mkdir()
    assert run_tally("reduce", root / extracted, config, "-d", full, "-hb", "-s").code == 0
    expected = (full / "survey_reducer_reductions.csv").read_bytes()

    # A journal as a stopped -s run leaves it: the first subjects done, the last line cut short.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    partial = root / "partial"
    partial.mkdir(exist_ok=True)
    assert run_tally("reduce", root / extracted, config, "-d", partial, "-hb", "-s").code == 0
    journal_rows = _journal_of(
        partial / "survey_reducer_reductions.csv", root / extracted, config, tmp_path
    )
    text = "".join(journal_rows[:40]) + journal_rows[40][: len(journal_rows[40]) // 2]
    (resumed / "survey_reducer_reductions.csv").write_text(text, encoding="utf-8")
    result = run_tally("reduce", root / extracted, config, "-d", resumed, "-hb", "-s")
    assert result.code == 0, result.err
    assert "resuming from last run" in result.err
    assert (resumed / "survey_reducer_reductions.csv").read_bytes() == expected

    # Running -s again over a finished file does nothing.
    again = run_tally("reduce", root / extracted, config, "-d", resumed, "-hb", "-s")
    assert "nothing to do" in again.err
    assert (resumed / "survey_reducer_reductions.csv").read_bytes() == expected


def _journal_of(final_path, extracted, config, tmp_path):
    """The journal lines a -s run writes before finalizing (captured by stopping the finalizer)."""
    import tally.reduce as reduce_module

    captured = {}
    original = reduce_module._finalize_journal

    def capture(path, *args, **kwargs):
        captured["text"] = path.read_text(encoding="utf-8")
        return original(path, *args, **kwargs)

    reduce_module._finalize_journal = capture
    try:
        out = tmp_path / "journal"
        out.mkdir()
        assert run_tally("reduce", extracted, config, "-d", out, "-hb", "-s").code == 0
    finally:
        reduce_module._finalize_journal = original
    lines = captured["text"].splitlines(keepends=True)
    assert lines[0].startswith("subject_id,workflow_id,task,reducer,data")
    assert len(lines) > 41
    return lines


def test_order_flag_puts_survey_columns_first(kenya, tmp_path):
    root, cases = kenya
    extracted, config = cases[0]
    assert run_tally("reduce", root / extracted, config, "-d", tmp_path, "-hb", "-O").code == 0
    header, _ = read_csv(tmp_path / "survey_reducer_reductions.csv")
    assert header[4:7] == ["data.choice", "data.total_vote_count", "data.choice_count"]
    assert header[7:] == sorted(header[7:])


def test_header_only_extraction_gives_header_only_reduction(tmp_path, question_reducer):
    extracted = tmp_path / "e.csv"
    extracted.write_text(
        "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor\n",
        encoding="utf-8",
    )
    result = run_tally("reduce", extracted, question_reducer, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    assert "has no extracts" in result.err
    assert read_csv(tmp_path / "question_reducer_reductions.csv") == (REDUCE_INFO, [])


# ------------------------------------------------------------------------------------------
# input errors


def _error(result) -> str:
    assert result.code == 1, (result.code, result.err)
    assert "Traceback" not in result.err
    return result.err


def test_reducer_config_errors(tmp_path):
    extracted = extract(tmp_path, [export_row(1, 5, answer("T0", "a"))])
    typo = write_yaml(tmp_path / "t.yaml", {"reducer_config": {"question_reduce": {}}})
    assert "did you mean 'question_reducer'?" in _error(
        run_tally("reduce", extracted, typo, "-d", tmp_path)
    )
    two = write_yaml(
        tmp_path / "two.yaml", {"reducer_config": {"question_reducer": {}, "survey_reducer": {}}}
    )
    assert "exactly one reducer" in _error(run_tally("reduce", extracted, two, "-d", tmp_path))
    bad = write_yaml(
        tmp_path / "b.yaml", {"reducer_config": {"question_reducer": {"pairs": "yes"}}}
    )
    assert "'pairs' must be bool" in _error(run_tally("reduce", extracted, bad, "-d", tmp_path))
    broken = tmp_path / "broken.yaml"
    broken.write_text("reducer_config: [", encoding="utf-8")
    assert "is not valid YAML" in _error(run_tally("reduce", extracted, broken, "-d", tmp_path))


def test_extraction_file_errors(tmp_path, question_reducer):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    assert "is empty" in _error(run_tally("reduce", empty, question_reducer, "-d", tmp_path))
    export = write_export(tmp_path / "export.csv", [export_row(1, 5, answer("T0", "a"))])
    err = _error(
        run_tally("reduce", export, question_reducer, "-d", tmp_path)
    )  # the export, not extracts
    assert "missing column(s) subject_id, task" in err
    extracted = extract(tmp_path, [export_row(1, 5, answer("T0", "a"))])
    with open(extracted, "a", encoding="utf-8") as f:
        f.write("1,2\n")
    assert "2 fields where the header has" in _error(
        run_tally("reduce", extracted, question_reducer, "-d", tmp_path)
    )


def test_reducer_failure_names_the_group(tmp_path):
    rows = [export_row(1, 5, answer("T0", "x")), export_row(2, 6, answer("T0", "exploring"))]
    export = write_export(tmp_path / "export.csv", rows)
    config = extractor_config(tmp_path / "ext.yaml", {"slider_extractor": [{"task": "T0"}]})
    assert run_tally("extract", export, config, "-d", tmp_path, "-hb").code == 0
    slider = write_yaml(tmp_path / "s.yaml", {"reducer_config": {"slider_reducer": {}}})
    err = _error(
        run_tally(
            "reduce", tmp_path / "slider_extractor_extractions.csv", slider, "-d", tmp_path, "-hb"
        )
    )
    assert "slider_reducer failed on subject 5, task T0" in err


def test_stream_refuses_a_foreign_file(tmp_path, question_reducer):
    extracted = extract(tmp_path, [export_row(1, 5, answer("T0", "a"))])
    with open(tmp_path / "question_reducer_reductions.csv", "w", encoding="utf-8", newline="") as f:
        csv.writer(f).writerow(["some", "other", "table"])
    err = _error(run_tally("reduce", extracted, question_reducer, "-d", tmp_path, "-s", "-hb"))
    assert "is not a reduction file" in err


def test_usage_errors(tmp_path, question_reducer):
    assert run_tally("reduce", "x.csv", question_reducer, "-F", "newest").code == 2
    assert run_tally("reduce", "x.csv").code == 2
    assert run_tally("reduce", "x.csv", question_reducer, "-d", tmp_path / "missing").code == 2


def test_stream_over_a_finished_file_missing_subjects_redoes_everything(kenya, tmp_path):
    root, cases = kenya
    extracted, config = cases[0]
    lines = (root / extracted).read_text(encoding="utf-8").splitlines(keepends=True)
    partial = tmp_path / "partial.csv"
    partial.write_text("".join(lines[: len(lines) // 2]), encoding="utf-8")
    expected_dir = tmp_path / "expected"
    expected_dir.mkdir()
    assert run_tally("reduce", root / extracted, config, "-d", expected_dir, "-hb").code == 0
    assert run_tally("reduce", partial, config, "-d", tmp_path, "-hb").code == 0  # a finished file
    result = run_tally("reduce", root / extracted, config, "-d", tmp_path, "-hb", "-s")
    assert result.code == 0, result.err
    assert "reducing everything again" in result.err
    name = "survey_reducer_reductions.csv"
    assert (tmp_path / name).read_bytes() == (expected_dir / name).read_bytes()


def test_compiled_spanning_tree_for_big_files_gives_the_same_bytes(tmp_path, monkeypatch):
    import core.reducers._hdbscan as hdbscan_module
    import tally.reduce as reduce_module

    sim = tmp_path / "sim"
    assert run_tally("simulate", "-d", sim, "--classifications", "300", "--seed", "3").code == 0
    (extractor_config,) = sim.glob("Extractor_config_*.yaml")
    (reducer_config,) = sim.glob("Reducer_config_*_point_extractor_by_frame.yaml")
    classifications = sim / "penguin-watch-sim-classifications.csv"
    assert run_tally("extract", classifications, extractor_config, "-d", sim, "-hb").code == 0
    extracted = sim / "point_extractor_by_frame_extractions.csv"

    monkeypatch.setattr(hdbscan_module, "_COMPILED_PRIM", [])  # this test decides, not others
    # scikit-learn's Prim is what an install without the compiled HDBSCAN steps switches to
    monkeypatch.setattr(hdbscan_module, "_compiled_labels", None)
    outputs = {}
    for name, threshold in (("python", 1 << 40), ("compiled", 0)):
        monkeypatch.setattr(reduce_module, "COMPILED_TREE_BYTES", threshold)
        out = tmp_path / name
        out.mkdir()
        result = run_tally(
            "reduce", extracted, reducer_config, "-d", out, "-hb", "-F", "all", "-c", "2"
        )
        assert result.code == 0, result.err
        outputs[name] = (out / "point_reducer_hdbscan_reductions.csv").read_bytes()
        assert bool(hdbscan_module._COMPILED_PRIM) == (name == "compiled")
    assert outputs["python"] == outputs["compiled"]
    assert b"_clusters_x" in outputs["python"].partition(b"\n")[0]  # clusters were found


def test_stream_refuses_to_resume_with_other_settings(kenya, tmp_path, monkeypatch):
    """A journal of `-F all` resumed with `-F first` mixed both runs into the finished file."""
    import tally.reduce as reduce_module

    root, cases = kenya
    extracted, config = cases[0]

    def interrupted(*args, **kwargs):
        raise InputError("stopped before finalizing")

    monkeypatch.setattr(reduce_module, "_finalize_journal", interrupted)
    out = tmp_path / "out"
    out.mkdir()
    flags = ("-d", out, "-hb", "-s")
    assert run_tally("reduce", root / extracted, config, *flags, "-F", "all").code == 1
    monkeypatch.undo()
    (settings_file,) = out.glob(".survey_reducer_reductions.csv.stream-settings.json")

    other = run_tally("reduce", root / extracted, config, *flags, "-F", "first")
    assert other.code == 1
    assert 'an unfinished -s run with other settings (filter: "all" then, "first" now)' in other.err

    same = run_tally("reduce", root / extracted, config, *flags, "-F", "all")
    assert same.code == 0, same.err
    plain = tmp_path / "plain"
    plain.mkdir()
    assert run_tally("reduce", root / extracted, config, "-d", plain, "-hb", "-F", "all").code == 0
    name = "survey_reducer_reductions.csv"
    assert (out / name).read_bytes() == (plain / name).read_bytes()
    assert not settings_file.exists()


def test_a_reducer_that_finds_nothing_says_so(tmp_path, question_reducer):
    """point_reducer_hdbscan on question extracts wrote rows of aggregation_version only, exit 0
    and no word (as the reference does)."""
    extracted = tmp_path / "question_extractor_extractions.csv"
    extracted.write_text(
        "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,extractor,"
        "data.yes\n1,a,1,5,T0,2024-01-01 00:00:00 UTC,7,question_extractor,1.0\n"
    )
    points = write_yaml(tmp_path / "p.yaml", {"reducer_config": {"point_reducer_hdbscan": {}}})
    result = run_tally("reduce", extracted, points, "-d", tmp_path, "-hb")
    assert result.code == 0, result.err
    assert "note: every point_reducer_hdbscan reduction is empty" in result.err
    result = run_tally("reduce", extracted, question_reducer, "-d", tmp_path, "-hb")
    assert result.code == 0 and "reduction is empty" not in result.err


def test_block_scan_matches_a_row_by_row_scan():
    """_scan_block types columns from distinct cells and offers only candidate rows to
    _FirstRows; a row-by-row scan of every cell and row must agree, on awkward cells too."""
    import random
    from collections import Counter

    from core.csv_layout import ReadKinds
    from tally import reduce as reduce_module

    rng = random.Random(4)
    cells = ["", "NA", "7", "7.0", "10", "-3", "+4", "x", "true", "False", "1e3", "nan", " 5 "]
    subjects = ["7", "7.0", "10", "9", "", "abc", "007", "1e1", "NAN", "inf"]
    for trial in range(200):
        rows = [
            [
                rng.choice(subjects),
                rng.choice(["T0", "T1", "T10", ""] if trial % 2 else ["T1"]),  # or one task
                f"2024-02-0{rng.randint(1, 3)} 00:00:0{rng.randint(0, 9)} UTC",
                rng.choice(["21434", "5"]),
                *(rng.choice(cells[: rng.randint(1, len(cells))]) for _ in range(3)),
            ]
            for _ in range(rng.randint(1, 30))
        ]
        data = "".join(",".join(f'"{c}"' for c in row) + "\n" for row in rows).encode()
        job = reduce_module.ScanJob(0, 0, data, "x.csv", None, (7, 0, 1, 2, 3))
        scan = reduce_module._scan_block(job)
        expected_kinds = ReadKinds(list(range(7)))
        first_task, first_row = reduce_module._FirstRows(), reduce_module._FirstRows()
        for n, row in enumerate(rows):
            expected_kinds.add(row)
            numeric = reduce_module._numeric_or_none(row[0])
            textual = reduce_module._textual_key(row[0])
            first_task.add(row[1], numeric, textual, row[2], (0, n), None)
            first_row.add("", numeric, textual, row[2], (0, n), row[3])
        assert scan.kinds.kinds() == expected_kinds.kinds(), trial
        subject_rows = Counter(row[0] for row in rows)
        assert list(scan.counts.items()) == list(subject_rows.items()), trial
        for kind in ("int", "str"):
            assert scan.first_task.ordered(kind) == first_task.ordered(kind), trial
            assert scan.first_row.ordered(kind) == first_row.ordered(kind), trial


def test_csv_text_writes_what_the_csv_module_writes():
    import io
    import random

    from tally.reduce import _csv_text

    rng = random.Random(7)
    pieces = ["a", "1.5", ",", '"', "\n", "\r", " ", "", "[1, 2]", "{'0': 1}", "é", "\t", ";"]
    lines = [
        [
            "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
            for _ in range(rng.randint(1, 6))
        ]
        for _ in range(3000)
    ]
    # Reduction lines are str cells, four or more; a line of one empty cell (which csv writes
    # as "") never occurs.
    lines = [line for line in lines if line != [""]]
    lines += [["", ""], [","], ['"'], ["\r\n", "a"]]
    expected = io.StringIO()
    csv.writer(expected, lineterminator="\n").writerows(lines)
    assert _csv_text(lines) == expected.getvalue()
