"""The incremental engine equals the batch reducers, whatever the arrival order, duplicates,
batching or interrupted writes."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.engine import ClassificationEvent, Engine
from core.pipeline import Pipeline
from core.registry import ExtractRecord
from core.repeats import select_repeats, time_key
from core.state import MemoryStore

EXTRACTOR_CONFIG = {
    "workflow_id": 7,
    "workflow_version": "3.1",
    "extractor_config": {"question_extractor": [{"task": "T0"}, {"task": "T1"}]},
}
REDUCER_CONFIGS = [
    {"reducer_config": {"question_reducer": {}}},
    {"reducer_config": {"question_reducer": {"pairs": True, "track_user_ids": True}}},
]


def make_event(cid, subject, user, minute, t0, t1, version="3.1", workflow=7):
    annotations = [{"task": "T0", "value": t0}]
    if t1 is not None:
        annotations.append({"task": "T1", "value": t1})
    return ClassificationEvent(
        classification_id=cid,
        subject_id=subject,
        workflow_id=workflow,
        workflow_version=version,
        created_at=f"2024-03-01 10:{minute:02d}:00 UTC",
        user_id=user,
        user_name=f"user-{user}" if user is not None else f"not-logged-in-{cid % 3}",
        annotations=annotations,
        metadata={},
    )


def batch_reference(pipeline, events, mode):
    """What `tally reduce` computes: per subject and task, rows sorted then filtered."""
    engine = Engine(pipeline, repeat_filter=mode)
    unique = {e.classification_id: e for e in events}.values()
    out = {}
    for index, binding in enumerate(pipeline.reducers):
        rows = {}
        for event in unique:
            for key, task, data in engine.extract(event):
                if key == binding.extractor_key:
                    rows.setdefault((event.subject_id, task), []).append(
                        ExtractRecord(
                            data,
                            event.user_id,
                            event.created_at,
                            event.classification_id,
                            event.user_name,
                        )
                    )
        for (subject, task), records in rows.items():
            records.sort(key=lambda r: (time_key(r.created_at), r.classification_id))
            chosen = select_repeats(records, mode)
            out[(subject, task, index)] = binding.spec.func(chosen, binding.params)
    return out


def run_engine(pipeline, batches, mode, store=None):
    store = MemoryStore() if store is None else store
    engine = Engine(pipeline, repeat_filter=mode)
    latest = {}
    for batch in batches:
        with store.transaction() as txn:
            result = engine.process(txn, batch)
        for r in result.reductions:
            latest[(r.subject_id, r.task, r.reducer_index)] = r.data
    return latest, store


answers = st.sampled_from(["Yes", "No", "Maybe", ["Red", "Blue"], None, "Ñandú"])
event_strategy = st.builds(
    make_event,
    cid=st.integers(1, 40),
    subject=st.integers(1, 3),
    user=st.one_of(st.none(), st.integers(1, 4)),
    minute=st.integers(0, 20),
    t0=answers,
    t1=st.one_of(st.none(), answers),
)


def one_content_per_id(events):
    """The same classification id always carries the same content (as in Panoptes)."""
    canonical = {}
    for e in events:
        canonical.setdefault(e.classification_id, e)
    return [canonical[e.classification_id] for e in events]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(event_strategy, min_size=1, max_size=25),
    mode=st.sampled_from(["first", "last", "all"]),
    data=st.data(),
)
def test_engine_equals_batch_in_any_order_and_batching(events, mode, data):
    events = one_content_per_id(events)
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    shuffled = data.draw(st.permutations(events))
    duplicated = shuffled + data.draw(st.lists(st.sampled_from(shuffled), max_size=5))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(duplicated)), max_size=4)))
    batches, start = [], 0
    for cut in [*cuts, len(duplicated)]:
        batches.append(duplicated[start:cut])
        start = cut
    latest, _ = run_engine(pipeline, batches, mode)
    assert latest == batch_reference(pipeline, events, mode)


def test_duplicates_change_nothing():
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    events = [make_event(i, 1, i % 2, i, "Yes" if i % 3 else "No", None) for i in range(1, 9)]
    store = MemoryStore()
    first, store = run_engine(pipeline, [events], "all", store)
    snapshot = store.snapshot()
    engine = Engine(pipeline, repeat_filter="all")
    with store.transaction() as txn:
        result = engine.process(txn, events)
    assert {o.status for o in result.outcomes} == {"duplicate"}
    assert result.reductions == []
    assert store.snapshot() == snapshot


def test_failed_transaction_leaves_no_trace():
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    store = MemoryStore()
    engine = Engine(pipeline, repeat_filter="all")
    with pytest.raises(RuntimeError), store.transaction() as txn:
        engine.process(txn, [make_event(1, 1, 1, 1, "Yes", None)])
        raise RuntimeError("crash before commit")
    assert len(store) == 0


class TornStore(MemoryStore):
    """Commits every write except the subject head: a crash in the middle of a commit."""

    def transaction(self):
        import contextlib

        from core.state import DELETED, BufferedTransaction

        @contextlib.contextmanager
        def torn():
            txn = BufferedTransaction(self.get)
            yield txn
            for key, value in txn.items():
                if key.startswith("h|"):
                    continue
                if value is DELETED:
                    self._data.pop(key, None)
                else:
                    self._data[key] = value

        return torn()


def test_interrupted_write_is_applied_once_on_redelivery():
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    base = [make_event(i, 1, i, i, "Yes", "No") for i in range(1, 5)]
    later = [make_event(i, 1, i, i, "Maybe", None) for i in range(5, 8)]
    store = MemoryStore()
    run_engine(pipeline, [base], "all", store)
    # Marker and log chunk land, the head does not: as if the worker died mid-commit.
    torn = TornStore()
    torn._data = store._data  # share the committed state  # noqa: SLF001
    run_engine(pipeline, [later], "all", torn)
    latest, _ = run_engine(pipeline, [later], "all", store)
    reference = batch_reference(pipeline, base + later, "all")
    assert latest[(1, "T0", 0)] == reference[(1, "T0", 0)] == {"yes": 4, "maybe": 3}


def test_an_interrupted_write_redelivered_over_several_batches_loses_nothing():
    # The torn batch held a (created first, arrived second) and b (created second, arrived
    # first). Redelivery comes in arrival order, possibly split: b alone, then a. The markers
    # left by the torn write must not make a look applied once b has taken the subject on.
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    base = [make_event(i, 1, i, i, "Yes", "No") for i in range(1, 4)]
    a = make_event(10, 1, 10, 5, "Maybe", None)
    b = make_event(11, 1, 11, 9, "No", None)
    store = MemoryStore()
    run_engine(pipeline, [base], "all", store)
    torn = TornStore()
    torn._data = store._data  # noqa: SLF001
    run_engine(pipeline, [[b, a]], "all", torn)
    latest, _ = run_engine(pipeline, [[b], [a]], "all", store)
    reference = batch_reference(pipeline, [*base, a, b], "all")
    assert latest[(1, "T0", 0)] == reference[(1, "T0", 0)] == {"yes": 3, "maybe": 1, "no": 1}


@pytest.mark.parametrize("mode", ["first", "last", "all"])
def test_a_torn_write_leaves_no_volunteer_entry_that_misleads_the_repeat_filter(mode):
    # Volunteer 1 at minute 5 (committed), again at minute 7 (torn, then redelivered): the
    # per-volunteer entry the torn write left already says minute 7, which must not make the
    # redelivery look like a repeat at the same instant (-F last then counted both).
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    first, other = make_event(1, 1, 1, 5, "Yes", None), make_event(2, 1, 2, 6, "No", None)
    again, later = make_event(3, 1, 1, 7, "Maybe", None), make_event(4, 1, 3, 9, "No", None)
    store = MemoryStore()
    run_engine(pipeline, [[first, other]], mode, store)
    torn = TornStore()
    torn._data = store._data  # noqa: SLF001
    run_engine(pipeline, [[again]], mode, torn)
    latest, _ = run_engine(pipeline, [[again]], mode, store)
    assert (
        latest[(1, "T0", 0)] == batch_reference(pipeline, [first, other, again], mode)[(1, "T0", 0)]
    )
    latest, _ = run_engine(pipeline, [[later]], mode, store)
    everything = [first, other, again, later]
    assert latest[(1, "T0", 0)] == batch_reference(pipeline, everything, mode)[(1, "T0", 0)]


def test_a_pipeline_change_between_a_torn_write_and_its_redelivery_loses_nothing():
    # Torn under a pipeline that ignores version 3.0 (x ignored, y numbered S+1); redelivered
    # under one that accepts it, cut between x and y: x now takes S+1, and y's leftover marker
    # (S+1 too) must not make y look applied.
    narrow = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    wide = Pipeline.from_configs({**EXTRACTOR_CONFIG, "workflow_version": "3"}, REDUCER_CONFIGS)
    base = make_event(1, 1, 1, 1, "Yes", None)
    x = make_event(2, 1, 2, 2, "No", None, version="3.0")
    y = make_event(3, 1, 3, 3, "Maybe", None)
    store = MemoryStore()
    run_engine(narrow, [[base]], "all", store)
    torn = TornStore()
    torn._data = store._data  # noqa: SLF001
    run_engine(narrow, [[x, y]], "all", torn)
    latest, _ = run_engine(wide, [[x], [y]], "all", store)
    assert latest[(1, "T0", 0)] == {"yes": 1, "no": 1, "maybe": 1}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(event_strategy, min_size=2, max_size=20),
    mode=st.sampled_from(["first", "last", "all"]),
    data=st.data(),
)
def test_torn_writes_then_redelivery_in_arrival_order_equal_batch(events, mode, data):
    # A worker crashes while writing a batch (everything but the subject heads lands), restarts
    # on that state and gets every record after its last committed batch again, in the same
    # order but cut into batches anew, possibly crashing again.
    events = list({e.classification_id: e for e in one_content_per_id(events)}.values())
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    committed = data.draw(st.integers(0, len(events) - 1))
    store = MemoryStore()
    run_engine(pipeline, [events[:committed]], mode, store)
    redelivered = events[committed:]
    for _ in range(data.draw(st.integers(1, 2))):
        torn = TornStore()
        torn._data = store._data  # noqa: SLF001
        end = data.draw(st.integers(1, len(redelivered)))
        run_engine(pipeline, [redelivered[:end]], mode, torn)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(redelivered)), max_size=4)))
    batches, start = [], 0
    for cut in [*cuts, len(redelivered)]:
        batches.append(redelivered[start:cut])
        start = cut
    latest, store = run_engine(pipeline, batches, mode, store)
    reference = batch_reference(pipeline, events, mode)
    # What was published last for each reduction (after its subject's last redelivery) and
    # what the stored state recomputes to both equal batch.
    assert {key: reference.get(key) for key in latest} == latest
    engine = Engine(pipeline, repeat_filter=mode)
    with store.transaction() as txn:
        stored = {
            (r.subject_id, r.task, r.reducer_index): r.data
            for subject in {e.subject_id for e in events}
            for r in engine.rereduce(txn, subject)
        }
    assert stored == batch_reference(pipeline, events, mode)


def test_other_workflows_and_versions_are_ignored_not_rejected():
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    store = MemoryStore()
    engine = Engine(pipeline)
    with store.transaction() as txn:
        result = engine.process(
            txn,
            [
                make_event(1, 1, 1, 1, "Yes", None, workflow=8),
                make_event(2, 1, 1, 1, "Yes", None, version="2.9"),
            ],
        )
    assert [o.status for o in result.outcomes] == ["ignored", "ignored"]
    assert "version 2.9" in result.outcomes[1].reason


def test_bad_annotation_is_rejected_with_reason_and_the_rest_applies():
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    bad = ClassificationEvent(9, 1, 7, "3.1", "2024-03-01 10:00:00 UTC", 1, "u", [{"value": 1}], {})
    store = MemoryStore()
    with store.transaction() as txn:
        result = Engine(pipeline).process(txn, [bad, make_event(2, 1, 1, 2, "Yes", None)])
    assert result.outcomes[0].status == "rejected"
    assert "classification 9" in result.outcomes[0].reason
    assert result.outcomes[1].status == "applied"


def test_log_writes_are_bounded_per_classification():
    """A subject with many classifications writes O(1) bytes per new one."""
    import orjson

    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS[:1])
    engine = Engine(pipeline, repeat_filter="all")
    store = MemoryStore()
    sizes = []
    for i in range(1, 400):
        with store.transaction() as txn:
            engine.process(txn, [make_event(i, 1, i, i % 60, "Yes" if i % 2 else "No", None)])
            written = sum(len(orjson.dumps(v)) for _, v in txn.items())
        sizes.append(written)
    assert max(sizes[-50:]) < 3 * max(sizes[:50])


def test_rereduce_after_reducer_config_change_equals_batch_under_new_config():
    events = [make_event(i, 1, i % 3, i, "Yes" if i % 2 else "No", "Maybe") for i in range(1, 9)]
    old = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS[:1])
    new = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS[1:])
    _, store = run_engine(old, [events], "first")
    with store.transaction() as txn:
        reductions = Engine(new, repeat_filter="first").rereduce(txn, 1)
    got = {(r.subject_id, r.task, r.reducer_index): r.data for r in reductions}
    assert got == batch_reference(new, events, "first")
    # and later classifications keep folding correctly under the new config
    more = [make_event(20, 1, 9, 30, "Yes", None)]
    latest, _ = run_engine(new, [more], "first", store)
    assert latest[(1, "T0", 0)] == batch_reference(new, events + more, "first")[(1, "T0", 0)]


def test_a_batch_under_a_new_config_recomputes_every_task_of_the_subject():
    """Without a re-reduce first: the engine itself rebuilds the tasks the batch does not touch
    (otherwise they would keep the old pipeline's reductions, marked as current)."""
    events = [make_event(i, 1, i, i, "Yes" if i % 2 else "No", "Maybe") for i in range(1, 9)]
    old = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS[:1])
    new = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS[1:])
    _, store = run_engine(old, [events], "all")
    # Its T1 answer is rejected (applied as "partial"): the batch touches T0 only.
    more = [make_event(20, 1, 9, 30, "Yes", {"not": "an answer"})]
    latest, _ = run_engine(new, [more], "all", store)
    fresh, _ = run_engine(new, [events + more], "all")
    assert (1, "T1", 0) in fresh
    assert latest == fresh


