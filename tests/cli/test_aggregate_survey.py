"""`tally aggregate` on the real kenya-sample survey export gives the values `tally extract` +
`tally reduce` give, in every repeat mode (docs/compatibility.md, "Incremental modes": the
survey answer-count columns may come in another order; every other file is byte-identical)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from tally.cli import main
from tests.cli.cli_support import DATA

EXPORT = DATA / "Data-digging" / "kenya-sample.csv"
REDUCERS = {
    "survey_extractor": "survey_reducer",
    "question_extractor": "question_reducer",
    "shortcut_extractor": "shortcut_reducer",
}


def rows(path: Path) -> list[dict[str, str]]:
    """A reduction file's rows as {column: cell}, empty cells left out (column order ignored)."""
    with path.open(newline="", encoding="utf-8") as f:
        return [{k: v for k, v in row.items() if v != ""} for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> tuple[Path, list[Path]]:
    if not EXPORT.exists():
        pytest.skip(f"real exports not found under {DATA} (set TALLY_SHARED_DATA)")
    directory = tmp_path_factory.mktemp("kenya-configs")
    # Every version of workflow 2030: kenya-sample's three classifications that list a species
    # twice with the same answers (21941970, 49179156, 59746011) are of versions 81.67, 158.74
    # and 304.76, which the 307.77-only config of tests/integration/test_stream.py leaves out.
    extractor = directory / "Extractor_config.yaml"
    entries = {"survey_extractor": "T3", "question_extractor": "T1", "shortcut_extractor": "T5"}
    extractor.write_text(
        yaml.safe_dump(
            {
                "workflow_id": 2030,
                "extractor_config": {key: [{"task": task}] for key, task in entries.items()},
            }
        )
    )
    reducers = []
    for key, reducer in REDUCERS.items():
        path = directory / f"Reducer_config_{key}.yaml"
        path.write_text(yaml.safe_dump({"reducer_config": {reducer: {}}}))
        reducers.append(path)
    return extractor, reducers


@pytest.mark.parametrize("mode", ["first", "last", "all"])
def test_kenya_survey_aggregate_equals_extract_then_reduce(configs, tmp_path, mode):
    extractor, reducers = configs
    batched, embedded = tmp_path / "batch", tmp_path / "embedded"
    batched.mkdir()
    embedded.mkdir()
    assert main(["extract", str(EXPORT), str(extractor), "-d", str(batched), "-hb"]) == 0
    for key, reducer in zip(REDUCERS, reducers, strict=True):
        extracted = str(batched / f"{key}_extractions.csv")
        args = ["reduce", extracted, str(reducer), "-d", str(batched), "-o", f"{key}_reductions"]
        assert main([*args, "-F", mode, "-hb"]) == 0
    args = ["aggregate", str(EXPORT), "--extractor-config", str(extractor), "--reducer-config"]
    args += [*map(str, reducers), "-d", str(embedded), "-F", mode, "-hb"]
    assert main(args) == 0
    for key, reducer in REDUCERS.items():
        name = f"{reducer}_{key}_reductions.csv"
        if reducer == "survey_reducer":
            assert rows(embedded / name) == rows(batched / name), name
        else:
            assert (embedded / name).read_bytes() == (batched / name).read_bytes(), name


def test_a_bare_value_reduction_is_one_column_in_every_mode(configs, tmp_path):
    # Caesar's unique_count gives an integer, not an object: tally reduce and the snapshot
    # crashed on it (TypeError); it is written as data.value in both
    extractor, _ = configs
    reducer = tmp_path / "Reducer_config_survey_extractor.yaml"
    reducer.write_text("reducer_config:\n  unique_count:\n    field: choice\n")
    batched, embedded = tmp_path / "batch", tmp_path / "embedded"
    batched.mkdir()
    embedded.mkdir()
    assert main(["extract", str(EXPORT), str(extractor), "-d", str(batched), "-hb"]) == 0
    extracted = str(batched / "survey_extractor_extractions.csv")
    assert main(["reduce", extracted, str(reducer), "-d", str(batched), "-F", "all", "-hb"]) == 0
    args = ["aggregate", str(EXPORT), "--extractor-config", str(extractor), "--reducer-config"]
    args += [str(reducer), "-d", str(embedded), "-F", "all", "-hb"]
    assert main(args) == 0
    written = (batched / "unique_count_reductions.csv").read_text()
    assert written.startswith("subject_id,workflow_id,task,reducer,data.value,")
    assert {row["data.value"] for row in rows(batched / "unique_count_reductions.csv")} >= {"3"}
    assert (embedded / "unique_count_survey_extractor_reductions.csv").read_text() == written
