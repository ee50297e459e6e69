"""The distributed mode: a Faust worker running :class:`core.engine.Engine` on Kafka.

``tally worker`` builds the app with :func:`create_app` and runs it; several workers with the
same app id form one consumer group and share the classifications topic's partitions.

Per batch of classification records (``stream.take_events``: up to ``batch_max`` records or
``batch_within`` seconds), for each partition in the batch:

1. **decode**: the value must be JSON (else dead letter, stage ``decode``) in one of the shapes
   of docs/events.md (else dead letter, stage ``schema``). A record whose key is not its subject
   id is forwarded to the classifications topic with the subject id as key (``rekeyed``), so
   every subject's state stays in one partition.
2. **pipeline**: the workflow's pipeline from the workflows topic. An unknown workflow is
   dead-lettered (stage ``pipeline``), but only after the worker caught up with everything
   published to the workflows topic so far (a ``tally workflow load`` that returned is never
   missed).
3. **engine**: ``engine.process`` in a :class:`stream.faust_store.FaustTableStore` transaction
   for that partition. Events for one subject in a batch are coalesced (each reduction computed
   once); the engine guarantees the result equals one-at-a-time processing. Outcomes
   ``rejected`` (the extractor refused the annotation) are dead-lettered (stage ``extract``);
   ``ignored`` (a workflow version outside the configured range) only counted.
4. **publish**: reduction records to the reductions topic (key = ``Reduction.key``), dead
   letters, forwarded records; the worker waits until the broker acknowledged all of them.
5. **commit**: the transaction's writes are assigned to the table (local RocksDB + changelog),
   subject heads last. Then the batch's records are acknowledged; Faust commits their offsets
   later, after flushing its producer.

Why this order, and what protects against Faust losing table writes (faust-streaming #333):
outputs are acknowledged before state is written, so state never claims a classification whose
reductions were not published. After a crash, records after the committed offset come again.
The engine skips those already in state (``duplicate``); but their reductions or changelog
records may have been lost with the crashed process. So every record redelivered from before the
log end seen at (re)assignment that turns out to be a duplicate makes the worker re-reduce its
subject from the stored extracts, re-publish the reductions and re-assign every state key of the
subject (re-writing the changelog). Redeliveries are bounded by the uncommitted window, so this
costs little, and it needs nothing from Faust beyond at-least-once delivery.

A changed pipeline (reducer config or repeat filter: a new ``config_version``) makes every
worker re-reduce, from stored extracts, each stored subject of that workflow in the partitions
it owns; partitions it is assigned later are checked the same way once their table is recovered.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import faust
import orjson

from core.engine import ClassificationEvent, Reduction
from core.errors import TallyError
from core.events import event_from_export_row, event_from_message, parse_id
from stream.faust_store import FaustTableStore, OrderedTransaction
from stream.kafka_settings import KafkaSettings
from stream.records import dead_letter_record, encode, reduction_record
from stream.topics import StreamTopics
from stream.workflows import LoadedWorkflow, WorkflowReader, WorkflowRegistry

__all__ = ["Aggregator", "WorkerOptions", "create_app"]

log = logging.getLogger("tally.worker")

TABLE_NAME = "state"


@dataclasses.dataclass(frozen=True)
class WorkerOptions:
    topics: StreamTopics
    settings: KafkaSettings
    datadir: Path
    partitions: int
    web_port: int | None = None
    web_host: str = "127.0.0.1"
    batch_max: int = 500
    batch_within: float = 0.02
    commit_interval: float = 1.0
    stats_interval: float = 30.0


@dataclasses.dataclass
class _Pending:
    """What one partition's share of a batch produced, before it is published and committed."""

    txns: list[OrderedTransaction] = dataclasses.field(default_factory=list)
    reductions: dict[str, Reduction] = dataclasses.field(default_factory=dict)
    dead: list[tuple[bytes | None, dict[str, Any]]] = dataclasses.field(default_factory=list)
    forward: list[tuple[bytes, bytes | None]] = dataclasses.field(default_factory=list)