def test_user_topology_reduces_each_volunteer_and_excludes_anonymous():
    reducers = [
        {"reducer_config": {"question_reducer": {}}},
        {"reducer_config": {"count": {}}, "topic": "reduce_by_user"},
    ]
    pipeline = Pipeline.from_configs(
        EXTRACTOR_CONFIG, reducers, reducer_keys=["question_extractor", "question_extractor"]
    )
    events = [
        make_event(1, 10, 5, 1, "Yes", None),
        make_event(2, 11, 5, 2, "No", None),
        make_event(3, 10, 5, 3, "No", None),  # user 5 again on subject 10: a repeat
        make_event(4, 10, None, 4, "Yes", None),  # anonymous
        make_event(5, 12, 6, 5, "Yes", None),
    ]
    store = MemoryStore()
    by_user = Engine(pipeline, repeat_filter="first", topic="user")
    with store.transaction() as txn:
        result = by_user.process(txn, events)
    assert result.outcomes[3].status == "ignored" and "anonymous" in result.outcomes[3].reason
    latest = {(r.user_id, r.task): r.data for r in result.reductions}
    # user 5: subjects 10 and 11, the repeat on subject 10 filtered out (first)
    assert latest[(5, "T0")] == {"classifications": 2, "extracts": 2}
    assert latest[(6, "T0")] == {"classifications": 1, "extracts": 1}
    assert all(r.subject_id is None and r.reducer == "count" for r in result.reductions)
    with store.transaction() as txn:
        by_subject = Engine(pipeline, repeat_filter="first").process(txn, events)
    assert {r.reducer for r in by_subject.reductions} == {"question_reducer"}


