"""Reductions -> the CSV files ``tally reduce`` writes, whatever produced the reductions.

``tally export`` (reading the compacted reductions topic) uses this; so can any other runner of
:class:`core.engine.Engine` (the embedded mode). Nothing here knows about Kafka: the input is the
latest reduction record per key, as plain dicts (:func:`stream.records.reduction_record`).

What ``tally reduce`` does and this reproduces, per reducer config (one output file each):

* every subject that has any extract of the reducer's extractor key gets a row group, subjects
  in ascending order (numerically when every subject id is an integer, else as text);
* within a subject, one group per task seen *anywhere* in that extractor's extracts, even when
  the subject has no extract for that task: the reducer is run on no extracts there, as
  ``tally reduce`` (and panoptes_aggregation) do;
* tasks are in order of first appearance in the extraction file. The stream does not know the
  file's row order; the order used is: the first subject (in subject order) having the task,
  then the extractor config's task order. That is the file's order whenever a classification
  gives a row for each task of the extractor (true of the question, shortcut, survey and
  drawing extractors, which always write one row per configured task);
* ``aggregation_version`` is added to every reduction unless the reducer config says
  ``no_version``; list reductions give one row per element;
* the ``data.*`` columns, cell text and column types come from the batch CLI's own writer
  (:mod:`core.csv_layout` + ``tally.commands.reduce``), so the bytes are the same.

A user reducer (``topic: reduce_by_user``) is written the same way, keyed by volunteer: its
rows are per user id and its first column is ``user_id`` instead of ``subject_id``.

A reducer with ``grouping:`` (docs/rules.md, "Filters and grouping") gets a ``subgroup``
column after ``task`` and one row group per (subject, task, subgroup) it has a reduction for,
in that order, with no empty fill.

File names: ``<reducer_name>_<output>.csv`` as ``tally reduce -o <output>`` writes them, with
``<output>`` = ``<extractor_key>_<name>`` (``-o NAME`` of ``tally export``, default
``reductions``) so two reducers of the same name (for two extractor keys) do not collide; a
remaining collision (the same reducer twice on one key) appends the reducer's position.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from core.csv_layout import (
    DATA_PREFIX,
    ColumnStats,
    ReadKinds,
    cell_formatter,
    flatten,
    order_columns,
    reformat_cell,
    with_version,
)
from core.pipeline import Pipeline, ReducerBinding
from tally.reduce import _write_reduction_csv, subject_sort_key
from tally.tables import atomic_csv_writer

__all__ = ["FRONT_COLUMNS", "SnapshotFile", "output_names", "write_snapshot"]

#: The ``-O/--order`` front columns of ``tally reduce``.
FRONT_COLUMNS = ("choice", "total_vote_count", "choice_count")


@dataclasses.dataclass(frozen=True)
class SnapshotFile:
    """One written CSV: which reducer, where, how many subjects (or volunteers) and rows."""

    reducer_index: int
    reducer: str
    extractor_key: str
    path: Path
    subjects: int  # the file's targets: volunteers for a user reducer (reduce_by_user)
    rows: int
    of_volunteers: bool = False


def output_names(pipeline: Pipeline, name: str = "reductions") -> list[str]:
    """The file name of each reducer config's CSV, in pipeline order.

    >>> p = Pipeline.from_configs(
    ...     {"workflow_id": 1, "extractor_config": {"question_extractor": [{"task": "T0"}],
    ...      "shortcut_extractor": [{"task": "T1"}]}},
    ...     [{"reducer_config": {"question_reducer": {}}},
    ...      {"reducer_config": {"question_reducer": {}}}],
    ...     reducer_keys=["question_extractor", "shortcut_extractor"])
    >>> output_names(p)
    ['question_reducer_question_extractor_reductions.csv', 'question_reducer_shortcut_extractor_reductions.csv']
    """
    base = name[:-4] if name.lower().endswith(".csv") else name
    names = [f"{b.name}_{b.extractor_key}_{base}.csv" for b in pipeline.reducers]
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [n if seen[n] == 1 else f"{n[:-4]}_{i}.csv" for i, n in enumerate(names)]


def _id_text(value: Any) -> str:
    return "" if value is None else str(value)


def _row_id(record: Mapping[str, Any]) -> str:
    """The first cell's id: the volunteer for a user reduction, else the subject.

    >>> _row_id({"subject_id": 7, "user_id": None}), _row_id({"subject_id": 7, "user_id": 42})
    ('7', '42')
    """
    user_id = record.get("user_id")
    return _id_text(record["subject_id"] if user_id is None else user_id)


def _id_column(binding: ReducerBinding) -> str:
    return "user_id" if binding.topic == "user" else "subject_id"


def write_snapshot(
    records: Iterable[Mapping[str, Any]],
    pipeline: Pipeline,
    output_dir: str | Path,
    *,
    name: str = "reductions",
    no_version: Sequence[bool] | None = None,
    order: bool = False,
) -> list[SnapshotFile]:
    """Write one ``tally reduce`` CSV per reducer config of ``pipeline``.

    ``records`` are the current reductions of the pipeline's workflow (any order, one per
    (subject or user, task, reducer index)); records of other workflows or of reducer indexes
    the pipeline does not have are ignored. User reductions (a ``user_id``) are keyed by the
    volunteer, and a user reducer's file starts with a ``user_id`` column (``tally export`` and
    ``tally aggregate`` both rely on this). ``no_version[i]`` leaves ``aggregation_version``
    out of reducer ``i``'s rows, as ``no_version: true`` in its reducer config does for
    ``tally reduce``.

    An :class:`OSError` while writing (disk full, permissions) is raised again naming the CSV
    being written (a failed ``write`` names no file).
    """
    output_dir = Path(output_dir)
    flags = list(no_version or [False] * len(pipeline.reducers))
    by_index: list[dict[tuple[str, str], Any]] = [{} for _ in pipeline.reducers]
    for record in records:
        if record.get("workflow_id") != pipeline.workflow_id:
            continue
        index = record.get("reducer_index")
        if not isinstance(index, int) or not 0 <= index < len(pipeline.reducers):
            continue
        binding = pipeline.reducers[index]
        if record.get("reducer") != binding.name:
            continue
        if binding.grouping is not None:
            group_key = (
                _row_id(record),
                str(record["task"]),
                str(record.get("subgroup")),
            )
            by_index[index][group_key] = record["data"]
            continue
        by_index[index][(_row_id(record), str(record["task"]))] = record["data"]

    written: list[SnapshotFile] = []
    try:
        _write_files(written, by_index, pipeline, output_dir, name, flags, order)
    except OSError as exc:
        # the file being written: the one after those written
        path = output_dir / output_names(pipeline, name)[len(written)]
        raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
    return written


def _write_files(
    written: list[SnapshotFile],
    by_index: list[dict[tuple[str, str], Any]],
    pipeline: Pipeline,
    output_dir: Path,
    name: str,
    flags: list[bool],
    order: bool,
) -> None:
    """Write each reducer's CSV, appending its :class:`SnapshotFile` to ``written``."""
    for index, (binding, filename) in enumerate(
        zip(pipeline.reducers, output_names(pipeline, name), strict=True)
    ):
        groups = by_index[index]
        if binding.grouping is not None:
            path = output_dir / filename
            subjects, count = _write_grouped(
                path, groups, binding, str(pipeline.workflow_id), flags[index], order
            )
            written.append(
                SnapshotFile(
                    index,
                    binding.name,
                    binding.extractor_key,
                    path,
                    subjects,
                    count,
                    of_volunteers=binding.topic == "user",
                )  # fmt: skip
            )
            continue
        kinds = ReadKinds(["subject_id", "task"])
        for subject, task in groups:
            kinds.add([subject, task])
        column_kinds = kinds.kinds()
        subject_kind, task_kind = column_kinds["subject_id"], column_kinds["task"]
        sort_key = subject_sort_key(subject_kind)
        subjects = sorted({s for s, _ in groups}, key=sort_key)
        config_order = {
            e.task: i for i, e in enumerate(pipeline.entries_for(binding.extractor_key))
        }
        first_subject: dict[str, Any] = {}
        for subject, task in groups:
            key = sort_key(subject)
            if task not in first_subject or key < first_subject[task]:
                first_subject[task] = key
        tasks = sorted(
            first_subject,
            key=lambda t: (first_subject[t], config_order.get(t, len(config_order)), t),
        )
        empty: Any = None
        stats = ColumnStats()
        rows: list[tuple[str, str, dict[str, Any]]] = []
        for subject in subjects:
            subject_cell = reformat_cell(subject, subject_kind)
            for task in tasks:
                data = groups.get((subject, task))
                if data is None and (subject, task) not in groups:
                    if empty is None:
                        empty = binding.spec.func([], binding.params)
                    data = empty
                items = data if isinstance(data, list) else [data]
                if not flags[index]:
                    items = with_version(items)
                task_cell = reformat_cell(task, task_kind)
                for item in items:
                    flat = flatten(item)
                    stats.add(flat)
                    rows.append((subject_cell, task_cell, flat))
        path = output_dir / filename
        _write_reduction_csv(
            path,
            iter(rows),
            stats,
            str(pipeline.workflow_id) if groups else "",
            binding.name,
            order,
            FRONT_COLUMNS,
            _id_column(binding),
        )
        written.append(
            SnapshotFile(
                index,
                binding.name,
                binding.extractor_key,
                path,
                len(subjects),
                len(rows),
                of_volunteers=binding.topic == "user",
            )  # fmt: skip
        )


