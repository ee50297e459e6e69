"""The state store the incremental engine talks to, and an in-memory backend.

The engine reads and writes plain JSON-able values by string key inside one transaction per
batch of classifications. A transaction commits on a clean exit and discards every write if an
exception escapes, so a failed classification leaves no trace. Backends: :class:`MemoryStore`
(tests, one-shot runs), ``stream.state.RocksdictStore`` (embedded mode) and
``stream.state.FaustTableStore`` (Kafka mode).

>>> store = MemoryStore()
>>> with store.transaction() as txn:
...     txn.set("a", {"n": 1})
>>> store.get("a")
{'n': 1}
>>> try:
...     with store.transaction() as txn:
...         txn.set("a", {"n": 2})
...         raise RuntimeError("boom")
... except RuntimeError:
...     pass
>>> store.get("a")
{'n': 1}
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from typing import Any, Protocol

__all__ = ["MemoryStore", "StateStore", "Transaction"]

_DELETED = object()


class Transaction(Protocol):
    def get(self, key: str) -> Any | None: ...

    def set(self, key: str, value: Any) -> None: ...

    def delete(self, key: str) -> None: ...


class StateStore(Protocol):
    """Key-value state with read-your-writes transactions."""

    def get(self, key: str) -> Any | None: ...

    def transaction(self) -> contextlib.AbstractContextManager[Transaction]: ...


class BufferedTransaction:
    """Writes are buffered and applied by the store's ``commit`` only on success.

    Values are deep-copied in and out so no caller can mutate stored state in place (a change
    made in place would be lost by a changelog-backed store).
    """

    def __init__(self, read: Any) -> None:
        self._read = read
        self.writes: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        if key in self.writes:
            value = self.writes[key]
            return None if value is _DELETED else copy.deepcopy(value)
        return self._read(key)

    def set(self, key: str, value: Any) -> None:
        self.writes[key] = copy.deepcopy(value)

    def delete(self, key: str) -> None:
        self.writes[key] = _DELETED

    def items(self) -> Iterator[tuple[str, Any]]:
        """Buffered writes; deletions carry :data:`DELETED`."""
        return iter(self.writes.items())


DELETED = _DELETED


class MemoryStore:
    """A dict-backed :class:`StateStore`."""

    def __init__(self) -> None:
        self._data: dict[str, Any] = {}

    def get(self, key: str) -> Any | None:
        value = self._data.get(key)
        return None if value is None else copy.deepcopy(value)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[BufferedTransaction]:
        txn = BufferedTransaction(self.get)
        yield txn
        for key, value in txn.items():
            if value is DELETED:
                self._data.pop(key, None)
            else:
                self._data[key] = value

    def snapshot(self) -> dict[str, Any]:
        """A deep copy of everything stored, by key (for tests and debugging)."""
        return copy.deepcopy(self._data)

    def __len__(self) -> int:
        return len(self._data)
