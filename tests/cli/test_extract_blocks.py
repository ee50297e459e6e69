"""`tally extract` over many blocks: the text a worker formats with a guessed layout (the blocks
before its own) must be what formatting with the final layout writes, or be formatted again.

The exports here change their layout along the file: answers that first appear late (columns
appended), counts that get gaps late (int -> float), anonymous users late (user_id int ->
float), text answers with line ends. Whatever the block size and ``-c``, the files must be the
bytes that one block (its own layout is the final one) gives.
"""

from __future__ import annotations

import random

import pytest

import tally.extract as extract_module
from tally.extract import GuessedText
from tests.cli.cli_support import (
    answer,
    export_row,
    extractor_config,
    run_tally,
    write_export,
)

KEYS = ("question_extractor", "text_extractor", "shortcut_extractor")


def _export(path, n: int, *, anonymous_late: bool):
    rng = random.Random(n)
    rows = []
    for cid in range(1, n + 1):
        late = cid > n // 2
        choices = ["Yes", "No"] + (["Maybe", "Both"] if late else [])
        if cid < n // 4:
            choices = ["Yes"]  # only "yes" at first: an int column without gaps
        text = rng.choice(["plain", "two\nlines", 'a "quoted", text', ""])
        annotations = (
            answer("T0", rng.choice(choices))
            + answer("T1", text)
            + answer("T2", rng.choice([[], ["Nothing here"]] + ([["Other"]] if late else [])))
        )
        anonymous = (late or not anonymous_late) and rng.random() < 0.3
        rows.append(
            export_row(
                cid,
                100 + cid % 7,
                annotations,
                user=f"not-logged-in-{cid}" if anonymous else "alice",
                user_id="" if anonymous else str(cid % 5 + 1),
            )
        )
    return write_export(path, rows)


def _config(path):
    return extractor_config(
        path,
        {
            "question_extractor": [{"task": "T0"}],
            "text_extractor": [{"task": "T1"}],
            "shortcut_extractor": [{"task": "T2"}],
        },
    )


def _run(monkeypatch, tmp_path, name, export, config, block_bytes, *args):
    out = tmp_path / name
    out.mkdir()
    monkeypatch.setattr(extract_module, "BLOCK_BYTES", block_bytes)
    result = run_tally("extract", export, config, "-d", out, "-hb", *args)
    assert result.code == 0, result.err
    return {key: (out / f"{key}_extractions.csv").read_bytes() for key in KEYS}


@pytest.mark.parametrize("order", [(), ("-O",)])
@pytest.mark.parametrize("anonymous_late", [False, True])
def test_many_blocks_write_the_bytes_of_one(monkeypatch, tmp_path, anonymous_late, order):
    export = _export(tmp_path / "export.csv", 400, anonymous_late=anonymous_late)
    config = _config(tmp_path / "c.yaml")
    expected = _run(monkeypatch, tmp_path, "one", export, config, 1 << 30, *order)
    fits = []
    original_fits = GuessedText.fits

    def spy(self, *args):
        fits.append(original_fits(self, *args))
        return fits[-1]

    monkeypatch.setattr(GuessedText, "fits", spy)
    # in this process: every block after the first is guessed from all the blocks before it
    assert _run(monkeypatch, tmp_path, "c1", export, config, 2048, *order) == expected
    kept = [f for f in fits if f is not None]
    assert kept and len(kept) < len(fits)  # both ways taken: text kept, and formatted again
    if not order and not anonymous_late:  # (-O sorts the columns: not appended last)
        assert any(any(extra) for extra in kept)  # kept with empty cells appended
    # workers: the guesses come from fewer blocks (those finished when a block was sent)
    assert _run(monkeypatch, tmp_path, "c2", export, config, 2048, "-c", "2", *order) == expected
    assert _run(monkeypatch, tmp_path, "c3", export, config, 4096, "-c", "3", *order) == expected


def test_first_blocks_are_extracted_again_by_the_workers(monkeypatch, tmp_path):
    """The first blocks go out before any result is back, each formatted in its own layout
    (here: the answers' columns in another order than the file's); a worker extracts them again
    as soon as their results show it, not this process after the last block."""
    rng = random.Random(5)
    rows = [
        export_row(cid, 100 + cid % 7, answer("T0", rng.choice(["Yes", "No", "Maybe"])))
        for cid in range(1, 401)
    ]
    export = write_export(tmp_path / "export.csv", rows)
    config = extractor_config(tmp_path / "c.yaml", {"question_extractor": [{"task": "T0"}]})
    calls = []
    again = extract_module._extract_again

    def spy(job):
        calls.append(job.index)
        return again(job)

    monkeypatch.setattr(extract_module, "_extract_again", spy)
    out = {}
    for name, block_bytes, args in (("one", 1 << 30, ()), ("c2", 2048, ("-c", "2"))):
        (tmp_path / name).mkdir()
        monkeypatch.setattr(extract_module, "BLOCK_BYTES", block_bytes)
        result = run_tally("extract", export, config, "-d", tmp_path / name, "-hb", *args)
        assert result.code == 0, result.err
        out[name] = (tmp_path / name / "question_extractor_extractions.csv").read_bytes()
    assert out["c2"] == out["one"]
    assert calls == []


