"""Rules as the engine fires them: after every classification, whatever the batching; with
the reductions and subject metadata they read, including those only an effect names."""

from __future__ import annotations

import pytest

from core.engine import ClassificationEvent, Engine
from core.pipeline import ConfigError, Pipeline
from core.rules.rulebook import RuleBook
from core.state import MemoryStore

PIPELINE = Pipeline.from_configs(
    {"workflow_id": 7, "extractor_config": {"question_extractor": [{"task": "T0"}]}},
    [{"reducer_config": {"question_reducer": {}}}, {"reducer_config": {"count": {}}}],
    reducer_keys=["question_extractor", "question_extractor"],
)


def event(cid: int, answer: str = "yes", *, minute: int | None = None, **metadata: str):
    minute = cid if minute is None else minute
    return ClassificationEvent(
        cid, 5, 7, "1.1", f"2024-03-01 10:{minute:02d}:00 UTC", cid, f"u{cid}",
        [{"task": "T0", "value": answer}], {}, subject_metadata=metadata,
    )  # fmt: skip


def book(text: str) -> RuleBook:
    return RuleBook.from_yaml(text, "rules.yaml")


def fire(rules: RuleBook, batches: list[list[ClassificationEvent]]) -> list:
    engine, store, actions = Engine(PIPELINE, repeat_filter="all", rules=rules), MemoryStore(), []
    for batch in batches:
        with store.transaction() as txn:
            actions.extend(engine.process(txn, batch).actions)
    return actions


EXACTLY_THREE = """
subject_rules:
  - id: exactly-three
    condition: ["eq", ["lookup", "count.classifications", 0], ["const", 3]]
    effects: [{action: retire_subject, config: {reason: other}}]
"""


@pytest.mark.parametrize("cut", [[6], [1, 5], [2, 4], [3, 3], [1, 1, 1, 1, 1, 1]])
def test_a_passing_condition_fires_however_the_input_is_batched(cut):
    events, batches = [event(cid) for cid in range(1, 7)], []
    for size in cut:
        batches.append(events[:size])
        events = events[size:]
    (action,) = fire(book(EXACTLY_THREE), batches)
    assert action.rule_id == "exactly-three"
    assert action.time == "2024-03-01 10:03:00 UTC"  # the classification that made it true


WEBHOOK = """
subject_rules:
  - id: hook
    condition: ["gte", ["lookup", "count.classifications", 0], ["const", 2]]
    effects:
      - action: external
        config: {url: "https://hooks.example.org/x", reducer_key: question_reducer}
"""


def test_an_external_effect_posts_a_reduction_no_condition_reads_with_the_metadata():
    (action,) = fire(book(WEBHOOK), [[event(1, site="A"), event(2, site="B")]])
    payload = action.payload
    assert payload["data"] == {"yes": 2}
    assert payload["subject"] == {"id": 5, "metadata": {"site": "B"}}


def test_an_external_effect_naming_a_reduction_the_pipeline_lacks_is_refused():
    with pytest.raises(ConfigError, match="question_reducr"):
        Engine(PIPELINE, rules=book(WEBHOOK.replace("question_reducer", "question_reducr")))


LOW_PRIORITY = """
subject_rules:
  - id: low
    condition: ["eq", ["lookup", "subject.priority", ""], ["const", "low"]]
    effects: [{action: retire_subject, config: {reason: other}}]
"""


def test_an_older_classification_arriving_late_does_not_bring_back_old_metadata():
    newer, older = event(2, minute=30, priority="high"), event(1, minute=1, priority="low")
    assert fire(book(LOW_PRIORITY), [[newer], [older]]) == []
    # in arrival order the older one came first: the subject was low priority then
    assert [a.rule_id for a in fire(book(LOW_PRIORITY), [[older, newer]])] == ["low"]
