"""End-to-end: every command line of tests/golden/cli/cases.json, run with ``tally`` on the real
exports, compared cell by cell with the CSVs ``panoptes_aggregation`` wrote.

The reference ignores ``-F`` (it always reduces all classifications), so our reductions are made
with ``-F all``. Where the reference crashes and we deliberately do not, the expectation is
listed in ``DIVERGENCES`` and described in docs/compatibility.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.cli_support import DATA, GOLDEN, csv_differences, read_csv, run_tally, substitute

CASES_FILE = GOLDEN / "cli" / "cases.json"
CASES = json.loads(CASES_FILE.read_text(encoding="utf-8")) if CASES_FILE.exists() else []

#: (dataset, step) -> why our result differs from the reference's failure.
DIVERGENCES = {
    ("caesar-unanswered-survey", "extract"): (
        "a configured survey task nobody answered: the reference stops with KeyError: 'data' and "
        "writes nothing; tally writes the other extractors' files and a header-only survey file"
    ),
    ("expandedNfN_1931-raw", "extract"): (
        "an export without user_name/user_id: the reference stops with AttributeError; tally "
        "extracts with blank user columns"
    ),
}


def _derive(dataset: dict, derived: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("derive_inputs", GOLDEN / "derive_inputs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    info = dataset["derive"]
    target = Path(info["output"].replace("{DERIVED}", str(derived)))
    module.derive(DATA / dataset["classifications"], target, info)


def _with_filter_all(argv: list[str]) -> list[str]:
    if "-F" in argv:
        i = argv.index("-F")
        return [*argv[:i], *argv[i + 2 :], "-F", "all"]
    return [*argv, "-F", "all"]


def _expected(dataset: dict) -> Path:
    return GOLDEN / dataset["out_dir"]


@pytest.mark.slow
@pytest.mark.parametrize("dataset", CASES, ids=[d["dataset"] for d in CASES])
def test_cli_dataset_matches_reference(dataset, tmp_path):
    name = dataset["dataset"]
    out, derived, configs = tmp_path / "out", tmp_path / "derived", tmp_path / "configs"
    for d in (out, derived, configs):
        d.mkdir()
    if "derive" in dataset:
        _derive(dataset, derived)
    golden_configs = GOLDEN / dataset["configs_dir"]
    places = {"{DATA}": DATA, "{OUT}": out, "{DERIVED}": derived, "{CONFIGS}": golden_configs}
    problems: list[str] = []
    for command in dataset["commands"]:
        step = command["step"]
        argv = substitute(command["argv"], places)
        where = f"{step} {' '.join(command['argv'][1:3])}"
        if step == "config":
            result = run_tally(*argv, "-d", configs)
            assert result.code == command["exit_code"], result.err
            for file in command["outputs"]:
                if (configs / file).read_bytes() != (golden_configs / file).read_bytes():
                    problems.append(f"{where}: {file} differs from the reference's")
            continue
        if step == "reduce":
            argv = _with_filter_all(argv)
        reference_failed = command.get("exit_code", 0) != 0 or "skipped" in command
        result = run_tally(*argv)
        assert "Traceback" not in result.err, result.err
        if (name, step) in DIVERGENCES or (
            reference_failed and step == "reduce" and result.code == 0
        ):
            assert result.code == 0, f"{where}: {result.err}"
            continue
        if reference_failed:
            assert result.code == 1, (
                f"{where}: the reference failed ({command.get('error')}); we gave {result.code}"
            )
            assert result.err.startswith(f"tally {step}: error: "), result.err
            continue
        assert result.code == 0, f"{where}: {result.err}"
        for file in command["outputs"]:
            produced = Path(out) / file
            if not produced.exists():
                problems.append(f"{where}: did not write {file}")
                continue
            for difference in csv_differences(produced, _expected(dataset) / file):
                problems.append(f"{where}: {file}: {difference}")
    assert not problems, "\n".join(problems[:40])


def _dataset(name: str) -> dict:
    return next(d for d in CASES if d["dataset"] == name)


def test_export_without_user_columns_matches_the_fixed_up_copy(tmp_path):
    """expandedNfN_1931 as published lacks user_name/user_id. We extract it as it is; the result
    equals the reference's extraction of a copy with those columns added, except those columns."""
    raw = _dataset("expandedNfN_1931-raw")
    users = _dataset("expandedNfN_1931-users")
    (extract,) = [c for c in raw["commands"] if c["step"] == "extract"]
    argv = substitute(
        extract["argv"],
        {"{DATA}": DATA, "{OUT}": tmp_path, "{CONFIGS}": GOLDEN / raw["configs_dir"]},
    )
    assert run_tally(*argv).code == 0
    (golden_extract,) = [c for c in users["commands"] if c["step"] == "extract"]
    for file in golden_extract["outputs"]:
        ours_header, ours = read_csv(tmp_path / file)
        theirs_header, theirs = read_csv(_expected(users) / file)
        assert ours_header == theirs_header
        assert len(ours) == len(theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert a[1:3] == ["", ""]
            assert a[0] == b[0] and a[3:] == b[3:]


def test_unanswered_survey_task(tmp_path):
    dataset = _dataset("caesar-unanswered-survey")
    places = {"{DATA}": DATA, "{OUT}": tmp_path, "{CONFIGS}": GOLDEN / dataset["configs_dir"]}
    results = [
        run_tally(*_maybe_all(c, substitute(c["argv"], places))) for c in dataset["commands"]
    ]
    assert [r.code for r in results] == [0, 0, 0]
    header, rows = read_csv(tmp_path / "survey_extractor_extractions.csv")
    assert rows == [] and header[-1] == "extractor"
    header, rows = read_csv(tmp_path / "survey_reducer_reductions_survey.csv")
    assert header == ["subject_id", "workflow_id", "task", "reducer"] and rows == []
    # the question extracts are the reference's (aggregation-for-caesar extracts T0 and T1)
    _, ours = read_csv(tmp_path / "question_extractor_extractions.csv")
    _, theirs = read_csv(
        _expected(_dataset("aggregation-for-caesar")) / "question_extractor_extractions.csv"
    )
    assert ours == [r for r in theirs if r[4] == "T0"]


def _maybe_all(command: dict, argv: list[str]) -> list[str]:
    return _with_filter_all(argv) if command["step"] == "reduce" else argv


@pytest.mark.slow
def test_parallel_run_matches_reference_byte_for_byte(tmp_path):
    """-c 2 on kenya-sample: the same bytes as the reference wrote (not just the same cells)."""
    dataset = _dataset("kenya-sample")
    places = {"{DATA}": DATA, "{OUT}": tmp_path, "{CONFIGS}": GOLDEN / dataset["configs_dir"]}
    identical = 0
    for command in dataset["commands"]:
        if command["step"] == "reduce" and "-F" in command["argv"]:
            continue
        argv = _maybe_all(command, substitute(command["argv"], places))
        assert run_tally(*argv, "-c", "2").code == 0
        for file in command["outputs"]:
            assert (tmp_path / file).read_bytes() == (_expected(dataset) / file).read_bytes(), file
            identical += 1
    assert identical == 9  # 4 extraction files + 5 reductions


def test_goldens_exist():
    """The golden tree is committed; regenerate it with tests/golden/regenerate.py if missing."""
    assert CASES, f"{CASES_FILE} is missing or empty"
    assert {d["dataset"] for d in CASES} >= {"aggregation-for-caesar", "kenya-sample", "DISCnet"}
