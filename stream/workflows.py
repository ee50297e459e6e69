"""Workflow pipelines on the compacted workflows topic: the message, loading it, the registry.

``tally workflow load`` publishes one message per workflow (key = the workflow id as text; the
latest message per key is the workflow's pipeline; a null value removes the workflow)::

    {"format": 1, "workflow_id": 10,
     "extractor_config": {...the extractor config YAML, as loaded...},
     "reducer_configs": [{...one reducer config YAML each...}],
     "reducer_keys": ["question_extractor"],
     "repeat_filter": "first",
     "sources": {"extractor_config": "Extractor_config_workflow_10_V16.55.yaml",
                 "reducer_configs": ["Reducer_config_workflow_10_V16.55_question_extractor.yaml"]},
     "loaded_at": "2024-05-01T10:00:00+00:00"}

Every worker reads the whole topic (it has one partition and no consumer group), so every
worker knows every pipeline whatever partitions it owns, and picks up a new message within
its poll interval, without a restart.

``config_version`` (carried by every reduction) is the pipeline's config digest plus the repeat
filter: a change to either makes the workers re-reduce the workflow's stored subjects.

>>> message = workflow_message(
...     {"workflow_id": 10, "extractor_config": {"question_extractor": [{"task": "T0"}]}},
...     [{"reducer_config": {"question_reducer": {"no_version": True}}}], [None], "all")
>>> loaded = build_workflow(message)
>>> loaded.workflow_id, loaded.repeat_filter, loaded.no_version
(10, 'all', (True,))
>>> loaded.pipeline.config_version.endswith("-all")
True
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson

from core.engine import Engine
from core.errors import TallyError
from core.pipeline import ConfigError, Pipeline
from core.repeats import REPEAT_MODES
from core.roundtrip import read_back
from core.rules.rulebook import RuleBook

__all__ = [
    "LoadedWorkflow",
    "WorkflowRegistry",
    "bind_reducer_file",
    "build_workflow",
    "workflow_message",
]

FORMAT = 1
#: Keywords the batch CLI handles itself (not the extractor/reducer): kept in the message,
#: stripped before the pipeline is parsed.
WRAPPER_KEYWORDS = ("no_version",)

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class LoadedWorkflow:
    workflow_id: int
    pipeline: Pipeline
    engine: Engine
    repeat_filter: str
    no_version: tuple[bool, ...]
    message: Mapping[str, Any]
    #: Reduces by volunteer (``topic: reduce_by_user`` reducers, user rules); None if unused.
    user_engine: Engine | None = None

    @property
    def config_version(self) -> str:
        return self.pipeline.config_version

    @property
    def engines(self) -> tuple[Engine, ...]:
        return (self.engine,) if self.user_engine is None else (self.engine, self.user_engine)


def _strip_extractor(config: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(config)
    section = config.get("extractor_config")
    if isinstance(section, Mapping):
        out["extractor_config"] = {
            key: [
                {k: v for k, v in entry.items() if k not in WRAPPER_KEYWORDS}
                if isinstance(entry, Mapping)
                else entry
                for entry in tasks
            ]
            if isinstance(tasks, list)
            else tasks
            for key, tasks in section.items()
        }
    return out


def _strip_reducer(config: Any) -> tuple[Any, bool]:
    if not isinstance(config, Mapping):
        return config, False
    section = config.get("reducer_config")
    if not isinstance(section, Mapping) or len(section) != 1:
        return config, False
    ((name, keywords),) = section.items()
    if not isinstance(keywords, Mapping):
        return config, False
    flag = bool(keywords.get("no_version", False))
    kept = {k: v for k, v in keywords.items() if k not in WRAPPER_KEYWORDS}
    return {**config, "reducer_config": {name: kept}}, flag


def build_workflow(message: Mapping[str, Any]) -> LoadedWorkflow:
    """Parse a workflows-topic message; raises :class:`ConfigError` (a TallyError) if invalid."""
    if not isinstance(message, Mapping):
        raise ConfigError(f"a workflow message must be a JSON object, got {type(message).__name__}")
    repeat_filter = message.get("repeat_filter", "first")
    if repeat_filter not in REPEAT_MODES:
        raise ConfigError(
            f"repeat_filter must be one of {', '.join(REPEAT_MODES)}, got {repeat_filter!r}"
        )
    extractor = message.get("extractor_config")
    reducers = message.get("reducer_configs")
    if not isinstance(extractor, Mapping) or not isinstance(reducers, list) or not reducers:
        raise ConfigError(
            "a workflow message needs 'extractor_config' (a mapping) and 'reducer_configs' "
            "(a non-empty list)"
        )
    keys = message.get("reducer_keys") or [None] * len(reducers)
    if len(keys) != len(reducers):
        raise ConfigError("'reducer_keys' must have one entry per reducer config")
    rules = None
    if message.get("rules") is not None:
        rules = RuleBook.from_document(
            message["rules"], str((message.get("sources") or {}).get("rules", "rules"))
        )
    stripped = [_strip_reducer(r) for r in reducers]
    pipeline = Pipeline.from_configs(
        _strip_extractor(extractor), [r for r, _ in stripped], reducer_keys=list(keys)
    )
    version = f"{pipeline.config_version}-{repeat_filter}"
    if rules is not None:
        # New or changed rules are evaluated on every stored subject (a re-reduce), not only
        # on subjects that happen to get another classification.
        digest = hashlib.sha256(orjson.dumps(message["rules"], option=orjson.OPT_SORT_KEYS))
        version += f"-rules{digest.hexdigest()[:8]}"
    pipeline = pipeline._replace(config_version=version)
    return LoadedWorkflow(
        workflow_id=pipeline.workflow_id,
        pipeline=pipeline,
        # Reducers see each extract as `tally reduce` reads it back from the extraction CSV.
        engine=Engine(pipeline, repeat_filter=repeat_filter, normalize=read_back, rules=rules),
        repeat_filter=repeat_filter,
        no_version=tuple(flag for _, flag in stripped),
        message=message,
        user_engine=(
            Engine(
                pipeline,
                repeat_filter=repeat_filter,
                normalize=read_back,
                rules=rules,
                topic="user",
            )
            if pipeline.has_topic("user") or (rules is not None and rules.rules("user"))
            else None
        ),
    )


def workflow_message(
    extractor_config: Mapping[str, Any],
    reducer_configs: Sequence[Mapping[str, Any]],
    reducer_keys: Sequence[str | None],
    repeat_filter: str = "first",
    *,
    sources: Mapping[str, Any] | None = None,
    rules: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The message ``tally workflow load`` publishes; validated by building it first."""
    message = {
        "format": FORMAT,
        "workflow_id": None,
        "extractor_config": dict(extractor_config),
        "reducer_configs": [dict(r) for r in reducer_configs],
        "reducer_keys": list(reducer_keys),
        "repeat_filter": repeat_filter,
        "sources": dict(sources or {}),
        "rules": None if rules is None else dict(rules),
        "loaded_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    loaded = build_workflow(message)
    message["workflow_id"] = loaded.workflow_id
    return message


def bind_reducer_file(spec: str, extractor_keys: Sequence[str]) -> tuple[str, str | None]:
    """``FILE:EXTRACTOR_KEY`` or ``..._<extractor_key>.yaml`` -> (path, key or None).

    >>> bind_reducer_file("Reducer_config_workflow_1_V2.3_question_extractor.yaml",
    ...                   ["question_extractor", "shortcut_extractor"])
    ('Reducer_config_workflow_1_V2.3_question_extractor.yaml', 'question_extractor')
    >>> bind_reducer_file("r.yaml:shortcut_extractor", ["shortcut_extractor"])
    ('r.yaml', 'shortcut_extractor')
    >>> bind_reducer_file("r.yaml", ["question_extractor"])
    ('r.yaml', None)
    """
    path, sep, key = spec.rpartition(":")
    if sep and key in extractor_keys and not Path(spec).exists():
        return path, key
    stem = Path(spec).stem
    matches = [k for k in extractor_keys if stem == k or stem.endswith(f"_{k}")]
    return spec, max(matches, key=len) if matches else None


class WorkflowRegistry:
    """The pipelines this process knows, by workflow id, as read from the workflows topic.

    ``on_change(old, new)`` is called when a workflow's ``config_version`` changes (``new`` is
    None when it was removed).
    """

    def __init__(
        self,
        on_change: Callable[[LoadedWorkflow | None, LoadedWorkflow | None], None] | None = None,
    ) -> None:
        self.workflows: dict[int, LoadedWorkflow] = {}
        self.errors: dict[str, str] = {}
        self.on_change = on_change
        self.positions: dict[int, int] = {}  # partition -> next offset to read
        self.ready = asyncio.Event()

    def get(self, workflow_id: int) -> LoadedWorkflow | None:
        return self.workflows.get(workflow_id)

    def apply(self, key: bytes | str | None, value: Any) -> None:
        """Apply one decoded message (``value`` None = removal)."""
        key_text = key.decode() if isinstance(key, bytes) else key
        if value is None:
            try:
                workflow_id = int(key_text or "")
            except ValueError:
                return
            old = self.workflows.pop(workflow_id, None)
            if old is not None:
                log.info("workflow %s removed", workflow_id)
                if self.on_change:
                    self.on_change(old, None)
            return
        try:
            loaded = build_workflow(value)
        except (TallyError, TypeError, ValueError) as exc:
            self.errors[str(key_text)] = str(exc)
            log.error("ignoring invalid pipeline for workflow key %s: %s", key_text, exc)
            return
        old = self.workflows.get(loaded.workflow_id)
        self.workflows[loaded.workflow_id] = loaded
        self.errors.pop(str(key_text), None)
        if old is None or old.config_version != loaded.config_version:
            log.info(
                "workflow %s pipeline %s (%d reducers, filter %s)",
                loaded.workflow_id,
                loaded.config_version,
                len(loaded.pipeline.reducers),
                loaded.repeat_filter,
            )
            if self.on_change:
                self.on_change(old, loaded)


class WorkflowReader:
    """Reads the workflows topic from its beginning, forever, into a :class:`WorkflowRegistry`.

    Uses its own aiokafka consumer without a group, so every worker reads every partition.
    """

    def __init__(
        self, registry: WorkflowRegistry, topic: str, consumer_config: Mapping[str, Any]
    ) -> None:
        self.registry = registry
        self.topic = topic
        self.config = {**consumer_config, "group_id": None, "enable_auto_commit": False}
        self.consumer: Any = None
        self._caught_up = asyncio.Condition()

    async def start(self) -> None:
        from aiokafka import AIOKafkaConsumer
        from aiokafka.structs import TopicPartition

        from stream.records import decode

        self._decode = decode
        self.consumer = AIOKafkaConsumer(**self.config)
        await self.consumer.start()
        deadline = asyncio.get_running_loop().time() + 30
        while True:
            # The consumer subscribes to nothing, so its own metadata lacks the topic: ask the
            # cluster.
            metadata = await self.consumer._client.fetch_all_metadata()  # noqa: SLF001
            partitions = metadata.partitions_for_topic(self.topic)
            if partitions:
                break
            if asyncio.get_running_loop().time() > deadline:
                raise RuntimeError(f"workflows topic {self.topic!r} not found")
            await asyncio.sleep(0.2)
        self.tps = [TopicPartition(self.topic, p) for p in sorted(partitions)]
        self.consumer.assign(self.tps)
        await self.consumer.seek_to_beginning(*self.tps)

    async def run(self) -> None:
        """Consume forever; ``registry.ready`` is set once the topic was read to its end."""
        if self.consumer is None:
            await self.start()
        initial = await self.consumer.end_offsets(self.tps)
        self._check_ready(initial)
        while True:
            batches = await self.consumer.getmany(timeout_ms=200)
            for tp, records in batches.items():
                for record in records:
                    try:
                        value = None if record.value is None else self._decode(record.value)
                    except ValueError as exc:
                        log.error(
                            "undecodable workflow message at offset %s: %s", record.offset, exc
                        )
                        continue
                    self.registry.apply(record.key, value)
                    self.registry.positions[tp.partition] = record.offset + 1
            for tp in self.tps:
                self.registry.positions[tp.partition] = max(
                    self.registry.positions.get(tp.partition, 0), await self.consumer.position(tp)
                )
            self._check_ready(initial)
            async with self._caught_up:
                self._caught_up.notify_all()

    def _check_ready(self, targets: Mapping[Any, int]) -> None:
        if not self.registry.ready.is_set() and all(
            self.registry.positions.get(tp.partition, 0) >= end for tp, end in targets.items()
        ):
            self.registry.ready.set()

    async def catch_up(self, timeout: float = 10.0) -> bool:
        """Wait until every message published so far was applied (read-your-writes)."""
        if self.consumer is None:
            return False
        targets = await self.consumer.end_offsets(self.tps)

        def done() -> bool:
            return all(
                self.registry.positions.get(tp.partition, 0) >= end for tp, end in targets.items()
            )

        try:
            async with self._caught_up:
                await asyncio.wait_for(self._caught_up.wait_for(done), timeout)
        except TimeoutError:
            return False
        return True

    async def stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
