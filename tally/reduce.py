"""``tally reduce``: extraction CSV + reducer config -> one reduction CSV.

A drop-in for ``panoptes_aggregation reduce``: same arguments, file name
(``<reducer_name>_<output>.csv``) and CSV layout. Every subject is reduced for every task found
in the file (groups without extracts too, as the reference does), subjects in ascending order,
each group's extracts ordered by ``created_at``.

How it scales: the file is read once, its rows spilled to a temporary file and routed into
buckets of consecutive subjects; each bucket (at most a few tens of MB) is grouped by subject
in one pass and reduced in a worker process (``-c``), buckets in subject order. Memory is bounded
by the bucket size, not the file size; the reference instead scans the whole table once per
(subject, task). A file no larger than half a bucket (:data:`IN_MEMORY_BYTES`) skips the spill
files: it is read and grouped in this process, and the workers, forked after that, reduce
buckets of it from their inherited copy; the output is the same.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import itertools
import math
import operator
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import filterfalse
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple, TypeVar

from core.csv_layout import (  # data_reader's readers of number cells
    AGGREGATION_VERSION,
    DATA_PREFIX,
    NA_STRINGS,
    REDUCE_INFO_COLUMNS,
    ColumnStats,
    ReadKinds,
    _format_object,
    _read_float,
    _read_int,
    cell_formatter,
    convert_cell,
    data_reader,
    flatten,
    order_columns,
    python_literal,
    reformat_cell,
    text_formatter,
)
from core.errors import TallyError
from core.filters import batch_refusal
from core.reducers._counting import VERSION_KEY
from core.reducers.question_reducer import QuestionReducerParams
from core.registry import ExtractRecord, get_reducer
from core.repeats import REPEAT_MODES, select_repeats, time_key
from tally.errors import InputError
from tally.parallel import collector_paused, ordered_map
from tally.progress import progress_bar
from tally.scratch import scratch_dir
from tally.tables import (
    CsvBlocks,
    CsvSource,
    Spill,
    append_span,
    atomic_binary_file,
    atomic_csv_writer,
    atomic_text_file,
    csv_field,
    load_yaml,
    parse_block,
    require_columns,
)

__all__ = ["reduce_file", "subject_sort_key"]

REQUIRED_COLUMNS = ("subject_id", "task", "created_at", "workflow_id")
WRAPPER_KEYWORDS = ("no_version",)
JOURNAL_HEADER = ["subject_id", "workflow_id", "task", "reducer", "data"]
_JOURNAL_HEADER_LINE = (",".join(JOURNAL_HEADER) + "\n").encode()
_JOURNAL_NAMES = {"nan": math.nan, "inf": math.inf, "null": None, "true": True, "false": False}
#: pandas writes the reference's OrderedDict reductions as their repr in its -s journal
_JOURNAL_CALLS = {"OrderedDict": dict}
SPILL_ROWS = 2000
BUCKET_BYTES = 32 << 20
#: Extraction files up to this size are grouped in memory instead of spilled: the spill round
#: trips cost more than the reduction of small files (a third of a question reduce of 20,000
#: rows). Rows in memory take about ten times their CSV bytes, and forked workers that touch
#: them copy those pages, so this stays at half a bucket: a few hundred MB at most.
IN_MEMORY_BYTES = BUCKET_BYTES // 2
#: From this size on, a point_reducer_hdbscan run builds its spanning trees with scikit-learn's
#: compiled Prim (same edges, checked when loaded): its 1.2 s import pays off from about 35,000
#: classifications (18 MB of point extracts); below this the Python steps are cheaper overall.
COMPILED_TREE_BYTES = 64 << 20
SUBJECTS_PER_BUCKET = 2000
SHOW_BLANK_ROWS = 5  # rows named in the note on rows without a subject (or task)
#: With ``-c`` above 1, an in-memory reduction (and its formatting) estimated to take less CPU
#: than this runs in this process: forking the workers and sending the results back costs
#: ~0.1 s of CPU, more than a 20,000-row question reduce itself. The estimate comes from a probe
#: bucket of about 1/PROBE_SHARE of the rows, reduced here first.
SERIAL_SECONDS = 0.25
PROBE_SHARE = 64

R = TypeVar("R")


# ------------------------------------------------------------------------------------------
# configuration


# The records of a run are named tuples, not dataclasses: created at import, a dataclass compiles
# its methods from source (0.5-1 ms each at every start); none of these is changed once made.


class ReducerPlan(NamedTuple):
    name: str
    keywords: dict[str, Any]
    no_version: bool


def load_plan(path: str) -> ReducerPlan:
    document = load_yaml(path, "reducer config")
    refusal = batch_refusal(document)  # Caesar's filters/grouping: engine only
    if refusal:
        raise InputError(f"{path}: {refusal}")
    section = document.get("reducer_config") if isinstance(document, Mapping) else None
    if not isinstance(section, Mapping) or len(section) != 1:
        found = (
            f"{len(section)} reducers"
            if isinstance(section, Mapping)
            else "no 'reducer_config' mapping"
        )
        raise InputError(
            f"{path}: a reducer config must hold exactly one reducer under 'reducer_config' "
            f"(e.g. reducer_config: {{question_reducer: {{}}}}), found {found}"
        )
    ((name, keywords),) = section.items()
    if keywords is None:
        keywords = {}
    if not isinstance(keywords, Mapping):
        raise InputError(f"{path}: the keywords of {name} must be a mapping, got {keywords!r}")
    kept = {k: v for k, v in keywords.items() if k not in WRAPPER_KEYWORDS}
    try:
        spec = get_reducer(str(name))
        spec.parse_params(kept)
    except TallyError as exc:
        raise InputError(f"{path}: {exc}") from None
    return ReducerPlan(str(name), kept, bool(keywords.get("no_version", False)))


# ------------------------------------------------------------------------------------------
# ordering keys (pandas sort_values(['subject_id', 'created_at']), NaN last, stable)


def subject_sort_key(kind: str) -> Callable[[str], Any]:
    """Sort key for raw subject cells in a column pandas reads as ``kind``."""
    if kind in ("int", "float"):

        def numeric(text: str) -> Any:
            return (1, 0.0) if text in NA_STRINGS else (0, float(text))

        return numeric

    return _textual_key


def _textual_key(text: str) -> Any:
    return (1, "") if text in NA_STRINGS else (0, text)


def created_key(text: str) -> Any:
    return (1, ()) if text in NA_STRINGS else (0, time_key(text))


#: ``created_at`` as Panoptes exports write it. Texts of this one fixed-width form sort as
#: strings exactly as :func:`created_key` sorts them, without parsing every timestamp.
_EXPORT_TIME = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


def _sorted_rows(
    members: list[tuple[Any, list[str]]], i_created: int, export_times: bool = False
) -> list[list[str]]:
    """The rows of ``members`` (``(row order, row)``) sorted by ``created_at``, then row order.

    ``export_times``: the caller knows every ``created_at`` has the export's fixed form.

    >>> rows = [(0, ["2024-02-01 00:00:09 UTC"]), (1, ["2024-02-01 00:00:08 UTC"])]
    >>> [row[0][-9:] for row in _sorted_rows(rows, 0)]
    ['00:08 UTC', '00:09 UTC']
    >>> [row[0][-9:] for row in _sorted_rows(rows + [(2, ["2024-2-1 0:0:1 UTC"])], 0)]
    ['0:0:1 UTC', '00:08 UTC', '00:09 UTC']
    """
    match = _EXPORT_TIME.fullmatch
    if export_times or all(match(row[i_created]) for _, row in members):
        return _rows_by_created(members, i_created)
    ordered = sorted(members, key=lambda r: (created_key(r[1][i_created]), r[0]))
    return [row for _, row in ordered]


def _rows_by_created_py(members: list[tuple[Any, list[str]]], i_created: int) -> list[list[str]]:
    """The rows of ``members`` sorted by their ``created_at`` text, then row order
    (``_cells_compiled.rows_by_created`` is the compiled form).

    >>> _rows_by_created_py([(0, ["b"]), (1, ["a"]), (2, ["b"])], 0)
    [['a'], ['b'], ['b']]
    """
    return [row for _, row in sorted(members, key=lambda r: (r[1][i_created], r[0]))]


def _count_held_py(
    rows: Iterable[Sequence[str]],
    columns: list[tuple[int, str]],
    held: list[dict[str, bool]],
    holds: Callable[[int, str], bool],
) -> dict[str, int]:
    """``{key: rows holding it}`` in first-seen order (the first row holding a key, then column
    order). ``columns``: ``(cell index, key)`` per column; ``held``: per column, cell text ->
    whether a row holds the key, filled by ``holds(column, text)`` for texts not in it yet.
    ``_cells_compiled.count_held`` is the compiled form.

    >>> _count_held_py([["", "1"], ["1", "1"]], [(0, "a"), (1, "b")], [{}, {}],
    ...     lambda column, text: text != "")
    {'b': 2, 'a': 1}
    """
    counts: dict[str, int] = {}
    for row in rows:
        for c, (i, key) in enumerate(columns):
            text = row[i]
            present = held[c].get(text)
            if present is None:
                present = held[c][text] = holds(c, text)
            if present:
                counts[key] = counts.get(key, 0) + 1
    return counts


#: :data:`_EXPORT_TIME` in ASCII digits (``\\d`` matches other scripts' digits too)
_ASCII_EXPORT_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2} UTC")


def _group_rows_py(
    rows: Sequence[list[str]],
    column: int,
    block: int,
    groups: dict[str, list[tuple[tuple[int, int], list[str]]]],
    i_created: int,
) -> bool:
    """Append ``((block, n), row)`` for each row ``n`` to ``groups[row[column]]``, in row
    order; return whether every ``row[i_created]`` is in the export's form in ASCII digits
    (``_cells_compiled.group_rows`` is the compiled form).

    >>> groups = {"7": []}
    >>> _group_rows_py([["7", "2024-02-01 00:00:08 UTC"], ["8", "x"], ["7", ""]], 0, 3, groups, 1)
    False
    >>> groups["7"]
    [((3, 0), ['7', '2024-02-01 00:00:08 UTC']), ((3, 2), ['7', ''])]
    """
    for n, row in enumerate(rows):
        groups.setdefault(row[column], []).append(((block, n), row))
    return all(map(_ASCII_EXPORT_TIME.fullmatch, map(operator.itemgetter(i_created), rows)))


def _column_texts_py(
    rows: Sequence[Sequence[str]], columns: list[int]
) -> list[tuple[set[str], str | None]]:
    """Per column of ``columns``: ``(its distinct cells other than plain digits, its first cell
    of plain digits or None)`` (``_cells_compiled.column_texts`` is the compiled form, one pass
    over the rows). Plain digits are most of an id column's cells, and any one of them tells
    :class:`ReadKinds` what all of them do.

    >>> _column_texts_py([["a", "1"], ["b", "12"], ["a", "x"]], [1, 0]) == [({"x"}, "1"),
    ...     ({"a", "b"}, None)]
    True
    """
    out = []
    for i in columns:
        cells = list(map(operator.itemgetter(i), rows))
        plain = [text.isdigit() and text.isascii() for text in cells]
        others = set(itertools.compress(cells, map(operator.not_, plain)))
        out.append((others, next(itertools.compress(cells, plain), None)))
    return out


try:  # the compiled forms (optional, as setup.py builds them)
    from core._cells_compiled import column_texts as _column_texts
    from core._cells_compiled import count_held as _count_held
    from core._cells_compiled import group_rows as _group_rows
    from core._cells_compiled import rows_by_created as _rows_by_created
except ImportError:  # pragma: no cover - depends on the install
    _count_held, _rows_by_created = _count_held_py, _rows_by_created_py
    _column_texts = _column_texts_py
    _group_rows = _group_rows_py


def _numeric_or_none(text: str) -> Any:
    if text in NA_STRINGS:
        return (1, 0.0)
    try:
        return (0, float(text))
    except ValueError:
        return (2, 0.0)


class _FirstRows:
    """The earliest row (in sorted order) per key, under both readings of the subject column."""

    def __init__(self) -> None:
        self.numeric: dict[str, tuple[Any, Any]] = {}
        self.textual: dict[str, tuple[Any, Any]] = {}

    def add(
        self, key: str, numeric: Any, textual: Any, created: str, row_number: int, payload: Any
    ) -> None:
        """Offer a row; ``created_at`` is only parsed when the subject can win."""
        for table, subject_key in ((self.numeric, numeric), (self.textual, textual)):
            best = table.get(key)
            if best is None or subject_key <= best[0][0]:
                candidate = ((subject_key, created_key(created), row_number), payload)
                if best is None or candidate[0] < best[0]:
                    table[key] = candidate

    def merge(self, other: _FirstRows) -> None:
        for mine, theirs in ((self.numeric, other.numeric), (self.textual, other.textual)):
            for key, candidate in theirs.items():
                best = mine.get(key)
                if best is None or candidate[0] < best[0]:
                    mine[key] = candidate

    def ordered(self, subject_kind: str) -> list[tuple[str, Any]]:
        table = self.numeric if subject_kind in ("int", "float") else self.textual
        return [(k, v[1]) for k, v in sorted(table.items(), key=lambda kv: kv[1][0])]


# ------------------------------------------------------------------------------------------
# reading the extraction file (runs in worker processes, one block of rows at a time)


class ScanJob(NamedTuple):
    index: int
    offset: int
    data: bytes | memoryview  # (a view: CsvBlocks.views, scanned in this process)
    path: str  # the extraction file, for messages
    spill_dir: str | None  # None: return the rows instead of spilling them
    columns: tuple[int, int, int, int, int]  # width, subject, task, created_at, workflow_id
    classification_column: int | None = None  # for naming rows without a subject


class ScanResult(NamedTuple):
    """One block: its rows are spilled (or kept); counts, column typing and first rows come back."""

    spill: str
    rows: int
    size: int
    kinds: ReadKinds
    counts: Counter
    first_task: _FirstRows
    first_row: _FirstRows
    bad: tuple[int, int] | None  # (row in block, fields) of a row of the wrong width
    #: the rows, if not spilled: ``((block, row in block), row)`` by raw subject cell
    kept: dict[str, list[tuple[tuple[int, int], list[str]]]] | None = None
    export_times: bool = True  # every created_at in the export's fixed form (_EXPORT_TIME)
    #: (row in block, classification id) of the rows whose subject_id is blank
    blank_subjects: Sequence[tuple[int, str]] = ()
    #: ... and of those with a subject whose task is blank
    blank_tasks: Sequence[tuple[int, str]] = ()


def _scan_block(job: ScanJob) -> ScanResult:
    width, i_subject, i_task, i_created, i_workflow = job.columns
    rows = parse_block(job.data, Path(job.path), job.offset)
    first_task, first_row = _FirstRows(), _FirstRows()
    widths = set(map(len, rows))
    if widths - {width}:
        n = next(n for n, row in enumerate(rows) if len(row) != width)
        bad = ReadKinds([])
        return ScanResult(
            "", len(rows), len(job.data), bad, Counter(), first_task, first_row, (n, len(rows[n]))
        )
    # Column by column, each distinct cell once and in C where possible: a loop over the rows
    # here was half of a question reduce.
    kinds = _column_kinds(rows, width)
    subject_cells = list(map(operator.itemgetter(i_subject), rows))
    kept: dict[str, list[tuple[tuple[int, int], list[str]]]] | None = None
    export_times = False  # not known yet
    if job.spill_dir is None:
        kept = {}
        # the export's form in ASCII digits, told in the same pass (the usual case)
        export_times = _group_rows(rows, i_subject, job.index, kept, i_created)
        counts: Counter[str] = Counter({raw: len(members) for raw, members in kept.items()})
    else:
        counts = Counter(subject_cells)
    task_cells = list(map(operator.itemgetter(i_task), rows))
    for n in _first_row_candidates(subject_cells, task_cells, kept):
        row = rows[n]
        subject = row[i_subject]
        numeric = _numeric_or_none(subject)
        textual = _textual_key(subject)
        order = (job.index, n)
        first_task.add(row[i_task], numeric, textual, row[i_created], order, None)
        first_row.add("", numeric, textual, row[i_created], order, row[i_workflow])
    blank_subjects, blank_tasks = [], []
    i_cid = job.classification_column
    if not NA_STRINGS.isdisjoint(counts):
        blank_subjects = [
            (n, "?" if i_cid is None else row[i_cid])
            for n, row in enumerate(rows)
            if row[i_subject] in NA_STRINGS
        ]
    if not NA_STRINGS.isdisjoint(task_cells):
        blank_tasks = [
            (n, "?" if i_cid is None else row[i_cid])
            for n, row in enumerate(rows)
            if row[i_task] in NA_STRINGS and row[i_subject] not in NA_STRINGS
        ]
    index = job.index
    path = ""
    if job.spill_dir is not None:
        path = str(Path(job.spill_dir) / f"rows{job.index:08d}.spill")
        spill = Spill(path)
        spill.append([((index, n), row) for n, row in enumerate(rows)])
        spill.close()
    if not export_times:
        created = map(operator.itemgetter(i_created), rows)
        export_times = all(map(_EXPORT_TIME.fullmatch, created))
    return ScanResult(
        path,
        len(rows),
        len(job.data),
        kinds,
        counts,
        first_task,
        first_row,
        None,
        kept,
        export_times,
        blank_subjects,
        blank_tasks,
    )


def _column_kinds(rows: Sequence[Sequence[str]], width: int) -> ReadKinds:
    """:class:`ReadKinds` of the rows' columns, fed each column's distinct cells only (a kind
    depends on which texts occur, not on how often or in what order).

    >>> _column_kinds([("1", "1", ""), ("2", "", "2.5"), ("1", "x", "")], 3).kinds()
    {0: 'int', 1: 'str', 2: 'float'}
    """
    kinds = ReadKinds(list(range(width)))  # type: ignore[arg-type]
    if not rows:
        return kinds
    settled = kinds.not_int, kinds.not_float, kinds.not_bool
    open_columns = []
    for i in range(width):
        # the first cell that is not missing, found in C (a frame1 column is mostly blank)
        first = next(filterfalse(NA_STRINGS.__contains__, map(operator.itemgetter(i), rows)), None)
        if first is not None:
            kinds.add_cell(i, first)
            if all(flags[i] for flags in settled):
                # text (e.g. a list): no other cell can change the kind, missing ones neither
                continue
        open_columns.append(i)
    for i, (distinct, digits) in zip(open_columns, _column_texts(rows, open_columns), strict=True):
        missing = distinct & NA_STRINGS
        if missing:
            kinds.add_cell(i, min(missing))
            distinct -= missing
        if digits is not None:  # plain non-negative integers: each tells what all do
            kinds.add_cell(i, digits)
        for text in distinct:
            kinds.add_cell(i, text)
            if all(flags[i] for flags in settled):
                break
    return kinds


def _first_row_candidates(
    subjects: Sequence[str],
    tasks: Sequence[str],
    groups: Mapping[str, list[tuple[tuple[int, int], Any]]] | None = None,
) -> list[int]:
    """Positions of the rows that can be the earliest of their task in subject order (see
    :class:`_FirstRows`): those of each task's lowest subject, under both readings of the
    subject column. Every row when a subject reads as NaN (no order to rely on). ``groups``:
    the rows by subject cell, ``((block, position), row)`` (in a file of one task, the
    candidates are found from them).

    >>> _first_row_candidates(["7", "10", "7.0", "10"], ["T0", "T0", "T0", "T1"])
    [0, 1, 2, 3]
    >>> _first_row_candidates(["7", "9", "8", "7"], ["T0", "T0", "T1", "T1"])
    [0, 3]
    >>> _first_row_candidates(["7", "9", "7"], ["T0"] * 3, {"7": [((0, 0), []), ((0, 2), [])],
    ...     "9": [((0, 1), [])]})
    [0, 2]
    """
    distinct_tasks = set(tasks) if groups is not None else ()
    if len(distinct_tasks) == 1:  # one task: its pairs are the subjects (a set each already)
        (task,) = distinct_tasks
        pairs = {(task, subject) for subject in groups}  # type: ignore[union-attr]
    else:
        pairs = set(zip(tasks, subjects, strict=True))
    lowest: dict[str, set[str]] = {}
    for reading in (_numeric_or_none, _textual_key):
        best: dict[str, tuple[Any, set[str]]] = {}
        for task, subject in pairs:
            key = reading(subject)
            if key[1] != key[1]:  # NaN
                return list(range(len(subjects)))
            found = best.get(task)
            if found is None or key < found[0]:
                best[task] = (key, {subject})
            elif key == found[0]:
                found[1].add(subject)
        for task, (_, winners) in best.items():
            lowest.setdefault(task, set()).update(winners)
    if len(lowest) == 1:
        ((task, winners),) = lowest.items()
        if len(distinct_tasks) == 1:  # every row of a winner, from its group
            return sorted(n for subject in winners for (_, n), _ in groups[subject])  # type: ignore[index]
        return [n for n, subject in enumerate(subjects) if subject in winners]
    return [
        n
        for n, (task, subject) in enumerate(zip(tasks, subjects, strict=True))
        if subject in lowest[task]
    ]


def _init_router(bucket_of: dict[str, int], i_subject: int, spill_dir: str) -> None:
    _WORKER.update(bucket_of=bucket_of, i_subject=i_subject, spill_dir=spill_dir)


def _route_block(job: tuple[int, str]) -> dict[int, str]:
    """Split one block's spilled rows by bucket; return bucket -> part file."""
    index, path = job
    bucket_of: dict[str, int] = _WORKER["bucket_of"]
    i_subject: int = _WORKER["i_subject"]
    parts: dict[int, list[Any]] = {}
    for item in Spill(path).rows():
        bucket = bucket_of.get(item[1][i_subject])
        if bucket is not None:
            parts.setdefault(bucket, []).append(item)
    out = {}
    for bucket, items in parts.items():
        part = Path(_WORKER["spill_dir"]) / f"b{bucket}-{index:08d}.part"
        spill = Spill(part)
        spill.append(items)
        spill.close()
        out[bucket] = str(part)
    Path(path).unlink()
    return out


