"""Embedded mode: the incremental engine in one process, state in a local RocksDB directory.

``tally aggregate`` reads a classification export row by row, feeds the rows to the engine in
batches (one RocksDB write batch each, so an interrupted run loses at most the batch in flight
and re-running finishes it), keeps each reduction's latest value in the same database, and
writes one CSV per reducer config in exactly the ``tally reduce`` layout
(:func:`stream.snapshot.write_snapshot`).

Running it again on a newer export of the same project applies only the classifications it has
not seen (the engine is idempotent by classification id) and rewrites the CSVs only when a
reduction changed. Every write batch that stores a reduction also sets a "snapshot pending"
marker in the state, cleared only once the CSVs are written: a run stopped (killed, disk full)
between committing its reductions and finishing the CSVs leaves the marker, and the next run
rewrites the CSVs even though it applies nothing new.

Changing the reducer configs re-reduces every stored subject from its stored extracts; changing
the extractor config needs a fresh state directory (the stored extracts were made by the old
extractors), which the runner detects and refuses with a clear message.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from core.csv_layout import NA_STRINGS
from core.engine import ClassificationEvent, Outcome, Reduction
from core.errors import TallyError
from core.events import EventSchemaError, event_from_export_row, missing_id, parse_id
from core.rules.actions import ACTION_COLUMNS
from core.workflow_config.versions import WorkflowVersion
from stream.records import reduction_record
from stream.snapshot import SnapshotFile, output_names, write_snapshot
from stream.state.rocksdict_store import RocksdictStore
from stream.workflows import LoadedWorkflow

__all__ = [
    "AggregateSummary",
    "BadRowError",
    "ExportRows",
    "SnapshotWriteError",
    "StateMismatchError",
    "aggregate",
]

BATCH_ROWS = 2000
#: How many distinct skip reasons the summary spells out (the rest are counted in one line).
SHOW_REASONS = 10
#: Set (in the same write batch) whenever reductions are stored; cleared after the CSVs are
#: written. Its presence at start-up means the CSVs may be older than the stored reductions.
SNAPSHOT_PENDING = "snapshot_pending"
#: Engine outcomes reported as problems (``partial``: applied without a failing extractor).
BAD_OUTCOMES = ("rejected", "partial")
REQUIRED_COLUMNS = (
    "classification_id",
    "workflow_id",
    "workflow_version",
    "created_at",
    "annotations",
    "subject_ids",
)


class StateMismatchError(TallyError, ValueError):
    """The state directory was built for another workflow or extractor config."""


class SnapshotWriteError(TallyError):
    """The CSVs could not be written (disk full, permissions); the state is saved."""


class BadRowError(TallyError, ValueError):
    """A row of the export that cannot be applied (``--strict`` stops at the first).

    >>> print(BadRowError("e.csv", 12, 345, "empty subject_ids"))
    e.csv, line 12: classification 345: empty subject_ids
    """

    def __init__(self, source: str, line: int, classification_id: Any, reason: str) -> None:
        super().__init__(f"{source}, line {line}: classification {classification_id}: {reason}")
        self.line = line
        self.classification_id = classification_id
        self.reason = reason


class RowProblem(Exception):
    """Why :meth:`ExportRows.event` refuses a row: ``reason`` names the classification once."""

    def __init__(self, classification_id: Any, reason: str) -> None:
        super().__init__(reason)
        self.classification_id = classification_id
        self.reason = reason


def reason_without_id(classification_id: Any, reason: str) -> str:
    """``reason`` without a leading "classification <id>" (messages that name it once).

    >>> reason_without_id(7, "classification 7: annotations is not valid JSON")
    'annotations is not valid JSON'
    >>> reason_without_id(7, "classification 7, task T1: no answer")
    'task T1: no answer'
    >>> reason_without_id(7, "question_extractor failed on task T0: boom")
    'question_extractor failed on task T0: boom'
    """
    prefix = f"classification {classification_id}"
    if reason.startswith((prefix + ": ", prefix + ", ")):
        return reason[len(prefix) + 2 :]
    return reason


class ExportRows:
    """Rows of a classification export (cells in header order) -> engine events.

    Refuses, with the reason and detail ``tally extract`` gives, the rows it skips: a row with
    more or fewer fields than the header (its cells are not where the header says); for the
    configured workflow, a ``workflow_version`` that is not a version; and, for the versions
    ``accepts_version`` takes, no subject (a ``subject_ids`` cell that is empty or a
    missing-value mark such as ``NA``) or no classification id (shown as the cell's text). The
    engine and ``core.events`` refuse the last three as well (the stream's dead letters), in
    their own words; checking here keeps ``tally aggregate``'s summary in ``tally extract``'s.

    >>> rows = ExportRows(["classification_id", "workflow_id", "workflow_version",
    ...     "created_at", "annotations", "subject_ids"], workflow_id=10)
    >>> rows.event(["5", "10", "3.1", "2024-01-01", "[]", "77"]).subject_id
    77
    >>> for cells in (["5", "10", "3.1"], ["5", "10", "", "t", "[]", "77"],
    ...               ["5", "10", "3.1", "t", "[]", ""], ["5", "10", "3.1", "t", "[]", "NA"],
    ...               ["5", "10", "3.1", "t", "[", "77"], ["", "10", "3.1", "t", "[]", "77"]):
    ...     try:
    ...         rows.event(cells)
    ...     except RowProblem as problem:
    ...         print(problem.classification_id, problem.reason[:50])
    5 malformed CSV row: 3 fields where the header has 6
    5 invalid workflow_version: ''
    5 empty subject_ids
    5 empty subject_ids: subject_ids is 'NA'
    5 annotations or metadata is not valid JSON (unexpec
    '' empty classification_id
    """

    def __init__(
        self,
        header: Sequence[str],
        workflow_id: int,
        accepts_version: Callable[[str], bool] = lambda version: True,
    ) -> None:
        self.header = list(header)
        self.workflow_id = workflow_id
        self.accepts_version = accepts_version
        # dict(zip(header, cells)) keeps a repeated column's last cell; so does this.
        position = {name: i for i, name in enumerate(self.header)}
        self._cid_at = position["classification_id"]
        self._workflow_at = position["workflow_id"]
        self._version_at = position["workflow_version"]
        self._subjects_at = position["subject_ids"]
        self._readable_versions: dict[str, bool] = {}

    def event(self, cells: Sequence[str]) -> ClassificationEvent:
        """The event of one row, or :class:`RowProblem` saying why the row is unusable."""
        width = len(self.header)
        cid = parse_id(cells[self._cid_at]) if len(cells) > self._cid_at else "?"
        if len(cells) != width:
            raise RowProblem(
                cid, f"malformed CSV row: {len(cells)} fields where the header has {width}"
            )
        if parse_id(cells[self._workflow_at]) == self.workflow_id:
            version = cells[self._version_at]
            if not self._readable_version(version):
                raise RowProblem(cid, f"invalid workflow_version: {version!r}")
            subjects = cells[self._subjects_at]
            if self.accepts_version(version):
                cid_cell = cells[self._cid_at]
                if missing_id(cid_cell):
                    # The engine counts a classification once by its id: without one, a
                    # second classification of the subject would be taken for a repeat.
                    detail = f": classification_id is {cid_cell!r}" if cid_cell.strip() else ""
                    raise RowProblem(repr(cid_cell), f"empty classification_id{detail}")
                if subjects in NA_STRINGS and subjects:
                    raise RowProblem(cid, f"empty subject_ids: subject_ids is {subjects!r}")
                if not subjects.split(";")[0].strip():  # the first id is the subject
                    raise RowProblem(cid, "empty subject_ids")
        try:
            return event_from_export_row(dict(zip(self.header, cells, strict=True)))
        except EventSchemaError as exc:
            raise RowProblem(cid, reason_without_id(cid, str(exc))) from None

    def _readable_version(self, text: str) -> bool:
        readable = self._readable_versions.get(text)
        if readable is None:
            try:
                WorkflowVersion.parse(text)
                readable = True
            except TallyError:
                readable = False
            self._readable_versions[text] = readable
        return readable


@dataclasses.dataclass
class AggregateSummary:
    rows: int = 0
    outcomes: Counter = dataclasses.field(default_factory=Counter)
    rejected: list[tuple[Any, str]] = dataclasses.field(default_factory=list)
    reductions_updated: int = 0
    subjects: int = 0
    volunteers: int = 0  # with user reductions (reduce_by_user)
    clusters: int = 0
    files: list[SnapshotFile] = dataclasses.field(default_factory=list)
    rereduced_subjects: int = 0
    snapshot_was_pending: bool = False
    seconds: float = 0.0
    actions_path: Path | None = None
    actions_written: int = 0
    rule_errors: list[tuple[Any, Any]] = dataclasses.field(default_factory=list)

    def report(self) -> str:
        applied = self.outcomes["applied"] + self.outcomes["partial"]
        partial = (
            f" ({self.outcomes['partial']} without a failing extractor)"
            if self.outcomes["partial"]
            else ""
        )
        lines = [
            f"{self.rows} rows read: {applied} classifications applied{partial}, "
            f"{self.outcomes['duplicate']} already applied, {self.outcomes['ignored']} for other "
            f"workflows/versions, {self.outcomes['rejected']} rejected",
        ]
        if self.rejected:
            by_reason = Counter(reason[:120] for _, reason in self.rejected)
            for reason, n in by_reason.most_common(SHOW_REASONS):
                lines.append(f"  skipped x{n}: {reason}")
            if len(by_reason) > SHOW_REASONS:  # every skipped row is counted somewhere
                rest = sum(n for _, n in by_reason.most_common()[SHOW_REASONS:])
                lines.append(
                    f"  skipped x{rest} more, for {len(by_reason) - SHOW_REASONS} other reasons "
                    "(run with --strict to stop at the first bad row and see it in full)"
                )
            lines.append(
                "  first classification ids with problems: "
                + ", ".join(str(cid) for cid, _ in self.rejected[:5])
            )
        if self.rule_errors:
            lines.append(f"{len(self.rule_errors)} rule evaluations failed, e.g.:")
            for subject, error in self.rule_errors[:3]:
                lines.append(f"  subject {subject}, rule {error.rule_id}: {error.message}")
        if self.rereduced_subjects:
            lines.append(f"{self.rereduced_subjects} stored subjects re-reduced (config changed)")
        if self.snapshot_was_pending:
            lines.append(
                "an earlier run stored reductions but stopped before its CSVs were written: "
                "writing them now"
            )
        lines.append(
            f"{self.subjects} subjects, "
            + (f"{self.volunteers} volunteers, " if self.volunteers else "")
            + f"{self.reductions_updated} reductions updated, "
            f"{self.clusters} clusters, {self.seconds:.1f} s"
        )
        return "\n".join(lines)


def _extractor_digest(workflow: LoadedWorkflow) -> str:
    document = workflow.message.get("extractor_config", {})
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def _count_clusters(data: Any) -> int:
    if isinstance(data, list):
        return sum(_count_clusters(d) for d in data)
    if not isinstance(data, dict):
        return 0
    total = 0
    for key, value in data.items():
        if key.endswith("_clusters_count") and isinstance(value, list):
            total += len(value)
        elif isinstance(value, dict):
            total += _count_clusters(value)
    return total


def _reduction_key(workflow_id: int, reduction_key: str) -> str:
    return f"r|{workflow_id}|{reduction_key}"


def aggregate(
    rows: Iterable[tuple[int, Sequence[str]]],
    header: Sequence[str],
    workflow: LoadedWorkflow,
    *,
    state_dir: str | Path,
    output_dir: str | Path,
    source: str = "the export",
    name: str = "reductions",
    on_progress: Callable[[int], None] | None = None,
    strict: bool = False,
) -> AggregateSummary:
    """Apply export ``rows`` to the stored state; write the CSVs.

    ``rows`` are ``(line number, cells)`` of the export named ``source``, cells in ``header``
    order. A row that cannot be applied is counted and reported in the summary, or with
    ``strict`` raises :class:`BadRowError` naming the source, line and classification id.
    """
    started = time.perf_counter()
    reader = ExportRows(header, workflow.workflow_id, workflow.pipeline.accepts_version)
    summary = AggregateSummary()
    engine = workflow.engine
    wf = workflow.workflow_id
    changed: set[int] = set()
    actions = (
        _ActionsFile(Path(output_dir) / f"actions_{Path(name).stem}.csv") if engine.rules else None
    )
    with RocksdictStore(state_dir) as store:
        _check_state(store, workflow)
        # Read before this run stores anything: only an earlier, unfinished run can have set it.
        summary.snapshot_was_pending = bool(store.get_meta(SNAPSHOT_PENDING))
        if store.get_meta("config_version") not in (None, workflow.config_version):
            summary.rereduced_subjects = _rereduce_all(store, workflow, changed, summary, actions)
        store.set_meta("workflow_id", wf)
        store.set_meta("extractor_digest", _extractor_digest(workflow))

        def flush(batch: list[tuple[int, ClassificationEvent]]) -> None:
            events = [event for _, event in batch]
            try:
                with store.transaction() as txn:
                    result = engine.process(txn, events)
                    if strict:
                        # Raised inside the transaction: nothing of this batch is written.
                        _stop_at_first_bad(result.outcomes)
                    _store_reductions(txn, wf, result.reductions, changed)
                    # Appended (and fsynced) before the state commits: a crash in between
                    # re-runs the batch, whose action ids are then already in the file and
                    # skipped; the other order could lose an action.
                    _record_actions(result, summary, actions)
                    if workflow.user_engine is not None:
                        by_user = workflow.user_engine.process(txn, events)
                        _store_reductions(txn, wf, by_user.reductions, changed)
                        _record_actions(by_user, summary, actions)
                        summary.reductions_updated += len(by_user.reductions)
            except _StrictStop as stop:
                # Apply the rows before the bad one, as a run of the export up to it would;
                # none after it.
                if stop.position:
                    flush(batch[: stop.position])
                cid = stop.outcome.classification_id
                reason = reason_without_id(cid, stop.outcome.reason)
                raise BadRowError(source, batch[stop.position][0], cid, reason) from None
            summary.reductions_updated += len(result.reductions)
            for outcome in result.outcomes:
                summary.outcomes[outcome.status] += 1
                if outcome.status in BAD_OUTCOMES:
                    cid = outcome.classification_id
                    summary.rejected.append((cid, reason_without_id(cid, outcome.reason)))

        batch: list[tuple[int, ClassificationEvent]] = []
        for line, cells in rows:
            summary.rows += 1
            try:
                batch.append((line, reader.event(cells)))
            except RowProblem as problem:
                if strict:
                    if batch:  # the rows before it, none after it
                        flush(batch)
                    raise BadRowError(
                        source, line, problem.classification_id, problem.reason
                    ) from None
                summary.outcomes["rejected"] += 1
                summary.rejected.append((problem.classification_id, problem.reason))
            if len(batch) >= BATCH_ROWS:
                flush(batch)
                batch = []
                if on_progress:
                    on_progress(summary.rows)
        if batch:
            flush(batch)
        if on_progress:
            on_progress(summary.rows)
        store.set_meta("config_version", workflow.config_version)

        records = [value for _, value in store.items(f"r|{wf}|")]
        summary.subjects = len({r["subject_id"] for r in records if r.get("user_id") is None})
        summary.volunteers = len({r["user_id"] for r in records if r.get("user_id") is not None})
        summary.clusters = sum(_count_clusters(r["data"]) for r in records)
        output_dir = Path(output_dir)
        names = output_names(workflow.pipeline, name)
        missing = {i for i, n in enumerate(names) if not (output_dir / n).exists()}
        if changed | missing or not names or summary.snapshot_was_pending:
            try:
                summary.files = write_snapshot(
                    records,
                    workflow.pipeline,
                    output_dir,
                    name=name,
                    no_version=workflow.no_version,
                )
            except OSError as exc:
                raise SnapshotWriteError(
                    f"cannot write {exc.filename or output_dir}: {exc.strerror or exc}. The "
                    f"classifications are stored (in {store.path}): make room, or make the "
                    "directory writable, and run again to write the CSVs"
                ) from exc
            # Only now: a run stopped anywhere before this line leaves the marker set.
            with store.transaction() as txn:
                txn.delete(f"meta|{SNAPSHOT_PENDING}")
    summary.seconds = time.perf_counter() - started
    return summary


class _StrictStop(Exception):
    """--strict: the event at ``position`` of a batch could not be applied."""

    def __init__(self, position: int, outcome: Outcome) -> None:
        super().__init__(outcome.reason)
        self.position = position
        self.outcome = outcome


def _stop_at_first_bad(outcomes: Sequence[Outcome]) -> None:
    for position, outcome in enumerate(outcomes):
        if outcome.status in BAD_OUTCOMES:
            raise _StrictStop(position, outcome)


def _check_state(store: RocksdictStore, workflow: LoadedWorkflow) -> None:
    stored_wf = store.get_meta("workflow_id")
    if stored_wf is not None and stored_wf != workflow.workflow_id:
        raise StateMismatchError(
            f"the state directory {store.path} holds workflow {stored_wf}, not "
            f"{workflow.workflow_id}; pass another --state directory"
        )
    digest = store.get_meta("extractor_digest")
    if digest is not None and digest != _extractor_digest(workflow):
        raise StateMismatchError(
            f"the extractor config differs from the one the state in {store.path} was built "
            "with, so its stored extracts are stale; delete that directory (or pass a new "
            "--state) to rebuild from the export"
        )


def _store_reductions(
    txn: Any, workflow_id: int, reductions: list[Reduction], changed: set[int]
) -> None:
    for reduction in reductions:
        txn.set(_reduction_key(workflow_id, reduction.key), reduction_record(reduction))
        changed.add(reduction.reducer_index)
    if reductions:
        # In the same write batch as the reductions: they cannot be committed without it.
        txn.set(f"meta|{SNAPSHOT_PENDING}", True)


def _record_actions(result: Any, summary: AggregateSummary, actions: _ActionsFile | None) -> None:
    summary.rule_errors.extend(result.rule_errors)
    if actions is not None:
        summary.actions_path = actions.path
        summary.actions_written += actions.append(result.actions)


class _ActionsFile:
    """The embedded mode's actions CSV: fired effects appended once each (core ACTION_COLUMNS),
    read by ``tally effects run --actions``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        # Ids already in the file: a run interrupted between appending and committing its
        # state re-fires that batch's effects, which must not appear twice.
        self.ids: set[str] = set()
        if path.exists():
            with path.open(newline="", encoding="utf-8") as f:
                self.ids = {row["action_id"] for row in csv.DictReader(f)}

    def append(self, records: list[Any]) -> int:
        fresh = [r for r in records if r.action_id not in self.ids]
        if not fresh:
            return 0
        new = not self.path.exists() or self.path.stat().st_size == 0
        with self.path.open("a", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(ACTION_COLUMNS))
            if new:
                writer.writeheader()
            writer.writerows(record.to_row() for record in fresh)
            f.flush()
            os.fsync(f.fileno())
        self.ids.update(r.action_id for r in fresh)
        return len(fresh)


def _rereduce_all(
    store: RocksdictStore,
    workflow: LoadedWorkflow,
    changed: set[int],
    summary: AggregateSummary,
    actions: _ActionsFile | None,
) -> int:
    wf = workflow.workflow_id
    prefix = f"h|{wf}|"
    subjects = [key[len(prefix) :] for key, _ in store.items(prefix)]
    users = [s[len("user:") :] for s in subjects if s.startswith("user:")]
    subjects = [s for s in subjects if not s.startswith("user:")]
    with store.transaction() as txn:
        for key, _ in store.items(f"r|{wf}|"):
            txn.delete(key)
        txn.set(f"meta|{SNAPSHOT_PENDING}", True)
    targets = [(workflow.engine, s) for s in subjects]
    if workflow.user_engine is not None:
        targets += [(workflow.user_engine, u) for u in users]
    for target_engine, text in targets:
        target: Any = int(text) if text.lstrip("-").isdigit() else text
        with store.transaction() as txn:
            result = target_engine.rereduce_subject(txn, target)
            _store_reductions(txn, wf, result.reductions, changed)
            _record_actions(result, summary, actions)
    changed.update(range(len(workflow.pipeline.reducers)))
    return len(subjects)
