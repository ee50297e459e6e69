"""Blocking Kafka helpers for the command line (kafka-python): read a topic to its end, produce,
look up offsets. The worker itself uses Faust/aiokafka; these serve ``tally workflow``,
``tally replay``, ``tally export``, the tests and the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from stream.kafka_settings import KafkaSettings

__all__ = [
    "committed_offsets",
    "end_offsets",
    "latest_by_key",
    "make_producer",
    "read_to_end",
]


def make_producer(settings: KafkaSettings, **extra: Any) -> Any:
    from kafka import KafkaProducer

    config = {**settings.producer_config(), **extra}
    return KafkaProducer(**{k: v for k, v in config.items() if k in KafkaProducer.DEFAULT_CONFIG})


def _consumer(settings: KafkaSettings, group_id: str | None = None) -> Any:
    from kafka import KafkaConsumer

    config = settings.consumer_config(group_id)
    return KafkaConsumer(**{k: v for k, v in config.items() if k in KafkaConsumer.DEFAULT_CONFIG})


def _partitions(consumer: Any, topic: str, timeout: float) -> list[Any]:
    from kafka import TopicPartition

    deadline = time.monotonic() + timeout
    while True:
        partitions = consumer.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        if time.monotonic() > deadline:
            raise LookupError(f"topic {topic!r} does not exist on the broker")
        time.sleep(0.2)


def end_offsets(settings: KafkaSettings, topic: str, timeout: float = 30.0) -> dict[int, int]:
    """Partition -> log end offset (the offset the next record will get)."""
    consumer = _consumer(settings)
    try:
        tps = _partitions(consumer, topic, timeout)
        return {tp.partition: off for tp, off in consumer.end_offsets(tps).items()}
    finally:
        consumer.close()


def committed_offsets(settings: KafkaSettings, group_id: str, topic: str) -> dict[int, int]:
    """Partition -> offset committed by consumer group ``group_id`` (absent: none yet)."""
    from kafka import KafkaAdminClient

    config = settings.admin_config()
    admin = KafkaAdminClient(
        **{k: v for k, v in config.items() if k in KafkaAdminClient.DEFAULT_CONFIG}
    )
    try:
        offsets = admin.list_group_offsets(group_id).get(group_id, {})
    finally:
        admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == topic and meta.offset is not None and meta.offset >= 0
    }


def read_to_end(
    settings: KafkaSettings, topic: str, *, timeout: float = 60.0
) -> Iterator[tuple[int, int, bytes | None, bytes | None, int]]:
    """Every record of ``topic`` up to the end offsets at the time of the call:
    ``(partition, offset, key, value, timestamp_ms)``, partition by partition in offset order."""
    consumer = _consumer(settings)
    try:
        tps = _partitions(consumer, topic, timeout)
        ends = consumer.end_offsets(tps)
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        for tp in tps:
            if tp in remaining and consumer.position(tp) >= ends[tp]:
                remaining.discard(tp)
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"could not read {topic!r} to its end within {timeout}s "
                    f"(partitions left: {sorted(tp.partition for tp in remaining)})"
                )
            batches = consumer.poll(timeout_ms=500, max_records=5000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < ends[tp]:
                        yield (
                            tp.partition,
                            record.offset,
                            record.key,
                            record.value,
                            record.timestamp,
                        )
            for tp in list(remaining):
                if consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        consumer.close()


def latest_by_key(
    settings: KafkaSettings, topic: str, *, timeout: float = 60.0
) -> dict[bytes | None, bytes]:
    """The current value per key of a compacted topic (null values delete the key)."""
    latest: dict[bytes | None, bytes] = {}
    for _, _, key, value, _ in read_to_end(settings, topic, timeout=timeout):
        if value is None:
            latest.pop(key, None)
        else:
            latest[key] = value
    return latest