def _write_grouped(
    path: Path,
    groups: Mapping[tuple[str, ...], Any],
    binding: Any,
    workflow_cell: str,
    no_version: bool,
    order: bool,
) -> tuple[int, int]:
    """A grouped reducer's CSV: ``tally reduce``'s layout with a ``subgroup`` column after
    ``task``, one row group per (subject, task, subgroup) that has a reduction (no empty fill:
    a group exists only where a classification put extracts in it), in that order."""
    kinds = ReadKinds(["subject_id", "task", "subgroup"])
    for key in groups:
        kinds.add(list(key))
    column_kinds = kinds.kinds()
    subject_key = subject_sort_key(column_kinds["subject_id"])
    stats = ColumnStats()
    rows: list[list[Any]] = []
    for subject, task, subgroup in sorted(groups, key=lambda k: (subject_key(k[0]), k[1], k[2])):
        data = groups[(subject, task, subgroup)]
        items = data if isinstance(data, list) else [data]
        if not no_version:
            items = with_version(items)
        for item in items:
            flat = flatten(item)
            stats.add(flat)
            rows.append(
                [
                    reformat_cell(subject, column_kinds["subject_id"]),
                    reformat_cell(task, column_kinds["task"]),
                    reformat_cell(subgroup, column_kinds["subgroup"]),
                    flat,
                ]
            )
    header = [_id_column(binding), "workflow_id", "task", "subgroup", "reducer"]
    header += [DATA_PREFIX + c for c in stats.columns()]
    if order:
        header = order_columns(header, front=FRONT_COLUMNS)
    data_kinds = stats.kinds()
    columns = [
        (c[len(DATA_PREFIX) :], cell_formatter(data_kinds[c[len(DATA_PREFIX) :]]))
        for c in header[5:]
    ]
    workflow = workflow_cell if groups else ""
    with atomic_csv_writer(path, header) as writer:
        writer.writerows(
            [subject, workflow, task, subgroup, binding.name, *[f(flat.get(c)) for c, f in columns]]
            for subject, task, subgroup, flat in rows
        )
    return len({k[0] for k in groups}), len(rows)
