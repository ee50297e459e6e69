"""The distributed mode: a Faust worker running :class:`core.engine.Engine` on Kafka.

``tally worker`` builds the app with :func:`create_app` and runs it; several workers with the
same app id form one consumer group and share the classifications topic's partitions.

Per batch of classification records (``stream.noack_take``: up to ``batch_max`` records or
``batch_within`` seconds), for each partition in the batch:

1. **sequence**: records this worker already processed are skipped; records the stream skipped
   are read directly from the topic (see *Offsets* below).
2. **decode**: the value must be JSON (else dead letter, stage ``decode``) in one of the shapes
   of docs/events.md (else dead letter, stage ``schema``). A record whose key is not its subject
   id is forwarded to the classifications topic with the subject id as key (``rekeyed``), so
   every subject's state stays in one partition.
3. **pipeline**: the workflow's pipeline from the workflows topic. An unknown workflow is
   dead-lettered (stage ``pipeline``), but only after the worker caught up with everything
   published to the workflows topic so far (a ``tally workflow load`` that returned is never
   missed).
4. **engine**: ``engine.process`` in one transaction per partition and workflow over a
   :class:`stream.faust_store.FaustTableStore`. Without rules, events for one subject in a batch
   are coalesced (each reduction computed once; the result equals one-at-a-time processing);
   with rules each is applied and evaluated on its own (docs/rules.md, "Evaluation"). Outcomes
   ``rejected``/``partial`` (an extractor refused the annotation, no subject id, an unreadable
   workflow version) are dead-lettered (stage ``extract``); ``ignored`` (another workflow, a
   workflow version outside the configured range) only counted.
5. **send**: the effects the workflow's rules fired (actions topic, key = action id) first,
   *waiting for their acknowledgement*; then reduction records (key = ``Reduction.key``), dead
   letters, re-keyed records and, for workflows with a user stage, each applied classification
   to the classifications-by-user topic (key = user id; anonymous volunteers excluded).
6. **state**: once the broker has the partition's previous changelog records (their last offset
   becomes the table's persisted offset, so a restart never re-applies older writes over newer
   ones), the transactions are written to the partition's RocksDB database (one atomic batch)
   and their changelog records sent (subject heads last; the partition's watermark first).
7. **commit**: in the background, once the broker acknowledged every record of steps 5 and 6,
   the batch's offsets are committed.

Offsets. The worker commits offsets itself and never acknowledges events to Faust: around
rebalances Faust was seen to drop records it had fetched without delivering them to the stream,
and then to commit past them (records lost without a trace). The worker's commit point per
partition advances only over contiguous offsets whose outputs and state were acknowledged; it is
also stored with the state (``a|<partition>``); a partition without state starts at the group's
committed offset, else at its first offset. When the stream delivers a record beyond the next
expected offset, the records in between are read directly from the topic with a separate
consumer (:class:`GapReader`) and processed first.

Crash safety. After a crash or a rebalance, records after the commit point come again. The
engine skips those already in state (``duplicate``), but their reductions or changelog records
may have been lost with the crashed process. So a duplicate at or below the partition's
watermark (the highest offset whose state was written, ``w|<partition>``, kept with the state)
makes the worker re-reduce its subject from the stored extracts, re-publish the reductions and
re-write every state key of the subject (and so its changelog). Redeliveries are bounded by the
uncommitted window, so this costs little.

Effects. Fire once is decided by the engine state (``f|<workflow>|<action id>``, written with
the state the effect fired on); publishing is at-least-once with a stable action id. The action
records are acknowledged before that state is written, so a crash can never leave an effect
recorded as fired but unpublished: it either fires again with the same id when its record comes
again, or was published already (then the topic may hold it twice; ``tally effects run`` skips
the second by action id). The worker also indexes each fired effect under its subject
(``x|<workflow>|<subject>|<action id>``), so that a resync re-writes the fire-once keys with
the subject's other keys.

The user stage. The same worker runs a second :class:`Aggregator` (``role="user"``) on the
classifications-by-user topic, over its own table (``user-state``), with the same sequencing,
commits, crash handling and effects; it runs each workflow's ``user_engine`` (reducers with
``topic: reduce_by_user`` and user rules). The subject stage forwards every classification it
applies (and every possibly-lost redelivery, see *Crash safety*) there, keyed by user id; the
user engine is idempotent by classification id, so a forwarded duplicate changes nothing.

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
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import faust
import orjson

from core.engine import ClassificationEvent, Engine, Reduction
from core.errors import TallyError
from core.events import (
    event_from_export_message,
    event_from_message,
    message_classification_id,
    parse_id,
)
from core.rules.actions import ActionRecord
from stream.faust_store import FaustTableStore
from stream.kafka_settings import KafkaSettings
from stream.records import dead_letter_record, encode, encode_reduction
from stream.state.transaction import OrderedTransaction
from stream.topics import StreamTopics
from stream.workflows import LoadedWorkflow, WorkflowReader, WorkflowRegistry

__all__ = ["Aggregator", "WorkerOptions", "create_app"]

#: The two stages of a worker: ``subject`` reads the classifications (keyed by subject id),
#: ``user`` the classifications-by-user topic (keyed by user id) the subject stage feeds.
ROLES = ("subject", "user")

log = logging.getLogger("tally.worker")

TABLE_NAME = "state"
#: The user stage's table: a separate changelog, so that subject and user keys never mix.
USER_TABLE_NAME = "user-state"
#: Batches whose records may wait for the broker's acknowledgement at the same time.
MAX_IN_FLIGHT = 32
#: Longest wait for the final offset commit when partitions are revoked or the worker stops.
COMMIT_TIMEOUT = 15.0

#: Seconds between offset commits while the commit point keeps moving.
COMMIT_EVERY = 0.25
#: Seconds allowed for reading records the stream skipped (see GapReader).
GAP_TIMEOUT = 60.0


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
    session_timeout: float = 10.0
    #: Run the per-volunteer stage (by-user topic, its agent and state table). Its second Faust
    #: table costs about 15 % of throughput even when idle, so `tally worker` leaves it out
    #: unless a loaded workflow reduces by user (docs/kafka.md).
    user_stage: bool = True
    #: Called (once) when a workflow that reduces by user is loaded into a worker without the
    #: user stage; `tally worker` restarts itself with the stage.
    on_user_stage_needed: Callable[[], None] | None = None


@dataclasses.dataclass
class _Step:
    """One batch's share of a partition, until its records are acknowledged."""

    last: int
    done: bool = False


