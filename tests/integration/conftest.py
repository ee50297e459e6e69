"""Fixtures for the integration tests that need a real Kafka broker.

The broker is ``TALLY_KAFKA_BROKER`` (default ``127.0.0.1:9092``, what ``ops/kafka-local start``
runs). Tests marked ``@pytest.mark.kafka`` check it first: if no client can fetch metadata from
it they are skipped with the reason, unless ``CI=true`` or ``TALLY_REQUIRE_KAFKA=1``, where they
fail instead (a CI run without its broker must not pass by skipping).
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import uuid
from collections.abc import Callable, Iterator

import pytest
from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from stream.kafka_settings import KafkaSettings, bootstrap_servers, broker_from_env


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def kafka_required() -> bool:
    return _truthy(os.environ.get("CI")) or _truthy(os.environ.get("TALLY_REQUIRE_KAFKA"))


def admin_client(settings: KafkaSettings, **extra: object) -> KafkaAdminClient:
    config = {**settings.admin_config(), **extra}
    # kafka-python releases differ in the options they know; pass only the known ones.
    return KafkaAdminClient(
        **{k: v for k, v in config.items() if k in KafkaAdminClient.DEFAULT_CONFIG}
    )


@functools.cache
def broker_problem(broker: str) -> str | None:
    """None if a client can fetch cluster metadata from ``broker``, else what went wrong."""
    try:
        servers = bootstrap_servers(broker)
    except ValueError as exc:
        return str(exc)
    host, _, port = servers[0].rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=3).close()
    except OSError as exc:
        return f"cannot connect to {host}:{port} ({exc})"
    settings = KafkaSettings(bootstrap=servers, client_id="tally-test-probe")
    try:
        admin = admin_client(settings, request_timeout_ms=5000, bootstrap_timeout_ms=5000)
        try:
            brokers = admin.describe_cluster()["brokers"]
        finally:
            admin.close()
    except Exception as exc:  # any client failure means "not usable"
        return f"metadata request to {broker} failed: {exc!r}"
    if not brokers:
        return f"{broker} answered but listed no brokers"
    return None


@pytest.fixture(autouse=True)
def _require_kafka_for_marked_tests(request: pytest.FixtureRequest) -> None:
    if request.node.get_closest_marker("kafka") is None:
        return
    broker = broker_from_env()
    problem = broker_problem(broker)
    if problem is None:
        return
    message = (
        f"Kafka broker {broker} unreachable: {problem}. "
        "Start one with `ops/kafka-local start` or point TALLY_KAFKA_BROKER at one."
    )
    if kafka_required():
        pytest.fail(f"{message} (required here: CI=true or TALLY_REQUIRE_KAFKA=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def run_id() -> str:
    """A short unique id for this test's topics, groups and app ids (reruns never collide)."""
    return uuid.uuid4().hex[:12]


@pytest.fixture
def kafka_settings(run_id: str) -> KafkaSettings:
    return KafkaSettings.from_env(client_id=f"tally-test-{run_id}")


@pytest.fixture
def kafka_admin(kafka_settings: KafkaSettings) -> Iterator[KafkaAdminClient]:
    admin = admin_client(kafka_settings)
    try:
        yield admin
    finally:
        admin.close()


@pytest.fixture
def topic_cleanup(kafka_admin: KafkaAdminClient) -> Iterator[list[str]]:
    """Prefixes of topics to delete after the test (e.g. a Faust app id: its changelog and
    assignor topics start with it). Best effort: names are unique per run anyway."""
    prefixes: list[str] = []
    yield prefixes
    if not prefixes:
        return
    with contextlib.suppress(Exception):
        doomed = [t for t in kafka_admin.list_topics() if t.startswith(tuple(prefixes))]
        if doomed:
            kafka_admin.delete_topics(doomed)


@pytest.fixture
def make_topic(
    kafka_admin: KafkaAdminClient, topic_cleanup: list[str]
) -> Callable[[str, int], str]:
    """Create a topic (deleted after the test) and return its name."""

    def make(name: str, partitions: int = 1) -> str:
        with contextlib.suppress(TopicAlreadyExistsError):
            kafka_admin.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=1)]
            )
        topic_cleanup.append(name)
        return name

    return make