# ------------------------------------------------------------------------------------------
# bucket reduction (runs in worker processes)


class BucketJob(NamedTuple):
    index: int
    parts: tuple[str, ...]  # spilled rows of this bucket's subjects, in file order
    out_path: str  # "": return the reductions instead of spilling them
    subjects: tuple[str, ...] = ()  # in memory: this bucket's subjects (their rows: _WORKER)


class BucketResult(NamedTuple):
    out_path: str
    stats: ColumnStats
    subjects: int
    kept: list[tuple[str, str, dict[str, Any]]] | None = None  # the reductions, if not spilled
    #: instead of ``kept``: each reduction's output line, formatted by the process that reduced
    #: the bucket for the columns the probe bucket found (see :func:`_lines_here`)
    lines: list[str] | None = None
    #: ... or the file holding them (UTF-8), written by a forked worker (see _lines_result)
    lines_file: str | None = None

    def rows(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(subject cell, task cell, flattened reduction)`` in output order."""
        if self.kept is not None:
            return iter(self.kept)
        return Spill(self.out_path).rows()


_NO_ALIASES: Mapping[str, str] = MappingProxyType({})  # a shared default no one can change


class _Layout(NamedTuple):
    """What a worker needs to know about the extraction file and the run."""

    header: tuple[str, ...]
    index: dict[str, int]  # column name -> position in header
    kinds: dict[str, str]
    tasks: tuple[str, ...]  # each task as its output cell (a spelling that differs: an alias)
    reducer: str
    keywords: dict[str, Any]
    no_version: bool
    repeat_filter: str
    export_times: bool = False  # every created_at in the export's fixed form
    #: Raw subject / task cells -> the subject / task they are, where the two differ: a
    #: subject or task is the cell pandas writes back for it (one per value: ``5`` and ``5.0``
    #: in a float column are subject ``5.0``, ``1`` and ``01`` in an int column task ``1``).
    subject_aliases: Mapping[str, str] = _NO_ALIASES
    task_aliases: Mapping[str, str] = _NO_ALIASES
    blank_tasks: bool = False  # some rows have a blank task (and belong to no task)


_WORKER: dict[str, Any] = {}


def _init_worker(
    layout: _Layout,
    grouped: dict[str, list[tuple[Any, list[str]]]] | None = None,
    line_plan: dict[str, Any] | None = None,
) -> None:
    # ``grouped`` (in-memory runs): every subject's rows; forked workers share the parent's copy.
    # ``line_plan``: filled in by the parent after the probe bucket (see _lines_here)
    if _WORKER.get("layout") is layout and _WORKER.get("line_plan") is line_plan:
        return  # forked after the probe: this state is the parent's, set up for the same run
    spec = get_reducer(layout.reducer)
    params = spec.parse_params(layout.keywords)
    point_cells = _point_cells(layout, params)
    _WORKER.update(
        grouped=grouped,
        line_plan=line_plan,
        layout=layout,
        spec=spec,
        params=params,
        count_answers=_answer_counter(layout, params),
        count_subject=_subject_counter(layout, params),
        point_cells=point_cells,
        point_members=_point_members(layout, point_cells),
        index=layout.index,
        make_record=_record_maker(layout),
        drop_duplicates=_duplicate_dropper(layout.header, layout.kinds),
    )


def _duplicate_dropper(
    header: Sequence[str], kinds: Mapping[str, str]
) -> Callable[[list[Sequence[str]]], list[Sequence[str]]]:
    """``rows -> rows`` without those equal to an earlier row as the reference's
    ``drop_duplicates()`` compares them: cell by cell, as pandas reads the cells
    (``convert_cell`` by column kind). ``11`` and ``11.0`` in a float column, an empty cell and
    ``nan``, ``1`` and ``01`` in an int column are one value; texts in a text column (lists, and
    ``created_at``, which pandas leaves as text unless one format fits all of it) are equal only
    as written.

    Only rows of the same classification and task can be duplicates. A group of distinct
    classifications with plain ids (most) costs a set of id texts; otherwise rows equal as
    text go first, then rows whose (classification id, task) value occurs more than once are
    converted whole (the ids and tasks themselves only when their texts may hide equal values,
    ``7`` and ``07``).

    >>> drop = _duplicate_dropper(["classification_id", "task", "user_id", "data.no"],
    ...     {"classification_id": "int", "task": "str", "user_id": "float", "data.no": "float"})
    >>> drop([("1", "T0", "11", ""), ("2", "T0", "11", "1.0"), ("1", "T0", "11.0", "nan"),
    ...     ("1", "T1", "11", ""), ("01", "T0", "11", ""), ("2", "T0", "11", "1.0")])
    [('1', 'T0', '11', ''), ('2', 'T0', '11', '1.0'), ('1', 'T1', '11', '')]
    """
    column_kinds = [kinds[name] for name in header]
    get_task = operator.itemgetter(header.index("task"))
    task_kind = kinds["task"]
    plain_tasks = _plain_texts(task_kind)
    if "classification_id" in header:
        get_cid: Callable[[Sequence[str]], str] | None = operator.itemgetter(
            header.index("classification_id")
        )
        cid_kind = kinds["classification_id"]
    else:
        get_cid, cid_kind = None, "str"
    plain_cids = _plain_texts(cid_kind)

    def value_of(kind: str) -> Callable[[str], Any]:
        # an int column has no missing cells (they would make it float): int() is the value
        return int if kind == "int" else lambda text: convert_cell(text, kind)

    cid_value, task_value = value_of(cid_kind), value_of(task_kind)

    def row_value(row: Sequence[str]) -> tuple[Any, ...]:
        return tuple(map(convert_cell, row, column_kinds))

    def drop(rows: list[Sequence[str]]) -> list[Sequence[str]]:
        if len(rows) < 2:
            return rows
        if get_cid is not None:
            cids = list(map(get_cid, rows))
            if len(set(cids)) == len(cids) and plain_cids(cids):
                return rows  # the common case: no two rows of one classification
        rows = list(dict.fromkeys(map(tuple, rows)))  # equal as text: cheap to find
        if len(rows) < 2:
            return rows
        keys: Sequence[Any] | None = None  # None: every row is a candidate
        if get_cid is not None:
            cids = list(map(get_cid, rows))
            if len(set(cids)) == len(cids):
                if plain_cids(cids):
                    return rows
            else:  # e.g. one row per task of each classification
                tasks = list(map(get_task, rows))
                if (
                    len(set(zip(cids, tasks, strict=True))) == len(rows)
                    and plain_cids(cids)
                    and plain_tasks(tasks)
                ):
                    return rows
            keys = list(
                zip(map(cid_value, cids), map(task_value, map(get_task, rows)), strict=True)
            )
            if len(set(keys)) == len(keys):
                return rows
            repeated = {key for key, n in Counter(keys).items() if n > 1}
        kept = []
        seen: set[tuple[Any, ...]] = set()
        for n, row in enumerate(rows):
            if keys is None or keys[n] in repeated:
                value = row_value(row)
                if value in seen:
                    continue
                seen.add(value)
            kept.append(row)
        return kept

    return drop


def _plain_texts(kind: str) -> Callable[[list[str]], bool]:
    """``texts -> bool``: whether distinct texts of a column of ``kind`` are sure to be distinct
    values, told without converting them (False: they might not be).

    >>> plain = _plain_texts("int")
    >>> plain(["12", "3"]), plain(["12", "03"]), plain(["+3"]), plain(["0"])
    (True, False, False, False)
    >>> _plain_texts("str")(["T0", "T1"]), _plain_texts("str")(["", "nan"])
    (True, False)
    """
    if kind == "int":  # unless one has a sign, a space or a leading zero (or is 0)

        def plain_ints(texts: list[str]) -> bool:
            joined = "".join(texts)
            return joined.isdigit() and joined.isascii() and " 0" not in " " + " ".join(texts)

        return plain_ints
    if kind == "str":  # unless two are missing-value marks
        return NA_STRINGS.isdisjoint
    return lambda texts: False


#: Values a cached extract may hold: a shallow copy of it is then a full copy.
_IMMUTABLE = frozenset((int, float, str, bool, type(None)))
#: Extracts whose ``data.*`` cells repeat (answers to a question) are read once per distinct
#: cells; after this many distinct (or nested, e.g. coordinates) extracts the cache is dropped.
_CACHE_PROBE_ROWS = 512


def _record_maker(layout: _Layout) -> Callable[[Sequence[str]], ExtractRecord]:
    """``row -> ExtractRecord`` for the file's raw rows, with every per-column decision made once.

    The record's data is ``data_reader``'s extract without ``aggregation_version`` (as the
    reference's reducer wrapper strips it); missing ``user_id``/``classification_id`` are NaN,
    as pandas reads them.
    """
    index, kinds = layout.index, layout.kinds
    read_data = data_reader(layout.header, kinds)
    data_columns = [i for i, name in enumerate(layout.header) if DATA_PREFIX in name]
    cells_of: Callable[[Sequence[str]], Any] = (  # a dict key: one cell, or a tuple of them
        operator.itemgetter(*data_columns) if data_columns else lambda row: ()
    )
    i_created = index["created_at"]
    i_user_id, i_user_name = index.get("user_id"), index.get("user_name")
    i_cid = index.get("classification_id")
    user_id_kind = kinds.get("user_id", "float")
    cid_kind = kinds.get("classification_id", "float")
    cid_number = {"int": int, "float": float}.get(cid_kind)
    na = NA_STRINGS
    nan = math.nan
    user_ids: dict[str, Any] = {}
    cache: dict[Any, dict[str, Any]] | None = {}
    rows_read = 0

    def read(row: Sequence[str]) -> dict[str, Any]:
        nonlocal cache, rows_read
        if cache is None:
            data = read_data(row)
            data.pop("aggregation_version", None)
            return data
        key = cells_of(row)
        hit = cache.get(key)
        if hit is not None:
            return hit.copy()
        data = read_data(row)
        data.pop("aggregation_version", None)
        rows_read += 1
        if rows_read >= _CACHE_PROBE_ROWS:
            cache = None  # this many distinct cells: few repeats, not worth the keys
        elif all(value.__class__ in _IMMUTABLE for value in data.values()):
            cache[key] = data.copy()
        return data

    def make(row: Sequence[str]) -> ExtractRecord:
        if i_user_id is None:
            user_id = nan
        else:
            text = row[i_user_id]
            user_id = user_ids.get(text, user_ids)
            if user_id is user_ids:
                value = convert_cell(text, user_id_kind)
                user_id = user_ids[text] = nan if value is None else value
        if i_cid is None:
            cid = None
        else:
            text = row[i_cid]
            if text in na:
                cid = nan
            elif cid_number is not None:
                cid = cid_number(text)
            else:
                cid = convert_cell(text, cid_kind)
        if i_user_name is None:
            user_name = None
        else:
            user_name = row[i_user_name]
            if user_name in na:
                user_name = None
        # positional: a third faster than keywords for a frozen dataclass
        return ExtractRecord(read(row), user_id, row[i_created], cid, user_name)

    return make


#: Reducers whose default form counts, per ``data.*`` key, the extracts holding it
#: (:func:`core.reducers.question_reducer.count_answers`): :func:`_answer_counter` counts
#: their rows' cells without making records.
_ANSWER_COUNTERS = ("question_reducer", "shortcut_reducer")


def _answer_counter(
    layout: _Layout, params: Any
) -> Callable[[Sequence[Sequence[str]]], dict[str, int]] | None:
    """``rows -> question_reducer(records of the rows)`` counted from the cells, or None
    where that needs the records (other reducers or keywords, ``-F first``/``last``, nested or
    repeated keys, text or bool answer columns).

    A record's data holds a key when its cell is not missing (and, in a float column, not
    NaN); the reducer counts the keys in first-seen order, which is row order, then column
    order. The ``aggregation_version`` cell is not counted (the records drop it).
    ``tests/cli/test_reduce.py`` compares this with the reducer on drawn rows.

    >>> layout = _Layout(("task", "data.a", "data.b"), {}, {"data.a": "float",
    ...     "data.b": "int"}, ("T0",), "question_reducer", {}, False, "all")
    >>> count = _answer_counter(layout, QuestionReducerParams())
    >>> count([("T0", "", "1"), ("T0", "1.0", "nan"), ("T0", "NaN", "2")])
    {'b': 2, 'a': 1}
    """
    columns = _answer_columns(layout, params)
    if columns is None:
        return None
    keyed, held, holds = columns

    def count(rows: Sequence[Sequence[str]]) -> dict[str, int]:
        return _count_held(rows, keyed, held, holds)

    return count


def _answer_columns(
    layout: _Layout, params: Any
) -> tuple[list[tuple[int, str]], list[dict[str, bool]], Callable[[int, str], bool]] | None:
    """What ``count_held`` needs to count the answers from the cells, or None where
    :func:`_answer_counter` declines: ``(cell index, key)`` per ``data.*`` column counted; per
    column, a dict of cell text -> whether a record holds its key; and ``holds(column, text)``
    that tells it. (A plain tuple: a named tuple class costs 0.1 ms of every start.)"""
    if (
        layout.reducer not in _ANSWER_COUNTERS
        or layout.repeat_filter != "all"
        or params != QuestionReducerParams()
    ):
        return None
    columns: list[tuple[int, str, Callable[[str], Any]]] = []
    for i, column in enumerate(layout.header):
        if DATA_PREFIX not in column:
            continue
        keys = column.split(DATA_PREFIX)[1].split(".")  # as data_reader splits it
        reader = {"float": _read_float, "int": _read_int}.get(layout.kinds[column])
        if keys == [VERSION_KEY]:
            continue
        if len(keys) != 1 or reader is None:
            return None
        columns.append((i, keys[0], reader))
    if len({key for _, key, _ in columns}) != len(columns):
        return None
    na = NA_STRINGS
    readers = [reader for _, _, reader in columns]

    def holds(column: int, text: str) -> bool:
        # a record holds the key; the reader raises on a cell data_reader would raise on
        return text not in na and readers[column](text) is not None

    keyed = [(i, key) for i, key, _ in columns]
    #: per column, cell text -> whether a record holds its key (a column has few texts)
    held: list[dict[str, bool]] = [{} for _ in columns]
    return keyed, held, holds


def _subject_counter(
    layout: _Layout, params: Any
) -> Callable[[list[tuple[Any, list[str]]]], dict[str, Any] | None] | None:
    """``members -> flattened reduction`` of one subject of a one-task counting reduce, straight
    from its members (``_cells_compiled.SubjectCounter``; None from it: the general path), or
    None where it does not apply: where :func:`_answer_counter` declines, several tasks
    or blank ones, a ``data.parameters`` column (``flatten`` treats that key specially), or no
    compiled extension. ``tests/cli/test_reduce_fast_paths.py`` compares it with the general
    path.

    >>> layout = _Layout(("task", "created_at", "data.a"), {"task": 0, "created_at": 1,
    ...     "data.a": 2}, {"data.a": "float"}, ("T0",), "question_reducer", {}, False, "all")
    >>> count = _subject_counter(layout, QuestionReducerParams())
    >>> count([((0, 1), ["T0", "2024-02-01 00:00:09 UTC", "1.0"])])
    {'a': 1, 'aggregation_version': '5.3.1'}
    """
    if _SubjectCounter is None or len(layout.tasks) != 1 or layout.blank_tasks:
        return None
    columns = _answer_columns(layout, params)
    if columns is None or any(key == "parameters" for _, key in columns[0]):
        return None
    # distinct ids tell rows apart only in an int column (drop_duplicates' common case)
    int_ids = layout.kinds.get("classification_id") == "int"
    i_cid = layout.index["classification_id"] if int_ids else -1
    version = None if layout.no_version else AGGREGATION_VERSION
    return _SubjectCounter(layout.index["created_at"], i_cid, *columns, version)


try:  # the compiled counting of one subject (optional, as setup.py builds it)
    from core._cells_compiled import SubjectCounter as _SubjectCounter
except ImportError:  # pragma: no cover - depends on the install
    _SubjectCounter = None


#: ``data.<frame>.<tool>_<suffix>`` columns of point marks: the suffix's place in the
#: ``[x, y, details]`` column positions of a tool
_MARK_SUFFIXES = {"x": 0, "y": 1, "details": 2}


#: ``Py_ssize_t``'s bound (64-bit builds; sys.maxsize + 1 on any build)
_SSIZE_LIMIT = sys.maxsize + 1


def _point_cells(
    layout: _Layout, params: Any
) -> Callable[[Sequence[Sequence[str]]], dict[str, Any] | None] | None:
    """``rows -> flatten(point_reducer_hdbscan(records of the rows), version)`` straight from the
    cells (``_points_compiled.PointCells``; None from it: that needs the records), or None where
    it does not apply: other reducers, params or ``-F first``/``last``, ``data.*`` columns other
    than ``data.<frame>.<tool>_x|_y|_details`` and ``aggregation_version``, frame or tool names
    whose order is not settled by ``natural_key`` alone, or no compiled extension.

    ``tests/cli/test_reduce_fast_paths.py`` compares it with the records path on drawn rows.

    >>> from core.reducers.point_reducer_hdbscan import PointHdbscanParams
    >>> layout = _Layout(("task", "data.frame0.T0_tool0_x", "data.frame0.T0_tool0_y"), {},
    ...     {"data.frame0.T0_tool0_x": "str", "data.frame0.T0_tool0_y": "str"}, ("T0",),
    ...     "point_reducer_hdbscan", {}, False, "all")
    >>> cells = _point_cells(layout, PointHdbscanParams())
    >>> cells([("T0", "[1.5, 2]", "[3.0, 4]")])  # one tool holding ints and floats: all floats
    {'aggregation_version': '5.3.1', 'frame0.T0_tool0_points_x': '[1.5, 2.0]', 'frame0.T0_tool0_points_y': '[3.0, 4.0]', 'frame0.T0_tool0_cluster_labels': '[-1, -1]', 'frame0.T0_tool0_cluster_probabilities': '[0, 0]'}
    """
    if layout.reducer != "point_reducer_hdbscan" or layout.repeat_filter != "all":
        return None
    try:
        from core.reducers._points_compiled import PointCells
    except ImportError:  # pragma: no cover - depends on the install
        return None
    from core.csv_layout import _list_text, _plain_json
    from core.reducers._clustering import natural_key
    from core.reducers._subtasks import NO_REDUCER, counting_details
    from core.reducers.point_reducer_hdbscan import compiled_params

    counted, details = counting_details((), params.details)
    if not compiled_params(params) or not counted:
        return None
    if max(params.min_cluster_size, params.min_samples) >= _SSIZE_LIMIT:
        return None  # no C integer holds it: the records path says what is wrong
    marks: dict[str, dict[str, list[int]]] = {}  # frame -> tool -> its (x, y, details) columns
    for i, column in enumerate(layout.header):
        if DATA_PREFIX not in column:
            continue
        keys = column.split(DATA_PREFIX)[1].split(".")  # as data_reader splits it
        if keys == [VERSION_KEY]:
            continue  # the records drop it; read as its kind, it never raises
        if len(keys) != 2 or not keys[0].startswith("frame"):
            return None
        tool, _, suffix = keys[1].rpartition("_")  # as _points_compiled._tool_and_suffix
        columns = marks.setdefault(keys[0], {}).setdefault(tool, [-1, -1, -1])
        at = _MARK_SUFFIXES.get(suffix)
        if at is None or columns[at] != -1:
            return None  # another key, or a repeated column
        columns[at] = i
    try:
        plan = [
            (frame, [(tool, *tools[tool]) for tool in _natural_order(tools, natural_key)])
            for frame, tools in (
                (frame, marks[frame]) for frame in _natural_order(marks, natural_key)
            )
        ]
    except (TypeError, ValueError):  # names natural_key cannot order, or ties
        return None
    # data_reader reads cells of other kinds as numbers (never a list of marks)
    text = [layout.kinds.get(column) not in ("int", "float", "bool") for column in layout.header]
    return PointCells(
        plan,
        text,
        NA_STRINGS,
        params.min_cluster_size,
        params.min_samples,
        params.cluster_selection_method == "leaf",
        details,
        NO_REDUCER,
        None if layout.no_version else AGGREGATION_VERSION,
        _list_text,
        _plain_json,
    )


def _point_members(
    layout: _Layout, point_cells: Any
) -> Callable[[list[tuple[Any, list[str]]], ColumnStats], dict[str, Any] | None] | None:
    """``(members, stats) -> flattened reduction`` of one subject of a one-task point reduce,
    straight from its members (``PointCells.from_members``: sorted and checked for duplicates
    in C, without writing to the members, rows or cells a forked worker shares with its
    parent), added to ``stats``; None from it: the general path. None where it does not apply:
    no :func:`_point_cells`, several tasks or blank ones.

    >>> from core.reducers.point_reducer_hdbscan import PointHdbscanParams
    >>> layout = _Layout(("task", "created_at", "data.frame0.T0_tool0_x",
    ...     "data.frame0.T0_tool0_y"), {"task": 0, "created_at": 1}, {}, ("T0",),
    ...     "point_reducer_hdbscan", {}, False, "all")
    >>> reduce_members = _point_members(layout, _point_cells(layout, PointHdbscanParams()))
    >>> reduce_members([((0, 1), ["T0", "2024-02-01 00:00:09 UTC", "[1.5]", "[3.0]"])],
    ...     ColumnStats())["frame0.T0_tool0_points_x"]
    '[1.5]'
    """
    if point_cells is None or len(layout.tasks) != 1 or layout.blank_tasks:
        return None
    from_members = point_cells.from_members
    i_created = layout.index["created_at"]
    # distinct ids tell rows apart only in an int column (drop_duplicates' common case)
    int_ids = layout.kinds.get("classification_id") == "int"
    i_cid = layout.index["classification_id"] if int_ids else -1

    def reduce_members(
        members: list[tuple[Any, list[str]]], stats: ColumnStats
    ) -> dict[str, Any] | None:
        flat = from_members(members, i_created, i_cid)
        if flat is not None:
            stats.add(flat)
        return flat

    return reduce_members


def _natural_order(names: Iterable[str], natural_key: Callable[[str], Any]) -> list[str]:
    """``names`` sorted by ``natural_key``; ValueError if two have the same key (their order
    would then be the hash order of a set, which only the records path reproduces).

    >>> from core.reducers._clustering import natural_key
    >>> _natural_order(["frame10", "frame2"], natural_key)
    ['frame2', 'frame10']
    """
    keyed = sorted((natural_key(name), name) for name in names)
    if any(a[0] == b[0] for a, b in itertools.pairwise(keyed)):
        raise ValueError("names with one natural key")
    return [name for _, name in keyed]


def _reduce_bucket(job: BucketJob) -> BucketResult:
    # Reducing allocates records, parsed cells and output rows for every subject, all freed by
    # reference counting (no cycles: a 20k point reduce left none); the collector's passes over
    # them, and over the grouped rows, found nothing. A bucket holds at most
    # SUBJECTS_PER_BUCKET subjects, so any cycle a reducer did make waits that long at most.
    with collector_paused(True):
        result = _reduce_subjects(job)
        _keep_uncollected()
        return result


def _keep_uncollected() -> None:
    """Move every object alive now out of the collector's reach (``gc.freeze``), before a paused
    collector resumes: the rows, records and results made while it was paused would otherwise
    make its first pass a full traversal of them (a tenth of a question reduce) that finds no
    cycle. They are still freed by reference counting."""
    gc.freeze()


def _reduce_subjects(job: BucketJob) -> BucketResult:
    layout: _Layout = _WORKER["layout"]
    reduce_records = _WORKER["spec"].func  # params are parsed already
    params = _WORKER["params"]
    index: dict[str, int] = _WORKER["index"]
    make_record = _WORKER["make_record"]
    drop_duplicates = _WORKER["drop_duplicates"]
    count_answers = _WORKER["count_answers"]
    point_cells = _WORKER["point_cells"]
    i_subject, i_task, i_created = index["subject_id"], index["task"], index["created_at"]
    subject_kind = layout.kinds["subject_id"]
    version = None if layout.no_version else AGGREGATION_VERSION
    repeat_filter = layout.repeat_filter
    subject_aliases, task_aliases = layout.subject_aliases, layout.task_aliases
    groups: dict[str, list[tuple[Any, list[str]]]] = {}
    if job.subjects:
        grouped = _WORKER["grouped"]
        groups = {subject: grouped[subject] for subject in job.subjects}
    for part in job.parts:
        for row_number, row in Spill(part).rows():
            subject = row[i_subject]
            if subject_aliases:
                subject = subject_aliases.get(subject, subject)
            groups.setdefault(subject, []).append((row_number, row))
    stats = ColumnStats()
    add_stats = stats.add
    out = Spill(job.out_path) if job.out_path else None
    batch: list[tuple[str, str, dict[str, Any]]] = []
    sort_key = subject_sort_key(subject_kind)
    n_subjects = len(groups)
    one_task = layout.tasks[0] if len(layout.tasks) == 1 and not layout.blank_tasks else None
    # the usual counting or point reduce: a subject in one step from its members (or None)
    one_step = None
    if one_task is not None:
        one_step = _WORKER["count_subject"] or _WORKER["point_members"]
    for subject in sorted(groups, key=sort_key):
        members = groups.pop(subject)
        if one_step is not None:
            flat = one_step(members, stats)  # (added to stats if not None)
            if flat is not None:
                batch.append((subject, one_task, flat))
                if out is not None and len(batch) >= SPILL_ROWS:  # as after the general path
                    out.append(batch)
                    batch = []
                continue
        members = _sorted_rows(members, i_created, layout.export_times)
        # drop_duplicates(): identical rows count once (the first, in created_at order)
        unique = drop_duplicates(members)
        by_task: dict[str, list[Sequence[str]]]
        if one_task is not None:  # every row has it (tasks come from the rows)
            by_task = {one_task: unique}
        else:
            by_task = {}
            for row in unique:
                task = row[i_task]
                if task_aliases:
                    task = task_aliases.get(task, task)
                rows = by_task.get(task)
                if rows is None:
                    by_task[task] = [row]
                else:
                    rows.append(row)
        # subjects and tasks are their output cells already (aliases were mapped when grouped)
        for task in layout.tasks:
            if count_answers is not None:
                batch.append(
                    (subject, task, flatten(count_answers(by_task.get(task, ())), version))
                )
                add_stats(batch[-1][2])
                continue
            if point_cells is not None:
                flat = point_cells(by_task.get(task, []))
                if flat is not None:
                    add_stats(flat)
                    batch.append((subject, task, flat))
                    continue
            records = [make_record(row) for row in by_task.get(task, ())]
            if repeat_filter != "all":
                records = select_repeats(records, repeat_filter)
            try:
                result = reduce_records(records, params)
            except Exception as exc:  # noqa: BLE001 - re-raised with the group named, picklable
                raise InputError(
                    f"{layout.reducer} failed on subject {subject}, task {task} "
                    f"({len(records)} extracts): {type(exc).__name__}: {exc}"
                ) from None
            for item in result if isinstance(result, list) else (result,):
                flat = flatten(item, version)  # = flatten(with_version(item))
                add_stats(flat)
                batch.append((subject, task, flat))
        if out is not None and len(batch) >= SPILL_ROWS:
            out.append(batch)
            batch = []
    if out is None:
        lines = _lines_here(batch, stats)
        if lines is not None:
            return _lines_result(job.index, stats, n_subjects, lines)
        return BucketResult(job.out_path, stats, n_subjects, batch)
    out.append(batch)
    out.close()
    return BucketResult(job.out_path, stats, n_subjects)


def _lines_here(
    batch: list[tuple[str, str, dict[str, Any]]], stats: ColumnStats
) -> list[str] | None:
    """The bucket's output lines, formatted here for the columns in ``_WORKER["line_plan"]``,
    or None (the parent formats the reductions, as without a plan).

    The parent fills the plan after reducing the probe bucket, which comes first: the output's
    columns (in first-appearance order) are then the probe's, followed by any that only later
    buckets have, whose cells a bucket without them leaves blank (``_format_bucket`` appends
    them). So the lines hold if this bucket has no column outside the plan, and every column's
    cells read the same whatever its kind in the whole output: every column of kind ``object``
    here is that. Such a column either holds a value that makes it ``object`` in the whole
    output too (a str, list, bool, ...: any non-number), or no value at all here, and a missing
    cell is blank in every kind. Sending lines back instead of the reductions saves pickling
    them, and a second fork to format them.
    """
    plan = _WORKER.get("line_plan")
    if not plan:
        return None
    names: list[str] = plan["columns"]
    kinds = stats.kinds()
    if not kinds.keys() <= set(names) or any(kind != "object" for kind in kinds.values()):
        return None
    return _object_line_texts(batch, names, plan["workflow_cell"], _WORKER["layout"].reducer)


def _lines_result(index: int, stats: ColumnStats, subjects: int, lines: list[str]) -> BucketResult:
    """Bucket ``index``'s result as ``lines``: in a file of the plan's ``part_dir`` if this is a
    forked worker and no cell holds a line end (so the parent can append cells to each line),
    else the lines themselves. Through the pool's pipe, a bucket's 1-2 MB of lines kept the
    worker waiting until the parent had read them (3-30 ms a bucket, with both CPUs busy)."""
    plan = _WORKER["line_plan"]
    part_dir = plan.get("part_dir")
    if part_dir and os.getpid() != plan["pid"]:
        text = "".join(lines)
        if text.count("\n") == len(lines):
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:  # (a lone surrogate) raised where the parent encodes
                # the lines for the output (_bucket_bytes), as before this path existed
                return BucketResult("", stats, subjects, lines=lines)
            path = os.path.join(part_dir, f"bucket{index:08d}.lines")
            with open(path, "wb") as f:
                f.write(data)
            return BucketResult("", stats, subjects, lines_file=path)
    return BucketResult("", stats, subjects, lines=lines)


# ------------------------------------------------------------------------------------------
# the stream journal (-s)


def _journal_data(text: str) -> dict[str, Any]:
    """A journal's ``data`` cell as the flattened reduction; ValueError if it is not one.

    Reads Tally's cells (the repr of a flat dict) and those of the reference's ``-s`` journal,
    where pandas wrote ``OrderedDict([...])`` for survey, point and shape reductions: those
    become plain dicts in the same order, which flatten as the reference's final rewrite does.

    >>> _journal_data("OrderedDict([('frame0', OrderedDict([('x', [1.5])])), ('n', nan)])")
    {'n': nan, 'frame0.x': '[1.5]'}
    >>> _journal_data("5")
    Traceback (most recent call last):
    ...
    ValueError: expected a dict of reduced values, got '5'
    """
    value = python_literal(text, _JOURNAL_NAMES, _JOURNAL_CALLS)
    if not isinstance(value, dict):
        raise ValueError(f"expected a dict of reduced values, got {text!r:.200}")
    return flatten(value)


def _cut_short(path: Path) -> bool:
    """Whether the file's last line lacks its line end: the run writing it was stopped."""
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) != b"\n"