@dataclasses.dataclass
class _Pending:
    """What one partition's share of a batch produced, before it is published and committed."""

    txns: list[OrderedTransaction] = dataclasses.field(default_factory=list)
    reductions: dict[str, Reduction] = dataclasses.field(default_factory=dict)
    dead: list[tuple[bytes | None, dict[str, Any]]] = dataclasses.field(default_factory=list)
    forward: list[tuple[bytes, bytes | None]] = dataclasses.field(default_factory=list)
    #: Effects fired, by action id; published (and acknowledged) before the state is written.
    actions: dict[str, ActionRecord] = dataclasses.field(default_factory=dict)
    #: Classifications for the user stage: (user id, the input record's value).
    by_user: list[tuple[bytes, bytes | None]] = dataclasses.field(default_factory=list)


class Aggregator:
    """The worker's logic, independent of how Faust delivers the records.

    ``role`` ``subject`` runs each workflow's subject engine on the classifications topic;
    ``user`` runs its user engine (``LoadedWorkflow.user_engine``) on the classifications-by-user
    topic, over its own table. Both stages share one workflow registry (``registry``/``reader``
    of the subject stage).
    """

    def __init__(
        self,
        app: faust.App,
        table: Any,
        options: WorkerOptions,
        *,
        role: str = "subject",
        registry: WorkflowRegistry | None = None,
        reader: WorkflowReader | None = None,
    ) -> None:
        if role not in ROLES:
            raise ValueError(f"role must be one of {ROLES}, got {role!r}")
        self.app = app
        self.table = table
        self.options = options
        self.topics = options.topics
        self.role = role
        self.input_topic = (
            self.topics.classifications
            if role == "subject"
            else self.topics.classifications_by_user
        )
        self.registry = registry or WorkflowRegistry(on_change=self._on_pipeline_change)
        self.reader = reader or WorkflowReader(
            self.registry,
            self.topics.workflows,
            options.settings.consumer_config(None),
        )
        self.lock = asyncio.Lock()
        self.counters: collections.Counter[str] = collections.Counter()
        self.dead_by_stage: collections.Counter[str] = collections.Counter()
        self.suspect_end: dict[int, int] = {}
        self.rescan_wanted = asyncio.Event()
        self._in_flight: set[asyncio.Future] = set()
        self._next_offset: dict[int, int | None] = {}  # next offset to process, per partition
        self.gaps = GapReader(self.input_topic, options.settings.consumer_config(None))
        self._rule_errors_logged: set[tuple[int, str]] = set()
        #: The worker's user stage (set on the subject stage by create_app), for the stats.
        self.user_stage: Aggregator | None = None
        self._progress: dict[int, collections.deque[_Step]] = {}  # batches not yet committed
        self._acked: dict[int, int] = {}  # commit point (last offset done), per partition
        self._dirty: set[int] = set()  # partitions whose commit point was not committed yet
        self._committer: asyncio.Future | None = None
        #: Per partition: resolves to the offset of the last changelog record of the latest
        #: state write once the broker has it (None if it could not be delivered).
        self._changelog_end: dict[int, asyncio.Future] = {}
        self.started = time.time()

    # -- lifecycle -------------------------------------------------------------------------------
    def _on_pipeline_change(self, old: LoadedWorkflow | None, new: LoadedWorkflow | None) -> None:
        self.counters["pipeline_updates"] += 1
        if old is not None and new is not None:
            self.rescan_wanted.set()

    async def on_rebalance_complete(self) -> None:
        # Faust seeks every partition to its committed offset: start each sequence afresh.
        for partition in list(self._next_offset):
            self._forget(partition)
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
            "commit_points": {str(p): last for p, last in sorted(self._acked.items())},
            "committed_offsets": self._committed_offsets(),
            **(
                {"user_stage": self.user_stage.stats()}
                if self.user_stage is not None and self.user_stage is not self
                else {}
            ),
        }

    def _committed_offsets(self) -> dict[str, int]:
        """Per assigned partition, the next offset this worker committed to the broker (what
        a restart resumes from; Faust's monitor records each commit)."""
        active = self._active_partitions()
        committed = self.app.monitor.tp_committed_offsets or {}
        return {
            str(tp.partition): offset
            for tp, offset in sorted(committed.items())
            if tp.topic == self.input_topic and tp.partition in active
        }

    def _engine(self, workflow: LoadedWorkflow) -> Engine | None:
        """The engine this stage runs for ``workflow`` (None: the workflow has no user stage)."""
        return workflow.engine if self.role == "subject" else workflow.user_engine

    def _target(self, text: str) -> Any:
        """The subject or user id in a state key (``h|<wf>|<id>``, ``h|<wf>|user:<id>``)."""
        return parse_id(text.removeprefix("user:") if self.role == "user" else text)

    # -- processing ------------------------------------------------------------------------------
    async def handle(self, events: Sequence[Any]) -> None:
        """Process one batch of Faust events (any partitions).

        For each partition: the records that continue where this worker's processing of the
        partition stands (:meth:`_in_sequence`) are decoded and run through the engine; their
        outputs are sent, their state written to RocksDB and its changelog records sent. The
        batch's offsets are committed once the broker acknowledged all of those records; that
        wait runs in the background, so the next batch is processed meanwhile (at most
        ``MAX_IN_FLIGHT`` batches wait at a time).
        """
        await self.registry.ready.wait()
        by_partition: dict[int, list[Any]] = {}
        for event in events:
            by_partition.setdefault(event.message.partition, []).append(event)
        ranges: dict[int, int] = {}
        futures: list[asyncio.Future] = []
        async with self.lock:
            for partition, part_events in by_partition.items():
                part_events = await self._in_sequence(partition, part_events)
                if not part_events:
                    continue
                try:
                    store, pending = await self._prepare(partition, part_events)
                except Exception as exc:  # noqa: BLE001 - a bug must not stop the partition
                    # The records go to the dead letters with the error, and the partition keeps
                    # flowing (an exception escaping the agent would make Faust restart it).
                    log.exception("internal error on partition %s", partition)
                    store, pending = (
                        FaustTableStore(self.table, partition, source_topic=None),
                        _Pending(),
                    )
                    for event in part_events:
                        self._dead(pending, event, "internal", f"{type(exc).__name__}: {exc}")
                await self._publish_actions(pending)
                futures.extend(await self._send_outputs(pending))
                futures.extend(await self._write_state(store, pending.txns))
                ranges[partition] = part_events[-1].message.offset
                self._progress.setdefault(partition, collections.deque()).append(
                    _Step(part_events[-1].message.offset)
                )
        self.counters["batches"] += 1
        if not ranges:
            return
        settle = asyncio.ensure_future(self._settle(ranges, futures))
        self._in_flight.add(settle)
        settle.add_done_callback(self._in_flight.discard)
        while len(self._in_flight) > MAX_IN_FLIGHT:
            await asyncio.wait(set(self._in_flight), return_when=asyncio.FIRST_COMPLETED)

    async def _start(self, partition: int) -> int | None:
        """Where a partition without state starts: the group's committed offset, else the
        partition's first offset (``auto_offset_reset`` is ``earliest``).

        Not the first record the stream delivers: with two workers joining, Faust was seen to
        start a fresh partition's stream dozens of records in (the records before were never
        delivered, and nothing else would read them).
        """
        try:
            committed = await asyncio.wait_for(self.committed_offset(partition), GAP_TIMEOUT)
            if committed is not None:
                return committed
            return await asyncio.wait_for(self.gaps.first_offset(partition), GAP_TIMEOUT)
        except Exception as exc:  # noqa: BLE001 - then the first record delivered, as before
            log.warning("partition %s: start offset unknown (%r)", partition, exc)
            return None

    async def committed_offset(self, partition: int) -> int | None:
        """The group's committed offset of one of the stage's input partitions."""
        return await _committed_offset(self.app, self.input_topic, partition)

    async def _in_sequence(self, partition: int, events: list[Any]) -> list[Any]:
        """The events of ``partition`` that continue its processed sequence, gaps filled.

        Offsets are this worker's own commit point: it commits an offset only once every record
        before it was processed and its outputs and state acknowledged. Faust's acknowledgement
        machinery is not used: around rebalances it was seen to drop records it had fetched and
        then commit past them. Records before the next expected offset were processed already
        (a redelivery) and are skipped. Records missing before the first one delivered are read
        directly from the topic (:class:`GapReader`) and processed first.
        """
        expected = self._next_offset.get(partition)
        if expected is None:
            # First batch since the partition was assigned: continue from the commit point
            # stored with the state (the committed offset says the same, or a little more).
            store = FaustTableStore(self.table, partition, source_topic=None)
            acked = store.get(acked_key(partition))
            expected = int(acked) + 1 if acked is not None else await self._start(partition)
        ordered = sorted(events, key=lambda e: e.message.offset)
        keep: list[Any] = []
        for event in ordered:
            offset = event.message.offset
            if expected is None:
                expected = offset  # a partition without state: wherever the consumer starts
            if offset < expected:
                self.counters["skipped_redelivered"] += 1
                continue
            if offset > expected:
                try:
                    missing = await self.gaps.read(partition, expected, offset)
                except Exception as exc:  # noqa: BLE001 - the next batch finds the same gap
                    log.warning("partition %s: reading skipped records failed (%r)", partition, exc)
                    self._next_offset[partition] = expected
                    return keep
                log.warning(
                    "partition %s: offsets %d-%d were not delivered; read %d records directly",
                    partition,
                    expected,
                    offset - 1,
                    len(missing),
                )
                self.counters["gap_records"] += len(missing)
                keep.extend(missing)
            keep.append(event)
            expected = offset + 1
        self._next_offset[partition] = expected
        return keep

    async def _settle(self, ranges: dict[int, int], futures: list[asyncio.Future]) -> None:
        """Once every record the batch produced is acknowledged by the broker, advance each
        partition's commit point over the batches done in order, and commit it.

        A record the client could not deliver (after its own retries) stops the worker: the
        offsets are not committed, so a restarted worker processes those records again
        (duplicates there re-publish and re-write the subject, see the module docstring).
        """
        try:
            await asyncio.gather(*futures)
        except Exception as exc:  # noqa: BLE001 - any delivery failure
            log.critical("records could not be delivered (%r): stopping the worker", exc)
            self.counters["delivery_failures"] += 1
            await self.app.crash(exc)
            return
        commit: dict[int, int] = {}
        for partition, last in ranges.items():
            steps = self._progress.get(partition)
            if not steps:
                continue
            for step in steps:
                if step.last == last:
                    step.done = True
                    break
            while steps and steps[0].done:
                commit[partition] = steps.popleft().last
        for partition, last in commit.items():
            self._acked[partition] = last
            self._dirty.add(partition)
        if self._dirty and (self._committer is None or self._committer.done()):
            self._committer = asyncio.ensure_future(self._commit_loop())

    async def _commit_loop(self) -> None:
        """Commit the partitions whose commit point moved: at once, then at most every
        ``COMMIT_EVERY`` seconds while they keep moving (a commit is a broker round trip)."""
        while self._dirty:
            await self._commit_now()
            await asyncio.sleep(COMMIT_EVERY)

    async def _commit_now(self) -> None:
        dirty, self._dirty = self._dirty, set()
        offsets = {p: self._acked[p] + 1 for p in dirty if p in self._acked}
        if not offsets:
            return
        try:
            await _commit_offsets(self.app, self.input_topic, offsets)
        except Exception as exc:  # noqa: BLE001 - the next commit carries the same offsets on
            log.warning("offset commit failed (%r); the next one catches up", exc)
            self.counters["commit_failures"] += 1
            self._dirty |= dirty

    async def drain(self) -> None:
        """Wait for the batches still waiting for the broker, and commit (on shutdown and
        revocation)."""
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=60)
        if self._dirty:
            # Bounded: aiokafka retries a commit while the coordinator is unreachable, and a
            # revocation waiting on it would stall the group's rebalance. Uncommitted records
            # come again and are skipped as duplicates.
            try:
                await asyncio.wait_for(self._commit_now(), timeout=COMMIT_TIMEOUT)
            except TimeoutError:
                log.warning("offset commit took over %ss; moving on", COMMIT_TIMEOUT)
                self.counters["commit_failures"] += 1

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Finish and commit the batches in hand before the partitions move to another worker
        (Faust's own wait is off: the worker does not use its acknowledgements)."""
        async with self.lock:
            await self.drain()
        for tp in revoked:
            if tp.topic == self.input_topic:
                self._forget(tp.partition)

    def _forget(self, partition: int) -> None:
        self._next_offset.pop(partition, None)
        self._progress.pop(partition, None)
        self._acked.pop(partition, None)
        self.suspect_end.pop(partition, None)

    async def _prepare(self, partition: int, events: list[Any]) -> tuple[FaustTableStore, _Pending]:
        """Decode and run the engine on one partition's records (nothing is sent or written)."""
        store = FaustTableStore(self.table, partition, source_topic=self.input_topic)
        if partition not in self.suspect_end:
            # Records up to the last offset any worker wrote state for may come again after a
            # crash or a rebalance; the watermark travels with the state (see _watermark).
            last = store.get(watermark_key(partition))
            self.suspect_end[partition] = -1 if last is None else int(last)
        suspect_end = self.suspect_end[partition] + 1
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
            # A subject stored under an older pipeline is recomputed whole by the engine (every
            # task, as rereduce_subject does); the others wait for the rescan loop.
            self._run_engine(store, workflow, items, suspect_end, pending)
        # First in the partition's write, so that the changelog never holds state of a batch
        # without its watermark before it; with it, the commit point as of now.
        highest = max(event.message.offset for event in events)
        mark = OrderedTransaction(store.get)
        mark.set(watermark_key(partition), highest)
        if partition in self._acked:
            mark.set(acked_key(partition), self._acked[partition])
        pending.txns.insert(0, mark)
        self.suspect_end[partition] = max(self.suspect_end[partition], highest)
        return store, pending

    async def _write_state(
        self, store: FaustTableStore, txns: list[OrderedTransaction]
    ) -> list[asyncio.Future]:
        """Write the transactions to the partition's RocksDB (one atomic batch) and send their
        changelog records in order; return the delivery futures.

        The local write waits until the broker acknowledged the partition's previous changelog
        records, and records their last offset as the table's persisted offset first. On a
        restart Faust re-applies the changelog from the persisted offset over the local
        database; so what it re-applies is at most a part of the *last* local write, whose
        values the database already holds (each key once per write, see
        :func:`last_write_per_key`). Without the wait, records of an earlier write re-applied
        over a newer one rolled keys back: an older subject or user head next to the markers
        of classifications applied after it, an older watermark and commit point, a state that
        is neither the local one nor a cut of the changelog (classifications were then counted
        as already applied and lost).

        There is deliberately no ownership check here: a batch in hand is always completed.
        A revoked partition is not handed over while a batch is in hand: the revocation handler
        takes the stage's lock and drains the batches in flight (:meth:`on_partitions_revoked`),
        so nobody else writes this partition meanwhile.
        Dropping the writes but acknowledging the records would lose them if the partition
        came back to this worker (its acknowledgements would then be committed), and not
        acknowledging them would stall the rebalance.
        """
        if not txns:
            return []
        partition = store.partition
        previous = self._changelog_end.pop(partition, None)
        if previous is not None:
            try:
                last = await previous
            except Exception:  # noqa: BLE001 - any delivery failure, as below
                last = None
            if last is None:
                # The partition's previous changelog records were not delivered. Sending these
                # after them would leave a changelog that a rebuild reads as later state
                # without the earlier (heads that count classifications whose markers and log
                # rows are missing): stop before writing, nothing of this batch is committed.
                exc = RuntimeError(f"changelog records of partition {partition} were lost")
                log.critical("%s: stopping the worker", exc)
                self.counters["delivery_failures"] += 1
                await self.app.crash(exc)
                raise exc
            if self._owns(partition):
                store.set_persisted_offset(last)
        records = last_write_per_key([record for txn in txns for record in store.write_local(txn)])
        if not records:
            return []
        sent = await self._send_batches(self.table.changelog_topic_name, partition, records)
        self.counters["changelog_records"] += len(records)
        futures = [future for future, _ in sent]
        last_future, last_count = sent[-1]
        end: asyncio.Future = asyncio.get_running_loop().create_future()

        def persisted(done: asyncio.Future) -> None:
            # The offset of the write's last changelog record (a produce batch's future holds
            # its first): Faust recovers the partition from there on (see FaustTableStore).
            if end.done():
                return
            if done.cancelled() or done.exception() is not None:
                end.set_result(None)
                return
            end.set_result(done.result().offset + last_count - 1)

        last_future.add_done_callback(persisted)
        self._changelog_end[partition] = end
        return futures

    async def _send_batches(
        self, topic: str, partition: int, records: list[tuple[bytes, bytes | None]]
    ) -> list[tuple[asyncio.Future, int]]:
        """Send records to one partition in as few produce batches as they fit in; return
        each produce batch's delivery future with its number of records."""
        producer = self.app.producer._ensure_producer()  # noqa: SLF001 - aiokafka's batch API
        sent = []
        batch = producer.create_batch()
        for key, value in records:
            while batch.append(key=key, value=value, timestamp=None) is None:
                if batch.record_count() == 0:
                    raise ValueError(f"state record {key!r} is larger than a produce batch")
                count = batch.record_count()
                sent.append((await producer.send_batch(batch, topic, partition=partition), count))
                batch = producer.create_batch()
        if batch.record_count():
            count = batch.record_count()
            sent.append((await producer.send_batch(batch, topic, partition=partition), count))
        return sent

    def _decode(self, event: Any, pending: _Pending) -> ClassificationEvent | None:
        message = event.message
        raw = message.value
        try:
            payload = orjson.loads(raw) if raw is not None else None
        except orjson.JSONDecodeError as exc:
            self._dead(pending, event, "decode", f"not valid JSON: {exc}")
            return None
        if (
            isinstance(payload, Mapping)
            and "data" in payload
            and "source" in payload
            and (payload.get("source"), payload.get("type")) != ("panoptes", "classification")
        ):
            # Another kind of Panoptes event on the same stream: not ours, not an error (as
            # Caesar, which drops everything but classifications).
            self.counters["other_events"] += 1
            return None
        try:
            if isinstance(payload, Mapping) and "export_row" in payload:
                item = event_from_export_message(payload)
            else:
                item = event_from_message(payload)
        except (TallyError, TypeError, ValueError, AttributeError) as exc:
            cid = message_classification_id(payload)  # also an export row's or an envelope's
            self._dead(pending, event, "schema", str(exc), classification_id=cid)
            return None
        if self.role == "user":
            if item.user_id is None:  # the subject stage forwards signed-in volunteers only
                self.counters["anonymous"] += 1
                return None
            expected = str(item.user_id).encode()
            if message.key != expected:
                pending.forward.append((expected, raw))
                self.counters["rekeyed"] += 1
                return None
            return item
        if item.subject_id is None or str(item.subject_id).strip() == "":
            # No key to re-key it under, and none needed: no subject's state is touched. The
            # engine rejects it ('empty subject id', dead-lettered at the extract stage) if it
            # is of a loaded workflow and version, and ignores it otherwise, as tally extract.
            return item
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
        engine = self._engine(workflow)
        if engine is None:
            # The workflow's current pipeline has no user reducers or user rules any more.
            self.counters["ignored"] += len(items)
            return
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
        engine = self._engine(workflow)
        assert engine is not None  # _run_engine returned early otherwise
        try:
            result = engine.process(txn, [item])
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
        engine = self._engine(workflow)
        assert engine is not None
        forward_users = self.role == "subject" and workflow.user_engine is not None
        resync: dict[str, Any] = {}
        for (event, item), outcome in zip(items, result.outcomes, strict=True):
            self.counters[outcome.status] += 1
            suspect = event.message.offset < suspect_end
            if outcome.status in ("rejected", "partial") and self.role == "subject":
                # partial: applied without the extractor entries that could not read it. (The
                # user stage sees the same outcome for the same record: reported here once.)
                reason = outcome.reason
                if outcome.status == "partial":
                    reason = f"applied without the failing extractor entries: {reason}"
                self._dead(
                    pending,
                    event,
                    "extract",
                    reason,
                    classification_id=item.classification_id,
                    workflow_id=item.workflow_id,
                )
            elif outcome.status == "duplicate" and suspect:
                target = item.subject_id if self.role == "subject" else item.user_id
                resync[str(target)] = target
            if (
                forward_users
                and item.user_id is not None
                and (
                    outcome.status in ("applied", "partial")
                    or (outcome.status == "duplicate" and suspect)
                )
            ):
                # The user stage's input. A duplicate that may have been applied by a worker
                # that crashed before this record was acknowledged is forwarded again (the user
                # engine is idempotent by classification id too); anonymous volunteers have no
                # user reductions (as in `tally aggregate`).
                pending.by_user.append((str(item.user_id).encode(), event.message.value))
        for reduction in result.reductions:
            pending.reductions[reduction.key] = reduction
        fired = list(result.actions)
        self._note_rule_errors(workflow, result.rule_errors)
        for target in resync.values():
            self.counters["resynced_subjects"] += 1
            self._resync(store, workflow, txn, target)
            again = engine.rereduce_subject(txn, target)
            for reduction in again.reductions:
                pending.reductions[reduction.key] = reduction
            fired.extend(again.actions)
            self._note_rule_errors(workflow, again.rule_errors)
        self._fired(engine, txn, fired, pending)
        pending.txns.append(txn)

    def _fired(
        self,
        engine: Engine,
        txn: OrderedTransaction,
        actions: list[ActionRecord],
        pending: _Pending,
    ) -> None:
        """Queue fired effects for publication and index them under their subject or user.

        The engine stored each effect's fire-once key (``f|<wf>|<action id>``) in ``txn``. The
        index key ``x|<wf>|<target>|<action id>`` (one of :func:`subject_prefixes`) ties it to
        its subject, so that a resync re-writes the fire-once keys with the subject's other
        keys. The head is set again so that it stays the transaction's last write (the
        engine's commit point).
        """
        heads = {}
        for action in actions:
            pending.actions[action.action_id] = action
            target = action.subject_id if action.target_kind == "subject" else action.user_id
            head_key = engine.head_key(target)
            txn.set(f"x|{head_key[2:]}|{action.action_id}", action.to_dict())
            heads[head_key] = True
        for head_key in heads:
            head = txn.get(head_key)
            if head is not None:
                txn.set(head_key, head)

    def _note_rule_errors(self, workflow: LoadedWorkflow, errors: list[Any]) -> None:
        """Count rule evaluation errors; log the first of each rule (they repeat per update)."""
        for target, error in errors:
            self.counters["rule_errors"] += 1
            mark = (workflow.workflow_id, str(error.rule_id))
            if mark not in self._rule_errors_logged:
                self._rule_errors_logged.add(mark)
                log.warning(
                    "workflow %s, %s %s: rule %s could not be evaluated (counted as false; "
                    "further errors of this rule are only counted): %s",
                    workflow.workflow_id,
                    self.role,
                    target,
                    error.rule_id,
                    error.message,
                )

    def _resync(
        self,
        store: FaustTableStore,
        workflow: LoadedWorkflow,
        txn: OrderedTransaction,
        subject_id: Any,
    ) -> None:
        """Re-assign every stored key of a subject or user (its changelog records may have
        been lost), including the fire-once keys of the effects it fired."""
        engine = self._engine(workflow)
        for prefix in subject_prefixes(workflow, subject_id, engine):
            for key in list(store.keys(prefix)):
                if key not in txn.writes:
                    value = txn.get(key)
                    if value is not None:
                        txn.set(key, value)
                if key.startswith("x|"):
                    fired_key = f"f|{workflow.workflow_id}|{key.rsplit('|', 1)[1]}"
                    value = txn.get(fired_key)
                    if value is not None and fired_key not in txn.writes:
                        txn.set(fired_key, value)

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

    async def _send_outputs(self, pending: _Pending) -> list[asyncio.Future]:
        """Send reductions, dead letters and re-keyed records; return the delivery futures."""
        producer = self.app.producer
        futures = []
        for key, reduction in pending.reductions.items():
            futures.append(
                await producer.send(
                    self.topics.reductions,
                    key.encode(),
                    encode_reduction(reduction),
                    None,
                    None,
                    None,
                )
            )
        for key, record in sorted(pending.dead, key=lambda kr: kr[1]["source"]["offset"]):
            futures.append(
                await producer.send(self.topics.dead_letters, key, encode(record), None, None, None)
            )
        for key, raw in pending.forward:
            futures.append(await producer.send(self.input_topic, key, raw, None, None, None))
        for key, raw in pending.by_user:
            futures.append(
                await producer.send(self.topics.classifications_by_user, key, raw, None, None, None)
            )
        self.counters["reductions"] += len(pending.reductions)
        self.counters["forwarded_by_user"] += len(pending.by_user)
        return futures

    async def _publish_actions(self, pending: _Pending) -> None:
        """Publish the fired effects and wait until the broker has them, before the state that
        records them as fired is written.

        So a fired effect is never lost: if the worker dies before the acknowledgement, the
        state does not say "fired" and the engine fires it again (same action id) when the
        record comes again. At worst the topic holds the same action twice (a crash after the
        acknowledgement, before the state write reached the changelog), which the executor
        skips by action id. Effects are rare (once per subject and effect), so the wait costs
        one broker round trip in the few batches that fire any.
        """
        if not pending.actions:
            return
        producer = self.app.producer
        futures = [
            await producer.send(
                self.topics.actions, action_id.encode(), encode(action.to_dict()), None, None, None
            )
            for action_id, action in pending.actions.items()
        ]
        try:
            await asyncio.gather(*futures)
        except Exception as exc:
            log.critical("actions could not be delivered (%r): stopping the worker", exc)
            self.counters["delivery_failures"] += 1
            await self.app.crash(exc)
            raise
        self.counters["actions"] += len(futures)

    # -- partitions ------------------------------------------------------------------------------
    def _active_partitions(self) -> set[int]:
        try:
            assignment = self.app.consumer.assignment()
        except Exception:  # noqa: BLE001 - not started yet
            return set()
        return {tp.partition for tp in assignment if tp.topic == self.input_topic}

    def _owns(self, partition: int) -> bool:
        return partition in self._active_partitions()

    # -- re-reduction after a pipeline change ------------------------------------------------------
    async def rescan_loop(self) -> None:
        """Re-reduce stored subjects whose pipeline changed, whenever asked to."""
        await self.registry.ready.wait()
        while True:
            await self.rescan_wanted.wait()
            self.rescan_wanted.clear()
            while self.app.rebalancing or not self.app.tables.recovery.completed.is_set():
                await asyncio.sleep(0.2)
            try:
                async with self.lock:
                    await self.rescan()
            except Exception:  # noqa: BLE001 - a task that dies silently would stop re-reducing
                log.exception("re-reduction failed; trying again in 5s")
                await asyncio.sleep(5)
                self.rescan_wanted.set()

    async def rescan(self) -> int:
        """Re-reduce every stored subject whose head was reduced under another pipeline, in
        every partition this worker owns."""
        total = 0
        for partition in sorted(self._active_partitions()):
            for workflow in list(self.registry.workflows.values()):
                total += await self._rescan(workflow, partition)
        return total

    async def _rescan(self, workflow: LoadedWorkflow, partition: int) -> int:
        """Re-reduce the subjects of one workflow in one partition stored under another
        pipeline (their heads say which); publish and write the results."""
        store = FaustTableStore(self.table, partition, source_topic=self.input_topic)
        engine = self._engine(workflow)
        if engine is None:
            return 0
        stale = [
            key.split("|", 2)[2]
            for key, head in store.items(f"h|{workflow.workflow_id}|")
            if isinstance(head, Mapping) and head.get("config") != workflow.config_version
        ]
        done = 0
        for start in range(0, len(stale), 200):
            if not self._owns(partition) or self.app.rebalancing:
                return done  # the new owner re-reduces them once its recovery is complete
            pending = _Pending()
            txn = OrderedTransaction(store.get)
            fired: list[ActionRecord] = []
            for subject in stale[start : start + 200]:
                result = engine.rereduce_subject(txn, self._target(subject))
                for reduction in result.reductions:
                    pending.reductions[reduction.key] = reduction
                fired.extend(result.actions)
                self._note_rule_errors(workflow, result.rule_errors)
            self._fired(engine, txn, fired, pending)
            pending.txns.append(txn)
            await self._publish_actions(pending)
            # Outputs acknowledged before the state says "re-reduced under this pipeline":
            # otherwise a crash in between would lose them (nothing re-reduces such a subject).
            await asyncio.gather(*await self._send_outputs(pending))
            await asyncio.gather(*await self._write_state(store, pending.txns))
            done += len(stale[start : start + 200])
        if done:
            self.counters["rereduced_subjects"] += done
            log.info(
                "workflow %s, partition %s: re-reduced %d subjects under pipeline %s",
                workflow.workflow_id,
                partition,
                done,
                workflow.config_version,
            )
        return done


class _GapMessage:
    """A record read by :class:`GapReader`, shaped like the part of a Faust message used here."""

    __slots__ = ("topic", "partition", "offset", "key", "value")

    def __init__(self, record: Any) -> None:
        self.topic = record.topic
        self.partition = record.partition
        self.offset = record.offset
        self.key = record.key
        self.value = record.value


class _GapEvent:
    __slots__ = ("message",)

    def __init__(self, record: Any) -> None:
        self.message = _GapMessage(record)


class GapReader:
    """Reads given offset ranges of the classifications topic with its own consumer (no group,
    no effect on the worker's position): the records Faust's stream skipped."""

    def __init__(self, topic: str, consumer_config: Mapping[str, Any]) -> None:
        self.topic = topic
        self.config = {**consumer_config, "group_id": None, "enable_auto_commit": False}
        self.consumer: Any = None

    async def read(self, partition: int, start: int, end: int) -> list[Any]:
        """Events for the records at offsets ``start <= offset < end`` (offsets holding no
        record, such as transaction markers, are simply absent)."""
        from aiokafka import AIOKafkaConsumer
        from aiokafka.structs import TopicPartition

        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(**self.config)
            await self.consumer.start()
        tp = TopicPartition(self.topic, partition)
        self.consumer.assign([tp])
        self.consumer.seek(tp, start)
        out: list[Any] = []
        deadline = asyncio.get_running_loop().time() + GAP_TIMEOUT
        while await self.consumer.position(tp) < end:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"could not read offsets {start}-{end - 1} of {tp}")
            batch = await self.consumer.getmany(tp, timeout_ms=500)
            for record in batch.get(tp, []):
                if record.offset >= end:
                    break
                out.append(_GapEvent(record))
        return out

    async def first_offset(self, partition: int) -> int:
        """The partition's first offset still in the log (where ``earliest`` starts)."""
        from aiokafka import AIOKafkaConsumer
        from aiokafka.structs import TopicPartition

        if self.consumer is None:
            self.consumer = AIOKafkaConsumer(**self.config)
            await self.consumer.start()
        tp = TopicPartition(self.topic, partition)
        return (await self.consumer.beginning_offsets([tp]))[tp]

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
            self.consumer = None


