"""Kafka client settings shared by Tally's producers, consumers and Faust workers.

One place decides how Tally talks to Kafka, so the CLI, the worker and the tests agree:

* the broker comes from ``TALLY_KAFKA_BROKER`` (default ``127.0.0.1:9092``, the broker that
  ``ops/kafka-local start`` runs); ``host:port``, ``kafka://host:port`` and comma or semicolon
  separated lists of either are accepted;
* producers wait for all in-sync replicas (``acks="all"``) and are idempotent, so a retried send
  cannot write a duplicate or reorder a partition;
* consumers start from the earliest offset when their group has none and never see records of
  aborted transactions (``read_committed``).

Faust (faust-streaming) builds its own aiokafka clients: :meth:`KafkaSettings.faust_config` maps the
same choices onto Faust settings (Faust's producer uses ``acks=-1``; it turns idempotence on only
with ``processing_guarantee="exactly_once"``).

>>> s = KafkaSettings.from_env({"TALLY_KAFKA_BROKER": "kafka://k1:9092;k2"}, client_id="t")
>>> s.bootstrap
('k1:9092', 'k2:9092')
>>> s.producer_config()["acks"], s.producer_config()["enable_idempotence"]
('all', True)
>>> s.faust_config()["broker"]
['kafka://k1:9092', 'kafka://k2:9092']
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

BROKER_ENV = "TALLY_KAFKA_BROKER"
DEFAULT_BROKER = "127.0.0.1:9092"
DEFAULT_PORT = 9092
DEFAULT_CLIENT_ID = "tally"


def bootstrap_servers(broker: str) -> tuple[str, ...]:
    """Normalise a broker string to a tuple of ``host:port``.

    >>> bootstrap_servers("kafka://a:1, b ;kafka://c")
    ('a:1', 'b:9092', 'c:9092')
    >>> bootstrap_servers("")
    Traceback (most recent call last):
    ...
    ValueError: no Kafka broker given (expected host:port or kafka://host:port)
    """
    servers = []
    for part in re.split(r"[,;\s]+", broker.strip()):
        if not part:
            continue
        if "://" in part:
            scheme, _, part = part.partition("://")
            if scheme != "kafka":
                raise ValueError(f"unsupported broker scheme {scheme!r} in {broker!r}")
        part = part.rstrip("/")
        host, sep, port = part.rpartition(":")
        if not sep or not port.isdigit():
            host, port = part, str(DEFAULT_PORT)
        servers.append(f"{host}:{port}")
    if not servers:
        raise ValueError("no Kafka broker given (expected host:port or kafka://host:port)")
    return tuple(servers)


def broker_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The broker string from ``TALLY_KAFKA_BROKER``, or the ops/kafka-local default."""
    env = os.environ if environ is None else environ
    return env.get(BROKER_ENV, "").strip() or DEFAULT_BROKER


@dataclass(frozen=True)
class KafkaSettings:
    """How Tally's Kafka clients connect and what delivery guarantees they ask for."""

    bootstrap: tuple[str, ...]
    client_id: str = DEFAULT_CLIENT_ID
    acks: str = "all"
    enable_idempotence: bool = True
    linger_ms: int = 5
    request_timeout_ms: int = 30_000
    auto_offset_reset: str = "earliest"
    isolation_level: str = "read_committed"

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        client_id: str = DEFAULT_CLIENT_ID,
    ) -> KafkaSettings:
        return cls(bootstrap=bootstrap_servers(broker_from_env(environ)), client_id=client_id)

    @property
    def bootstrap_servers(self) -> str:
        """Comma-separated, as aiokafka and kafka-python accept it."""
        return ",".join(self.bootstrap)

    def producer_config(self) -> dict[str, Any]:
        """Keyword arguments for ``aiokafka.AIOKafkaProducer``."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "acks": self.acks,
            "enable_idempotence": self.enable_idempotence,
            "linger_ms": self.linger_ms,
            "request_timeout_ms": self.request_timeout_ms,
        }

    def consumer_config(self, group_id: str | None = None) -> dict[str, Any]:
        """Keyword arguments for ``aiokafka.AIOKafkaConsumer``.

        With a ``group_id`` offsets are committed explicitly by the caller (never auto-committed),
        so a record is only marked done after it has been handled.
        """
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "group_id": group_id,
            "enable_auto_commit": False,
            "auto_offset_reset": self.auto_offset_reset,
            "isolation_level": self.isolation_level,
            "request_timeout_ms": self.request_timeout_ms,
        }

    def admin_config(self) -> dict[str, Any]:
        """Keyword arguments for ``kafka.KafkaAdminClient`` (kafka-python)."""
        return {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": f"{self.client_id}-admin",
            "request_timeout_ms": self.request_timeout_ms,
        }

    def faust_config(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App`` that carry the same choices."""
        return {
            "broker": [f"kafka://{server}" for server in self.bootstrap],
            "broker_client_id": self.client_id,
            "producer_acks": -1,
            "consumer_auto_offset_reset": self.auto_offset_reset,
        }
