"""A worker restarted on its own state directory (``kill -9``, then ``tally worker`` again):
Faust re-applies the changelog from the table's persisted offset over the local RocksDB, and the
engine then sees the state that results. No classification may be lost or counted twice.

Found by tests/integration/test_rules_kafka.py (about 1 run in 8): the persisted offset lagged
the local writes (set to the *first* offset of a write's last produce batch, and only once the
broker acknowledged it, while later writes were already local), so the restart re-applied
records of older writes over newer ones. The user stage then held a volunteer's older head next
to the markers of classifications applied after it; a classification of the redelivered batch
created earlier took the leftover marker's seq, the leftover looked applied, and its
classification was never counted.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from core.engine import Engine
from core.pipeline import Pipeline
from core.state import MemoryStore
from stream.app import Aggregator
from stream.faust_store import FaustTableStore
from stream.state.transaction import OrderedTransaction

from .test_aggregator import make_aggregator
from .test_store_contract import event

TOPIC = "t-classifications"


# ---------------------------------------------------------------------------------------------
# the engine: a leftover marker next to an earlier-created classification of the same batch


@pytest.mark.parametrize("topic", ["subject", "user"])
def test_a_leftover_marker_is_applied_even_when_an_earlier_classification_comes_with_it(topic):
    pipeline = Pipeline.from_configs(
        {"workflow_id": 7, "extractor_config": {"question_extractor": [{"task": "T1"}]}},
        [{"reducer_config": {"question_reducer": {}}, "topic": f"reduce_by_{topic}"}],
    )
    engine = Engine(pipeline, repeat_filter="first", topic=topic)
    store = MemoryStore()
    first = event(1, subject=10, user=5, minute=1, answer="Yes")
    cut_short = event(3, subject=12, user=5, minute=30, answer="No")
    earlier = event(2, subject=11, user=5, minute=20, answer="Yes")
    target = 10 if topic == "subject" else 5
    if topic == "subject":  # one subject for the three
        cut_short = event(3, subject=10, user=6, minute=30, answer="No")
        earlier = event(2, subject=10, user=7, minute=20, answer="Yes")
    with store.transaction() as txn:
        engine.process(txn, [first])
    # `cut_short` was applied, but the write stopped before its head (the commit point): its
    # marker (seq 2) is stored, the head still says seq 1.
    partial = OrderedTransaction(store.get)
    engine.process(partial, [cut_short])
    writes = list(partial.items())
    assert writes[-1][0] == engine.head_key(target)
    with store.transaction() as txn:
        for key, value in writes[:-1]:
            txn.set(key, value)
    # Redelivered with a classification created before it, which the engine applies first.
    with store.transaction() as txn:
        result = engine.process(txn, [cut_short, earlier])
    assert [o.status for o in result.outcomes] == ["applied", "applied"]
    (reduction,) = result.reductions
    assert reduction.classifications == 3


# ---------------------------------------------------------------------------------------------
# the worker: what a restart re-applies from the changelog never rolls the local state back


class Changelog:
    """The changelog partition as the broker holds it: records acknowledged as sent, or kept
    back (the worker is killed before they are delivered)."""

    def __init__(self) -> None:
        self.records: list[tuple[int, bytes, bytes | None]] = []
        self.deliver = True

    async def send(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> list[tuple[asyncio.Future, int]]:
        loop = asyncio.get_running_loop()
        sent = []
        for chunk in (records[:2], records[2:]):  # two produce batches
            if not chunk:
                continue
            future = loop.create_future()
            if self.deliver:
                base = len(self.records)
                self.records.extend((base + i, k, v) for i, (k, v) in enumerate(chunk))
                future.set_result(SimpleNamespace(offset=base))  # a batch's first offset
            sent.append((future, len(chunk)))
        return sent


def recover(table: Any, partition: int, changelog: Changelog) -> None:
    """What Faust does with an assigned partition on start-up: apply the changelog records
    after the persisted offset to the local database."""
    from faust.types import TP

    tp = TP(table.changelog_topic_name, partition)
    persisted = table.data.persisted_offset(tp)
    start = -1 if persisted is None else persisted
    events = [
        SimpleNamespace(
            message=SimpleNamespace(tp=tp, partition=partition, offset=o, key=k, value=v)
        )
        for o, k, v in changelog.records
        if o > start
    ]
    table.data.apply_changelog_batch(events, lambda k: k, lambda v: v)


@pytest.fixture
def loop() -> Any:
    """A current event loop for the test (Faust objects look it up), replaced afterwards."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    yield loop
    loop.close()
    asyncio.set_event_loop(asyncio.new_event_loop())


@pytest.fixture
def worker(tmp_path: Path) -> tuple[Aggregator, Changelog]:
    agg = make_aggregator(tmp_path)
    changelog = Changelog()
    agg._send_batches = changelog.send  # type: ignore[method-assign]
    agg._owns = lambda partition: True  # type: ignore[method-assign]
    return agg, changelog


def write(agg: Aggregator, store: FaustTableStore, values: dict[str, Any]) -> list[Any]:
    txn = OrderedTransaction(store.get)
    for key, value in values.items():
        txn.set(key, value)
    return asyncio.get_event_loop().run_until_complete(agg._write_state(store, [txn]))


def test_a_restart_never_rolls_back_what_the_local_database_holds(worker, loop):
    agg, changelog = worker
    store = FaustTableStore(agg.table, 1, source_topic=TOPIC)
    # Three writes the broker acknowledged, each assigning the head (last, as the engine
    # does) after a few other keys; then one written locally whose records the broker
    # never got: the worker is killed.
    for seq in (1, 2, 3):
        write(agg, store, {"w|1": seq, f"c|7|1|{seq}": {"seq": seq}, "x": seq, "h|7|1": seq})
    changelog.deliver = False
    write(agg, store, {"w|1": 4, "c|7|1|4": {"seq": 4}, "x": 4, "h|7|1": 4})
    recover(agg.table, 1, changelog)
    # The restart sees the local state as it was: nothing older re-applied over it.
    assert {k: store.get(k) for k in ("w|1", "x", "h|7|1", "c|7|1|4")} == {
        "w|1": 4,
        "x": 4,
        "h|7|1": 4,
        "c|7|1|4": {"seq": 4},
    }


def test_a_key_assigned_twice_in_one_write_goes_to_the_changelog_once(worker, loop):
    agg, changelog = worker
    store = FaustTableStore(agg.table, 2, source_topic=TOPIC)
    first, second = OrderedTransaction(store.get), OrderedTransaction(store.get)
    first.set("c|7|1|1", {"seq": 1})
    first.set("h|7|1", 1)
    second.set("c|7|1|2", {"seq": 2})
    second.set("h|7|1", 2)
    loop.run_until_complete(agg._write_state(store, [first, second]))
    assert [(k, v) for _, k, v in changelog.records] == [
        (b"c|7|1|1", b'{"seq":1}'),
        (b"c|7|1|2", b'{"seq":2}'),
        (b"h|7|1", b"2"),
    ]
