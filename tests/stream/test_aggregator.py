"""The worker's record handling that does not need a broker: sequencing (skipped redeliveries,
gaps read directly), decoding to dead letters, and the state keys it relies on."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest

from stream.app import Aggregator, WorkerOptions, _Pending, acked_key, watermark_key
from stream.faust_store import FaustTableStore
from stream.kafka_settings import KafkaSettings
from stream.topics import StreamTopics

from .test_store_contract import make_faust_table

TOPIC = "t-classifications"


def event(offset: int, value: Any = None, key: bytes | None = b"7", partition: int = 0) -> Any:
    raw = value if isinstance(value, bytes) or value is None else orjson.dumps(value)
    return SimpleNamespace(
        message=SimpleNamespace(topic=TOPIC, partition=partition, offset=offset, key=key, value=raw)
    )


class FakeGaps:
    def __init__(self, fail: bool = False, first: int = 0) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self.fail = fail
        self.first = first  # the partition's first offset in the log

    async def read(self, partition: int, start: int, end: int) -> list[Any]:
        self.calls.append((partition, start, end))
        if self.fail:
            raise TimeoutError("broker gone")
        return [event(o, partition=partition) for o in range(start, end)]

    async def first_offset(self, partition: int) -> int:
        if self.fail:
            raise TimeoutError("broker gone")
        return self.first


def starting_at(committed: int | None, first: int = 0) -> Any:
    """A stand-in for the group's committed offset lookup (None: nothing committed yet)."""

    async def committed_offset(partition: int) -> int | None:
        return committed

    return committed_offset


def make_aggregator(path: Path) -> Aggregator:
    """A subject-stage Aggregator over a real Faust table in ``path``, no broker."""
    table = make_faust_table(path / "agg")
    options = WorkerOptions(
        topics=StreamTopics.from_env({}, prefix="t"),
        settings=KafkaSettings.from_env({}),
        datadir=path,
        partitions=4,
    )
    return Aggregator(table.app, table, options)


@pytest.fixture
def aggregator(tmp_path: Path) -> Aggregator:
    agg = make_aggregator(tmp_path)
    agg.gaps = FakeGaps()  # type: ignore[assignment]
    return agg


def run(coro: Any) -> Any:
    # Not asyncio.run: it leaves no current event loop behind, which Faust objects made by
    # later tests in the same process expect.
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()


def offsets(events: list[Any]) -> list[int]:
    return [e.message.offset for e in events]


def test_a_new_partition_starts_at_its_first_offset_not_at_the_first_record_delivered(
    aggregator,
):
    # Faust was seen to start a fresh partition's stream dozens of records in.
    aggregator.committed_offset = starting_at(None)
    kept = run(aggregator._in_sequence(0, [event(7), event(5), event(6)]))
    assert offsets(kept) == [0, 1, 2, 3, 4, 5, 6, 7]
    assert aggregator.gaps.calls == [(0, 0, 5)]
    assert aggregator._next_offset[0] == 8


def test_a_new_partition_starts_at_the_groups_committed_offset(aggregator):
    aggregator.committed_offset = starting_at(3)
    kept = run(aggregator._in_sequence(0, [event(5), event(6)]))
    assert offsets(kept) == [3, 4, 5, 6]


def test_a_new_partition_whose_log_starts_later_reads_no_gap(aggregator):
    aggregator.committed_offset = starting_at(None)
    aggregator.gaps = FakeGaps(first=5)
    kept = run(aggregator._in_sequence(0, [event(7), event(5), event(6)]))
    assert offsets(kept) == [5, 6, 7]
    assert aggregator.gaps.calls == []


def test_without_a_start_offset_a_new_partition_starts_at_the_first_record(aggregator):
    aggregator.committed_offset = starting_at(None)
    aggregator.gaps = FakeGaps(fail=True)
    kept = run(aggregator._in_sequence(0, [event(7), event(5), event(6)]))
    assert offsets(kept) == [5, 6, 7]


