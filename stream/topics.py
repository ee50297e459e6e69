"""Tally's Kafka topics: their names (configurable), their settings, and creating them.

=====================  =========================  ===========  ==================================
role                   default name               key          settings
=====================  =========================  ===========  ==================================
classifications in     ``tally-classifications``  subject id   ``--partitions`` (default 4),
                                                               delete policy
workflow pipelines     ``tally-workflows``        workflow id  1 partition, compacted
reductions out         ``tally-reductions``       reduction    same partition count as the
                                                  key          classifications, compacted
dead letters           ``tally-dead-letters``     input key    1 partition, delete policy
actions out            ``tally-actions``          action id    1 partition, compacted
classifications by     ``tally-classifications-   user id      same partition count as the
user                   by-user``                               classifications, delete policy
=====================  =========================  ===========  ==================================

The actions topic has one partition so that the effects of one subject (or volunteer) are read
in the order they fired (a rule's ``add_subject_to_set`` before its ``retire_subject``); effects
fire at most once per subject and effect, so one partition carries them easily. It is compacted:
a key is an action id, written once (twice at most after a crash, with the same record), so
compaction only folds such repeats and the topic stays the complete history of fired effects
(a delete policy would drop old actions after the retention time).

The by-user topic is the user stage's input: the subject stage forwards each classification it
applies to it, keyed by user id, for workflows that reduce by user (docs/kafka.md).

Names come from, in order of precedence: command-line flags, environment variables
(``TALLY_TOPIC_CLASSIFICATIONS``, ``TALLY_TOPIC_WORKFLOWS``, ``TALLY_TOPIC_REDUCTIONS``,
``TALLY_TOPIC_DEAD_LETTERS``, ``TALLY_TOPIC_ACTIONS``, ``TALLY_TOPIC_CLASSIFICATIONS_BY_USER``),
then ``<prefix>-<role>`` with the prefix from ``--topic-prefix`` or
``TALLY_TOPIC_PREFIX`` (default ``tally``). The worker group (Faust app id, which is also the
consumer group and the prefix of Faust's changelog topics) is ``--app-id`` / ``TALLY_APP_ID``,
default ``<prefix>-aggregator``.

>>> t = StreamTopics.from_env({"TALLY_TOPIC_PREFIX": "t1", "TALLY_TOPIC_REDUCTIONS": "out"})
>>> t.classifications, t.workflows, t.reductions, t.dead_letters, t.app_id
('t1-classifications', 't1-workflows', 'out', 't1-dead-letters', 't1-aggregator')
>>> t.actions, t.classifications_by_user
('t1-actions', 't1-classifications-by-user')
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import time
from collections.abc import Mapping
from typing import Any

from stream.kafka_settings import KafkaSettings

__all__ = ["DEFAULT_PARTITIONS", "StreamTopics", "add_topic_arguments", "ensure_topics"]

DEFAULT_PREFIX = "tally"
DEFAULT_PARTITIONS = 4
ENV = {
    "classifications": "TALLY_TOPIC_CLASSIFICATIONS",
    "workflows": "TALLY_TOPIC_WORKFLOWS",
    "reductions": "TALLY_TOPIC_REDUCTIONS",
    "dead_letters": "TALLY_TOPIC_DEAD_LETTERS",
    # The same variable `tally effects run` reads (stream.effects.sources.actions_topic).
    "actions": "TALLY_TOPIC_ACTIONS",
    "classifications_by_user": "TALLY_TOPIC_CLASSIFICATIONS_BY_USER",
}


@dataclasses.dataclass(frozen=True)
class StreamTopics:
    classifications: str
    workflows: str
    reductions: str
    dead_letters: str
    app_id: str
    partitions: int = DEFAULT_PARTITIONS
    actions: str = ""
    classifications_by_user: str = ""

    def __post_init__(self) -> None:
        # Built directly with only the first four names: derive the others from the prefix
        # of the classifications topic, as from_env would.
        prefix = self.classifications.removesuffix("-classifications")
        if not self.actions:
            object.__setattr__(self, "actions", f"{prefix}-actions")
        if not self.classifications_by_user:
            object.__setattr__(self, "classifications_by_user", f"{prefix}-classifications-by-user")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> StreamTopics:
        """Names from ``overrides`` (None = not given), else the environment, else defaults."""
        env = os.environ if environ is None else environ
        prefix = overrides.get("prefix") or env.get("TALLY_TOPIC_PREFIX") or DEFAULT_PREFIX
        names = {}
        for role, variable in ENV.items():
            names[role] = (
                overrides.get(role) or env.get(variable) or f"{prefix}-{role.replace('_', '-')}"
            )
        app_id = overrides.get("app_id") or env.get("TALLY_APP_ID") or f"{prefix}-aggregator"
        partitions = int(
            overrides.get("partitions") or env.get("TALLY_PARTITIONS") or DEFAULT_PARTITIONS
        )
        if partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        return cls(**names, app_id=app_id, partitions=partitions)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StreamTopics:
        return cls.from_env(
            prefix=getattr(args, "topic_prefix", None),
            app_id=getattr(args, "app_id", None),
            partitions=getattr(args, "partitions", None),
            classifications=getattr(args, "classifications_topic", None),
            workflows=getattr(args, "workflows_topic", None),
            reductions=getattr(args, "reductions_topic", None),
            dead_letters=getattr(args, "dead_letters_topic", None),
            actions=getattr(args, "actions_topic", None),
            classifications_by_user=getattr(args, "classifications_by_user_topic", None),
        )


def add_topic_arguments(parser: argparse.ArgumentParser, *, partitions: bool = False) -> None:
    """The ``--broker``/topic flags every streaming command shares."""
    group = parser.add_argument_group("Kafka")
    group.add_argument(
        "--broker",
        default=None,
        help="Kafka bootstrap server(s), host:port[,host:port] "
        "(default: $TALLY_KAFKA_BROKER or 127.0.0.1:9092)",
    )
    group.add_argument(
        "--topic-prefix",
        default=None,
        help="prefix of the topic names (default: $TALLY_TOPIC_PREFIX or 'tally')",
    )
    group.add_argument(
        "--app-id",
        default=None,
        help="worker group id (Faust app id, consumer group, changelog prefix) "
        "(default: $TALLY_APP_ID or <prefix>-aggregator)",
    )
    for role in ENV:
        flag = role.replace("_", "-")
        group.add_argument(
            f"--{flag}-topic",
            dest=f"{role}_topic",
            default=None,
            help=f"name of the {role.replace('_', ' ')} topic (default: ${ENV[role]} or <prefix>-{flag})",
        )
    if partitions:
        group.add_argument(
            "--partitions",
            type=int,
            default=None,
            help="partitions of the classifications, by-user and reductions topics when this command "
            f"creates them (default: $TALLY_PARTITIONS or {DEFAULT_PARTITIONS})",
        )


def settings_from_args(args: argparse.Namespace, client_id: str) -> KafkaSettings:
    from stream.kafka_settings import BROKER_ENV

    broker = getattr(args, "broker", None)
    env = dict(os.environ)
    if broker:
        env[BROKER_ENV] = broker
    return KafkaSettings.from_env(env, client_id=client_id)


def _admin(settings: KafkaSettings) -> Any:
    from kafka import KafkaAdminClient

    config = settings.admin_config()
    return KafkaAdminClient(
        **{k: v for k, v in config.items() if k in KafkaAdminClient.DEFAULT_CONFIG}
    )


def topic_specs(topics: StreamTopics) -> dict[str, tuple[int, dict[str, str]]]:
    """Name -> (partitions, config) for the topics Tally creates."""
    compact = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    return {
        topics.classifications: (topics.partitions, {"cleanup.policy": "delete"}),
        topics.workflows: (1, compact),
        topics.reductions: (topics.partitions, compact),
        topics.dead_letters: (1, {"cleanup.policy": "delete"}),
        topics.actions: (1, compact),
        # Co-partitioned with the classifications: the user stage's state table has as many
        # partitions as the worker's (one Faust app, one partition count).
        topics.classifications_by_user: (topics.partitions, {"cleanup.policy": "delete"}),
    }


def ensure_topics(
    settings: KafkaSettings, topics: StreamTopics, timeout: float = 30.0
) -> dict[str, int]:
    """Create whichever of Tally's topics is missing; return name -> partition count.

    Existing topics are left as they are (their partition count wins).
    """
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    specs = topic_specs(topics)
    admin = _admin(settings)
    try:
        existing = set(admin.list_topics())
        missing = [
            NewTopic(name, num_partitions=n, replication_factor=1, topic_configs=config)
            for name, (n, config) in specs.items()
            if name not in existing
        ]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(missing)
        deadline = time.monotonic() + timeout
        while True:
            described = {
                d.get("name", d.get("topic")): len(d["partitions"])
                for d in admin.describe_topics(list(specs))
                if not d.get("error_code") and d.get("partitions")
            }
            if set(described) >= set(specs) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        admin.close()
    absent = set(specs) - set(described)
    if absent:
        raise RuntimeError(f"topics not available after {timeout}s: {', '.join(sorted(absent))}")
    return described