class Aggregator:
    """The worker's logic, independent of how Faust delivers the records."""

    def __init__(self, app: faust.App, table: Any, options: WorkerOptions) -> None:
        self.app = app
        self.table = table
        self.options = options
        self.topics = options.topics
        self.registry = WorkflowRegistry(on_change=self._on_pipeline_change)
        self.reader = WorkflowReader(
            self.registry,
            self.topics.workflows,
            options.settings.consumer_config(None),
        )
        self.lock = asyncio.Lock()
        self.counters: collections.Counter[str] = collections.Counter()
        self.dead_by_stage: collections.Counter[str] = collections.Counter()
        self.suspect_end: dict[int, int] = {}
        self.rescan_wanted = asyncio.Event()
        self.started = time.time()

    # -- lifecycle -------------------------------------------------------------------------------
    def _on_pipeline_change(self, old: LoadedWorkflow | None, new: LoadedWorkflow | None) -> None:
        self.counters["pipeline_updates"] += 1
        if old is not None and new is not None:
            self.rescan_wanted.set()

    async def on_rebalance_complete(self) -> None:
        # Records after the committed offsets come again; the log end is looked up anew.
        self.suspect_end.clear()
        self.rescan_wanted.set()

    def stats(self) -> dict[str, Any]:
        return {
            "app_id": self.topics.app_id,
            "uptime_s": round(time.time() - self.started, 1),
            "counters": dict(self.counters),
            "dead_letters": self.counters["dead_letters"],
            "dead_letters_by_stage": dict(self.dead_by_stage),
            "workflows": {
                str(w.workflow_id): w.config_version for w in self.registry.workflows.values()
            },
            "invalid_workflow_messages": dict(self.registry.errors),
            "assigned_partitions": sorted(self._active_partitions()),
        }

    # -- processing ------------------------------------------------------------------------------
    async def handle(self, events: Sequence[Any]) -> None:
        """Process one batch of Faust events (any partitions)."""
        await self.registry.ready.wait()
        by_partition: dict[int, list[Any]] = {}
        for event in events:
            by_partition.setdefault(event.message.partition, []).append(event)
        async with self.lock:
            for partition, part_events in by_partition.items():
                await self._handle_partition(partition, part_events)
        self.counters["batches"] += 1

    async def _handle_partition(self, partition: int, events: list[Any]) -> None:
        topic = self.topics.classifications
        store = FaustTableStore(self.table, partition, source_topic=topic)
        if partition not in self.suspect_end:
            self.suspect_end[partition] = await self._log_end(partition)
        suspect_end = self.suspect_end[partition]
        pending = _Pending()
        parsed: list[tuple[Any, ClassificationEvent]] = []
        for event in events:
            self.counters["records"] += 1
            item = self._decode(event, pending)
            if item is not None:
                parsed.append((event, item))
        unknown = [p for p in parsed if self.registry.get(p[1].workflow_id) is None]
        if unknown:
            await self.reader.catch_up()
        by_workflow: dict[int, list[tuple[Any, ClassificationEvent]]] = {}
        for event, item in parsed:
            workflow = self.registry.get(item.workflow_id)
            if workflow is None:
                self._dead(
                    pending,
                    event,
                    "pipeline",
                    f"unknown workflow {item.workflow_id}: no pipeline on topic "
                    f"{self.topics.workflows} (load one with `tally workflow load`)",
                    classification_id=item.classification_id,
                    workflow_id=item.workflow_id,
                )
                continue
            by_workflow.setdefault(item.workflow_id, []).append((event, item))
        for workflow_id, items in by_workflow.items():
            workflow = self.registry.get(workflow_id)
            assert workflow is not None
            self._run_engine(store, workflow, items, suspect_end, pending)
        await self._publish(pending)
        if not self._owns(partition):
            # Revoked meanwhile: the new owner processes these records again; writing state
            # here would race it on the changelog.
            self.counters["batches_dropped_after_revoke"] += 1
            return
        for txn in pending.txns:
            store.commit(txn)

    def _decode(self, event: Any, pending: _Pending) -> ClassificationEvent | None:
        message = event.message
        raw = message.value
        try:
            payload = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError as exc:
            self._dead(pending, event, "decode", f"not valid JSON: {exc}")
            return None
        try:
            if isinstance(payload, Mapping) and "export_row" in payload:
                row = payload["export_row"]
                if not isinstance(row, Mapping):
                    raise TypeError("'export_row' must be an object of CSV cells")
                item = event_from_export_row({str(k): str(v) for k, v in row.items()})
            else:
                item = event_from_message(payload)
        except (TallyError, TypeError, ValueError, AttributeError) as exc:
            cid = payload.get("classification_id") if isinstance(payload, Mapping) else None
            self._dead(pending, event, "schema", str(exc), classification_id=cid)
            return None
        if item.subject_id is None:
            self._dead(
                pending,
                event,
                "schema",
                f"classification {item.classification_id}: no subject id",
                classification_id=item.classification_id,
            )
            return None
        expected = str(item.subject_id).encode()
        if message.key != expected:
            pending.forward.append((expected, raw))
            self.counters["rekeyed"] += 1
            return None
        return item

    def _run_engine(
        self,
        store: FaustTableStore,
        workflow: LoadedWorkflow,
        items: list[tuple[Any, ClassificationEvent]],
        suspect_end: int,
        pending: _Pending,
    ) -> None:
        engine = workflow.engine
        txn = OrderedTransaction(store.get)
        try:
            result = engine.process(txn, [item for _, item in items])
        except Exception as exc:  # noqa: BLE001 - isolate the failing record, keep the partition flowing
            log.warning(
                "batch of workflow %s failed (%r); retrying record by record",
                workflow.workflow_id,
                exc,
            )
            for event, item in items:
                self._run_engine_one(store, workflow, event, item, suspect_end, pending)
            return
        self._apply_result(store, workflow, txn, items, result, suspect_end, pending)

    def _run_engine_one(
        self,
        store: FaustTableStore,
        workflow: LoadedWorkflow,
        event: Any,
        item: ClassificationEvent,
        suspect_end: int,
        pending: _Pending,
    ) -> None:
        # Reads must see the writes of earlier transactions of this batch, not committed yet.
        def read(key: str) -> Any:
            for earlier in reversed(pending.txns):
                if key in earlier.writes:
                    return earlier.get(key)
            return store.get(key)

        txn = OrderedTransaction(read)
        try:
            result = workflow.engine.process(txn, [item])
        except Exception as exc:  # noqa: BLE001
            self._dead(
                pending,
                event,
                "engine",
                f"{type(exc).__name__}: {exc}",
                classification_id=item.classification_id,
                workflow_id=item.workflow_id,
            )
            return
        self._apply_result(store, workflow, txn, [(event, item)], result, suspect_end, pending)

    def _apply_result(
        self,
        store: FaustTableStore,
        workflow: LoadedWorkflow,
        txn: OrderedTransaction,
        items: list[tuple[Any, ClassificationEvent]],
        result: Any,
        suspect_end: int,
        pending: _Pending,
    ) -> None:
        resync: dict[str, Any] = {}
        for (event, item), outcome in zip(items, result.outcomes, strict=True):
            self.counters[outcome.status] += 1
            if outcome.status == "rejected":
                self._dead(
                    pending,
                    event,
                    "extract",
                    outcome.reason,
                    classification_id=item.classification_id,
                    workflow_id=item.workflow_id,
                )
            elif outcome.status == "duplicate" and event.message.offset < suspect_end:
                resync[str(item.subject_id)] = item.subject_id
        for reduction in result.reductions:
            pending.reductions[reduction.key] = reduction
        for subject_id in resync.values():
            self.counters["resynced_subjects"] += 1
            self._resync(store, workflow, txn, subject_id)
            for reduction in workflow.engine.rereduce(txn, subject_id):
                pending.reductions[reduction.key] = reduction
        pending.txns.append(txn)

    def _resync(
        self,
        store: FaustTableStore,
        workflow: LoadedWorkflow,
        txn: OrderedTransaction,
        subject_id: Any,
    ) -> None:
        """Re-assign every stored key of a subject (its changelog records may have been lost)."""
        for prefix in subject_prefixes(workflow, subject_id):
            for key in list(store.keys(prefix)):
                if key not in txn.writes:
                    value = txn.get(key)
                    if value is not None:
                        txn.set(key, value)

    # -- output ----------------------------------------------------------------------------------
    def _dead(
        self,
        pending: _Pending,
        event: Any,
        stage: str,
        reason: str,
        *,
        classification_id: Any = None,
        workflow_id: Any = None,
    ) -> None:
        message = event.message
        record = dead_letter_record(
            reason,
            message.value,
            stage=stage,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            classification_id=classification_id,
            workflow_id=workflow_id,
        )
        pending.dead.append((message.key, record))
        self.counters["dead_letters"] += 1
        self.dead_by_stage[stage] += 1
        log.warning(
            "dead letter (%s) %s[%s]@%s: %s",
            stage,
            message.topic,
            message.partition,
            message.offset,
            reason,
        )

    async def _publish(self, pending: _Pending) -> None:
        producer = self.app.producer
        futures = []
        for key, reduction in pending.reductions.items():
            futures.append(
                await producer.send(
                    self.topics.reductions,
                    key.encode(),
                    encode(reduction_record(reduction)),
                    None,
                    None,
                    None,
                )
            )
        for key, record in pending.dead:
            futures.append(
                await producer.send(self.topics.dead_letters, key, encode(record), None, None, None)
            )
        for key, raw in pending.forward:
            futures.append(
                await producer.send(self.topics.classifications, key, raw, None, None, None)
            )
        if futures:
            await asyncio.gather(*futures)
        self.counters["reductions"] += len(pending.reductions)

    # -- partitions ------------------------------------------------------------------------------
    def _active_partitions(self) -> set[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # noqa: BLE001 - not started yet
            return set()
        return {tp.partition for tp in assignment if tp.topic == self.topics.classifications}

    def _owns(self, partition: int) -> bool:
        return partition in self._active_partitions()

    async def _log_end(self, partition: int) -> int:
        from faust.types import TP

        tp = TP(self.topics.classifications, partition)
        ends = await self.app.consumer.highwaters(tp)
        return int(ends.get(tp, 0) or 0)

    # -- re-reduction after a pipeline change ------------------------------------------------------
    async def rescan_loop(self) -> None:
        """Re-reduce stored subjects whose pipeline changed, whenever asked to."""
        await self.registry.ready.wait()
        while True:
            await self.rescan_wanted.wait()
            self.rescan_wanted.clear()
            while self.app.rebalancing or not self.app.tables.recovery.completed.is_set():
                await asyncio.sleep(0.2)
            async with self.lock:
                await self.rescan()

    async def rescan(self) -> int:
        """Re-reduce every stored subject whose head was reduced under another pipeline."""
        total = 0
        for partition in sorted(self._active_partitions()):
            store = FaustTableStore(self.table, partition, source_topic=self.topics.classifications)
            for workflow in list(self.registry.workflows.values()):
                stale = [
                    key.split("|", 2)[2]
                    for key, head in store.items(f"h|{workflow.workflow_id}|")
                    if isinstance(head, Mapping) and head.get("config") != workflow.config_version
                ]
                for start in range(0, len(stale), 200):
                    if not self._owns(partition):
                        break
                    pending = _Pending()
                    txn = OrderedTransaction(store.get)
                    for subject in stale[start : start + 200]:
                        for reduction in workflow.engine.rereduce(txn, parse_id(subject)):
                            pending.reductions[reduction.key] = reduction
                    pending.txns.append(txn)
                    await self._publish(pending)
                    if self._owns(partition):
                        store.commit(txn)
                    total += len(stale[start : start + 200])
        if total:
            self.counters["rereduced_subjects"] += total
            log.info("re-reduced %d subjects under new pipelines", total)
        return total


def subject_prefixes(workflow: LoadedWorkflow, subject_id: Any) -> list[str]:
    """Key prefixes of everything the engine stores for a subject except its head.

    Derived from :meth:`core.engine.Engine.head_key` (``h|<workflow>|<subject>``): the markers,
    log chunks and per-user entries share ``<workflow>|<subject>|`` after their own letter.
    tests/stream/test_store_contract.py checks that these prefixes cover every stored key.
    """
    rest = workflow.engine.head_key(subject_id)[2:]
    return [f"{letter}|{rest}|" for letter in ("c", "l", "u")]


def create_app(options: WorkerOptions) -> tuple[faust.App, Aggregator]:
    """The Faust app of one worker, and its :class:`Aggregator`."""
    topics = options.topics
    app = faust.App(
        topics.app_id,
        **options.settings.faust_config(),
        store="rocksdb://",
        datadir=str(options.datadir),
        topic_partitions=options.partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        broker_commit_interval=options.commit_interval,
        web_enabled=options.web_port is not None,
        web_port=options.web_port or 6066,
        web_bind=options.web_host,
        topic_disable_leader=True,
    )
    classifications = app.topic(
        topics.classifications,
        key_type=bytes,
        value_type=bytes,
        partitions=options.partitions,
        internal=False,
    )
    table = app.Table(
        TABLE_NAME,
        key_type=bytes,
        partitions=options.partitions,
        help="per-subject extracts and reducer states (core.engine keys)",
    )
    aggregator = Aggregator(app, table, options)

    async def aggregate(stream: faust.StreamT) -> None:
        async for events in stream.take_events(options.batch_max, within=options.batch_within):
            await aggregator.handle(events)

    app.agent(classifications, name="tally.aggregate")(aggregate)

    async def read_workflows() -> None:
        try:
            await aggregator.reader.run()
        finally:
            await aggregator.reader.stop()

    app.task(read_workflows)

    async def rescan() -> None:
        await aggregator.rescan_loop()

    app.task(rescan)

    async def on_rebalance_complete(sender: Any, **kwargs: Any) -> None:
        await aggregator.on_rebalance_complete()

    app.on_rebalance_complete.connect(on_rebalance_complete)

    last: dict[str, Any] = {}

    async def log_stats() -> None:
        snapshot = dict(aggregator.counters)
        if snapshot != last:
            last.clear()
            last.update(snapshot)
            log.info("tally stats: %s", orjson.dumps(aggregator.stats()).decode())

    app.timer(options.stats_interval)(log_stats)

    if options.web_port is not None:

        async def stats_page(web: Any, request: Any) -> Any:
            return web.json(aggregator.stats())

        app.page("/tally/stats/")(stats_page)

    return app, aggregator
