"""The executor's state: which actions were performed, with what outcome (a SQLite file).

One row per action id::

    action_id  status (in_progress | completed | failed)  effect  workflow_id  rule_id
    target_kind  target_id  attempts  detail  started_at  completed_at  updated_at

Idempotency: an action is performed only after :meth:`ExecutorState.claim` succeeded, and a
``completed`` action is never claimed again, so re-running the executor over the same actions
(the whole actions CSV again, or the actions topic from the start) performs nothing twice. A
``failed`` action is retried only when asked (``retry_failed``). An ``in_progress`` row left by a
crashed run is claimed again: the request is repeated with the same ``Idempotency-Key``.

One executor per state file: :meth:`ExecutorState.open` takes an exclusive lock on
``<file>.lock`` and a second executor fails at once instead of racing the first.
No column ever holds a credential or a payload; ``detail`` is a short, scrubbed message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from core.errors import TallyError
from core.rules.actions import ActionRecord

__all__ = ["ExecutorState", "StateLockedError"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS actions (
    action_id    TEXT PRIMARY KEY,
    status       TEXT NOT NULL,
    effect       TEXT NOT NULL,
    workflow_id  TEXT,
    rule_id      TEXT,
    target_kind  TEXT,
    target_id    TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    detail       TEXT NOT NULL DEFAULT '',
    started_at   TEXT,
    completed_at TEXT,
    updated_at   TEXT NOT NULL
)
"""

_COLUMNS = (
    "action_id", "status", "effect", "workflow_id", "rule_id", "target_kind", "target_id",
    "attempts", "detail", "started_at", "completed_at", "updated_at",
)  # fmt: skip


_SELECT = (
    "SELECT action_id, status, effect, workflow_id, rule_id, target_kind, target_id, attempts, "
    "detail, started_at, completed_at, updated_at FROM actions"
)


class StateLockedError(TallyError):
    """Another executor holds the state file."""


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


class ExecutorState:
    """Outcomes by action id; see the module docstring. Use :meth:`open` (a context manager)."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        self.path = path

    @classmethod
    @contextlib.contextmanager
    def open(cls, path: str | os.PathLike) -> Iterator[ExecutorState]:
        """Open (creating if needed) the state at ``path``, holding its lock until exit."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(f"{path}.lock", "a+")  # noqa: SIM115 - held for the whole context
        try:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                raise StateLockedError(
                    f"{path} is in use by another `tally effects run`; one executor per state "
                    "file (stop the other, or give this one its own --state)"
                ) from None
            db = sqlite3.connect(str(path), isolation_level=None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=FULL")
                db.execute(_SCHEMA)
                yield cls(db, str(path))
            finally:
                db.close()
        finally:
            lock.close()

    def get(self, action_id: str) -> dict[str, Any] | None:
        row = self._db.execute(_SELECT + " WHERE action_id = ?", (action_id,)).fetchone()
        return None if row is None else dict(zip(_COLUMNS, row, strict=True))

    def rows(self, status: str | None = None) -> list[dict[str, Any]]:
        query = _SELECT
        args: tuple = ()
        if status is not None:
            query += " WHERE status = ?"
            args = (status,)
        return [
            dict(zip(_COLUMNS, r, strict=True))
            for r in self._db.execute(query + " ORDER BY updated_at", args)
        ]

    def counts(self) -> dict[str, int]:
        return dict(
            self._db.execute("SELECT status, COUNT(*) FROM actions GROUP BY status").fetchall()
        )

    def claim(self, action: ActionRecord, *, retry_failed: bool = False) -> bool:
        """Mark ``action`` in progress and return True, unless it is completed (or failed and
        ``retry_failed`` is off): then return False and leave it alone."""
        now = _now()
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            row = db.execute(
                "SELECT status FROM actions WHERE action_id = ?", (action.action_id,)
            ).fetchone()
            if row is not None and (
                row[0] == "completed" or (row[0] == "failed" and not retry_failed)
            ):
                db.execute("COMMIT")
                return False
            if row is None:
                db.execute(
                    "INSERT INTO actions (action_id, status, effect, workflow_id, rule_id, "
                    "target_kind, target_id, attempts, started_at, updated_at) "
                    "VALUES (?, 'in_progress', ?, ?, ?, ?, ?, 0, ?, ?)",
                    (
                        action.action_id, action.effect, str(action.workflow_id), action.rule_id,
                        action.target_kind, str(action.target_id), now, now,
                    ),
                )  # fmt: skip
            else:
                db.execute(
                    "UPDATE actions SET status = 'in_progress', started_at = ?, updated_at = ? "
                    "WHERE action_id = ?",
                    (now, now, action.action_id),
                )
            db.execute("COMMIT")
            return True
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def attempt(self, action_id: str) -> int:
        """Count one more attempt (before it is made, so a crash mid-request still counts it)."""
        self._db.execute(
            "UPDATE actions SET attempts = attempts + 1, updated_at = ? WHERE action_id = ?",
            (_now(), action_id),
        )
        return self._db.execute(
            "SELECT attempts FROM actions WHERE action_id = ?", (action_id,)
        ).fetchone()[0]

    def finish(self, action_id: str, status: str, detail: str = "") -> None:
        """Record the outcome: ``completed`` or ``failed``."""
        if status not in ("completed", "failed"):
            raise ValueError(f"status must be completed or failed, got {status!r}")
        now = _now()
        self._db.execute(
            "UPDATE actions SET status = ?, detail = ?, completed_at = ?, updated_at = ? "
            "WHERE action_id = ?",
            (status, detail[:500], now if status == "completed" else None, now, action_id),
        )
