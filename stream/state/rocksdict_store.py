"""Embedded-mode state: a local RocksDB database through rocksdict.

One engine transaction is one RocksDB ``WriteBatch``, written atomically with ``sync`` off and
the write-ahead log on, so a process killed mid-run keeps either all or none of a batch's
writes. Values are JSON (NaN and infinities kept, as on the topics: stream.records); a value that cannot be decoded raises
:class:`core.errors.StateSerializationError` naming the key. A directory that cannot be opened
(another run holds its lock, it is damaged, it is a file or holds other files) raises
:class:`StateDirectoryError` saying which and what to do.

>>> import tempfile
>>> with tempfile.TemporaryDirectory() as path:
...     store = RocksdictStore(path)
...     with store.transaction() as txn:
...         txn.set("h|1|2", {"n": 1})
...     store.get("h|1|2")
...     store.close()
{'n': 1}
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rocksdict import Options, Rdict, WriteBatch

from core.errors import StateSerializationError, TallyError
from core.state import DELETED
from stream.records import decode
from stream.state.transaction import OrderedTransaction

__all__ = ["RocksdictStore", "StateDirectoryError"]


class StateDirectoryError(TallyError, ValueError):
    """The state directory cannot be opened: in use by another run, damaged, or not one."""


class RocksdictStore:
    """A :class:`core.state.StateStore` on a RocksDB directory."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise StateDirectoryError(
                f"the state directory {self.path} is a file; pass a new directory (or one an "
                "earlier run kept) to --state"
            )
        # RocksDB would add its files to any directory: refuse one that holds something else.
        if self.path.is_dir() and not (self.path / "CURRENT").exists() and any(self.path.iterdir()):
            raise StateDirectoryError(
                f"{self.path} is not a state directory: it holds other files and no RocksDB "
                "database; pass a new or empty directory to --state"
            )
        self.path.mkdir(parents=True, exist_ok=True)
        options = Options(raw_mode=True)
        options.create_if_missing(True)
        try:
            self._db = Rdict(str(self.path), options=options)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            raise _open_error(self.path, exc) from None

    def get(self, key: str) -> Any | None:
        raw = self._db.get(key.encode())
        if raw is None:
            return None
        try:
            return decode(raw)
        except ValueError as exc:
            raise StateSerializationError(
                f"state at key {key!r} in {self.path} is not valid JSON ({exc}); "
                "the state directory is damaged: delete it to rebuild from the export"
            ) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[OrderedTransaction]:
        txn = OrderedTransaction(self.get)
        yield txn
        batch = WriteBatch(raw_mode=True)
        for key, raw in txn.raw_items():
            if raw is DELETED:
                batch.delete(key.encode())
            else:
                batch.put(key.encode(), raw)
        try:
            self._db.write(batch)
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            raise StateDirectoryError(
                f"cannot write to the state directory {self.path} (RocksDB: {exc}); the "
                "batch was not stored: make room and run again"
            ) from None

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        """Every (key, value) whose key starts with ``prefix``, in key order."""
        start = prefix.encode()
        for raw_key, raw_value in self._db.items(from_key=start):
            key = raw_key.decode()
            if not key.startswith(prefix):
                break
            yield key, decode(raw_value)

    def get_meta(self, name: str) -> Any | None:
        return self.get(f"meta|{name}")

    def set_meta(self, name: str, value: Any) -> None:
        with self.transaction() as txn:
            txn.set(f"meta|{name}", value)

    def close(self) -> None:
        try:
            self._db.close()
        except Exception as exc:  # noqa: BLE001 - rocksdict raises plain Exception
            raise StateDirectoryError(
                f"cannot close the state directory {self.path} (RocksDB: {exc}); what was "
                "not stored is applied again by the next run"
            ) from None

    def __enter__(self) -> RocksdictStore:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
            return
        # The error in flight says what went wrong; after a failed write RocksDB's close
        # fails too, repeating it.
        with contextlib.suppress(Exception):
            self._db.close()


def _open_error(path: Path, exc: Exception) -> StateDirectoryError:
    """What RocksDB's refusal to open ``path`` means for the user.

    >>> print(_open_error(Path("st"), Exception("IO error: While lock file: st/LOCK: Resource "
    ...     "temporarily unavailable")))
    the state directory st is in use by another run (RocksDB: IO error: While lock file: st/LOCK: Resource temporarily unavailable); wait for it to finish, or pass another --state
    """
    text = str(exc)
    if "lock" in text.lower():
        return StateDirectoryError(
            f"the state directory {path} is in use by another run (RocksDB: {text}); wait for "
            "it to finish, or pass another --state"
        )
    return StateDirectoryError(
        f"cannot open the state directory {path} (RocksDB: {text}): it is damaged, or not a "
        "state directory; if an earlier run made it, delete it to rebuild from the export, "
        "else pass another --state"
    )