def last_write_per_key(
    records: list[tuple[bytes, bytes | None]],
) -> list[tuple[bytes, bytes | None]]:
    """``records`` with each key only at its last write, in order.

    A state write may assign a key in several of its transactions (a subject's head, when a
    batch is retried record by record). Re-applying any prefix of the result over a database
    that holds the whole write then changes nothing; with the earlier assignment kept, a prefix
    ending between the two would roll the key back.

    >>> last_write_per_key([(b"h", b"1"), (b"c", b"2"), (b"h", b"3")])
    [(b'c', b'2'), (b'h', b'3')]
    """
    last = {key: i for i, (key, _) in enumerate(records)}
    return [record for i, record in enumerate(records) if last[record[0]] == i]


def watermark_key(partition: int) -> str:
    """State key of the highest input offset of ``partition`` whose state was written."""
    return f"w|{partition}"


def acked_key(partition: int) -> str:
    """State key of the commit point of ``partition``: every offset up to it is processed and
    its outputs and state acknowledged."""
    return f"a|{partition}"


def subject_prefixes(
    workflow: LoadedWorkflow, subject_id: Any, engine: Engine | None = None
) -> list[str]:
    """Key prefixes of everything the engine stores for a subject except its head.

    Derived from :meth:`core.engine.Engine.head_key` (``h|<workflow>|<subject>``): the markers,
    seq index, log chunks and per-user entries share ``<workflow>|<subject>|`` after their own letter.
    tests/stream/test_store_contract.py checks that these prefixes cover every stored key.
    """
    rest = (engine or workflow.engine).head_key(subject_id)[2:]
    # x: the worker's index of the effects the subject fired (Aggregator._fired)
    return [f"{letter}|{rest}|" for letter in ("c", "l", "s", "u", "x")]


