"""The incremental aggregation engine: classification events in, reduction records out.

The engine is transport-agnostic. An adapter (the embedded runner, the Faust agent, a test)
hands it a batch of :class:`ClassificationEvent` and an open state transaction; it extracts each
classification, appends the extracts to the subject's log, brings every affected (reducer, task)
reduction up to date and returns :class:`Reduction` records. The adapter commits the transaction
and publishes the records.

Guarantees
----------
* **Idempotent by classification id.** A classification already applied to a subject changes
  nothing (status ``duplicate``), however often it is delivered.
* **Order-independent.** Reductions always equal the batch reducer run over the subject's
  extracts sorted by ``(created_at, classification_id)`` and filtered by the repeat mode
  (``first``/``last``/``all``), whatever order events arrive in. In-order arrivals take the
  incremental path (counting reducers fold one extract in); an arrival earlier than the
  subject's latest, or one that displaces a ``last`` repeat, recomputes from the stored log.
  A reducer with Caesar's ``filters:``/``grouping:`` (core/filters.py) equals Caesar's chain
  over the whole sorted history instead of the ``-F`` filter; unless its filters decide extract
  by extract, it recomputes from the log on every update (one reduction per group).
* **Bounded writes.** Each classification writes its marker, one log chunk of at most
  ``CHUNK_ROWS`` rows, one small per-user entry per task and the subject head, whose size
  depends on the number of distinct answers, not on the number of classifications.
* **Crash-safe.** The subject head is written last and is the commit point: a marker with a
  sequence number above the head's means the classification was interrupted mid-write and is
  applied again, overwriting the same log positions.

>>> from core.pipeline import Pipeline
>>> from core.state import MemoryStore
>>> pipeline = Pipeline.from_configs(
...     {"workflow_id": 1, "extractor_config": {"question_extractor": [{"task": "T0"}]}},
...     [{"reducer_config": {"question_reducer": {}}}])
>>> engine, store = Engine(pipeline, repeat_filter="all"), MemoryStore()
>>> def event(cid, answer):
...     return ClassificationEvent(cid, subject_id=5, workflow_id=1, workflow_version="1.1",
...         created_at=f"2024-01-0{cid} 00:00:00 UTC", user_id=None, user_name=f"u{cid}",
...         annotations=[{"task": "T0", "value": answer}], metadata={})
>>> with store.transaction() as txn:
...     out = engine.process(txn, [event(1, "Yes"), event(2, "No"), event(1, "Yes")])
>>> [o.status for o in out.outcomes]
['applied', 'applied', 'duplicate']
>>> out.reductions[-1].data, out.reductions[-1].classifications
({'yes': 1, 'no': 1}, 2)
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.classification import Classification
from core.errors import TallyError
from core.filters import is_blank, is_training_subject, select_repeated, subrange
from core.pipeline import ConfigError, Pipeline, ReducerBinding
from core.registry import ExtractRecord
from core.repeats import REPEAT_MODES, select_repeats, time_key
from core.rules.actions import ActionRecord
from core.rules.conditions import RuleConfigError
from core.rules.rulebook import RuleBook, RuleError, subject_bindings, user_bindings
from core.workflow_config.versions import WorkflowVersion

__all__ = ["CHUNK_ROWS", "BatchResult", "ClassificationEvent", "Engine", "Outcome", "Reduction"]

CHUNK_ROWS = 32


@dataclasses.dataclass(frozen=True)
class ClassificationEvent:
    """One classification, as the engine needs it (built from a CSV row or a Kafka message)."""

    classification_id: int
    subject_id: Any
    workflow_id: int
    workflow_version: str | None
    created_at: str
    user_id: int | None
    user_name: str | None
    annotations: Any
    metadata: Mapping[str, Any]
    subject_metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one event: ``applied``, ``partial`` (applied, but some extractor entries
    could not read it: ``reason`` says which), ``duplicate``, ``ignored`` (another workflow or
    version; not an error) or ``rejected`` (bad input: goes to the dead-letter output)."""

    classification_id: Any
    status: str
    reason: str = ""


@dataclasses.dataclass(frozen=True)
class Reduction:
    """One (subject, task, reducer) reduction, in the same structure ``tally reduce`` writes."""

    workflow_id: int
    subject_id: Any
    task: str
    reducer: str
    reducer_index: int
    extractor_key: str
    data: Any
    classifications: int
    latest_created_at: str | None
    config_version: str
    #: Set (and ``subject_id`` None) for a user reduction (``topic: reduce_by_user``).
    user_id: Any = None
    #: The group's value (as text) for a reducer with ``grouping:``; None otherwise.
    subgroup: str | None = None

    @property
    def key(self) -> str:
        """Stable identity: one record per key is current (a compacted topic's key).

        ``<workflow>/<subject or user:id>/<task>/<index>:<reducer>``, plus ``/<subgroup>`` for
        a grouped reducer's reductions."""
        target = self.subject_id if self.user_id is None else f"user:{self.user_id}"
        key = f"{self.workflow_id}/{target}/{self.task}/{self.reducer_index}:{self.reducer}"
        return key if self.subgroup is None else f"{key}/{self.subgroup}"