def test_a_failing_extractor_entry_is_skipped_and_reported_like_tally_extract():
    config = {
        "workflow_id": 7,
        "extractor_config": {
            "question_extractor": [{"task": "T0"}],
            "point_extractor_by_frame": [{"task": "T1"}],
        },
    }
    reducers = [{"reducer_config": {"question_reducer": {}}}]
    pipeline = Pipeline.from_configs(config, reducers)
    fem_marks = ClassificationEvent(
        1, 1, 7, "3.1", "2024-03-01 10:00:00 UTC", 1, "u",
        [{"task": "T0", "value": "Yes"},
         {"task": "T1", "value": [{"toolIndex": 0, "x": 1, "y": 2, "frame": 0}]}],
        {"classifier_version": "2.0"},
    )  # fmt: skip
    store = MemoryStore()
    with store.transaction() as txn:
        result = Engine(pipeline).process(txn, [fem_marks])
    (outcome,) = result.outcomes
    assert outcome.status == "partial"
    assert "point_extractor_by_frame failed on task T1" in outcome.reason
    assert result.reductions[0].data == {"yes": 1}


def test_rereduce_under_filters_and_grouping_equals_a_fresh_run():
    """A reducer config that gains filters and grouping (tally workflow load, tally aggregate
    re-run) re-reduces stored subjects to what processing them afresh gives."""
    extractors = {
        "workflow_id": 7,
        "workflow_version": "3.1",
        "extractor_config": {"question_extractor": [{"task": "T0"}, {"task": "T1"}]},
    }
    plain = Pipeline.from_configs(extractors, [{"reducer_config": {"question_reducer": {}}}])
    filtered = Pipeline.from_configs(
        extractors,
        [
            {
                "reducer_config": {"question_reducer": {}},
                "filters": {"repeated_classifications": "keep_last", "from": -2},
                "grouping": {"field_name": "question_extractor.a", "if_missing": "ignore"},
            }
        ],
    )
    events = [
        make_event(cid, 1, cid % 3, cid, "a" if cid % 2 else "b", "a" if cid % 4 else None)
        for cid in range(1, 12)
    ]
    store = MemoryStore()
    with store.transaction() as txn:
        Engine(plain, repeat_filter="all").process(txn, events)
    with store.transaction() as txn:
        rereduced = Engine(filtered).rereduce_subject(txn, 1).reductions
    fresh_store = MemoryStore()
    with fresh_store.transaction() as txn:
        fresh = Engine(filtered).process(txn, events).reductions
    assert rereduced and {r.subgroup for r in rereduced} == {"1"}
    assert {(r.task, r.subgroup): (r.data, r.classifications) for r in rereduced} == {
        (r.task, r.subgroup): (r.data, r.classifications) for r in fresh
    }


