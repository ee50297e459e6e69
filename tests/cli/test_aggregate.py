"""`tally aggregate` (embedded engine) writes exactly what `tally extract` + `tally reduce` write,
and runs incrementally."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import pytest
import yaml

from tally.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real"
KEYS = ("point_extractor_by_frame", "question_extractor", "shortcut_extractor")


@pytest.fixture(scope="module")
def penguins(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "-d", str(directory), "-n", "600", "--seed", "7"]) == 0
    return directory


def configs(directory: Path) -> tuple[str, list[str]]:
    extractor = str(next(directory.glob("Extractor_config_*.yaml")))
    reducers = sorted(str(p) for p in directory.glob("Reducer_config_*.yaml"))
    return extractor, reducers


def batch(directory: Path, out: Path, mode: str) -> None:
    extractor, reducers = configs(directory)
    export = str(next(directory.glob("*classifications.csv")))
    assert main(["extract", export, extractor, "-d", str(out), "-hb"]) == 0
    for reducer in reducers:
        key = next(k for k in KEYS if reducer.endswith(f"_{k}.yaml"))
        extracted = str(out / f"{key}_extractions.csv")
        args = ["reduce", extracted, reducer, "-d", str(out), "-o", f"{key}_reductions"]
        assert main([*args, "-F", mode, "-hb"]) == 0


def aggregate(export: str, directory: Path, out: Path, mode: str, *extra: str) -> int:
    extractor, reducers = configs(directory)
    args = ["aggregate", export, "--extractor-config", extractor, "--reducer-config", *reducers]
    return main([*args, "-d", str(out), "-F", mode, "-hb", *extra])


@pytest.mark.parametrize("mode", ["first", "all"])
def test_aggregate_equals_extract_then_reduce_byte_for_byte(penguins, tmp_path, mode):
    embedded, batched = tmp_path / "embedded", tmp_path / "batch"
    embedded.mkdir()
    batched.mkdir()
    export = str(next(penguins.glob("*classifications.csv")))
    assert aggregate(export, penguins, embedded, mode) == 0
    batch(penguins, batched, mode)
    written = sorted(p.name for p in embedded.glob("*.csv"))
    assert len(written) == 3
    for name in written:
        assert (embedded / name).read_bytes() == (batched / name).read_bytes(), name


def test_second_run_on_a_newer_export_applies_only_new_rows(penguins, tmp_path, capsys):
    export = next(penguins.glob("*classifications.csv"))
    with export.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    older = tmp_path / "older.csv"
    with older.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f).writerows(rows[: len(rows) // 2])
    incremental, once = tmp_path / "incremental", tmp_path / "once"
    incremental.mkdir()
    once.mkdir()
    assert aggregate(str(older), penguins, incremental, "first") == 0
    capsys.readouterr()
    assert aggregate(str(export), penguins, incremental, "first") == 0
    report = capsys.readouterr().err
    new_rows = len(rows) - len(rows) // 2
    assert f"{new_rows} classifications applied, {len(rows) // 2 - 1} already applied" in report
    assert aggregate(str(export), penguins, once, "first") == 0
    for path in once.glob("*.csv"):
        assert path.read_bytes() == (incremental / path.name).read_bytes()


def test_reducer_config_change_re_reduces_from_stored_extracts(penguins, tmp_path, capsys):
    export = str(next(penguins.glob("*classifications.csv")))
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(export, penguins, out, "first") == 0
    capsys.readouterr()
    # same pipeline, other repeat filter: a config change, no new classifications
    assert aggregate(export, penguins, out, "all") == 0
    assert "stored subjects re-reduced" in capsys.readouterr().err
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    assert aggregate(export, penguins, fresh, "all") == 0
    for path in fresh.glob("*.csv"):
        assert path.read_bytes() == (out / path.name).read_bytes()


def test_real_export_configured_from_its_workflow_export(tmp_path):
    source = SHARED / "aggregation-for-caesar"
    out, batched = tmp_path / "out", tmp_path / "batch"
    out.mkdir()
    batched.mkdir()
    args = ["aggregate", str(source / "cls_export.csv"), "--workflow-csv"]
    args += [str(source / "wf_export.csv"), "--workflow-id", "10", "-d", str(out), "-F", "all"]
    assert main([*args, "-hb"]) == 0
    assert main(["config", str(source / "wf_export.csv"), "10", "-d", str(batched)]) == 0
    extractor = str(next(batched.glob("Extractor_config_*.yaml")))
    reducer = str(next(batched.glob("Reducer_config_*question_extractor.yaml")))
    export = str(source / "cls_export.csv")
    assert main(["extract", export, extractor, "-d", str(batched), "-hb"]) == 0
    extracted = str(batched / "question_extractor_extractions.csv")
    args = ["reduce", extracted, reducer, "-d", str(batched), "-o", "question_extractor_reductions"]
    assert main([*args, "-F", "all", "-hb"]) == 0
    name = "question_reducer_question_extractor_reductions.csv"
    assert (out / name).read_bytes() == (batched / name).read_bytes()


def test_state_of_another_extractor_config_is_refused(penguins, tmp_path, capsys):
    export = str(next(penguins.glob("*classifications.csv")))
    out = tmp_path / "out"
    out.mkdir()
    assert aggregate(export, penguins, out, "first") == 0
    other = tmp_path / "other"
    shutil.copytree(penguins, other)
    extractor = next(other.glob("Extractor_config_*.yaml"))
    document = yaml.safe_load(extractor.read_text())
    document["extractor_config"]["point_extractor_by_frame"][0]["tools"] = [0]
    extractor.write_text(yaml.safe_dump(document))
    capsys.readouterr()
    assert aggregate(export, other, out, "first") == 1
    err = capsys.readouterr().err
    assert "delete that directory" in err
    # about the state directory, not a line of the export
    assert err.startswith("tally aggregate: error: the extractor config differs")