@dataclasses.dataclass(frozen=True)
class BatchResult:
    outcomes: list[Outcome]
    reductions: list[Reduction]
    #: Effects that rules fired in this batch, each for the first and only time.
    actions: list[ActionRecord] = dataclasses.field(default_factory=list)
    #: Rules that could not be evaluated (e.g. comparing a number with text), with the subject.
    rule_errors: list[tuple[Any, RuleError]] = dataclasses.field(default_factory=list)


# A row of the subject's extract log: [classification_id, created_at, user_id, user_name, task, data]
Row = list


class Engine:
    """Applies classification events to per-subject state; see the module docstring."""

    def __init__(
        self,
        pipeline: Pipeline,
        *,
        repeat_filter: str = "first",
        normalize: Callable[[Any], Any] | None = None,
        rules: RuleBook | None = None,
        topic: str = "subject",
    ) -> None:
        if repeat_filter not in REPEAT_MODES:
            raise ValueError(f"repeat_filter must be one of {REPEAT_MODES}, got {repeat_filter!r}")
        self.pipeline = pipeline
        self.repeat_filter = repeat_filter
        # How an extract looks to a reducer: batch mode reads it back from the extraction CSV,
        # so the adapters pass the same round trip here to make both modes identical.
        self.normalize = normalize or (lambda data: data)
        if topic not in ("subject", "user"):
            raise ValueError(f"topic must be 'subject' or 'user', got {topic!r}")
        # The subject engine reduces each subject's extracts; the user engine each volunteer's
        # (anonymous volunteers excluded), with the same log, filters and guarantees.
        self.topic = topic
        self.bindings = [(i, b) for i, b in enumerate(pipeline.reducers) if b.topic == topic]
        self.rules = rules
        self._rule_keys: set[str] = set()
        self._rules_read_subject = False
        if rules is not None:
            try:  # a reduction the rules read that this pipeline does not make
                rules.check_pipeline(pipeline)
            except RuleConfigError as exc:
                raise ConfigError(str(exc)) from None
            self._rule_keys = rules.reducer_keys(topic)
            # Subject metadata is kept for conditions that read it and for the payload of
            # external effects (its subject.metadata).
            self._rules_read_subject = topic == "subject" and any(
                "subject" in repr(rule.condition)
                or any(effect.action.startswith("external") for effect in rule.effects)
                for rule in rules.rules("subject")
            )

    # -- keys --------------------------------------------------------------------------------
    def _prefix(self, subject_id: Any) -> str:
        if self.topic == "user":
            return f"{self.pipeline.workflow_id}|user:{subject_id}"
        return f"{self.pipeline.workflow_id}|{subject_id}"

    def _group_key(self, event: ClassificationEvent) -> Any:
        return event.subject_id if self.topic == "subject" else event.user_id

    def _repeat_identity(self, event: ClassificationEvent) -> str | None:
        """Whose repeats the -F filter collapses: per subject, each volunteer's classifications
        (by user_name); per user, each subject the volunteer classified more than once."""
        if self.topic == "user":
            return f"subject:{event.subject_id}"
        return event.user_name

    def head_key(self, subject_id: Any) -> str:
        return f"h|{self._prefix(subject_id)}"

    def _marker_key(self, subject_id: Any, cid: Any) -> str:
        return f"c|{self._prefix(subject_id)}|{cid}"

    def _seq_key(self, subject_id: Any, seq: int) -> str:
        return f"s|{self._prefix(subject_id)}|{seq}"

    def _applied(
        self, txn: Any, subject_id: Any, cid: Any, marker: dict, committed_seq: int
    ) -> bool:
        """Whether the classification a marker names is in the subject's committed state.

        Its seq must be within the head's, and held by it: after a write cut short, a pipeline
        change (another version range, another grouping rule) can make a redelivery number
        other classifications than the first time, so a leftover marker's seq may since have
        been given to another classification (``s|`` says to which). State written before the
        ``s|`` keys existed has none: such a marker counts as applied, as it did then.
        """
        if marker["seq"] > committed_seq:
            return False
        owner = txn.get(self._seq_key(subject_id, marker["seq"]))
        return owner is None or owner == cid

    def _chunk_key(self, subject_id: Any, extractor_key: str, index: int) -> str:
        return f"l|{self._prefix(subject_id)}|{extractor_key}|{index}"

    def _user_key(self, subject_id: Any, extractor_key: str, task: str, user: str) -> str:
        return f"u|{self._prefix(subject_id)}|{extractor_key}|{task}|{user}"

    # -- extraction ---------------------------------------------------------------------------
    def extract(self, event: ClassificationEvent) -> list[tuple[str, str, Any]]:
        """``(extractor_key, task, data)`` rows for one classification, in config order."""
        rows, _ = self.extract_with_problems(event)
        return rows

    def extract_with_problems(
        self, event: ClassificationEvent
    ) -> tuple[list[tuple[str, str, Any]], list[str]]:
        """Rows, and one message per extractor entry that could not read this classification.

        As ``tally extract`` does, a failing entry is skipped and the others kept, so batch and
        incremental modes reduce the same extracts; annotations that cannot be parsed at all
        raise :class:`~core.errors.AnnotationParseError` (the whole classification is rejected).
        """
        classification = Classification.from_export(
            event.annotations,
            event.metadata,
            classification_id=event.classification_id,
            user_id=event.user_id,
            # What Caesar's extractors (who, pluck_field) read besides the annotations.
            context={
                "id": event.classification_id,
                "workflow_id": event.workflow_id,
                "workflow_version": event.workflow_version,
                "subject_id": event.subject_id,
                "user_id": event.user_id,
                "created_at": event.created_at,
                "subject": {"id": event.subject_id, "metadata": dict(event.subject_metadata)},
            },
        )
        rows: list[tuple[str, str, Any]] = []
        problems: list[str] = []
        for entry in self.pipeline.extractors:
            try:
                data = entry.spec.func(classification, entry.params)
            except Exception as exc:  # noqa: BLE001 - skipped and reported, as tally extract does
                problems.append(f"{entry.key} failed on task {entry.task}: {exc}")
                continue
            if isinstance(data, list):
                rows.extend((entry.key, entry.task, item) for item in data)
            else:
                rows.append((entry.key, entry.task, data))
        return rows, problems

    # -- processing ---------------------------------------------------------------------------
    def process(self, txn: Any, events: Sequence[ClassificationEvent]) -> BatchResult:
        """Apply ``events`` (any subjects, any order) and return the updated reductions.

        Events for one subject are coalesced: each affected reduction is computed once.
        """
        outcomes: list[tuple[int, Outcome]] = []
        by_subject: dict[Any, list[tuple[int, ClassificationEvent]]] = {}
        for position, event in enumerate(events):
            if event.workflow_id != self.pipeline.workflow_id:
                outcomes.append(
                    (position, Outcome(event.classification_id, "ignored", "another workflow"))
                )
                continue
            version_problem = _version_problem(event.workflow_version)
            if version_problem is not None:
                # Not "outside the configured range": nobody can tell (tally extract skips it
                # as 'invalid workflow_version'); the stream dead-letters a rejected outcome.
                outcomes.append(
                    (position, Outcome(event.classification_id, "rejected", version_problem))
                )
                continue
            if not self.pipeline.accepts_version(event.workflow_version):
                outcomes.append(
                    (
                        position,
                        Outcome(
                            event.classification_id,
                            "ignored",
                            f"workflow version {event.workflow_version} outside the configured range",
                        ),
                    )
                )
                continue
            group = self._group_key(event)
            if group is None and self.topic == "user":  # user reductions exclude anonymous
                outcomes.append(
                    (position, Outcome(event.classification_id, "ignored", "anonymous volunteer"))
                )
                continue
            if group is None or (isinstance(group, str) and not group.strip()):
                # Its extracts would belong to no subject (tally extract skips such rows too).
                outcomes.append(
                    (position, Outcome(event.classification_id, "rejected", "empty subject id"))
                )
                continue
            by_subject.setdefault(group, []).append((position, event))
        reductions: list[Reduction] = []
        actions: list[ActionRecord] = []
        rule_errors: list[tuple[Any, RuleError]] = []
        for subject_id, subject_events in by_subject.items():
            # With rules, each classification is applied on its own, in arrival order, and the
            # rules see the reductions after each (as Caesar evaluates them after every
            # update): a condition that holds only for a while (count == 5) must not fire or
            # not depending on how the input was cut into batches. Without rules a subject's
            # events are coalesced: its reductions are computed once per batch.
            runs = (
                [[item] for item in subject_events] if self.rules is not None else [subject_events]
            )
            for run in runs:
                o, r, a, e = self._process_subject(txn, subject_id, run)
                outcomes.extend(o)
                reductions.extend(r)
                actions.extend(a)
                rule_errors.extend((subject_id, error) for error in e)
        outcomes.sort(key=lambda po: po[0])
        return BatchResult([o for _, o in outcomes], reductions, actions, rule_errors)

    def _new_head(self) -> dict[str, Any]:
        return {
            "seq": 0,
            "n": 0,
            "latest": None,
            "latest_at": None,
            "logs": {},
            "incr": {},
            "config": self.pipeline.config_version,
            # The subject's log holds extracts already normalized (read back as batch mode
            # reads them), so recomputes need not normalize every row again. Heads written
            # before this flag existed keep raw extracts and are normalized on read.
            "nd": 1,
        }

    def _process_subject(
        self, txn: Any, subject_id: Any, events: list[tuple[int, ClassificationEvent]]
    ) -> tuple[list[tuple[int, Outcome]], list[Reduction], list[ActionRecord], list[RuleError]]:
        head = txn.get(self.head_key(subject_id)) or self._new_head()
        outcomes: list[tuple[int, Outcome]] = []
        stale: set[tuple[int, str]] = set()  # (reducer index, task) to recompute from the log
        folded: dict[tuple[int, str], list[ExtractRecord]] = {}  # in-order rows to fold in
        touched: set[tuple[str, str]] = set()  # (extractor key, task) that received rows
        recompute_all = head.get("config") != self.pipeline.config_version
        had_rows = head["n"] > 0
        if recompute_all:
            head["incr"] = {}  # states built under another config are not reusable
            if had_rows:
                head["rules"] = {}  # reductions of the old config; all are recomputed below
        chunk_cache: dict[str, list] = {}
        seen_in_batch: set[Any] = set()
        training_flipped = False
        # Sequence numbers (the markers) in arrival order, everything else in created_at order.
        # A marker above the stored head's seq is a leftover of a write cut short (its
        # classification comes again): compared with the head as stored, not as this batch
        # advances it. After a crash the records come again in the same order, maybe cut into
        # other batches, so each takes the seq its leftover marker has; numbering by created_at
        # instead could give a later-created one, redelivered alone first, an earlier-created
        # one's seq, and make that one look applied when it comes.
        committed_seq = head["seq"]
        applied: list[tuple[int, ClassificationEvent, list, list[str]]] = []
        for position, event in events:
            cid = event.classification_id
            marker = txn.get(self._marker_key(subject_id, cid))
            if cid in seen_in_batch or (
                marker is not None and self._applied(txn, subject_id, cid, marker, committed_seq)
            ):
                outcomes.append((position, Outcome(cid, "duplicate", "already applied")))
                continue
            try:
                rows, problems = self.extract_with_problems(event)
            except TallyError as exc:
                outcomes.append((position, Outcome(cid, "rejected", str(exc))))
                continue
            ungroupable = self._missing_group(cid, rows)
            if ungroupable:
                outcomes.append((position, Outcome(cid, "rejected", ungroupable)))
                continue
            if marker is not None:
                # A leftover: the write that applied it was cut short, and may have left
                # per-volunteer entries (-F first/last) that make the incremental path add or
                # skip it wrongly. Recompute the subject from its log, as for a late arrival.
                recompute_all = True
            seen_in_batch.add(cid)
            head["seq"] += 1
            txn.set(self._marker_key(subject_id, cid), {"seq": head["seq"]})
            txn.set(self._seq_key(subject_id, head["seq"]), cid)
            applied.append((position, event, rows, problems))
        applied.sort(key=lambda a: (time_key(a[1].created_at), _cid_key(a[1])))
        for position, event, rows, problems in applied:
            cid = event.classification_id
            order_key = [*time_key(event.created_at), _cid_key(event)]
            in_order = head["latest"] is None or order_key >= head["latest"]
            training = is_training_subject(event.subject_metadata)
            if in_order:
                head["latest"], head["latest_at"] = order_key, event.created_at
                # Caesar reads a subject's *current* metadata; here the latest classification's
                # (by created_at), which does not depend on arrival order.
                if self.topic == "subject" and training != head.get("training", False):
                    if training:
                        head["training"] = True
                    else:
                        head.pop("training", None)
                    training_flipped = True
            else:
                recompute_all = True
            head["n"] += 1
            if (
                in_order
                and self.rules is not None
                and self._rules_read_subject
                and event.subject_metadata
            ):
                # the latest classification's, as for the training flag: an older one that
                # arrives late must not bring back metadata the subject has since changed
                head["subject"] = dict(event.subject_metadata)
            kept: list[tuple[str, str, Any]] = []  # this classification's rows so far
            for extractor_key, task, data in rows:
                normalized = self.normalize(data)
                # Batch reduce drops identical rows of the extraction CSV (the reference's
                # drop_duplicates()); within one classification, where the other cells are
                # equal, those are its identical extracts of one task (a survey volunteer who
                # marked the same species twice with the same answers): count them once too.
                if (extractor_key, task, normalized) in kept:
                    continue
                kept.append((extractor_key, task, normalized))
                row = [
                    cid,
                    event.created_at,
                    event.user_id,
                    self._repeat_identity(event),
                    task,
                    normalized if head.get("nd") else data,
                ]
                if training:  # the training filter of user reductions reads it per extract
                    row.append(True)
                self._append(txn, head, chunk_cache, subject_id, extractor_key, row)
                touched.add((extractor_key, task))
                record = ExtractRecord(
                    normalized,
                    event.user_id,
                    event.created_at,
                    cid,
                    self._repeat_identity(event),
                )
                for index, binding in self.bindings:
                    if binding.extractor_key != extractor_key:
                        continue
                    if binding.recomputes:
                        stale.add((index, task))
                        continue
                    if binding.filters is not None:  # per-extract filters only: fold
                        if binding.filters.keeps_extract(record.data):
                            folded.setdefault((index, task), []).append(record)
                        continue
                    decision = self._repeat_decision(txn, subject_id, extractor_key, task, event)
                    if binding.spec.incremental is None or decision == "recompute":
                        stale.add((index, task))
                    elif decision == "add":
                        folded.setdefault((index, task), []).append(record)
                # User index is updated once per row, after every binding has looked at it.
                self._note_user(txn, subject_id, extractor_key, task, event)
            # "partial": applied without the extractor entries that failed (dead-lettered with
            # the reason by the stream, reported by the CLI), exactly as tally extract skips them.
            status = "partial" if problems else "applied"
            outcomes.append((position, Outcome(cid, status, "; ".join(problems))))
        for key, chunk in chunk_cache.items():
            txn.set(key, chunk)
        reductions: list[Reduction] = []
        universe: dict[str, Any] = {}  # the subject's classifications, read once if needed
        for index, binding in self.bindings:
            tasks = sorted(
                {t for k, t in touched if k == binding.extractor_key}
                | ({t for (i, t) in stale if i == index})
            )
            if (recompute_all and had_rows) or (
                training_flipped
                and binding.filters
                and binding.filters.training != "ignore_training"
            ):
                # Every task of the log: under a new pipeline (as rereduce_subject) or when the
                # subject's training flag changed what a training filter keeps.
                rows = self._log_rows(txn, head, chunk_cache, subject_id, binding.extractor_key)
                tasks = sorted(set(tasks) | {row[4] for row in rows})
            for task in tasks:
                slot_missing = binding.spec.incremental is not None and task not in head[
                    "incr"
                ].get(str(index), {})
                if (
                    binding.recomputes
                    or recompute_all
                    or (index, task) in stale
                    or (slot_missing and had_rows)
                ):
                    reductions.extend(
                        self._recomputed(
                            txn, head, chunk_cache, subject_id, index, binding, task, universe
                        )
                    )
                    continue
                data, count = self._fold(head, index, binding, task, folded.get((index, task), []))
                reductions.append(
                    self._reduction(subject_id, task, index, binding, data, count, head)
                )
        head["config"] = self.pipeline.config_version
        actions, errors = self._fire_rules(txn, subject_id, head, reductions)
        txn.set(self.head_key(subject_id), head)  # the commit point: written last
        return outcomes, reductions, actions, errors

    # -- rules --------------------------------------------------------------------------------
    def _fired_key(self, action_id: str) -> str:
        return f"f|{self.pipeline.workflow_id}|{action_id}"

    def _fire_rules(
        self, txn: Any, subject_id: Any, head: dict, reductions: list[Reduction]
    ) -> tuple[list[ActionRecord], list[RuleError]]:
        """Evaluate the subject rules on the updated reductions; each effect fires once.

        The reductions rules read are kept in the head (only those: a rule file names them), so
        a rule sees the subject's current value of every reduction, not just the updated ones.
        An effect's id is stored when it fires, in the same transaction as the state it fired
        on, so no later classification, re-delivery, replay or re-reduce fires it again.
        """
        if self.rules is None or not reductions:
            return [], []
        current = head.setdefault("rules", {})
        for reduction in reductions:
            name = self.pipeline.rule_key(reduction.reducer_index, reduction.task)
            if reduction.subgroup is not None:
                name = f"{name}/{reduction.subgroup}"
            if name in self._rule_keys:
                current[name] = reduction.data
        if self.topic == "user":
            candidates, errors = self.rules.user_actions(
                user_bindings(current),
                workflow_id=self.pipeline.workflow_id,
                user_id=subject_id,
                time=head.get("latest_at"),
            )
        else:
            candidates, errors = self.rules.subject_actions(
                subject_bindings(current, subject_id=subject_id, metadata=head.get("subject")),
                workflow_id=self.pipeline.workflow_id,
                subject_id=subject_id,
                time=head.get("latest_at"),
            )
        fired: list[ActionRecord] = []
        for action in candidates:
            key = self._fired_key(action.action_id)
            if txn.get(key) is None:
                txn.set(key, {"rule": action.rule_id, "time": action.time})
                fired.append(action)
        return fired, errors

    def rereduce(self, txn: Any, subject_id: Any) -> list[Reduction]:
        """The reductions of :meth:`rereduce_subject`."""
        return self.rereduce_subject(txn, subject_id).reductions

    def rereduce_subject(self, txn: Any, subject_id: Any) -> BatchResult:
        """Recompute every reduction of a stored subject from its extract log.

        Used when a workflow's reducer configuration changes: the extracts stay, the reductions
        and incremental states are rebuilt under the new configuration, and the rules are
        evaluated on them (effects that already fired stay fired).
        """
        head = txn.get(self.head_key(subject_id))
        if head is None:
            return BatchResult([], [])
        head["incr"] = {}
        cache: dict[str, list] = {}
        reductions: list[Reduction] = []
        universe: dict[str, Any] = {}
        for index, binding in self.bindings:
            rows = self._log_rows(txn, head, cache, subject_id, binding.extractor_key)
            for task in sorted({row[4] for row in rows}):
                reductions.extend(
                    self._recomputed(txn, head, cache, subject_id, index, binding, task, universe)
                )
        head["config"] = self.pipeline.config_version
        head["rules"] = {}
        actions, errors = self._fire_rules(txn, subject_id, head, reductions)
        txn.set(self.head_key(subject_id), head)
        return BatchResult([], reductions, actions, [(subject_id, e) for e in errors])

    def _recomputed(
        self,
        txn: Any,
        head: dict,
        cache: dict,
        subject_id: Any,
        index: int,
        binding: ReducerBinding,
        task: str,
        universe: dict[str, Any],
    ) -> list[Reduction]:
        """The reductions of (``binding``, ``task``) recomputed from the subject's log (one per
        subgroup for reducers with filters or grouping)."""
        if binding.recomputes:
            return self._recompute_groups(
                txn, head, cache, subject_id, index, binding, task, universe
            )
        data, count = self._recompute(txn, head, cache, subject_id, index, binding, task)
        return [self._reduction(subject_id, task, index, binding, data, count, head)]

    # -- repeat filter -------------------------------------------------------------------------
    def _repeat_decision(
        self, txn: Any, subject_id: Any, extractor_key: str, task: str, event: ClassificationEvent
    ) -> str:
        """``add`` (fold in), ``skip`` (filtered out, state unchanged) or ``recompute``."""
        identity = self._repeat_identity(event)
        if self.repeat_filter == "all" or identity is None:
            return "add"
        entry = txn.get(self._user_key(subject_id, extractor_key, task, identity))
        if entry is None:
            return "add"
        now = list(time_key(event.created_at))
        boundary = entry["first"] if self.repeat_filter == "first" else entry["last"]
        if now == boundary:
            return "add"  # rows at the same instant are all kept
        if self.repeat_filter == "first":
            return "skip" if now > boundary else "recompute"
        return "recompute"  # a later row displaces the user's previous last rows

    def _note_user(
        self, txn: Any, subject_id: Any, extractor_key: str, task: str, event: ClassificationEvent
    ) -> None:
        identity = self._repeat_identity(event)
        if identity is None or self.repeat_filter == "all":
            return
        key = self._user_key(subject_id, extractor_key, task, identity)
        now = list(time_key(event.created_at))
        entry = txn.get(key)
        if entry is None:
            txn.set(key, {"first": now, "last": now})
        elif now < entry["first"] or now > entry["last"]:
            txn.set(key, {"first": min(entry["first"], now), "last": max(entry["last"], now)})

    # -- the log ------------------------------------------------------------------------------
    def _append(
        self, txn: Any, head: dict, cache: dict, subject_id: Any, extractor_key: str, row: Row
    ) -> None:
        length = head["logs"].get(extractor_key, 0)
        index, offset = divmod(length, CHUNK_ROWS)
        key = self._chunk_key(subject_id, extractor_key, index)
        if key not in cache:
            cache[key] = list(txn.get(key) or []) if offset else []
        chunk = cache[key]
        del chunk[offset:]  # rows past the head's length are leftovers of an interrupted write
        chunk.append(row)
        head["logs"][extractor_key] = length + 1

    def _log_rows(
        self, txn: Any, head: dict, cache: dict, subject_id: Any, extractor_key: str
    ) -> list[Row]:
        length = head["logs"].get(extractor_key, 0)
        rows: list[Row] = []
        for index in range((length + CHUNK_ROWS - 1) // CHUNK_ROWS):
            key = self._chunk_key(subject_id, extractor_key, index)
            rows.extend(cache[key] if key in cache else (txn.get(key) or []))
        return rows[:length]

    def subject_records(
        self, txn: Any, subject_id: Any, extractor_key: str, task: str
    ) -> list[ExtractRecord]:
        """The subject's extracts for one task, sorted and filtered as the reducers see them."""
        head = txn.get(self.head_key(subject_id))
        if head is None:
            return []
        rows = self._log_rows(txn, head, {}, subject_id, extractor_key)
        return self._records(rows, task, head)

    def _records(
        self, rows: list[Row], task: str, head: dict, mode: str | None = None
    ) -> list[ExtractRecord]:
        records = [self._record(r, head) for r in _in_order(rows, task)]
        return select_repeats(records, mode or self.repeat_filter)

    def _data(self, row: Row, head: dict) -> Any:
        """A logged extract as reducers see it (see ``nd`` in :meth:`_new_head`)."""
        return row[5] if head.get("nd") else self.normalize(row[5])

    def _record(self, row: Row, head: dict) -> ExtractRecord:
        return ExtractRecord(self._data(row, head), row[2], row[1], row[0], row[3])

    # -- Caesar's filters and grouping (core/filters.py) ---------------------------------------
    def _whose(self, row: Row) -> Any:
        """Whose repeats Caesar's repeatedness filter collapses: per subject, each logged-in
        volunteer's (anonymous ones are always kept); per user, each subject's."""
        return row[2] if self.topic == "subject" else row[3]

    def _missing_group(self, cid: Any, rows: list[tuple[str, str, Any]]) -> str:
        """Why a classification must be rejected: a grouped reducer with ``if_missing: error``
        would get its extracts but the classification has no value for the grouping field."""
        for index, binding in self.bindings:
            grouping = binding.grouping
            if grouping is None or grouping.if_missing != "error":
                continue
            same = grouping.extractor_key == binding.extractor_key
            for task in dict.fromkeys(t for k, t, _ in rows if k == binding.extractor_key):
                source = [
                    d for k, t, d in rows if k == grouping.extractor_key and (not same or t == task)
                ]
                if not source or grouping.value(self.normalize(source[0])) is None:
                    where = f" on task {task}" if same else ""
                    return (
                        f"classification {cid}: no value for {grouping.field_name!r}{where}, "
                        f"which reducer config #{index + 1} ({binding.name}) groups by with "
                        "if_missing error; give it one, or set grouping.if_missing to ignore "
                        "to leave such classifications out of the groups"
                    )
        return ""

    def _recompute_groups(
        self,
        txn: Any,
        head: dict,
        cache: dict,
        subject_id: Any,
        index: int,
        binding: ReducerBinding,
        task: str,
        universe: dict[str, Any],
    ) -> list[Reduction]:
        """The reductions of a reducer with filters or grouping, from the whole log: Caesar's
        grouping, then its filters in order, over the subject's classifications sorted by
        ``(created_at, classification_id)`` (see docs/rules.md, "Filters and grouping")."""
        rows = self._log_rows(txn, head, cache, subject_id, binding.extractor_key)
        task_rows = _in_order(rows, task)
        grouping = binding.grouping
        groups: dict[str | None, list[Row]] = {}
        members: dict[str | None, list[tuple[Any, Any]]] = {}
        if grouping is None:
            groups[None] = task_rows
        else:
            same = grouping.extractor_key == binding.extractor_key
            source = (
                [r for r in rows if r[4] == task]
                if same
                else self._log_rows(txn, head, cache, subject_id, grouping.extractor_key)
            )
            value_of: dict[Any, str | None] = {}
            first_rows: list[Row] = []
            for row in source:  # a classification's first extract of that extractor decides
                if row[0] not in value_of:
                    value_of[row[0]] = grouping.value(self._data(row, head))
                    first_rows.append(row)
            for row in task_rows:
                value = value_of.get(row[0])
                if value is not None:  # if_missing: ignore (error: rejected on arrival)
                    groups.setdefault(value, []).append(row)
            for row in _in_order(first_rows, None):
                value = value_of[row[0]]
                if value in groups:
                    members.setdefault(value, []).append((row[0], self._whose(row)))
        out = []
        for subgroup in sorted(groups, key=lambda g: "" if g is None else g):
            if subgroup is None and binding.filters is not None:
                if binding.filters.repeated != "keep_all" and "all" not in universe:
                    universe["all"] = self._classifications(txn, head, cache, subject_id)
                group_members = universe.get("all", [])
            else:
                group_members = members.get(subgroup, [])
            records = self._filtered(groups[subgroup], binding, head, group_members)
            count = len({r.classification_id for r in records})
            data = binding.spec.func(records, binding.params)
            reduction = self._reduction(subject_id, task, index, binding, data, count, head)
            out.append(dataclasses.replace(reduction, subgroup=subgroup))
        return out

    def _classifications(
        self, txn: Any, head: dict, cache: dict, subject_id: Any
    ) -> list[tuple[Any, Any]]:
        """``(classification id, whose)`` of every classification with an extract in any of
        the subject's logs, in order: what Caesar's repeatedness filter ranks (it runs before
        the extractor-key filter, so a volunteer's first classification is first even when it
        has no extract of the reduced extractor)."""
        firsts: dict[Any, Row] = {}
        for extractor_key in head["logs"]:
            for row in self._log_rows(txn, head, cache, subject_id, extractor_key):
                firsts.setdefault(row[0], row)
        return [(r[0], self._whose(r)) for r in _in_order(list(firsts.values()), None)]

    def _filtered(
        self,
        rows: list[Row],
        binding: ReducerBinding,
        head: dict,
        members: list[tuple[Any, Any]],
    ) -> list[ExtractRecord]:
        """Caesar's filter chain over one group's rows (already in order)."""
        filters = binding.filters
        if filters is None:
            return select_repeats([self._record(r, head) for r in rows], self.repeat_filter)
        if filters.repeated != "keep_all":
            kept = select_repeated(members, filters.repeated)
            rows = [r for r in rows if r[0] in kept]
        # extractor keys: the binding reads only its extractor's log (pipeline._bind)
        pairs = [(r, self._data(r, head)) for r in rows]
        if filters.empty == "ignore_empty":
            pairs = [(r, d) for r, d in pairs if not is_blank(d)]
        if filters.training != "ignore_training":
            wanted = filters.training == "training_only"
            if self.topic == "subject":
                training = bool(head.get("training", False))
                pairs = pairs if training == wanted else []
            else:
                pairs = [(r, d) for r, d in pairs if (len(r) > 6 and bool(r[6])) == wanted]
        if not filters.whole_range:
            order = list(dict.fromkeys(r[0] for r, _ in pairs))
            chosen = set(subrange(order, filters.start, filters.stop))
            pairs = [(r, d) for r, d in pairs if r[0] in chosen]
        return [ExtractRecord(d, r[2], r[1], r[0], r[3]) for r, d in pairs]

    # -- reducing -----------------------------------------------------------------------------
    def _recompute(
        self,
        txn: Any,
        head: dict,
        cache: dict,
        subject_id: Any,
        index: int,
        binding: ReducerBinding,
        task: str,
    ) -> tuple[Any, int]:
        rows = self._log_rows(txn, head, cache, subject_id, binding.extractor_key)
        if binding.filters is None:
            records = self._records(rows, task, head)
        else:  # foldable filters (keep_all, nothing but per-extract tests): see `recomputes`
            keeps = binding.filters.keeps_extract
            records = [r for r in self._records(rows, task, head, "all") if keeps(r.data)]
        count = len({r.classification_id for r in records})
        incremental = binding.spec.incremental
        if incremental is None:
            return binding.spec.func(records, binding.params), count
        state = incremental.init(binding.params)
        for record in records:
            state = incremental.add(state, record, binding.params)
        head["incr"].setdefault(str(index), {})[task] = {"state": state, "count": count}
        return incremental.result(state, binding.params), count

    def _fold(
        self, head: dict, index: int, binding: ReducerBinding, task: str, records: list
    ) -> tuple[Any, int]:
        incremental = binding.spec.incremental
        slot = head["incr"].setdefault(str(index), {}).get(task)
        state = slot["state"] if slot else incremental.init(binding.params)
        count = slot["count"] if slot else 0
        for record in records:
            state = incremental.add(state, record, binding.params)
        count += len({r.classification_id for r in records})
        head["incr"][str(index)][task] = {"state": state, "count": count}
        return incremental.result(state, binding.params), count

    def _reduction(
        self,
        subject_id: Any,
        task: str,
        index: int,
        binding: ReducerBinding,
        data: Any,
        count: int,
        head: dict,
    ) -> Reduction:
        return Reduction(
            workflow_id=self.pipeline.workflow_id,
            subject_id=subject_id if self.topic == "subject" else None,
            user_id=subject_id if self.topic == "user" else None,
            task=task,
            reducer=binding.name,
            reducer_index=index,
            extractor_key=binding.extractor_key,
            data=data,
            classifications=count,
            latest_created_at=head.get("latest_at"),
            config_version=self.pipeline.config_version,
        )


def _in_order(rows: list[Row], task: str | None) -> list[Row]:
    """``rows`` (of ``task``, or all) in ``(created_at, classification_id, log position)``
    order: the order reducers and filters see a subject's extracts in."""
    indexed = [(i, r) for i, r in enumerate(rows) if task is None or r[4] == task]
    indexed.sort(key=lambda ir: (time_key(ir[1][1]), _order_cid(ir[1][0]), ir[0]))
    return [r for _, r in indexed]


def _order_cid(cid: Any) -> tuple[int, Any]:
    # Numeric ids order numerically; anything else after them, as text.
    try:
        return (0, int(cid))
    except (TypeError, ValueError):
        return (1, str(cid))


def _cid_key(event: ClassificationEvent) -> Any:
    value = _order_cid(event.classification_id)
    return value[1] if value[0] == 0 else -1


@functools.lru_cache(maxsize=1024)
def _version_problem(version: str | None) -> str | None:
    """Why a classification's ``workflow_version`` is no version (None if it is one); an
    export holds a few versions, so each is parsed once.

    >>> _version_problem("16.55"), _version_problem("sixteen.x")
    (None, "invalid workflow_version: 'sixteen.x'")
    >>> _version_problem(None)  # the export's empty cell
    "invalid workflow_version: ''"
    """
    try:
        WorkflowVersion.parse("" if version is None else version)
    except TallyError:
        return f"invalid workflow_version: {version or ''!r}"
    return None
