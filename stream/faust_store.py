"""Kafka-mode state: a :class:`core.state.StateStore` over a Faust table (RocksDB via rocksdict).

One Faust table (``store="rocksdb://"``) holds every key the engine writes, co-partitioned with
the classifications topic: a subject's keys live in the partition its classifications arrive on.
A :class:`FaustTableStore` is bound to one partition; the worker makes one per partition of each
batch it processes.

How the Faust table is driven, and why:

* **Writes are assignments, at commit.** A transaction buffers its writes (reads see them) and
  assigns each key once when it commits: ``table[key] = value``. Only an assignment writes the
  changelog; a value is never mutated in place (values read are fresh copies).
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
import copy
import weakref
from collections.abc import Iterator
from typing import Any

from core.state import DELETED, BufferedTransaction

__all__ = ["FaustTableStore", "OrderedTransaction", "PartitionEvent"]


class OrderedTransaction(BufferedTransaction):
    """A :class:`BufferedTransaction` whose writes are replayed in the order keys were *last*
    set: setting a key again moves it to the end."""

    def set(self, key: str, value: Any) -> None:
        self.writes.pop(key, None)
        super().set(key, value)

    def delete(self, key: str) -> None:
        self.writes.pop(key, None)
        super().delete(key)


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

    ``table`` is a ``faust.Table`` with ``key_type=bytes`` (keys are stored as their UTF-8 bytes,
    so a key prefix is a byte prefix in RocksDB) and JSON values. ``source_topic`` is the topic
    the table is co-partitioned with (Faust checks the partition counts match); with
    ``source_topic=None`` no current event is set (the caller runs inside the stream already).
    """

    def __init__(self, table: Any, partition: int, *, source_topic: str | None) -> None:
        self.table = table
        self.partition = partition
        self._event = None if source_topic is None else PartitionEvent(source_topic, partition)
        store = getattr(table, "data", None)
        # RocksDB decodes a fresh object on every read; an in-memory store returns the stored
        # object itself, which must not leak out to be mutated.
        self._copy_reads = not hasattr(store, "_db_for_partition")

    def get(self, key: str) -> Any | None:
        with _current(self._event):
            value = self.table.get(key)
        if value is not None and self._copy_reads:
            return copy.deepcopy(value)
        return value

    @contextlib.contextmanager
    def transaction(self) -> Iterator[OrderedTransaction]:
        txn = OrderedTransaction(self.get)
        yield txn
        self.commit(txn)

    def commit(self, txn: BufferedTransaction) -> None:
        """Assign every buffered write to the table, in order (each sends a changelog record)."""
        table = self.table
        with _current(self._event):
            for key, value in txn.items():
                if value is DELETED:
                    if table.get(key) is not None:
                        del table[key]
                else:
                    table[key] = value

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
        if hasattr(store, "_db_for_partition"):
            raw_prefix = store._encode_key(prefix)  # noqa: SLF001 - Faust has no public prefix scan
            db = store._db_for_partition(self.partition)  # noqa: SLF001
            for raw_key, raw_value in db.items(from_key=raw_prefix):
                if not raw_key.startswith(raw_prefix):
                    break
                key = store._decode_key(raw_key)  # noqa: SLF001
                if isinstance(key, bytes):
                    key = key.decode()
                yield key, (store._decode_value(raw_value) if values else None)  # noqa: SLF001
            return
        # In-memory store (tests): one dict for all partitions.
        data = getattr(store, "data", store)
        for key in sorted(k for k in data if isinstance(k, str) and k.startswith(prefix)):
            yield key, (copy.deepcopy(data[key]) if values else None)
