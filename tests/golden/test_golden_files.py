"""Structural checks of the golden files (no oracle needed)."""

import json
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
FUNCTIONS = sorted((HERE / "functions").glob("*.json"))
MAIN = [
    "question_extractor",
    "shortcut_extractor",
    "survey_extractor",
    "point_extractor_by_frame",
    "shape_extractor",
    "slider_extractor",
    "text_extractor",
    "dropdown_extractor",
    "all_tasks_empty_extractor",
    "question_reducer",
    "shortcut_reducer",
    "question_consensus_reducer",
    "survey_reducer",
    "point_reducer_dbscan",
    "point_reducer_hdbscan",
    "shape_reducer_dbscan",
    "slider_reducer",
    "dropdown_reducer",
    "first_n_true_reducer",
    "first_n_false_reducer",
]


def _load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_main_functions_present_with_enough_cases():
    names = {p.stem for p in FUNCTIONS}
    missing = [n for n in MAIN if n not in names]
    assert not missing, missing
    total = sum(len(_load(p)) for p in FUNCTIONS)
    assert total >= 500
    for n in MAIN:
        assert len(_load(HERE / "functions" / f"{n}.json")) >= 20, n


@pytest.mark.parametrize("path", FUNCTIONS, ids=lambda p: p.stem)
def test_function_cases_well_formed(path):
    cases = _load(path)
    ids = [c["id"] for c in cases]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    for c in cases:
        assert c["id"].startswith(path.stem + "/")
        assert ("expected" in c) != ("expected_error" in c), c["id"]
        assert isinstance(c["kwargs"], dict)
        if c["kind"] == "extractor":
            cls = c["classification"]
            assert isinstance(cls["annotations"], list)
            assert all("task" in a for a in cls["annotations"])
            assert isinstance(cls["metadata"], dict)
        else:
            assert c["kind"] == "reducer"
            n = len(c["extracts"])
            assert len(c["user_id"]) == n and len(c["created_at"]) == n, c["id"]


def test_config_and_cli_indexes():
    cfg = _load(HERE / "config" / "cases.json")
    for c in cfg:
        for f in c["files"]:
            assert (HERE / "config" / c["case_name"] / f).is_file()
    cli = _load(HERE / "cli" / "cases.json")
    for d in cli:
        for cmd in d["commands"]:
            for f in cmd.get("outputs", []):
                where = "configs" if cmd["step"] == "config" else "out"
                assert (HERE / "cli" / d["dataset"] / where / f).is_file(), (d["dataset"], f)
