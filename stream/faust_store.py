"""Kafka-mode state: a :class:`core.state.StateStore` over a Faust table (RocksDB via rocksdict).

One Faust table (``store="rocksdb://"``) holds every key the engine writes, co-partitioned with
the classifications topic: a subject's keys live in the partition its classifications arrive on.
A :class:`FaustTableStore` is bound to one partition; the worker makes one per partition of each
batch it processes.

How the Faust table is driven, and why:

* **Writes are assignments, at commit.** A transaction buffers its writes (reads see them) and
  assigns each key once when it commits: ``table[key] = value``. Only an assignment writes the
  changelog; a value is never mutated in place: the table holds JSON bytes, so every read
  decodes a fresh object.
* **Write order is the engine's order.** Keys are assigned in the order they were last set in
  the transaction, so the subject head, which the engine writes last as its commit point, is
  also last in the changelog. A changelog cut anywhere (a crash) leaves state the engine knows
  how to complete (see :mod:`core.engine`).
* **The partition is explicit.** Faust picks the RocksDB partition database and the changelog
  partition of a write from the *current event* of the stream. The worker processes batches
  that mix partitions, and re-reduces outside of any event, so the store sets the current event
  itself, for the duration of each read and of the commit, to a stand-in carrying its partition.

A plain dict stands in for the table here (tests/stream/test_store_contract.py uses a real one):

>>> store = FaustTableStore({}, partition=0, source_topic=None)
>>> with store.transaction() as txn:
...     txn.set("h|1|2", {"n": 1})
...     txn.set("c|1|2|5", {"seq": 1})
>>> store.get("h|1|2")
{'n': 1}
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterable, Iterator
from typing import Any

from core.errors import StateSerializationError
from core.state import DELETED, BufferedTransaction
from stream.records import decode
from stream.state.transaction import OrderedTransaction, encode_state

__all__ = ["FaustTableStore", "PartitionEvent"]


class _Message:
    __slots__ = ("partition", "topic", "offset", "key", "value", "headers", "timestamp")

    def __init__(self, topic: str, partition: int) -> None:
        self.topic = topic
        self.partition = partition
        self.offset = -1
        self.key = None
        self.value = None
        self.headers = None
        self.timestamp = None

    @property
    def tp(self) -> Any:
        from faust.types import TP

        return TP(self.topic, self.partition)


class PartitionEvent:
    """The minimal stand-in for a Faust event that table reads and writes consult."""

    __slots__ = ("message", "__weakref__")

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _Message(topic, partition)


@contextlib.contextmanager
def _current(event: PartitionEvent | None) -> Iterator[None]:
    if event is None:
        yield
        return
    from faust.streams import _current_event

    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)


class FaustTableStore:
    """A partition of a Faust table as a :class:`core.state.StateStore`.

    ``table`` is a ``faust.Table`` with ``key_type=bytes`` and ``value_type=bytes`` (raw keys and
    values): keys are stored as their UTF-8 bytes, so a key prefix is a byte prefix in RocksDB,
    and values as their JSON (orjson) bytes, encoded once by the transaction. ``source_topic`` is the topic
    the table is co-partitioned with (Faust checks the partition counts match); with
    ``source_topic=None`` no current event is set (the caller runs inside the stream already).
    """

    def __init__(self, table: Any, partition: int, *, source_topic: str | None) -> None:
        self.table = table
        self.partition = partition
        self._event = None if source_topic is None else PartitionEvent(source_topic, partition)
        store = getattr(table, "data", None)
        # Faust's RocksDB store keeps one rocksdict database per partition; reading it directly
        # skips Faust's per-call key serialization and current-event lookup (the hot path).
        self._rocks = store if hasattr(store, "_db_for_partition") else None

    def _db(self) -> Any:
        return self._rocks._db_for_partition(self.partition)  # noqa: SLF001 - see __init__

    def get(self, key: str) -> Any | None:
        if self._rocks is not None:
            raw = self._db().get(key.encode())
        else:
            with _current(self._event):
                raw = self.table.get(key)
        return None if raw is None else _decode(key, raw)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[OrderedTransaction]:
        txn = OrderedTransaction(self.get)
        yield txn
        self.commit(txn)

    def commit(self, txn: BufferedTransaction) -> None:
        """Assign every buffered write to the table, in order (each sends a changelog record)."""
        if isinstance(txn, OrderedTransaction):
            writes: Iterator[tuple[str, Any]] = txn.raw_items()
        else:
            writes = ((k, v if v is DELETED else encode_state(k, v)) for k, v in list(txn.items()))
        with _current(self._event):
            _assign(self.table, ((k, None if raw is DELETED else raw) for k, raw in writes))

    def write_local(self, txn: OrderedTransaction) -> list[tuple[bytes, bytes | None]]:
        """Write the buffered writes to this partition's RocksDB only, in order, and return the
        changelog records ``(key, value)`` (value None for a deletion) for the caller to send.

        The worker uses this instead of :meth:`commit` so that it can send a batch's changelog
        records with one produce call per partition and wait for the broker to acknowledge them
        before the batch's input offsets are acknowledged; Faust's own path queues one record at
        a time and may commit offsets before the queue is flushed (faust-streaming #333).
        """
        records: list[tuple[bytes, bytes | None]] = [
            (key.encode(), None if raw is DELETED else raw) for key, raw in txn.raw_items()
        ]
        if self._rocks is not None:
            # One atomic RocksDB write for the whole transaction.
            from rocksdict import WriteBatch

            batch = WriteBatch(raw_mode=True)
            for key, raw in records:
                if raw is None:
                    batch.delete(key)
                else:
                    batch.put(key, raw)
            self._db().write(batch)
            return records
        with _current(self._event):
            _assign(self.table.data, records)
        return records

    def set_persisted_offset(self, offset: int) -> None:
        """Record that the changelog partition holds everything up to ``offset`` (Faust reads
        the changelog from there when it recovers this partition)."""
        from faust.types import TP

        store = self.table.data
        if hasattr(store, "set_persisted_offset"):
            tp = TP(self.table.changelog_topic_name, self.partition)
            with _current(self._event):
                # Never backwards: an acknowledgement from before this worker last lost the
                # partition may arrive after Faust recorded the newer owner's writes.
                current = store.persisted_offset(tp)
                if current is None or offset > current:
                    store.set_persisted_offset(tp, offset)

    # -- scans ---------------------------------------------------------------------------------
    def keys(self, prefix: str) -> Iterator[str]:
        """Keys starting with ``prefix`` stored in this partition, in key order."""
        for key, _ in self._scan(prefix, values=False):
            yield key

    def items(self, prefix: str) -> Iterator[tuple[str, Any]]:
        """``(key, value)`` for keys starting with ``prefix`` in this partition, in key order."""
        return self._scan(prefix, values=True)

    def _scan(self, prefix: str, *, values: bool) -> Iterator[tuple[str, Any]]:
        store = self.table.data
        if self._rocks is not None:
            raw_prefix = prefix.encode()
            db = self._db()
            for raw_key, raw_value in db.items(from_key=raw_prefix):
                if not raw_key.startswith(raw_prefix):
                    break
                key = raw_key.decode()
                yield key, (_decode(key, raw_value) if values else None)
            return
        # Anything else (a dict in tests): one mapping for all partitions.
        data = getattr(store, "data", store)
        for key in sorted(k for k in data if isinstance(k, str) and k.startswith(prefix)):
            yield key, (_decode(key, data[key]) if values else None)


def _decode(key: str, raw: Any) -> Any:
    try:
        return decode(raw)
    except ValueError as exc:
        raise StateSerializationError(f"state at key {key!r} is not valid JSON ({exc})") from exc


def _assign(target: Any, writes: Iterable[tuple[Any, bytes | None]]) -> None:
    """Apply ``(key, value)`` writes in order to a table or its store (None deletes the key)."""
    for key, raw in writes:
        if raw is None:
            if target.get(key) is not None:
                del target[key]
        else:
            target[key] = raw
