"""write_snapshot keys user reductions by volunteer, for `tally export` and `tally aggregate`
alike (both used to re-key and rename the header themselves)."""

from __future__ import annotations

from pathlib import Path

from core.pipeline import Pipeline
from stream.snapshot import write_snapshot

EXTRACTORS = {
    "workflow_id": 1,
    "extractor_config": {
        "question_extractor": [{"task": "T0"}],
        "shortcut_extractor": [{"task": "T1"}],
    },
}


def record(index: int, reducer: str, subject: int, user: int | None, data: dict, **extra) -> dict:
    return {
        "workflow_id": 1,
        "subject_id": subject,
        "user_id": user,
        "task": "T0",
        "reducer": reducer,
        "reducer_index": index,
        "data": data,
        **extra,
    }


def test_user_reductions_are_written_per_volunteer_under_a_user_id_column(tmp_path: Path):
    pipeline = Pipeline.from_configs(
        EXTRACTORS,
        [
            {"reducer_config": {"count": {}}},
            {"reducer_config": {"count": {}}, "topic": "reduce_by_user"},
            {
                "reducer_config": {"question_reducer": {}},
                "topic": "reduce_by_user",
                "grouping": {
                    "field_name": "shortcut_extractor.nothing-here",
                    "if_missing": "ignore",
                },
            },
        ],
        reducer_keys=["question_extractor", "question_extractor", "question_extractor"],
    )
    # The engine gives a user reduction subject_id = user_id; a different subject id here
    # shows which of the two the file is keyed by.
    records = [
        record(0, "count", 10, None, {"classifications": 2}),
        record(1, "count", 0, 42, {"classifications": 5}),
        record(1, "count", 0, 7, {"classifications": 1}),
        record(2, "question_reducer", 0, 42, {"yes": 3}, subgroup="1"),
    ]
    files = write_snapshot(records, pipeline, tmp_path, no_version=[True] * 3)
    texts = [f.path.read_text(encoding="utf-8") for f in files]
    assert texts[0] == "subject_id,workflow_id,task,reducer,data.classifications\n10,1,T0,count,2\n"
    assert texts[1] == (
        "user_id,workflow_id,task,reducer,data.classifications\n7,1,T0,count,1\n42,1,T0,count,5\n"
    )
    assert texts[2] == (
        "user_id,workflow_id,task,subgroup,reducer,data.yes\n42,1,T0,1,question_reducer,3\n"
    )
    assert [f.subjects for f in files] == [1, 2, 1]
