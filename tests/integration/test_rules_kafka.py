"""Issue 6 in the Kafka mode, against the real broker.

On the simulated Penguin data, the issue's rule "retire when the shortcut nothing-here count
reaches 5 or 20 classifications are in" (and a user rule, promote_user, through the user stage:
the classifications-by-user topic) fires exactly for the subjects and volunteers a hand
computation from the reductions says, with the same action ids as `tally aggregate` (embedded
mode), each once, through a `kill -9` of the worker mid-replay and a full second replay.
User reductions exported from the stream equal the embedded mode's files.

Fire once is decided by the engine state; publishing is at-least-once with a stable action id
(docs/kafka.md, "Guarantees"): so actions are counted by action id, and the second replay must
not add a single record to the actions topic.
"""

from __future__ import annotations

import collections
import csv
import time
from pathlib import Path

import pytest

from stream import kafka_io
from stream.records import decode

from .test_stream import (
    WAIT_S,
    Stream,
    Worker,
    _require_broker,
    assert_same_files,
    replay_in_background,
    run_tally,
    wait_for_progress,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

RULES = """
rules_applied: all_matching_rules
subject_rules:
  - id: retire-nothing-here-or-enough
    condition: ["or", ["gte", ["lookup", "shortcut_reducer.nothing-here", 0], ["const", 5]],
                      ["gte", ["lookup", "count.classifications", 0], ["const", 20]]]
    effects:
      - action: retire_subject
        config: {reason: nothing_here}
user_rules:
  - id: promote-busy-volunteers
    condition: ["gte", ["lookup", "activity.classifications", 0], ["const", 25]]
    effects:
      - action: promote_user
        config: {workflow_id: 9999}
"""


@pytest.fixture
def stream(tmp_path: Path):
    _require_broker()
    s = Stream(tmp_path)
    try:
        yield s
    finally:
        s.close()


def project(tmp: Path) -> dict[str, Path | list[Path]]:
    """The simulated Penguin export with the configs the rules read: shortcut, a subject count
    and a per-volunteer count (no point clustering: it is not what this test is about, and it
    is the slow part of the pipeline)."""
    directory = tmp / "penguins"
    run_tally("simulate", "-d", directory, "-n", "2500", "--seed", "11", "-hb")
    for path in directory.glob("Reducer_config_*point*.yaml"):
        path.unlink()
    (directory / "Reducer_config_count_question_extractor.yaml").write_text(
        "reducer_config:\n    count: {}\n"
    )
    (directory / "Reducer_config_activity_question_extractor.yaml").write_text(
        "reducer_config:\n    count: {}\ntopic: reduce_by_user\nkey: activity\n"
    )
    (directory / "rules.yaml").write_text(RULES)
    return {
        "export": next(directory.glob("*-classifications.csv")),
        "extractor": next(directory.glob("Extractor_config_*.yaml")),
        "reducers": sorted(directory.glob("Reducer_config_*.yaml")),
        "rules": directory / "rules.yaml",
    }


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def hand_computed(out: Path) -> tuple[set[str], set[str]]:
    """(subjects, users) whose final reductions satisfy the rules; the counts only grow, so a
    target that satisfies its rule now made it true at some point."""
    files = {p.name: read_csv(p) for p in out.glob("*.csv") if not p.name.startswith("actions")}
    nothing: dict[str, float] = {}
    counted: dict[str, float] = {}
    busy: set[str] = set()
    for name, rows in files.items():
        if name.startswith("shortcut_reducer"):
            nothing = {r["subject_id"]: float(r.get("data.nothing-here") or 0) for r in rows}
        elif name.startswith("count_") and rows and "user_id" in rows[0]:
            busy = {r["user_id"] for r in rows if float(r["data.classifications"]) >= 25}
        elif name.startswith("count_"):
            counted = {r["subject_id"]: float(r["data.classifications"] or 0) for r in rows}
    assert nothing and counted and busy, sorted(files)
    subjects = {
        s
        for s in nothing.keys() | counted.keys()
        if nothing.get(s, 0) >= 5 or counted.get(s, 0) >= 20
    }
    return subjects, busy


def wait_everything(stream: Stream, targets: dict[int, int] | None = None) -> None:
    """Until the group committed the classifications and then what the subject stage forwarded
    to the user stage (forwarded records are acknowledged before their input is committed)."""
    stream.wait(targets)
    stream.wait(topic=stream.topics.classifications_by_user)


def actions_on_topic(stream: Stream) -> list[dict]:
    records = stream.records(stream.topics.actions)
    for _, _, key, value, _ in records:
        assert key == decode(value)["action_id"].encode()
    return [decode(value) for _, _, _, value, _ in records]


@pytest.mark.timeout(240)
def test_rules_fire_once_through_a_crash_and_a_replay_as_in_embedded_mode(
    stream: Stream, tmp_path: Path
) -> None:
    p = project(tmp_path)
    embedded = run_embedded(p, tmp_path)
    embedded_actions = read_csv(embedded / "actions_reductions.csv")
    subjects, users = hand_computed(embedded)

    run_tally(
        "workflow", "load", *stream.flags, p["extractor"], *p["reducers"], "--rules", p["rules"]
    )
    worker = stream.worker("crashy")
    thread, result = replay_in_background(stream, p["export"], rate=400)
    wait_for_progress(stream, 600)
    worker.kill()  # kill -9 mid-replay: no flush, no commit
    thread.join(timeout=60)
    assert "error" not in result, result
    restarted = Worker(stream, "crashy").start()  # the same state directory
    stream.workers.append(restarted)
    wait_everything(stream, result["ends"])

    def check(label: str) -> list[dict]:
        got = stream.export(int(decode_workflow_id(p["extractor"])), tmp_path / label)
        assert_same_files(got, embedded)
        assert hand_computed(tmp_path / label) == (subjects, users)
        actions = actions_on_topic(stream)
        ids = collections.Counter(a["action_id"] for a in actions)
        by_target = collections.defaultdict(set)
        for a in actions:
            target = a["subject_id"] if a["target_kind"] == "subject" else a["user_id"]
            by_target[(a["rule_id"], a["target_kind"], str(target))].add(a["action_id"])
        # one action id per (rule, target, effect): fired once
        assert all(len(v) == 1 for v in by_target.values()), by_target
        assert {t for (_, kind, t) in by_target if kind == "subject"} == subjects
        assert {t for (_, kind, t) in by_target if kind == "user"} == users
        # the same action ids (hence the same effects) as the embedded mode
        assert set(ids) == {a["action_id"] for a in embedded_actions}
        assert {a["effect"] for a in actions} == {"retire_subject", "promote_user"}
        return actions

    after_crash = check("after-crash")
    actions_end = kafka_io.end_offsets(stream.settings, stream.topics.actions)

    # A full second replay: everything is a duplicate, no action is published again.
    stream.replay(p["export"], "--wait", "--timeout", str(WAIT_S))
    wait_everything(stream)
    time.sleep(0.5)
    assert kafka_io.end_offsets(stream.settings, stream.topics.actions) == actions_end
    assert check("after-replay") == after_crash

    stats = restarted.stats()
    assert stats["counters"]["duplicate"] >= 2500, stats["counters"]
    assert stats["user_stage"]["counters"].get("applied", 0) > 0, stats["user_stage"]
    assert restarted.stop() == 0, restarted.log_tail()


def run_embedded(p: dict, tmp_path: Path) -> Path:
    """The embedded mode on the same project: the reference files and action ids."""
    embedded = tmp_path / "embedded"
    embedded.mkdir()
    run_tally(
        "aggregate", p["export"], "--extractor-config", p["extractor"],
        "--reducer-config", *p["reducers"], "--rules", p["rules"], "-d", embedded, "-hb",
    )  # fmt: skip
    return embedded


def decode_workflow_id(extractor: Path) -> int:
    import yaml

    return int(yaml.safe_load(extractor.read_text())["workflow_id"])


@pytest.mark.timeout(180)
def test_rules_loaded_later_act_on_stored_subjects_and_volunteers(
    stream: Stream, tmp_path: Path
) -> None:
    """`workflow load --rules` after the classifications are in: the workers re-reduce the
    stored subjects and volunteers, and the rules fire there without another classification."""
    p = project(tmp_path)
    embedded = run_embedded(p, tmp_path)
    expected = {a["action_id"] for a in read_csv(embedded / "actions_reductions.csv")}
    worker = stream.worker()
    # Started before any workflow: no user stage (its idle table costs throughput). Loading a
    # workflow that reduces by user makes the worker restart itself with the stage (same
    # process id); the by-user topic keeps the forwarded classifications meanwhile.
    assert "user_stage" not in worker.stats()
    run_tally("workflow", "load", *stream.flags, p["extractor"], *p["reducers"])
    stream.replay(p["export"], "--wait", "--timeout", str(WAIT_S))
    assert not kafka_io.end_offsets(stream.settings, stream.topics.actions).get(0)
    run_tally(
        "workflow", "load", *stream.flags, p["extractor"], *p["reducers"], "--rules", p["rules"]
    )
    deadline = time.monotonic() + WAIT_S
    while {a["action_id"] for a in actions_on_topic(stream)} != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"actions never matched the embedded mode's:\n{worker.log_tail()}")
        time.sleep(0.5)
    got = stream.export(decode_workflow_id(p["extractor"]), tmp_path / "export")
    assert_same_files(got, embedded)
    actions = actions_on_topic(stream)
    assert len(actions) == len(expected), "an effect was published twice without a crash"
    assert worker.stats()["counters"]["rereduced_subjects"] > 0
    assert worker.stats()["user_stage"]["counters"]["rereduced_subjects"] > 0
    assert worker.stop() == 0, worker.log_tail()