def test_identical_extracts_of_one_classification_count_once_as_in_batch_reduce():
    """A survey volunteer who marks the same species twice with the same answers gives two
    identical extract rows; batch reduce drops identical rows (as the reference's
    drop_duplicates() does), so the engine counts them once too (kenya-sample has three)."""
    config = {"workflow_id": 7, "extractor_config": {"survey_extractor": [{"task": "T3"}]}}
    pipeline = Pipeline.from_configs(config, [{"reducer_config": {"survey_reducer": {}}}])
    zebra = {"choice": "ZEBRA", "answers": {"HOWMANY": "2"}, "filters": {}}
    lion = {"choice": "LION", "answers": {"HOWMANY": "1"}, "filters": {}}
    events = [
        ClassificationEvent(
            cid,
            5,
            7,
            "3.1",
            f"2024-03-01 10:0{cid}:00 UTC",
            cid,
            f"u{cid}",
            [{"task": "T3", "value": value}],
            {},
        )  # fmt: skip
        for cid, value in ((1, [zebra, zebra, lion]), (2, [zebra]), (3, [zebra, dict(zebra)]))
    ]
    store = MemoryStore()
    with store.transaction() as txn:
        (reduction,) = Engine(pipeline, repeat_filter="all").process(txn, events).reductions
    counts = {r["choice"]: r["total_vote_count"] for r in reduction.data}
    choices = {r["choice"]: r["choice_count"] for r in reduction.data}
    assert choices == {"zebra": 3, "lion": 1}, reduction.data
    assert set(counts.values()) == {4}  # the extract rows left: 2 + 1 + 1