def test_files_written_over_earlier_ones_are_the_same_bytes(monkeypatch, tmp_path):
    """A run over an earlier run's files allocates each file's known size first (see
    atomic_binary_file) and copies the chunks' lines with the kernel: the bytes must be those
    of a run into an empty directory, also where lines get cells appended."""
    import tally.tables as tables_module

    export = _export(tmp_path / "export.csv", 400, anonymous_late=False)
    config = _config(tmp_path / "c.yaml")
    expected = _run(monkeypatch, tmp_path, "one", export, config, 1 << 30)
    allocated = []
    allocate = tables_module._allocate

    def spy(fd, size, replaced):
        allocated.append(allocate(fd, size, replaced))
        return allocated[-1]

    monkeypatch.setattr(tables_module, "_allocate", spy)
    out = tmp_path / "again"
    out.mkdir()
    monkeypatch.setattr(extract_module, "BLOCK_BYTES", 2048)
    for _ in range(2):
        result = run_tally("extract", export, config, "-d", out, "-hb", "-c", "2")
        assert result.code == 0, result.err
        assert {key: (out / f"{key}_extractions.csv").read_bytes() for key in KEYS} == expected
    assert True in allocated  # the second run's files of known size (those without cells added)


def test_text_with_line_ends_is_not_patched():
    """Appending cells at each line end would also append inside a quoted cell."""
    text = GuessedText((10,), (("a",),), ({"a": "object"},), ("str",), (False,))
    final = (("a", "b"),), ({"a": "object", "b": "float"},), ("str",)
    assert text.fits(*final) is None
    assert text.fits((("a",),), ({"a": "object"},), ("str",)) == (0,)
    plain = GuessedText((10,), (("a",),), ({"a": "object"},), ("str",), (True,))
    assert plain.fits(*final) == (1,)
    assert plain.fits(final[0], final[1], ("float",)) is None  # info cells typed otherwise
    assert plain.fits(final[0], ({"a": "float", "b": "float"},), ("str",)) is None


def test_an_export_replaced_while_it_is_read_stops_the_run(monkeypatch, tmp_path):
    """The blocks' ends are found in the file that was opened; a file renamed over it meanwhile
    (a fresh download moved into place) must not be read at those offsets: that gave rows cut
    in the middle, skipped as "malformed CSV row", and exit code 0."""
    import os

    export = _export(tmp_path / "export.csv", 200, anonymous_late=False)
    config = _config(tmp_path / "c.yaml")
    fresh = _export(tmp_path / "fresh.csv", 260, anonymous_late=True)
    spans = extract_module.CsvBlocks.spans

    def replaced_after_the_first(self, sizes=None):
        for n, span in enumerate(spans(self, sizes)):
            yield span
            if n == 0:
                os.replace(fresh, export)

    monkeypatch.setattr(extract_module.CsvBlocks, "spans", replaced_after_the_first)
    monkeypatch.setattr(extract_module, "BLOCK_BYTES", 4096)
    out = tmp_path / "out"
    out.mkdir()
    result = run_tally("extract", export, config, "-d", out, "-hb")
    assert result.code != 0
    assert "was replaced by another file while it was read" in result.err
    assert not list(out.iterdir())


def test_workers_keep_the_set_up_made_before_their_fork(monkeypatch, tmp_path):
    """extract_file sets the workers' state up before the pool forks them: the pool's
    initializer, run again in each worker (and here for blocks extracted again in this
    process), keeps it for the same run and makes it anew for another."""
    config = _config(tmp_path / "c.yaml")
    plan = extract_module.load_plan(str(config))
    made = []
    from_configs = extract_module.Pipeline.from_configs

    def spy(*args, **kwargs):
        made.append(True)
        return from_configs(*args, **kwargs)

    monkeypatch.setattr(extract_module.Pipeline, "from_configs", spy)
    layout = extract_module._Layout("x.csv", 1, (0,) * 6, 0, 0, 0, 0, 1, plan.versions)
    setup = (plan.document, plan.no_version, str(tmp_path), layout)
    extract_module._init_worker(*setup)
    entries = extract_module._WORKER["entries"]
    extract_module._init_worker(*setup)
    assert len(made) == 1 and extract_module._WORKER["entries"] is entries
    extract_module._init_worker(*setup[:3], layout._replace())  # another run's (equal) layout
    assert len(made) == 2