def _whole_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """``(line number, row)`` for the non-blank CSV rows of ``path``, header first, read only
    from lines that end with a line break: a last line cut short by a stopped run is never read
    (any cell of it may be cut, the subject cell too: ``22`` of ``2237578``)."""

    def lines() -> Iterator[str]:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, 1):
                if not raw.endswith(b"\n"):
                    return
                try:
                    text = raw.decode("utf-8")
                except UnicodeDecodeError:
                    raise InputError(
                        f"{path}, line {number}: not UTF-8 text; {_unreadable_advice(path)}"
                    ) from None
                yield text.removeprefix("\ufeff") if number == 1 else text

    reader = csv.reader(lines())
    try:
        for row in reader:
            if row:
                yield reader.line_num, row
    except csv.Error as exc:
        raise InputError(
            f"{path}, line {reader.line_num}: {exc}; {_unreadable_advice(path)}"
        ) from None


def _unreadable_advice(path: Path) -> str:
    """How to get past a reduction file that a ``-s`` run cannot resume."""
    return (
        "the file is damaged or was not written by a reduce -s run, and nothing was changed; "
        f"move it away (with {_run_settings_file(path).name}, if there) to reduce from the start"
    )


def _scan_existing(path: Path, reducer: str) -> tuple[str, set[str]]:
    """What a previous ``-s`` run left at ``path``: ``('journal' | 'final' | 'none', subjects done)``.

    A journal (Tally's or the reference's) is read whole and every row and cell checked before
    anything changes; then its last subject, which may be incomplete, and a last line cut short
    are removed from the file, and the subject is not counted.
    """
    if not path.exists() or path.stat().st_size == 0:
        return "none", set()
    cut = _cut_short(path)
    rows = _whole_rows(path)
    first = next(rows, None)
    if first is None:  # not even the header line is whole
        with open(path, "rb") as f:
            start = f.read(len(_JOURNAL_HEADER_LINE) + 1)
        # stopped while writing the header of a journal or of the finished file
        if _JOURNAL_HEADER_LINE.startswith(start) or start.startswith(_JOURNAL_HEADER_LINE[:-1]):
            print(f"note: {path} holds only part of a header; starting again", file=sys.stderr)
            return "none", set()
        raise InputError(
            f"{path} exists but is not a reduction file (no complete first line); "
            "move it away or choose another -o"
        )
    _, header = first
    if header == JOURNAL_HEADER:
        subjects: dict[str, None] = {}
        last = None
        for line, row in rows:
            if len(row) != len(JOURNAL_HEADER):
                raise InputError(
                    f"{path}, line {line}: {len(row)} fields where a -s journal has "
                    f"{len(JOURNAL_HEADER)} ({','.join(JOURNAL_HEADER)}); {_unreadable_advice(path)}"
                )
            if row[3] != reducer:
                raise InputError(
                    f"{path} is a partial run of {row[3]}, not {reducer}; move it away or choose "
                    "another -o"
                )
            try:
                _journal_data(row[4])
            except ValueError as exc:
                raise InputError(
                    f"{path}, line {line}: unreadable data cell: {exc}; {_unreadable_advice(path)}"
                ) from None
            subjects[row[0]] = None
            last = row[0]
        if cut:
            print(
                f"note: dropping the incomplete last line of {path} (its run was stopped "
                "while writing it)",
                file=sys.stderr,
            )
        if last is None and not cut:
            return "journal", set()
        with atomic_csv_writer(path, JOURNAL_HEADER) as writer:
            writer.writerows(
                row for _, row in itertools.islice(_whole_rows(path), 1, None) if row[0] != last
            )
        if last is not None:
            del subjects[last]
            print("resuming from last run", file=sys.stderr)
        return "journal", set(subjects)
    if header[: len(REDUCE_INFO_COLUMNS)] == list(REDUCE_INFO_COLUMNS):
        if cut:  # a finished file is written whole: this one is not finished
            print(
                f"{path} is a finished reduction whose last line is incomplete; reducing "
                "everything again",
                file=sys.stderr,
            )
            return "none", set()
        return "final", {row[0] for _, row in rows}
    raise InputError(
        f"{path} exists but is not a reduction file (header {', '.join(header[:6])}); "
        "move it away or choose another -o"
    )