@pytest.mark.parametrize("subject", [None, "", " "])
def test_a_classification_without_subject_is_rejected_not_taken_for_anonymous(subject):
    # tally extract skips such a row ('empty subject_ids'); the stream dead-letters it
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    good = make_event(1, 5, 1, 0, "Yes", None)
    blank = make_event(2, subject, 1, 1, "No", None)
    other_version = make_event(3, subject, 1, 2, "No", None, version="9.9")
    store = MemoryStore()
    with store.transaction() as txn:
        result = Engine(pipeline).process(txn, [good, blank, other_version])
    assert [(o.status, o.reason) for o in result.outcomes] == [
        ("applied", ""),
        ("rejected", "empty subject id"),
        ("ignored", "workflow version 9.9 outside the configured range"),
    ]
    assert {r.subject_id for r in result.reductions} == {5}


@pytest.mark.parametrize(
    ("version", "reason"),
    [
        ("sixteen.x", "invalid workflow_version: 'sixteen.x'"),
        (None, "invalid workflow_version: ''"),
    ],
)
def test_an_unreadable_workflow_version_is_rejected_not_ignored(version, reason):
    # It was counted as 'ignored' (outside the configured range), which nobody can tell, and
    # never dead-lettered; tally extract skips such a row as 'invalid workflow_version'.
    pipeline = Pipeline.from_configs(EXTRACTOR_CONFIG, REDUCER_CONFIGS)
    unreadable = make_event(1, 5, 1, 0, "Yes", None, version=version)
    of_another_workflow = make_event(2, 5, 1, 1, "No", None, version=version, workflow=8)
    with MemoryStore().transaction() as txn:
        result = Engine(pipeline).process(txn, [unreadable, of_another_workflow])
    assert [(o.status, o.reason) for o in result.outcomes] == [
        ("rejected", reason),
        ("ignored", "another workflow"),
    ]
    assert result.reductions == []
