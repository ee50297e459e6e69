"""Round trips through the real broker with the project's Kafka client settings.

The same :class:`stream.kafka_settings.KafkaSettings` dictionaries drive aiokafka (the client Faust
uses) and kafka-python (used by tools and tests), so both are exercised here.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition as AioTopicPartition
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from stream.kafka_settings import KafkaSettings

pytestmark = pytest.mark.kafka

MESSAGES = [(b"subject-1", b"first"), (b"subject-2", b"second"), (b"subject-1", b"third")]


def test_broker_metadata(kafka_admin) -> None:
    cluster = kafka_admin.describe_cluster()
    assert cluster["cluster_id"], cluster
    assert cluster["brokers"], cluster


def test_aiokafka_round_trip(kafka_settings: KafkaSettings, make_topic, run_id: str) -> None:
    topic = make_topic(f"tally-it-aiokafka-{run_id}", 1)
    group = f"tally-it-aiokafka-{run_id}"

    async def main() -> tuple[list[tuple[bytes, bytes]], int]:
        producer = AIOKafkaProducer(**kafka_settings.producer_config())
        await producer.start()
        try:
            for key, value in MESSAGES:
                meta = await producer.send_and_wait(topic, value, key=key)
                assert meta.topic == topic
        finally:
            await producer.stop()

        consumer = AIOKafkaConsumer(topic, **kafka_settings.consumer_config(group))
        await consumer.start()
        got: list[tuple[bytes, bytes]] = []
        try:
            deadline = time.monotonic() + 30
            while len(got) < len(MESSAGES) and time.monotonic() < deadline:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    got.extend((r.key, r.value) for r in records)
            await consumer.commit()
            committed = await consumer.committed(AioTopicPartition(topic, 0))
        finally:
            await consumer.stop()
        return got, committed

    got, committed = asyncio.run(main())
    assert got == MESSAGES
    assert committed == len(MESSAGES)


def test_kafka_python_round_trip(kafka_settings: KafkaSettings, make_topic, run_id: str) -> None:
    topic = make_topic(f"tally-it-kafkapython-{run_id}", 1)
    group = f"tally-it-kafkapython-{run_id}"

    producer = KafkaProducer(**kafka_settings.producer_config())
    try:
        for key, value in MESSAGES:
            meta = producer.send(topic, value=value, key=key).get(timeout=30)
            assert meta.topic == topic
        producer.flush()
    finally:
        producer.close()

    consumer = KafkaConsumer(topic, **kafka_settings.consumer_config(group))
    got: list[tuple[bytes, bytes]] = []
    try:
        deadline = time.monotonic() + 30
        while len(got) < len(MESSAGES) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                got.extend((r.key, r.value) for r in records)
        consumer.commit()
        committed = consumer.committed(TopicPartition(topic, 0))
    finally:
        consumer.close()
    assert got == MESSAGES
    assert committed == len(MESSAGES)
