"""Where action records come from: the embedded mode's actions CSV, or the actions topic.

* **CSV** (``--actions FILE``): the columns of :data:`core.rules.actions.ACTION_COLUMNS`, one row
  per action, as the embedded runner appends them. Rows are read in file order; a malformed row
  (a config its effect does not accept, no target id, ...) is reported with the file, its line
  number, the action id and what is wrong, and not performed; the other rows are.
* **Kafka** (``--broker``): the JSON records of the actions topic (``TALLY_TOPIC_ACTIONS``, else
  ``<prefix>-actions``), consumed in a consumer group (default ``<prefix>-effects``). Offsets
  are committed only after every record before them has an outcome in the executor state, so a
  crash re-delivers records, which the state then skips or finishes.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

from core.rules.actions import ACTION_COLUMNS, ActionRecord

__all__ = ["actions_topic", "effects_group", "read_actions_csv"]

log = logging.getLogger("tally.effects")


def actions_topic(environ: Mapping[str, str] | None = None) -> str:
    """``$TALLY_TOPIC_ACTIONS``, else ``<$TALLY_TOPIC_PREFIX or tally>-actions``."""
    env = os.environ if environ is None else environ
    prefix = env.get("TALLY_TOPIC_PREFIX") or "tally"
    return env.get("TALLY_TOPIC_ACTIONS") or f"{prefix}-actions"


def effects_group(environ: Mapping[str, str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get("TALLY_EFFECTS_GROUP") or f"{env.get('TALLY_TOPIC_PREFIX') or 'tally'}-effects"


def read_actions_csv(
    path: str | os.PathLike, problems: list[str] | None = None
) -> Iterator[ActionRecord]:
    """The action records of an actions CSV, in file order; bad rows go to ``problems``."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in ACTION_COLUMNS if c not in (reader.fieldnames or ())]
        if missing:
            raise ValueError(
                f"{path}: not an actions CSV: missing column(s) {', '.join(missing)} "
                f"(expected {', '.join(ACTION_COLUMNS)})"
            )
        for row in reader:
            try:
                yield ActionRecord.from_row(row)
            except (ValueError, KeyError, TypeError) as exc:
                message = f"{path}, line {reader.line_num}: malformed row, not performed: {exc}"
                log.error("%s", message)
                if problems is not None:
                    problems.append(message)


async def consume_actions(
    settings: Any,
    topic: str,
    group_id: str,
    *,
    idle_exit: float | None = None,
    problems: list[str] | None = None,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[list[tuple[Any, ActionRecord | None]]]:
    """Batches of ``(message, record)`` from the actions topic (``record`` None when the message
    is malformed). A batch's offsets are committed when the caller asks for the next batch,
    i.e. after it has handled this one. Ends after ``idle_exit`` seconds without records, or
    when ``stop`` is set."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(topic, **settings.consumer_config(group_id))
    await consumer.start()
    try:
        idle = 0.0
        while stop is None or not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            messages = [m for partition in batches.values() for m in partition]
            if not messages:
                idle += 0.5
                if idle_exit is not None and idle >= idle_exit:
                    return
                continue
            idle = 0.0
            out = []
            for message in messages:
                try:
                    record = ActionRecord.from_dict(json.loads(message.value))
                except (ValueError, KeyError, TypeError) as exc:
                    text = (
                        f"{message.topic}[{message.partition}]@{message.offset}: malformed "
                        f"record, not performed: {exc}"
                    )
                    log.error("%s", text)
                    if problems is not None:
                        problems.append(text)
                    record = None
                out.append((message, record))
            yield out
            await consumer.commit()
    finally:
        await consumer.stop()
