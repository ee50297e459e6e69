"""`tally reduce -c 2`: the workers format their buckets' lines (``_lines_here``), which gives
the bytes the parent's formatting gives."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from tally import reduce as reduce_module
from tests.cli.cli_support import run_tally, write_yaml
from tests.cli.test_reduce_fast_paths import _CELL_TEXT, _reduction_rows


def _sparse_point_extractions(tmp_path):
    """A point extraction file whose first subject (the probe bucket) has fewer output columns
    than later ones: no clusters and no frame1 marks there; subjects 2-30 are like it (the next
    buckets), 31-49 have clusters in both frames (columns the probe lacks)."""
    header = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,"
    header += "extractor,data.aggregation_version,data.frame0.T0_tool0_x,data.frame0.T0_tool0_y,"
    header += "data.frame1.T0_tool1_x,data.frame1.T0_tool1_y\n"
    lines = []
    cid = 100
    for subject in range(1, 50):
        for n in range(2 if subject <= 30 else 8):
            cid += 1
            x, y = 10.0 + (n % 4) * 0.25, 20 + (n % 3) * 0.5
            frame1 = f'"[{x}, {x + 0.5}]","[{y}, {y}]"' if subject > 30 else ","
            lines.append(
                f"{cid},u{n},{n},21434,T0,2024-02-01 00:00:{n:02d} UTC,{subject},"
                f'point_extractor_by_frame,5.3.1,"[{x}]","[{y}]",{frame1}\n'
            )
    extracted = tmp_path / "point_extractor_by_frame_extractions.csv"
    extracted.write_text(header + "".join(lines))
    config = {"point_reducer_hdbscan": {"min_cluster_size": 3, "min_samples": 2}}
    return extracted, write_yaml(tmp_path / "red.yaml", {"reducer_config": config})


def test_lines_formatted_where_the_bucket_was_reduced_give_the_same_bytes(tmp_path, monkeypatch):
    # With -c 2 the buckets after the probe come back as lines for the probe's columns (cells of
    # the later columns appended blank), or as reductions where they have other columns; -c 1
    # formats every reduction in this process. In memory, -c 2 forks or not (SERIAL_SECONDS).
    extracted, config = _sparse_point_extractions(tmp_path)
    made: list[int] = []  # planned columns of each bucket that came back as lines (this process)
    lines_here = reduce_module._lines_here

    def spy(batch, stats):
        lines = lines_here(batch, stats)
        if lines is not None:
            made.append(len(reduce_module._WORKER["line_plan"]["columns"]))
        return lines

    monkeypatch.setattr(reduce_module, "_lines_here", spy)
    runs = {
        "c1": (["-c", "1"], float("inf"), reduce_module._reduction_text),
        "c2": (["-c", "2"], float("inf"), reduce_module._reduction_text),
        "c2-python-lines": (["-c", "2"], float("inf"), None),
        "c2-forked": (["-c", "2"], 0.0, reduce_module._reduction_text),
        "c2-stream": (["-c", "2", "-s"], float("inf"), reduce_module._reduction_text),
        "c1-ordered": (["-c", "1", "-O"], float("inf"), reduce_module._reduction_text),
        "c2-ordered": (["-c", "2", "-O"], 0.0, reduce_module._reduction_text),
    }
    outputs = {}
    for name, (flags, serial, reduction_text) in runs.items():
        monkeypatch.setattr(reduce_module, "SERIAL_SECONDS", serial)
        monkeypatch.setattr(reduce_module, "_reduction_text", reduction_text)
        out = tmp_path / name
        out.mkdir()
        result = run_tally("reduce", extracted, config, "-d", out, "-hb", "-F", "all", *flags)
        assert result.code == 0, result.err
        outputs[name] = (out / "point_reducer_hdbscan_reductions.csv").read_bytes()
    assert len({outputs[name] for name in runs if "ordered" not in name}) == 1
    assert outputs["c1-ordered"] == outputs["c2-ordered"] != outputs["c1"]
    header = outputs["c1"].split(b"\n", 1)[0].split(b",")
    # lines were made in the two in-process -c 2 runs, for fewer columns than the file has
    assert made and all(planned + 4 < len(header) for planned in made)


@settings(max_examples=200, deadline=None)
@given(
    rows=_reduction_rows(st.one_of(_CELL_TEXT, st.none())),
    names=st.lists(st.sampled_from(["a", "b", "c", "d"]), unique=True),
    workflow=_CELL_TEXT,
)
def test_object_line_texts_are_the_lines_of_the_bucket_text(rows, names, workflow):
    # each line as the compiled and the Python form write it, together the bucket's text
    from core.csv_layout import _format_object

    formatters = [(name, _format_object) for name in names]
    text = reduce_module._csv_text(
        reduce_module._reduction_lines(iter(rows), formatters, workflow, "point_reducer")
    )
    compiled = reduce_module._object_line_texts(rows, names, workflow, "point_reducer")
    assert "".join(compiled) == text and len(compiled) == len(rows)
    saved, reduce_module._reduction_text = reduce_module._reduction_text, None
    try:
        python = reduce_module._object_line_texts(rows, names, workflow, "point_reducer")
    finally:
        reduce_module._reduction_text = saved
    assert python == compiled


def test_forked_workers_send_lines_in_a_file_unless_a_cell_holds_a_line_end(tmp_path, monkeypatch):
    from core.csv_layout import ColumnStats

    # as in a forked worker (another pid than the plan's), with one column planned of the two
    monkeypatch.setitem(reduce_module._WORKER, "line_plan", {"part_dir": str(tmp_path), "pid": -1})
    plain = ["7,3,T0,r,x\n", '8,3,T0,r,"a,b"\n']
    in_file = reduce_module._lines_result(5, ColumnStats(), 2, plain)
    assert in_file.lines is None and in_file.lines_file is not None
    assert Path(in_file.lines_file).read_text(encoding="utf-8") == "".join(plain)
    broken = ['7,3,T0,r,"x\ny"\n']  # the parent could not tell the lines apart in a file
    kept = reduce_module._lines_result(6, ColumnStats(), 1, broken)
    assert kept.lines == broken and kept.lines_file is None
    monkeypatch.setitem(reduce_module._WORKER, "results", [in_file, kept])
    monkeypatch.setitem(reduce_module._WORKER, "format_columns", [("a", None), ("b", None)])
    monkeypatch.setitem(reduce_module._WORKER, "planned_columns", 1)
    assert reduce_module._bucket_bytes(0) == b'7,3,T0,r,x,\n8,3,T0,r,"a,b",\n'
    assert reduce_module._bucket_bytes(1) == b'7,3,T0,r,"x\ny",\n'
    # with every column planned, a lines file is copied as it is (by reduce_file: None here)
    monkeypatch.setitem(reduce_module._WORKER, "planned_columns", 2)
    assert reduce_module._bucket_bytes(0) is None
    assert reduce_module._bucket_bytes(1) == b'7,3,T0,r,"x\ny"\n'


def test_a_reduce_over_its_earlier_output_allocates_it_and_writes_the_same_bytes(
    tmp_path, monkeypatch
):
    # The second run replaces the first one's file: atomic_binary_file allocates the estimated
    # size first (_output_size) and ends the file where the writing ended, shorter or longer.
    from tally import tables

    extracted, config = _sparse_point_extractions(tmp_path)
    allocated: list[int] = []
    allocate = tables._allocate

    def spy(fd, size, replaced):
        done = allocate(fd, size, replaced)
        if done:
            allocated.append(size)
        return done

    monkeypatch.setattr(tables, "_allocate", spy)
    monkeypatch.setattr(reduce_module, "SERIAL_SECONDS", 0.0)  # forked: lines come in files
    outputs = []
    for _ in range(2):
        result = run_tally(
            "reduce", extracted, config, "-d", tmp_path, "-hb", "-F", "all", "-c", "2"
        )
        assert result.code == 0, result.err
        outputs.append((tmp_path / "point_reducer_hdbscan_reductions.csv").read_bytes())
    assert outputs[0] == outputs[1]
    if hasattr(tables.os, "posix_fallocate"):
        # an estimate (the probe's and odd buckets' lines are not known before they are
        # written), never the cause of a different file
        assert len(allocated) == 1 and allocated[0] > 0


def test_a_failing_bucket_in_a_forked_worker_leaves_no_line_files(tmp_path, monkeypatch):
    # The workers' line files live in a directory made when they fork; a bucket that fails
    # stops the workers before that directory is removed, and the run reports the failure.
    from tally.errors import InputError

    extracted, config = _sparse_point_extractions(tmp_path)
    reduce_subjects = reduce_module._reduce_subjects

    def failing(job):
        if job.index == 2:
            raise InputError("bucket 2 failed on purpose")
        return reduce_subjects(job)

    monkeypatch.setattr(reduce_module, "_reduce_subjects", failing)
    monkeypatch.setattr(reduce_module, "SERIAL_SECONDS", 0.0)
    out = tmp_path / "out"
    out.mkdir()
    result = run_tally("reduce", extracted, config, "-d", out, "-hb", "-F", "all", "-c", "2")
    assert result.code == 1 and "bucket 2 failed on purpose" in result.err
    assert list(out.iterdir()) == []
