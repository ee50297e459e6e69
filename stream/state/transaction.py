"""The transaction both state stores of ``stream`` buffer their writes in: JSON bytes, in order.

>>> txn = OrderedTransaction(lambda key: None)
>>> txn.set("h|1|2", {"n": 1})
>>> txn.set("c|1|2|5", {"seq": 1})
>>> txn.set("h|1|2", {"n": 2})  # set again: moves to the end
>>> [key for key, _ in txn.raw_items()], txn.get("h|1|2")
(['c|1|2|5', 'h|1|2'], {'n': 2})
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from core.errors import StateSerializationError
from core.state import DELETED, BufferedTransaction
from stream.records import decode, encode

__all__ = ["OrderedTransaction", "encode_state"]


class OrderedTransaction(BufferedTransaction):
    """A :class:`BufferedTransaction` that keeps each write as its JSON bytes, and replays the
    writes in the order keys were *last* set (setting a key again moves it to the end).

    Holding bytes instead of deep copies is both the isolation (nothing can mutate a buffered
    value) and the serialization the table needs anyway: one encode per write, one decode per
    read of a buffered value.
    """

    def get(self, key: str) -> Any | None:
        if key in self.writes:
            raw = self.writes[key]
            return None if raw is DELETED else decode(raw)
        return self._read(key)

    def set(self, key: str, value: Any) -> None:
        self.writes.pop(key, None)
        self.writes[key] = encode_state(key, value)

    def delete(self, key: str) -> None:
        self.writes.pop(key, None)
        self.writes[key] = DELETED

    def items(self) -> Iterator[tuple[str, Any]]:
        """Buffered writes as values (deletions carry ``DELETED``), in write order."""
        for key, raw in self.writes.items():
            yield key, raw if raw is DELETED else decode(raw)

    def raw_items(self) -> Iterator[tuple[str, Any]]:
        """Buffered writes as JSON bytes (deletions carry ``DELETED``), in write order."""
        return iter(self.writes.items())


def encode_state(key: str, value: Any) -> bytes:
    """A state value as JSON bytes; a value JSON cannot hold raises StateSerializationError."""
    # stream.records.encode, not orjson alone, which would write NaN and infinities as null.
    try:
        return encode(value)
    except TypeError as exc:
        raise StateSerializationError(
            f"cannot store {type(value).__name__} at key {key!r}: {exc}"
        ) from exc