def test_redelivered_records_are_skipped(aggregator):
    aggregator._next_offset[0] = 8
    kept = run(aggregator._in_sequence(0, [event(6), event(7), event(8), event(9)]))
    assert offsets(kept) == [8, 9]
    assert aggregator.counters["skipped_redelivered"] == 2


def test_records_the_stream_skipped_are_read_directly_and_come_first(aggregator):
    aggregator._next_offset[0] = 10
    kept = run(aggregator._in_sequence(0, [event(13), event(14)]))
    assert offsets(kept) == [10, 11, 12, 13, 14]
    assert aggregator.gaps.calls == [(0, 10, 13)]
    kept = run(aggregator._in_sequence(0, [event(15), event(17)]))
    assert offsets(kept) == [15, 16, 17]


def test_a_failed_gap_read_leaves_the_gap_for_the_next_batch(aggregator):
    aggregator.gaps = FakeGaps(fail=True)
    aggregator._next_offset[0] = 10
    kept = run(aggregator._in_sequence(0, [event(13)]))
    assert kept == []
    assert aggregator._next_offset[0] == 10


def test_after_an_assignment_the_sequence_resumes_at_the_stored_commit_point(aggregator):
    store = FaustTableStore(aggregator.table, 2, source_topic=TOPIC)
    with store.transaction() as txn:
        txn.set(acked_key(2), 20)
    kept = run(aggregator._in_sequence(2, [event(24, partition=2)]))
    assert offsets(kept) == [21, 22, 23, 24]
    assert aggregator.gaps.calls == [(2, 21, 24)]


def test_state_keys_of_the_worker_are_not_subject_keys():
    # The engine's keys start with a letter and '|' followed by the workflow id; the worker's
    # per-partition keys must never be mistaken for (or collide with) them.
    assert watermark_key(3) == "w|3" and acked_key(3) == "a|3"


@pytest.mark.parametrize(
    ("value", "stage", "reason"),
    [
        (b"{not json", "decode", "not valid JSON"),
        ({"classification_id": 3, "subject_id": 7}, "schema", "missing 'workflow_id'"),
        ([1, 2], "schema", "must be a JSON object"),
        (
            {"classification_id": None, "subject_id": 7, "workflow_id": 10, "annotations": []},
            "schema",
            "empty classification_id",
        ),
        (
            {
                "export_row": {
                    "classification_id": "9",
                    "annotations": "[oops",
                    "subject_ids": "7",
                    "workflow_id": "10",
                }
            },
            "schema",
            "not valid JSON",
        ),
    ],
)
def test_undecodable_records_become_dead_letters_with_the_payload(aggregator, value, stage, reason):
    pending = _Pending()
    assert aggregator._decode(event(4, value), pending) is None
    ((key, record),) = pending.dead
    assert key == b"7"
    assert record["stage"] == stage and reason in record["reason"], record
    raw = value if isinstance(value, bytes) else orjson.dumps(value)
    assert record["payload"] == raw.decode()
    assert record["source"] == {"topic": TOPIC, "partition": 0, "offset": 4, "key": "7"}
    assert aggregator.dead_by_stage[stage] == 1
    # the classification id, wherever the message holds it (an export row's was null)
    named = {"missing 'workflow_id'": 3, "not valid JSON": 9 if isinstance(value, dict) else None}
    assert record["classification_id"] == named.get(reason)


def test_a_malformed_panoptes_envelope_is_dead_lettered_with_its_id_and_a_reason(aggregator):
    envelope = {
        "source": "panoptes",
        "type": "classification",
        "data": {
            "id": "29",
            "created_at": "2024-02-23T16:17:42Z",
            "workflow_version": "16.55",
            "annotations": [],
            "links": {"workflow": "10", "subjects": ["4242"], "user": "7"},
        },
        "linked": {"users": ["x"]},
    }
    pending = _Pending()
    assert aggregator._decode(event(4, envelope, key=b"4242"), pending) is None
    ((_, record),) = pending.dead
    assert record["classification_id"] == 29
    assert record["reason"] == (
        "classification 29: 'linked.users' must be a list of objects (each with an 'id'), "
        "got an entry str 'x'"
    )


