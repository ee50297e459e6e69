"""``tally effects run --broker``: the executor consuming the actions topic of a real broker.

Each action is performed once, including when the topic is read again from the start by a new
consumer group (a replay) and when a record is published twice.
"""

from __future__ import annotations

import json

import pytest

from stream.kafka_io import make_producer
from tally.cli import main as tally_main
from tests.stream.test_effects import TOKEN, Server, _action, _hook

pytestmark = pytest.mark.kafka


def _publish(settings, topic: str, values: list[bytes]) -> None:
    producer = make_producer(settings)
    try:
        for value in values:
            producer.send(topic, value, key=b"k")
        producer.flush()
    finally:
        producer.close()


def test_actions_topic_performed_once_even_on_replay(
    kafka_settings, make_topic, run_id, tmp_path, monkeypatch, capsys
):
    topic = make_topic(f"tally-test-actions-{run_id}")
    with Server() as server:
        monkeypatch.setenv("TALLY_PANOPTES_URL", f"{server.url}/api")
        monkeypatch.setenv("TALLY_PANOPTES_TOKEN", TOKEN)
        actions = [_hook(server, target=t) for t in (1, 2)]
        actions.append(_action("retire_subject", {"reason": "consensus"}, target=3))
        values = [json.dumps(a.to_dict()).encode() for a in actions]
        _publish(kafka_settings, topic, [*values, values[0], b"{not json"])
        state = str(tmp_path / "effects.sqlite")
        base = [
            "effects", "run", "--broker", kafka_settings.bootstrap_servers, "--topic", topic,
            "--state", state, "--idle-exit", "3", "--allow-http-loopback", "--base-delay", "0.01",
        ]  # fmt: skip
        assert tally_main([*base, "--group", f"g1-{run_id}"]) == 1  # the malformed record
        assert "3 completed, 0 failed, 1 already done" in capsys.readouterr().err
        assert len(server.requests) == 3 and server.retired == [("1", 3, "consensus")]
        assert tally_main([*base, "--group", f"g2-{run_id}"]) == 1  # replay from the start
        assert "0 completed, 0 failed, 4 already done" in capsys.readouterr().err
        assert len(server.requests) == 3