def _raw_topic(app: faust.App, name: str, partitions: int) -> Any:
    """An input topic of raw bytes (decoding is the agent's job, see :func:`create_app`)."""
    return app.topic(
        name,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        partitions=partitions,
        internal=False,
    )


def _bytes_table(app: faust.App, name: str, partitions: int, what: str) -> Any:
    """A table of core.engine keys and encoded values (see stream/faust_store.py)."""
    return app.Table(
        name,
        key_type=bytes,
        value_type=bytes,
        partitions=partitions,
        help=f"{what} (core.engine keys)",
    )


async def _committed_offset(app: faust.App, topic: str, partition: int) -> int | None:
    """The worker group's committed offset of ``topic``/``partition`` (None: none yet)."""
    from aiokafka.structs import TopicPartition

    thread = app.consumer._thread  # noqa: SLF001 - the aiokafka consumer's own thread

    async def committed_in_consumer_thread() -> int | None:
        consumer = thread._ensure_consumer()  # noqa: SLF001
        return await consumer.committed(TopicPartition(topic, partition))

    return await thread.call_thread(committed_in_consumer_thread)


async def _commit_offsets(app: faust.App, topic: str, offsets: Mapping[int, int]) -> None:
    """Commit ``{partition: next offset}`` of ``topic`` for the partitions still assigned.

    Runs in the consumer's thread, where aiokafka's consumer lives, but not through Faust's
    ``Consumer.commit``: that crashes the whole worker on any commit error, including the empty
    commit it makes when a rebalance took every partition of the call away in between (seen
    when a second worker process joined the group). Partitions no longer assigned are skipped
    (their new owner resumes from the last commit, and the engine skips what it applied); other
    errors come back to the caller, which retries with the next commit.
    """
    from aiokafka.structs import OffsetAndMetadata, TopicPartition
    from faust.types import TP

    thread = app.consumer._thread  # noqa: SLF001 - the aiokafka consumer's own thread

    async def commit_in_consumer_thread() -> dict[TP, int]:
        consumer = thread._ensure_consumer()  # noqa: SLF001
        assigned = consumer.assignment()
        commit = {
            tp: OffsetAndMetadata(offset, "")
            for tp, offset in ((TopicPartition(topic, p), o) for p, o in offsets.items())
            if tp in assigned
        }
        if not commit:
            return {}
        await consumer.commit(commit)
        # What Faust's own commit records (its "no commit in a while" warnings read it).
        now = time.monotonic()
        thread.tp_last_committed_at.update({TP(tp.topic, tp.partition): now for tp in commit})
        return {TP(tp.topic, tp.partition): meta.offset for tp, meta in commit.items()}

    committed = await thread.call_thread(commit_in_consumer_thread)
    if committed:  # back in the app's loop: Faust's monitor and sensors record the commit
        app.monitor.on_tp_commit(committed)


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
        # The aggregator commits offsets itself and never acknowledges events, so Faust must not
        # wait for acknowledgements on rebalance or shutdown (it waits for the aggregator's own
        # drain instead, see on_partitions_revoked).
        stream_wait_empty=False,
        broker_commit_interval=options.commit_interval,
        # A worker that dies without leaving the group (kill -9, a lost machine) keeps its
        # partitions until its session times out; Faust's default is 60 s. Heartbeats come from
        # the consumer's own thread, so a long batch does not miss them.
        broker_session_timeout=options.session_timeout,
        broker_heartbeat_interval=min(3.0, options.session_timeout / 3),
        # Reductions are sent one record at a time: let them share produce requests.
        producer_linger=0.005,
        producer_max_batch_size=262144,
        web_enabled=options.web_port is not None,
        web_port=options.web_port or 6066,
        web_bind=options.web_host,
        topic_disable_leader=True,
    )
    # Raw bytes in: decoding is the agent's job, so that a record that is not JSON becomes a
    # dead letter. (With Faust's default JSON serializer it would crash the agent, and Faust
    # would restart it and acknowledge the batch in hand: records lost.)
    classifications = _raw_topic(app, topics.classifications, options.partitions)
    table = _bytes_table(
        app, TABLE_NAME, options.partitions, "per-subject extracts and reducer states"
    )
    aggregator = Aggregator(app, table, options)
    # The user stage: the same worker, a second agent and table, fed by the subject stage
    # through the by-user topic. Same partition count, so Faust's assignor co-partitions it
    # with the classifications (one group of topics and changelogs).
    users: Aggregator | None = None
    if options.user_stage:
        by_user = _raw_topic(app, topics.classifications_by_user, options.partitions)
        user_table = _bytes_table(
            app, USER_TABLE_NAME, options.partitions, "per-volunteer extracts and reducer states"
        )
        users = Aggregator(
            app,
            user_table,
            options,
            role="user",
            registry=aggregator.registry,
            reader=aggregator.reader,
        )
        aggregator.user_stage = users
    stages = (aggregator,) if users is None else (aggregator, users)

    def on_pipeline_change(old: LoadedWorkflow | None, new: LoadedWorkflow | None) -> None:
        for stage in stages:
            stage._on_pipeline_change(old, new)  # noqa: SLF001 - the stages are one worker
        if users is None and new is not None and new.user_engine is not None:
            # Its classifications wait on the by-user topic (the subject stage forwards them).
            log.warning(
                "workflow %s reduces by user but this worker runs without the user stage%s",
                new.workflow_id,
                "; restarting with it" if options.on_user_stage_needed else "",
            )
            if options.on_user_stage_needed is not None:
                options.on_user_stage_needed()

    aggregator.registry.on_change = on_pipeline_change

    def stage_agent(stage: Aggregator) -> Any:
        async def aggregate(stream: faust.StreamT) -> None:
            # noack_take: events are never acknowledged; the stage commits offsets itself once
            # their outputs and state are acknowledged by the broker (Aggregator._in_sequence).
            try:
                async for events in stream.noack_take(
                    options.batch_max, within=options.batch_within
                ):
                    await stage.handle(events)
            finally:
                await asyncio.shield(stage.drain())
                await stage.gaps.stop()

        return aggregate

    app.agent(classifications, name="tally.aggregate")(stage_agent(aggregator))
    if users is not None:
        app.agent(by_user, name="tally.aggregate_by_user")(stage_agent(users))

    async def read_workflows() -> None:
        while True:
            try:
                await aggregator.reader.run()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep reading pipelines whatever happens
                log.exception("reading the workflows topic failed; starting again in 2s")
                await asyncio.sleep(2)
            finally:
                await aggregator.reader.stop()
                aggregator.reader.consumer = None

    app.task(read_workflows)

    async def rescan() -> None:
        await aggregator.rescan_loop()

    app.task(rescan)

    if users is not None:

        async def rescan_users() -> None:
            await users.rescan_loop()

        app.task(rescan_users)

    async def on_rebalance_complete(sender: Any, **kwargs: Any) -> None:
        for stage in stages:
            await stage.on_rebalance_complete()

    app.on_rebalance_complete.connect(on_rebalance_complete)

    async def on_partitions_revoked(sender: Any, revoked: Any, **kwargs: Any) -> None:
        for stage in stages:
            await stage.on_partitions_revoked(revoked)

    app.on_partitions_revoked.connect(on_partitions_revoked)

    last: dict[str, Any] = {}

    async def log_stats() -> None:
        snapshot = dict(aggregator.counters)
        if users is not None:
            snapshot.update({f"user_{k}": v for k, v in users.counters.items()})
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
