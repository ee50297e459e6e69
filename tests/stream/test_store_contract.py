"""The StateStore contract, for every backend the engine runs on.

MemoryStore (tests, one-shot runs), RocksdictStore (embedded mode) and FaustTableStore (Kafka
mode, here over a real Faust table on ``rocksdb://`` in an app that is never started: table
writes go to RocksDB and queue their changelog records in the producer's buffer, no broker is
needed). Each must give the engine the same results, and survive a commit cut short anywhere.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from core.engine import ClassificationEvent, Engine
from core.pipeline import Pipeline
from core.state import MemoryStore
from stream.faust_store import FaustTableStore
from stream.state.rocksdict_store import RocksdictStore
from stream.state.transaction import OrderedTransaction

BACKENDS = ["memory", "rocksdict", "faust"]
SOURCE_TOPIC = "contract-classifications"


def make_faust_table(path: Path, partitions: int = 4) -> Any:
    import asyncio

    import faust

    # Faust's table code looks up the current event loop; a test that ran asyncio.run() before
    # leaves none behind.
    try:
        asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        asyncio.set_event_loop(asyncio.new_event_loop())

    app = faust.App(
        f"contract-{path.name}",
        broker="kafka://127.0.0.1:1",  # never contacted
        store="rocksdb://",
        datadir=str(path),
        web_enabled=False,
        topic_disable_leader=True,
    )
    return app.Table("state", key_type=bytes, value_type=bytes, partitions=partitions)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def make_store(backend: str, tmp_path: Path):
    opened: list[Any] = []
    counter = itertools.count()

    def make() -> Any:
        n = next(counter)
        if backend == "memory":
            return MemoryStore()
        if backend == "rocksdict":
            store = RocksdictStore(tmp_path / f"rocks{n}")
            opened.append(store)
            return store
        table = make_faust_table(tmp_path / f"faust{n}")
        return FaustTableStore(table, partition=1, source_topic=SOURCE_TOPIC)

    yield make
    for store in opened:
        store.close()


# ---------------------------------------------------------------------------------------------
# the key-value contract


def test_missing_key_reads_none(make_store):
    assert make_store().get("h|1|2") is None


def test_commit_makes_writes_visible_and_reads_see_own_writes(make_store):
    store = make_store()
    with store.transaction() as txn:
        assert txn.get("a") is None
        txn.set("a", {"n": 1})
        assert txn.get("a") == {"n": 1}
        assert store.get("a") is None  # not before the commit
    assert store.get("a") == {"n": 1}


def test_an_exception_discards_every_write(make_store):
    store = make_store()
    with store.transaction() as txn:
        txn.set("a", {"n": 1})
    with pytest.raises(RuntimeError), store.transaction() as txn:
        txn.set("a", {"n": 2})
        txn.set("b", [1])
        raise RuntimeError("crash before commit")
    assert store.get("a") == {"n": 1}
    assert store.get("b") is None


def test_values_are_never_shared(make_store):
    store = make_store()
    value = {"list": [1, 2], "nested": {"k": "v"}}
    with store.transaction() as txn:
        txn.set("a", value)
        value["list"].append(3)  # after set, before commit
        got = txn.get("a")
        got["nested"]["k"] = "changed"
    assert store.get("a") == {"list": [1, 2], "nested": {"k": "v"}}
    read = store.get("a")
    read["list"].clear()
    assert store.get("a") == {"list": [1, 2], "nested": {"k": "v"}}


def test_delete(make_store):
    store = make_store()
    with store.transaction() as txn:
        txn.set("a", 1)
        txn.set("b", 2)
    with store.transaction() as txn:
        txn.delete("a")
        assert txn.get("a") is None
        txn.delete("never-there")
    assert store.get("a") is None
    assert store.get("b") == 2


def test_json_values_round_trip(make_store):
    store = make_store()
    value = {
        "text": 'Ñandú ✓ "quoted"',
        "numbers": [0, -1, 2**40, 1.5, -0.25, 1e-7],
        "flags": [True, False, None],
        "nested": {"a": {"b": [[1, 2], {"c": "d"}]}},
        "empty": {},
    }
    with store.transaction() as txn:
        txn.set("k|with|bars|and ünicode", value)
    assert store.get("k|with|bars|and ünicode") == value


# ---------------------------------------------------------------------------------------------
# the engine on each store


def question_pipeline(workflow_id: int = 7) -> Pipeline:
    return Pipeline.from_configs(
        {
            "workflow_id": workflow_id,
            "extractor_config": {"question_extractor": [{"task": "T0"}, {"task": "T1"}]},
        },
        [
            {"reducer_config": {"question_reducer": {}}},
            {"reducer_config": {"question_consensus_reducer": {}}},
        ],
    )


def event(cid: int, subject: int, user: int | None, minute: int, answer: Any, workflow: int = 7):
    return ClassificationEvent(
        classification_id=cid,
        subject_id=subject,
        workflow_id=workflow,
        workflow_version="1.1",
        created_at=f"2024-03-01 10:{minute:02d}:00 UTC",
        user_id=user,
        user_name=f"user-{user}" if user is not None else f"not-logged-in-{cid}",
        annotations=[{"task": "T0", "value": answer}, {"task": "T1", "value": "Yes"}],
        metadata={},
    )


EVENTS = [
    event(
        cid,
        1 + cid % 3,
        cid % 4 if cid % 5 else None,
        (cid * 7) % 50,
        ["Yes", "No", "Maybe"][cid % 3],
    )
    for cid in range(1, 40)
]


def run(store: Any, engine: Engine, batches: list[list[ClassificationEvent]]) -> dict:
    latest = {}
    for batch in batches:
        with store.transaction() as txn:
            result = engine.process(txn, batch)
        for r in result.reductions:
            latest[r.key] = (r.data, r.classifications)
    return latest


@pytest.mark.parametrize("mode", ["first", "last", "all"])
def test_engine_gives_the_same_reductions_on_every_store(make_store, mode):
    pipeline = question_pipeline()
    reference = run(MemoryStore(), Engine(pipeline, repeat_filter=mode), [EVENTS])
    shuffled = EVENTS[::-1] + EVENTS[5:15]  # reversed order, then duplicates
    batches = [shuffled[i : i + 7] for i in range(0, len(shuffled), 7)]
    store = make_store()
    got = run(store, Engine(pipeline, repeat_filter=mode), batches)
    assert got == reference
    with store.transaction() as txn:
        again = Engine(pipeline, repeat_filter=mode).process(txn, EVENTS)
    assert {o.status for o in again.outcomes} == {"duplicate"}


def test_a_commit_cut_short_anywhere_is_completed_by_redelivery(make_store):
    """The writes of a transaction are applied in order up to any point (a crash mid-commit, a
    changelog cut short), then the same records come again: the result is as if nothing had
    happened."""
    base, later = EVENTS[:20], EVENTS[20:]
    mode = "first"
    reference_store = MemoryStore()
    reference_engine = Engine(question_pipeline(), repeat_filter=mode)
    run(reference_store, reference_engine, [base, later])
    subjects = sorted({e.subject_id for e in EVENTS})

    def final(store: Any, engine: Engine) -> dict:
        with store.transaction() as txn:
            return {
                r.key.split("/", 1)[1]: (r.data, r.classifications)
                for s in subjects
                for r in engine.rereduce(txn, s)
            }

    expected = final(reference_store, reference_engine)
    store = make_store()
    # Probe how many writes the second batch makes, then cut at every point: one workflow id
    # per cut so that every scenario shares the one store.
    probe = MemoryStore()
    probe_engine = Engine(question_pipeline(), repeat_filter=mode)
    run(probe, probe_engine, [base])
    txn = OrderedTransaction(probe.get)
    probe_engine.process(txn, later)
    n_writes = len(txn.writes)
    assert n_writes > 5
    for cut in range(n_writes + 1):
        workflow_id = 1000 + cut
        engine = Engine(question_pipeline(workflow_id), repeat_filter=mode)
        rewrite = [_rewire(e, workflow_id) for e in base], [_rewire(e, workflow_id) for e in later]
        run(store, engine, [rewrite[0]])
        partial = OrderedTransaction(store.get)
        engine.process(partial, rewrite[1])
        with store.transaction() as t:
            for key, value in list(partial.items())[:cut]:
                t.set(key, value)
        run(store, engine, [rewrite[1]])  # redelivery
        assert final(store, engine) == expected, f"cut after {cut} of {n_writes} writes"


def _rewire(e: ClassificationEvent, workflow_id: int) -> ClassificationEvent:
    import dataclasses

    return dataclasses.replace(e, workflow_id=workflow_id)


# ---------------------------------------------------------------------------------------------
# FaustTableStore specifics


@pytest.fixture
def faust_table(tmp_path: Path) -> Any:
    return make_faust_table(tmp_path / "faust")


def pending_changelog(table: Any) -> list[tuple[str, int]]:
    """(key, partition) of the changelog records queued in the (never started) producer."""
    queue = table.app.producer.buffer.pending
    out = []
    while not queue.empty():
        fut = queue.get_nowait()
        key = fut.message.key
        out.append((key.decode() if isinstance(key, bytes) else key, fut.message.partition))
    return out


def test_faust_writes_go_to_the_bound_partition_in_last_set_order(faust_table):
    store = FaustTableStore(faust_table, partition=2, source_topic=SOURCE_TOPIC)
    with store.transaction() as txn:
        txn.set("h|7|1", {"seq": 0})
        txn.set("c|7|1|5", {"seq": 1})
        txn.set("l|7|1|question_extractor|0", [[5]])
        txn.set("h|7|1", {"seq": 1})  # set again: moves to the end
    assert pending_changelog(faust_table) == [
        ("c|7|1|5", 2),
        ("l|7|1|question_extractor|0", 2),
        ("h|7|1", 2),
    ]
    other = FaustTableStore(faust_table, partition=3, source_topic=SOURCE_TOPIC)
    assert other.get("h|7|1") is None
    assert store.get("h|7|1") == {"seq": 1}
    assert sorted(faust_table.data._dbs) == [2, 3]  # a RocksDB database per partition touched
    assert faust_table.data.partition_path(2).exists()


def test_faust_engine_run_queues_one_changelog_record_per_write(faust_table):
    store = FaustTableStore(faust_table, partition=0, source_topic=SOURCE_TOPIC)
    engine = Engine(question_pipeline(), repeat_filter="first")
    txn = OrderedTransaction(store.get)
    engine.process(txn, EVENTS[:10])
    expected = list(txn.writes)
    store.commit(txn)
    assert [k for k, _ in pending_changelog(faust_table)] == expected
    # each subject's head comes after every other key of that subject
    for key in expected:
        if key.startswith("h|"):
            rest = key[2:]
            later = expected[expected.index(key) + 1 :]
            assert not any(k[2:].startswith(rest + "|") for k in later), key


def test_faust_prefix_scans(faust_table):
    store = FaustTableStore(faust_table, partition=1, source_topic=SOURCE_TOPIC)
    with store.transaction() as txn:
        for key in ("h|7|1", "h|7|12", "h|8|1", "c|7|1|3", "c|7|12|4"):
            txn.set(key, {"k": key})
    assert list(store.keys("h|7|")) == ["h|7|1", "h|7|12"]
    assert list(store.keys("c|7|1|")) == ["c|7|1|3"]
    assert dict(store.items("h|8|")) == {"h|8|1": {"k": "h|8|1"}}
    assert list(FaustTableStore(faust_table, 0, source_topic=SOURCE_TOPIC).keys("h|")) == []


def test_subject_prefixes_cover_every_key_the_engine_writes(faust_table):
    from stream.app import subject_prefixes
    from stream.workflows import LoadedWorkflow

    for mode in ("first", "all"):
        pipeline = question_pipeline()
        engine = Engine(pipeline, repeat_filter=mode)
        workflow = LoadedWorkflow(7, pipeline, engine, mode, (False, False), {})
        store = FaustTableStore(faust_table, partition=1, source_topic=SOURCE_TOPIC)
        txn = OrderedTransaction(store.get)
        engine.process(txn, EVENTS)
        subjects = {e.subject_id for e in EVENTS}
        for key in txn.writes:
            owners = [
                s
                for s in subjects
                if key == engine.head_key(s)
                or any(key.startswith(p) for p in subject_prefixes(workflow, s))
            ]
            assert len(owners) == 1, (key, owners)
