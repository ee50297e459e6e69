"""`tally replay --wait`: waiting for the worker group survives a broker that is still starting."""

from __future__ import annotations

import pytest
from kafka.errors import CoordinatorNotAvailableError, TopicAuthorizationFailedError

import stream.kafka_io as kafka_io
from tally.commands.replay import wait_for_group


def test_a_coordinator_not_available_yet_is_waited_out(monkeypatch):
    answers = [CoordinatorNotAvailableError("offsets topic loading"), {0: 3}, {0: 5, 1: 2}]

    def committed_offsets(settings, group_id, topic):
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(kafka_io, "committed_offsets", committed_offsets)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    wait_for_group(None, "g", "t", {0: 5, 1: 2}, timeout=60, quiet=True)
    assert answers == []


def test_other_kafka_errors_are_raised(monkeypatch):
    def committed_offsets(settings, group_id, topic):
        raise TopicAuthorizationFailedError("no access")

    monkeypatch.setattr(kafka_io, "committed_offsets", committed_offsets)
    with pytest.raises(TopicAuthorizationFailedError):
        wait_for_group(None, "g", "t", {0: 5}, timeout=60, quiet=True)