def _run_settings_file(output_path: Path) -> Path:
    """Where a ``-s`` run keeps its settings while its journal is unfinished."""
    return output_path.with_name(f".{output_path.name}.stream-settings.json")


def _settings_text(settings: Mapping[str, Any]) -> str:
    import json  # here, as in _check_run_settings: only -s runs need it (5 M instructions)

    return json.dumps(settings, sort_keys=True, default=str, indent=1) + "\n"


def _check_run_settings(output_path: Path, run_file: Path, settings: Mapping[str, Any]) -> None:
    """Refuse to resume a journal written with other settings (-F, reducer or its keywords):
    the finished file would mix the two runs' reductions."""
    if not output_path.exists() or not run_file.exists():
        return
    import json

    try:
        before = json.loads(run_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return  # unreadable: nothing to compare with
    now = json.loads(_settings_text(settings))
    changed = [k for k in sorted(set(before) | set(now)) if before.get(k) != now.get(k)]
    if changed:
        differences = "; ".join(
            f"{k}: {json.dumps(before.get(k))} then, {json.dumps(now.get(k))} now" for k in changed
        )
        raise InputError(
            f"{output_path} is an unfinished -s run with other settings ({differences}); "
            "resuming would mix the two. Run the same command as before to finish it, or remove "
            f"{output_path} and {run_file.name} to start again"
        )


def _rewrite_journal(path: Path, rows: list[list[str]]) -> None:
    with atomic_csv_writer(path, JOURNAL_HEADER) as writer:
        writer.writerows(rows)


# ------------------------------------------------------------------------------------------
# the command


def reduce_file(
    extracted_csv: str,
    reducer_config: str,
    *,
    filter: str = "first",  # noqa: A002 - the reference's keyword
    output_name: str = "reductions",
    output_dir: str = ".",
    order: bool = False,
    stream: bool = False,
    cpu_count: int = 1,
    hide_bar: bool = False,
) -> Path:
    """Reduce ``extracted_csv`` with the reducer config; return the CSV written."""
    if filter not in REPEAT_MODES:
        raise InputError(f"-F/--filter must be one of {', '.join(REPEAT_MODES)}, got {filter!r}")
    plan = load_plan(reducer_config)
    base, _ = os.path.splitext(output_name)
    output_path = Path(output_dir) / f"{plan.name}_{base}.csv"
    front = ("choice", "total_vote_count", "choice_count")

    done_cells: set[str] = set()
    state = "none"
    run_file = _run_settings_file(output_path)
    settings = {
        "reducer": plan.name,
        "keywords": plan.keywords,
        "no_version": plan.no_version,
        "filter": filter,
    }
    if stream:
        _check_run_settings(output_path, run_file, settings)
        state, done_cells = _scan_existing(output_path, plan.name)

    blocks = CsvBlocks(extracted_csv, what="extraction CSV")
    in_memory = blocks.size <= IN_MEMORY_BYTES
    if plan.name == "point_reducer_hdbscan" and blocks.size >= COMPILED_TREE_BYTES:
        from core.reducers._hdbscan import use_compiled_spanning_tree

        use_compiled_spanning_tree()  # before the workers fork: they inherit it
    # Held in memory, a reduce spills nothing (a journal, with --stream, is the exception): no
    # scratch directory then, nor the tempfile module's import (13 M instructions of a start).
    no_spills = in_memory and not stream
    with (
        contextlib.nullcontext("") if no_spills else scratch_dir(output_dir, "reduce") as tmp,
        contextlib.ExitStack() as late_dirs,  # a directory made once the workers fork
    ):
        header = blocks.header
        index = require_columns(
            header, REQUIRED_COLUMNS, path=blocks.path, what="extraction CSV (from `tally extract`)"
        )
        i_subject, i_task, i_created, i_workflow = (index[c] for c in REQUIRED_COLUMNS)
        width = len(header)
        kinds = ReadKinds(header)
        counts: Counter[str] = Counter()
        first_task = _FirstRows()
        first_row = _FirstRows()
        block_spills: list[str] = []
        #: in memory: the rows by raw subject cell, in file order
        grouped: dict[str, list[tuple[Any, list[str]]]] | None = {} if in_memory else None
        total = 0
        export_times = True
        blank_subjects: list[tuple[int, str]] = []  # (data row, classification id)
        blank_tasks: list[tuple[int, str]] = []  # (data row, classification id)
        jobs_in = (
            ScanJob(
                i,
                offset,
                data,
                str(blocks.path),
                None if in_memory else tmp,
                (width, i_subject, i_task, i_created, i_workflow),
                index.get("classification_id"),
            )
            # in memory, the blocks are scanned here one after the other: each read once, into
            # one buffer (a view of it, parsed before the next block is read)
            for i, (offset, data) in enumerate(blocks.views() if in_memory else blocks)
        )
        with progress_bar(
            "Reading", total=blocks.size, unit="B", hide=hide_bar, unit_scale=True
        ) as bar:
            bar.update(blocks.data_start)
            # in memory: parsed here, as sending the rows back from workers costs more
            scan_workers = 1 if in_memory else cpu_count
            with collector_paused(in_memory):
                for scan in ordered_map(_scan_block, jobs_in, workers=scan_workers):
                    if scan.bad is not None:
                        row, fields = scan.bad
                        raise InputError(
                            f"{blocks.path}, data row {total + row + 1}: {fields} fields where the header "
                            f"has {width}; the file is truncated or not a CSV written by `tally extract`"
                        )
                    blank_subjects.extend((total + n + 1, cid) for n, cid in scan.blank_subjects)
                    blank_tasks.extend((total + n + 1, cid) for n, cid in scan.blank_tasks)
                    total += scan.rows
                    export_times = export_times and scan.export_times
                    kinds.merge(scan.kinds)
                    counts.update(scan.counts)
                    first_task.merge(scan.first_task)
                    first_row.merge(scan.first_row)
                    if grouped is not None and scan.kept is not None:
                        for raw, members in scan.kept.items():
                            earlier = grouped.get(raw)
                            if earlier is None:
                                grouped[raw] = members
                            else:
                                earlier.extend(members)
                    else:
                        block_spills.append(scan.spill)
                    bar.update(scan.size)
                if in_memory:
                    _keep_uncollected()
        column_kinds = kinds.kinds()
        subject_kind = column_kinds["subject_id"]
        # Subjects and tasks are told apart by value, as pandas compares them: each is the
        # cell written back for its value (5 and 5.0 in a float column are subject 5.0). Tasks
        # in order of first appearance (the earliest of a task's spellings). Rows with a blank
        # task are reduced as no task: the reference reduces an empty group of task NaN for
        # every subject (NaN matches no row), which describes nothing.
        task_cell = text_formatter(column_kinds["task"])
        raw_tasks = [task for task, _ in first_task.ordered(subject_kind) if task not in NA_STRINGS]
        task_aliases = {raw: task_cell(raw) for raw in raw_tasks if task_cell(raw) != raw}
        tasks = tuple(dict.fromkeys(map(task_cell, raw_tasks)))
        workflow_cell = ""
        if total:
            ((_, workflow_raw),) = first_row.ordered(subject_kind)
            workflow_cell = reformat_cell(workflow_raw, column_kinds["workflow_id"])
        sort_key = subject_sort_key(subject_kind)
        # Rows without a subject are reduced as no subject: the reference writes an empty
        # reduction of subject NaN (NaN matches no extract), which describes nothing (the
        # subject_id column still reads as it does there, float where cells are blank).
        subject_cell = text_formatter(subject_kind)
        subject_of = {raw: subject_cell(raw) for raw in counts if raw not in NA_STRINGS}
        subject_aliases = {raw: subject for raw, subject in subject_of.items() if raw != subject}
        subject_rows: Counter[str] = Counter()
        for raw, subject in subject_of.items():
            subject_rows[subject] += counts[raw]
        subjects = sorted(subject_rows, key=sort_key)
        if blank_subjects:
            print(_blank_subject_note(blocks.path, blank_subjects), file=sys.stderr)
        if blank_tasks:
            print(_blank_task_note(blocks.path, blank_tasks), file=sys.stderr)
        pending = [s for s in subjects if s not in done_cells]

        if stream and state == "final":
            if not pending:
                print(f"{output_path} already has every subject; nothing to do", file=sys.stderr)
                return output_path
            print(
                f"{output_path} is a finished reduction without {len(pending)} of the "
                f"{len(subjects)} subjects; reducing everything again",
                file=sys.stderr,
            )
            pending, state = subjects, "none"
        if total == 0:
            print(
                f"note: {blocks.path} has no extracts; writing a header-only file", file=sys.stderr
            )

        layout = _Layout(
            header=tuple(header),
            index=index,
            kinds=column_kinds,
            tasks=tasks,
            reducer=plan.name,
            keywords=plan.keywords,
            no_version=plan.no_version,
            repeat_filter=filter,
            export_times=export_times,
            subject_aliases=subject_aliases,
            task_aliases=task_aliases,
            blank_tasks=bool(blank_tasks),
        )
        if grouped is not None:
            for raw, subject in subject_aliases.items():  # one subject, several spellings
                # (in any order: _sorted_rows sorts a subject's rows, ties in file order)
                grouped[subject] = grouped.get(subject, []) + grouped.pop(raw)
            jobs = _buckets_in_memory(pending, subject_rows, cpu_count)
        else:
            jobs = _route(
                block_spills, pending, subject_rows, subject_of, i_subject, Path(tmp), cpu_count
            )
        stats = ColumnStats()
        results: list[BucketResult] = []
        journal = None
        if stream:
            if state != "journal" or not output_path.exists():
                _rewrite_journal(output_path, [])
            run_file.write_text(_settings_text(settings), encoding="utf-8")
            journal = open(output_path, "a", encoding="utf-8", newline="")  # noqa: SIM115
        line_plan: dict[str, Any] = {}

        def plan_lines(probe: BucketResult, forks: bool) -> None:
            # The workers format their buckets' lines for the probe's columns (see _lines_here):
            # not for a journal (it keeps the reductions), nor under -O (the columns are sorted,
            # so those of later buckets need not come after the probe's).
            if not stream and not order:
                line_plan.update(
                    columns=probe.stats.columns(), workflow_cell=workflow_cell, pid=os.getpid()
                )
                if forks:  # forked workers write their lines to files there (_lines_result)
                    line_plan.update(
                        part_dir=late_dirs.enter_context(scratch_dir(output_dir, "reduce"))
                    )
                    # after an error or SIGTERM the workers stop before the directory goes
                    # (callbacks run last in, first out); a no-op after the close further down
                    late_dirs.callback(lambda: reduced.close())

        try:
            with progress_bar("Reducing", total=len(pending), unit="subject", hide=hide_bar) as bar:
                # in memory, small work stays in this process (see SERIAL_SECONDS)
                reduced = _probed_map(
                    _reduce_bucket,
                    jobs,
                    [sum(subject_rows[s] for s in job.subjects) for job in jobs]
                    if in_memory
                    else [],
                    probe=in_memory,
                    workers=cpu_count,
                    initializer=_init_worker,
                    initargs=(layout, grouped, line_plan),
                    after_probe=plan_lines,
                )
                # every result, without finishing the map yet: the pool's end waits for its
                # workers to exit (~10 ms for one killed while idle), which they do meanwhile
                # if the map has found its items' end (ordered_map closes the pool then)
                for result in reduced:
                    results.append(result)
                    stats.merge(result.stats)
                    if journal is not None:
                        _append_journal(journal, result, workflow_cell, plan.name)
                    bar.update(result.subjects)
                    if len(results) == len(jobs):
                        break
        finally:
            if journal is not None:
                journal.close()

        # (no subject or task at all: the notes on blank cells said why)
        if total and subjects and tasks and set(stats.columns()) <= {"aggregation_version"}:
            print(
                f"note: every {plan.name} reduction is empty: no subject had extracts it could "
                f"read. Check that the reducer matches the extractor that wrote {blocks.path} "
                "(its 'extractor' column), e.g. question_reducer for question_extractor",
                file=sys.stderr,
            )
        if stream:
            _finalize_journal(output_path, Path(tmp), order, front, sort_key)
            run_file.unlink(missing_ok=True)
            return output_path
        header, columns = _reduction_columns(stats, order, front)
        header_bytes = _csv_text([header]).encode("utf-8")
        planned = len(line_plan.get("columns", ()))
        size = len(header_bytes) + _output_size(results, len(columns) - planned)
        with atomic_binary_file(output_path, size=size) as f:  # (UTF-8: _format_bucket)
            f.write(header_bytes)
            # Formatting is a tenth of a point reduce: the workers format a bucket each
            # (forked now, they share ``results``), the parent only writes the text. In memory,
            # the first bucket is a probe: a small output is formatted here.
            formatted = _probed_map(
                _bucket_bytes,
                range(len(results)),
                [0 if result.kept is None else result.stats.rows for result in results],
                probe=in_memory,
                workers=min(cpu_count, len(results)),
                initializer=_init_formatter,
                initargs=(
                    columns,
                    workflow_cell,
                    plan.name,
                    results,
                    planned,
                ),
                in_flight=cpu_count + 1,  # a bucket's text can be tens of MB
            )
            for index, data in enumerate(formatted):
                if data is None:  # a worker's lines file as it is: copied by the kernel
                    lines_file = results[index].lines_file
                    with open(lines_file, "rb") as source:  # type: ignore[arg-type]
                        append_span(f, source.fileno(), 0, os.fstat(source.fileno()).st_size)
                else:
                    f.write(data)
        reduced.close()
    run_file.unlink(missing_ok=True)  # an unfinished -s run's settings: this file replaced it
    return output_path


def _blank_subject_note(path: Path, rows: Sequence[tuple[int, str]]) -> str:
    """The note on the extract rows a reduction skips for their blank ``subject_id``.

    >>> print(_blank_subject_note(Path("q.csv"), [(37, "21488449")]))
    note: q.csv: skipped 1 extract row with a blank subject_id (data row 37: classification 21488449); it belongs to no subject (the reference reduces none of them: it writes an empty reduction of subject NaN; `tally extract` skips their classifications as 'empty subject_ids')
    """
    return (
        f"note: {path}: skipped {_rows_named(rows, 'subject_id', 'subject')} (the reference "
        "reduces none of them: it writes an empty reduction of subject NaN; `tally extract` "
        "skips their classifications as 'empty subject_ids')"
    )


def _blank_task_note(path: Path, rows: Sequence[tuple[int, str]]) -> str:
    """The note on the extract rows (with a subject) a reduction skips for their blank ``task``.

    >>> print(_blank_task_note(Path("q.csv"), [(3, "2"), (9, "8")]))
    note: q.csv: skipped 2 extract rows with a blank task (data row 3: classification 2, data row 9: classification 8); they belong to no task (the reference reduces none of them: it writes an empty reduction of task NaN for every subject; `tally extract` writes the task of its config)
    """
    return (
        f"note: {path}: skipped {_rows_named(rows, 'task', 'task')} (the reference reduces "
        "none of them: it writes an empty reduction of task NaN for every subject; `tally "
        "extract` writes the task of its config)"
    )


def _rows_named(rows: Sequence[tuple[int, str]], column: str, what: str) -> str:
    """``N extract rows with a blank <column> (data row R: classification C, ...); they belong
    to no <what>``, naming the first :data:`SHOW_BLANK_ROWS` rows."""
    shown = ", ".join(
        f"data row {row}: classification {cid}" for row, cid in rows[:SHOW_BLANK_ROWS]
    )
    more = ", ..." if len(rows) > SHOW_BLANK_ROWS else ""
    counted = "1 extract row" if len(rows) == 1 else f"{len(rows)} extract rows"
    belongs = "it belongs" if len(rows) == 1 else "they belong"
    return f"{counted} with a blank {column} ({shown}{more}); {belongs} to no {what}"


def _init_formatter(
    columns: list[tuple[str, str]],
    workflow_cell: str,
    reducer: str,
    results: list[BucketResult],
    planned_columns: int = 0,
) -> None:
    # planned_columns: how many of ``columns`` the buckets' own lines have (see _lines_here)
    _WORKER.update(
        format_columns=[(c, cell_formatter(kind)) for c, kind in columns],
        workflow_cell=workflow_cell,
        reducer=reducer,
        results=results,
        planned_columns=planned_columns,
    )


def _output_size(results: Sequence[BucketResult], blanks: int) -> int:
    """About the bytes the buckets will take in the output, with ``blanks`` cells appended to
    each ready line, for :func:`tally.tables.atomic_binary_file`: it allocates them when the
    output replaces an earlier one, as ext4 would otherwise write the whole new file out inside
    the rename (~10 ms for the 12 MB of a 20k point reduction) if any of it was not allocated.

    Ready lines (:func:`_lines_here`) are counted (text lines in characters), the others
    estimated from them by rows, and an eighth added: the file ends where the writing ends,
    so too much costs nothing and too little only that wait.

    >>> ready = BucketResult("", ColumnStats(), 1, lines=["a,b\\n", "c,d\\n"])
    >>> _output_size([ready], 1)
    11
    """
    size = rows = unread_rows = 0
    for result in results:
        if result.lines_file is not None:
            size += os.path.getsize(result.lines_file) + blanks * result.stats.rows
            rows += result.stats.rows
        elif result.lines is not None:
            size += sum(map(len, result.lines)) + blanks * len(result.lines)
            rows += len(result.lines)
        else:
            unread_rows += result.stats.rows
    if rows:
        size += unread_rows * size // rows
    return size + size // 8


def _bucket_bytes(index: int) -> bytes | None:
    """One bucket's part of the output file (its lines, in order), in UTF-8; None where that
    is its worker's lines file as it is (the caller copies the file)."""
    result: BucketResult = _WORKER["results"][index]
    if result.lines is None and result.lines_file is None:
        return _format_bucket(index).encode("utf-8")
    # formatted by its worker for the probe's columns (_lines_here); the columns that only
    # later buckets have are blank in this one
    blanks = "," * (len(_WORKER["format_columns"]) - _WORKER["planned_columns"]) + "\n"
    if result.lines_file is not None:  # its UTF-8 bytes (no cell holds a line end)
        if blanks == "\n":
            return None
        return Path(result.lines_file).read_bytes().replace(b"\n", blanks.encode())
    assert result.lines is not None
    if blanks == "\n":
        return "".join(result.lines).encode("utf-8")
    return "".join([line[:-1] + blanks for line in result.lines]).encode("utf-8")


def _format_bucket(index: int) -> str:
    """One bucket's reductions as CSV text (the output file's lines, in order)."""
    columns = _WORKER["format_columns"]
    if _reduction_text is not None:  # the same text, compiled
        return _reduction_text(
            _WORKER["results"][index].rows(),
            [c for c, _ in columns],
            [f for _, f in columns],
            _WORKER["workflow_cell"],
            _WORKER["reducer"],
            csv_field,
        )
    return _csv_text(
        _reduction_lines(
            _WORKER["results"][index].rows(), columns, _WORKER["workflow_cell"], _WORKER["reducer"]
        )
    )


try:  # the compiled form of _csv_text(_reduction_lines(...)) (optional)
    from tally._csv_compiled import reduction_text as _reduction_text
except ImportError:  # pragma: no cover - depends on the install
    _reduction_text = None
if csv_field.__name__ != "_csv_field_3_11":  # it quotes as Python 3.11's csv module does
    _reduction_text = None


def _object_line_texts(
    rows: Iterable[tuple[str, str, dict[str, Any]]],
    names: list[str],
    workflow_cell: str,
    reducer: str,
) -> list[str]:
    r"""Each reduction row's CSV line, ``\n`` included, for ``names`` all of kind ``object``.

    >>> _object_line_texts([("7", "T0", {"a": "x,y", "b": None})], ["a", "b"], "3", "r")
    ['7,3,T0,r,"x,y",\n']
    """
    if _reduction_text is not None:
        every_object = [_format_object] * len(names)
        return [
            _reduction_text((row,), names, every_object, workflow_cell, reducer, csv_field)
            for row in rows
        ]
    formatters = [(name, _format_object) for name in names]
    return [
        _csv_text((line,))
        for line in _reduction_lines(iter(rows), formatters, workflow_cell, reducer)
    ]


def _csv_text(lines: Iterable[list[str]]) -> str:
    r"""``csv.writer(f, lineterminator="\n").writerows(lines)``'s text for lines of 2+ str cells.

    The csv module copies every character of every cell through its quoting checks: 0.26 s
    for the 12 MB of a 20k point reduction; :func:`tally.tables.csv_field` quotes a cell the
    way it does without that copy. A reduction line always has its four info cells.

    >>> _csv_text([["a", "1,2", 'say "hi" now', ""], ["x\ny", "b"]])
    'a,"1,2","say ""hi"" now",\n"x\ny",b\n'
    """
    return "".join([",".join(map(csv_field, line)) + "\n" for line in lines])


def _probed_map(
    func: Callable[[Any], R],
    items: Sequence[Any],
    weights: Sequence[float],
    *,
    probe: bool,
    workers: int,
    initializer: Callable[..., None],
    initargs: tuple[Any, ...],
    in_flight: int | None = None,
    after_probe: Callable[[R, bool], None] | None = None,
) -> Iterator[R]:
    """``ordered_map`` that, with ``probe``, first runs ``items[0]`` here and forks the
    ``workers`` only if the rest, estimated from that item's CPU time and the ``weights`` (e.g.
    rows per item), takes at least :data:`SERIAL_SECONDS`. ``items[0]`` should be small (a
    probe). Which way it runs changes nothing in the results. ``after_probe`` gets the probe's
    result and whether the rest goes to forked workers, before it runs (and before the workers
    fork: they inherit what it sets).
    """
    if probe and workers > 1 and len(items) > 1:
        initializer(*initargs)
        started = time.process_time()
        first = func(items[0])
        spent = time.process_time() - started
        estimate = spent * sum(weights[1:]) / max(weights[0], 1)
        if after_probe is not None:
            # (one item left runs here: ordered_map forks for two or more)
            after_probe(first, estimate >= SERIAL_SECONDS and len(items) > 2)
        yield first
        items = items[1:]
        if estimate < SERIAL_SECONDS:
            yield from map(func, items)
            return
    yield from ordered_map(
        func,
        items,
        workers=workers,
        initializer=initializer,
        initargs=initargs,
        in_flight=in_flight,
    )


def _bucket_plan(
    pending: list[str], counts: Mapping[str, int], wanted: int
) -> tuple[dict[str, int], int]:
    """Cut ``pending`` (sorted) into about ``wanted`` runs of consecutive subjects with similar
    row counts: subject -> bucket, and the number of buckets."""
    n_buckets = max(1, min(len(pending), wanted))
    per_bucket = sum(counts[s] for s in pending) / n_buckets
    bucket_of: dict[str, int] = {}
    bucket, filled = 0, 0
    for subject in pending:
        if filled >= per_bucket and bucket < n_buckets - 1:
            bucket, filled = bucket + 1, 0
        bucket_of[subject] = bucket
        filled += counts[subject]
    return bucket_of, bucket + 1


def _buckets_in_memory(
    pending: list[str], counts: Mapping[str, int], cpu_count: int
) -> list[BucketJob]:
    """Bucket jobs over the rows grouped in memory (reductions come back, not spilled).

    With workers, the first bucket is a probe of about 1/:data:`PROBE_SHARE` of the rows, which
    :func:`_probed_map` reduces in this process to decide whether forking pays.
    """
    if not pending:
        return []
    probe: list[str] = []
    if cpu_count > 1 and len(pending) > 1:
        target = sum(counts[s] for s in pending) / PROBE_SHARE
        filled = 0
        while filled < target and len(probe) < len(pending) - 1:
            filled += counts[pending[len(probe)]]
            probe.append(pending[len(probe)])
    rest = pending[len(probe) :]
    wanted = max(4 * cpu_count, math.ceil(len(rest) / SUBJECTS_PER_BUCKET))
    bucket_of, n_buckets = _bucket_plan(rest, counts, wanted)
    subjects: list[list[str]] = [[] for _ in range(n_buckets)]
    for subject in rest:
        subjects[bucket_of[subject]].append(subject)
    if probe:
        subjects.insert(0, probe)
    return [BucketJob(b, (), "", tuple(members)) for b, members in enumerate(subjects)]


def _route(
    block_spills: list[str],
    pending: list[str],
    counts: Mapping[str, int],
    subject_of: Mapping[str, str],
    i_subject: int,
    tmp: Path,
    cpu_count: int,
) -> list[BucketJob]:
    """Split the rows into buckets of consecutive subjects (``pending`` is sorted; ``counts``
    their rows; ``subject_of`` the subject of each raw subject cell)."""
    if not pending:
        return []
    size = sum(os.path.getsize(p) for p in block_spills)
    wanted = max(
        4 * cpu_count,
        math.ceil(size / BUCKET_BYTES),
        math.ceil(len(pending) / SUBJECTS_PER_BUCKET),
    )
    bucket_of, n_buckets = _bucket_plan(pending, counts, wanted)
    # the router sees raw cells: each spelling of a subject goes to the subject's bucket
    bucket_of = {raw: bucket_of[s] for raw, s in subject_of.items() if s in bucket_of}
    parts: list[list[str]] = [[] for _ in range(n_buckets)]
    for routed in ordered_map(
        _route_block,
        enumerate(block_spills),
        workers=min(cpu_count, len(block_spills)),
        initializer=_init_router,
        initargs=(bucket_of, i_subject, str(tmp)),
    ):
        for b, part in sorted(routed.items()):
            parts[b].append(part)
    return [BucketJob(b, tuple(parts[b]), str(tmp / f"bucket{b}.out")) for b in range(n_buckets)]


def _append_journal(journal: Any, result: BucketResult, workflow_cell: str, reducer: str) -> None:
    writer = csv.writer(journal, lineterminator="\n")
    for subject_cell, task_cell, flat in result.rows():
        writer.writerow([subject_cell, workflow_cell, task_cell, reducer, repr(flat)])
    journal.flush()
    os.fsync(journal.fileno())


def _finalize_journal(
    path: Path, tmp: Path, order: bool, front: Sequence[str], sort_key: Callable[[str], Any]
) -> None:
    """Turn the finished journal into the flattened reduction file (same bytes as without -s)."""
    spill = Spill(tmp / "journal.spill")
    stats = ColumnStats()
    workflow_cell = reducer = ""
    in_order = True
    previous = None
    with CsvSource(path, what="reduction journal") as source:
        chunk = []
        for row in source:
            subject_cell, task_cell, data = row[0], row[2], row[4]
            workflow_cell, reducer = row[1], row[3]
            try:
                flat = _journal_data(data)
            except ValueError as exc:
                raise InputError(
                    f"{path}, line {source.line_number}: unreadable data cell: {exc}"
                ) from None
            key = sort_key(subject_cell)
            if previous is not None and key < previous:
                in_order = False
            previous = key
            stats.add(flat)
            chunk.append((subject_cell, task_cell, flat))
            if len(chunk) >= SPILL_ROWS:
                spill.append(chunk)
                chunk = []
        spill.append(chunk)
    rows: Any = spill.rows()
    if not in_order:  # the input gained subjects between runs: restore subject order (stable)
        rows = sorted(rows, key=lambda r: sort_key(r[0]))
    _write_reduction_csv(path, iter(rows), stats, workflow_cell, reducer, order, front)


def _write_reduction_csv(
    path: Path,
    rows: Iterator[tuple[str, str, dict[str, Any]]],
    stats: ColumnStats,
    workflow_cell: str,
    reducer: str,
    order: bool,
    front: Sequence[str],
    id_column: str = REDUCE_INFO_COLUMNS[0],
) -> None:
    # id_column: what the first column's cells are (user_id for a reduce_by_user reducer)
    header, columns = _reduction_columns(stats, order, front, id_column)
    formatters = [(c, cell_formatter(kind)) for c, kind in columns]
    with atomic_text_file(path) as f:
        f.write(_csv_text([header]))
        lines = []
        for line in _reduction_lines(rows, formatters, workflow_cell, reducer):
            lines.append(line)
            if len(lines) >= SPILL_ROWS:
                f.write(_csv_text(lines))
                lines = []
        f.write(_csv_text(lines))


def _reduction_columns(
    stats: ColumnStats,
    order: bool,
    front: Sequence[str],
    id_column: str = REDUCE_INFO_COLUMNS[0],
) -> tuple[list[str], list[tuple[str, str]]]:
    """The reduction file's header, and its data columns (without ``data.``) with their kinds."""
    header = [id_column, *REDUCE_INFO_COLUMNS[1:]] + [DATA_PREFIX + c for c in stats.columns()]
    if order:
        header = order_columns(header, front=front)
    data_kinds = stats.kinds()
    names = (name[len(DATA_PREFIX) :] for name in header[len(REDUCE_INFO_COLUMNS) :])
    return header, [(c, data_kinds[c]) for c in names]


def _reduction_lines(
    rows: Iterator[tuple[str, str, dict[str, Any]]],
    formatters: list[tuple[str, Callable[[Any], str]]],
    workflow_cell: str,
    reducer: str,
) -> Iterator[list[str]]:
    for subject_cell, task_cell, flat in rows:
        line = [subject_cell, workflow_cell, task_cell, reducer]
        line.extend([f(flat.get(c)) for c, f in formatters])
        yield line