def test_export_rows_are_accepted(aggregator):
    row = {
        "classification_id": "9",
        "subject_ids": "7",
        "workflow_id": "10",
        "workflow_version": "1.1",
        "created_at": "2024-01-01 00:00:00 UTC",
        "user_name": "u",
        "user_id": "",
        "annotations": "[]",
        "metadata": "{}",
    }
    item = aggregator._decode(event(4, {"export_row": row}), _Pending())
    assert item is not None and item.classification_id == 9 and item.subject_id == 7


def test_a_record_keyed_by_something_else_than_its_subject_is_forwarded(aggregator):
    flat = {
        "classification_id": 1,
        "subject_id": 77,
        "workflow_id": 10,
        "created_at": "2024-01-01 00:00:00 UTC",
        "annotations": [],
    }
    pending = _Pending()
    assert aggregator._decode(event(4, flat, key=None), pending) is None
    assert pending.forward == [(b"77", orjson.dumps(flat))]
    assert aggregator.counters["rekeyed"] == 1


def test_other_panoptes_events_are_ignored_not_dead_lettered(aggregator):
    pending = _Pending()
    other = {"source": "panoptes", "type": "subject", "data": {"id": "1"}, "linked": {}}
    assert aggregator._decode(event(4, other), pending) is None
    assert pending.dead == [] and aggregator.counters["other_events"] == 1


EXPORT_HEADER = [
    "classification_id",
    "user_name",
    "user_id",
    "workflow_id",
    "workflow_version",
    "created_at",
    "metadata",
    "annotations",
    "subject_data",
    "subject_ids",
]
EXPORT_CELLS = ["9", "u", "", "10", "1.1", "2024-01-01 00:00:00 UTC", "{}", "[]", "{}", "7"]


@pytest.mark.parametrize(
    ("cells", "reason"),
    [
        (
            [*EXPORT_CELLS, "surplus"],
            "classification 9: malformed CSV row: 11 fields where the header has 10",
        ),
        (
            EXPORT_CELLS[:-2],
            "classification 9: malformed CSV row: 8 fields where the header has 10",
        ),
    ],
    ids=["extra trailing cell", "truncated row"],
)
def test_replayed_rows_with_the_wrong_number_of_fields_are_dead_lettered(aggregator, cells, reason):
    # `tally replay` applied a row with a surplus cell (dropped without a word) and refused a
    # truncated one for having no subject id.
    from tally.commands.replay import row_message

    key, value, unparsed = row_message(EXPORT_HEADER, cells)
    assert unparsed
    pending = _Pending()
    assert aggregator._decode(event(4, value, key=key), pending) is None
    ((_, record),) = pending.dead
    assert (record["stage"], record["reason"]) == ("schema", reason)
    assert orjson.loads(record["payload"])["export_row"]["classification_id"] == "9"


def test_a_replayed_row_with_an_id_beyond_64_bits_is_dead_lettered(aggregator):
    # Encoding it stopped `tally replay` half-way through the file (orjson: 64-bit integers).
    from tally.commands.replay import row_message

    huge = "123456789012345678901234567890"
    key, value, unparsed = row_message(EXPORT_HEADER, [huge, *EXPORT_CELLS[1:]])
    assert unparsed and key == b"7"
    pending = _Pending()
    assert aggregator._decode(event(4, value, key=key), pending) is None
    ((_, record),) = pending.dead
    assert record["stage"] == "schema"
    assert f"classification_id {huge} does not fit in 64 bits" in record["reason"]


@pytest.mark.parametrize("subject", [None, "", " "])
def test_a_classification_without_subject_is_left_to_the_engine(aggregator, subject):
    # The engine rejects it for a loaded workflow and version ('empty subject id': dead letter,
    # stage extract, as docs/events.md says) and ignores it otherwise; it was dead-lettered here
    # as 'no subject id' (stage schema) whatever its workflow, and must not be re-keyed.
    flat = {"classification_id": 1, "subject_id": subject, "workflow_id": 10, "annotations": []}
    pending = _Pending()
    item = aggregator._decode(event(4, flat, key=None), pending)
    assert item is not None and item.classification_id == 1
    assert pending.dead == [] and pending.forward == []
