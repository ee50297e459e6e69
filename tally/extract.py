"""``tally extract``: classification export + extractor config -> one extraction CSV per extractor.

A drop-in for ``panoptes_aggregation extract``: same arguments, file names
(``<extractor_key>_<output>.csv``) and CSV layout. The export is streamed: the parent cuts it
into blocks of whole records (finding their ends only), ``-c`` worker processes read, parse,
filter and extract the blocks (annotations parsed with orjson) and write each block's CSV lines
in the layout that the blocks before it make (:class:`FormatGuess`); where the file's final
layout turns out otherwise, the block is extracted again and written in that layout. The
parent concatenates the blocks' lines, in input order whatever ``-c`` is.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import os
import queue
import sys
import threading
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import orjson

from core.classification import Classification, usual_classification
from core.csv_layout import (
    AGGREGATION_VERSION,
    DATA_PREFIX,
    EXTRACT_INFO_COLUMNS,
    NA_STRINGS,
    ColumnStats,
    FlatRows,
    ReadKinds,
    order_columns,
    text_formatter,
)
from core.errors import AnnotationParseError, TallyError
from core.extractors._cells_forms import cells_form, row_cells
from core.pipeline import Pipeline
from core.workflow_config.versions import WorkflowVersion
from tally.errors import InputError
from tally.parallel import collector_paused, ordered_map
from tally.progress import progress_bar
from tally.scratch import scratch_dir
from tally.tables import (
    CsvBlocks,
    append_span,
    atomic_binary_file,
    count_byte,
    csv_field,
    load_yaml,
    parse_block,
    read_span,
    require_columns,
)

__all__ = ["VersionFilter", "extract_file", "load_plan"]

REQUIRED_COLUMNS = (
    "classification_id",
    "workflow_id",
    "workflow_version",
    "created_at",
    "annotations",
    "metadata",
    "subject_ids",
)
#: Columns copied into every extract row, in the layout's order (``task`` and ``extractor`` come
#: from the config). ``user_name`` and ``user_id`` are optional: some exports lack them.
INFO_SOURCES = (
    "classification_id",
    "user_name",
    "user_id",
    "workflow_id",
    "created_at",
    "subject_ids",
)
_SUBJECT_INFO = INFO_SOURCES.index("subject_ids")
#: Extractor-config keywords the batch wrapper handles itself rather than the extractor.
WRAPPER_KEYWORDS = ("no_version",)
SHOW_FIRST_IDS = 5
#: The size of the export's blocks that workers parse (the first and last ones are smaller).
BLOCK_BYTES = 4 << 20


# ------------------------------------------------------------------------------------------
# configuration

# (Records are NamedTuples where a frozen dataclass would do: making a frozen dataclass costs
# ~1.7 ms at import, for its generated methods, a NamedTuple ~0.1 ms; they pickle smaller too.)


class VersionFilter(NamedTuple):
    """The workflow versions an extractor config covers, as the reference reads ``workflow_version``.

    ``'16.55'`` means exactly 16.55; a major-only ``'16'`` means 16 up to and including 17;
    ``{min, max}`` is inclusive, with a major-only ``max`` raised to the next major.

    >>> f = VersionFilter.from_config("16")
    >>> [v in f for v in ("15.9", "16.1", "16.55", "17", "17.1")]
    [False, True, True, True, False]
    >>> "14.6" in VersionFilter.from_config({"min": "14.55"})
    False
    """

    minimum: WorkflowVersion | None = None
    maximum: WorkflowVersion | None = None
    text: str = "any version"

    @classmethod
    def from_config(cls, spec: Any) -> VersionFilter:
        if spec is None:
            return cls()
        if isinstance(spec, Mapping):
            low = _config_version(spec.get("min"), "workflow_version.min")
            high = _config_version(spec.get("max"), "workflow_version.max")
            if high is not None and high.is_major_only:
                high = WorkflowVersion((high.major + 1,))
            return cls(low, high, f"{spec.get('min', '-')} to {spec.get('max', '-')}")
        version = _config_version(spec, "workflow_version")
        assert version is not None
        if version.is_major_only:
            return cls(
                version, WorkflowVersion((version.major + 1,)), f"{spec} (every {version.major}.x)"
            )
        return cls(version, version, str(spec))

    def __contains__(self, text: str) -> bool:
        version = WorkflowVersion.parse(text)
        if self.minimum is not None and version < self.minimum:
            return False
        return not (self.maximum is not None and version > self.maximum)


def _config_version(value: Any, where: str) -> WorkflowVersion | None:
    if value is None:
        return None
    if isinstance(value, float):
        raise InputError(
            f"{where} is the number {value!r}; write it as text ('{value}') so that trailing "
            "zeros survive (16.50 is not 16.5)"
        )
    try:
        return WorkflowVersion.parse(str(value))
    except TallyError as exc:
        raise InputError(f"{where}: {exc}") from None


class ExtractPlan(NamedTuple):
    """The parsed extractor config: which extractor runs on which task, for which rows."""

    workflow_id: int
    versions: VersionFilter
    document: dict[str, Any]  # the config with wrapper keywords removed (sent to workers)
    no_version: tuple[bool, ...]  # per entry, in Pipeline order

    @property
    def keys(self) -> list[str]:
        return list(self.document["extractor_config"])


def load_plan(path: str) -> ExtractPlan:
    document = load_yaml(path, "extractor config")
    if (
        isinstance(document, Mapping)
        and "reducer_config" in document
        and "extractor_config" not in document
    ):
        raise InputError(
            f"{path} is a reducer config (it has 'reducer_config'); `tally extract` needs the "
            "extractor config that `tally config` wrote (Extractor_config_workflow_<id>_V<version>"
            ".yaml). Reducer configs go to `tally reduce`"
        )
    if not isinstance(document, Mapping) or not isinstance(
        document.get("extractor_config"), Mapping
    ):
        raise InputError(
            f"{path}: an extractor config must be a YAML mapping with 'workflow_id', "
            "'workflow_version' and 'extractor_config' (as written by `tally config`)"
        )
    stripped: dict[str, list[dict[str, Any]]] = {}
    no_version: list[bool] = []
    for key, entries in document["extractor_config"].items():
        if not isinstance(entries, list):
            raise InputError(f"{path}: extractor_config.{key} must be a list of task entries")
        stripped[key] = []
        for position, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "task" not in entry:
                raise InputError(
                    f"{path}: extractor_config.{key}[{position}] must be a mapping with a 'task' key"
                )
            kept = {k: v for k, v in entry.items() if k not in WRAPPER_KEYWORDS}
            stripped[key].append(kept)
            no_version.append(bool(entry.get("no_version", False)))
    clean = {**document, "extractor_config": stripped}
    try:
        pipeline = Pipeline.from_configs(clean, [], digest=False)
    except TallyError as exc:
        raise InputError(f"{path}: {exc}") from None
    try:
        versions = VersionFilter.from_config(document.get("workflow_version"))
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    return ExtractPlan(pipeline.workflow_id, versions, clean, tuple(no_version))


# ------------------------------------------------------------------------------------------
# the per-block work (runs in worker processes)


class ChunkResult(NamedTuple):
    """What a worker sends back: the chunk's CSV lines are in a file (``GuessedText``)."""

    part: str | None  # the file of every extractor key's lines (None: no rows at all)
    counts: list[int]  # rows per extractor key index
    stats: list[ColumnStats]  # per extractor key index
    # (row number, classification id, reason, detail, whole): ``whole`` when nothing of the
    # classification was extracted, not just one extractor entry
    skips: list[tuple[int, str, str, str, bool]]
    text: GuessedText | None = None  # what the lines in ``part`` are


class FormatGuess(NamedTuple):
    """The column stats of the blocks before a block (all of them, in order), sent with it.

    Columns are ordered by first appearance and typed over the whole file, so a block cannot
    know its final layout; but the blocks before it usually tell: a worker formats its block as
    if the file were those blocks plus its own, and the parent keeps that text when the final
    layout turns out the same (:meth:`GuessedText.fits`); where not, the block is extracted
    again (rarer and cheaper than keeping every block's extracts in case).
    """

    stats: tuple[ColumnStats, ...]  # per extractor key
    info: ReadKinds


class GuessedText(NamedTuple):
    """A block's CSV lines per extractor key, formatted with a guessed layout, in a file
    (``ChunkResult.part``)."""

    lengths: tuple[int, ...]  # bytes per key
    columns: tuple[tuple[str, ...], ...]  # per key: the data columns guessed
    kinds: tuple[dict[str, str], ...]  # per key: the guessed kinds of the block's own columns
    info_kinds: tuple[str, ...]
    # per key: no cell holds a line end, so appending cells to each "\n" is safe
    plain_lines: tuple[bool, ...]

    def fits(
        self,
        columns: tuple[tuple[str, ...], ...],
        kinds: tuple[dict[str, str], ...],
        info_kinds: tuple[str, ...],
    ) -> tuple[int, ...] | None:
        """Per key, the empty cells to append to each line for the final layout; None when
        the text does not fit it (a column elsewhere or typed otherwise: extract it again).

        >>> text = GuessedText((4, 0), (("a",), ()), ({"a": "int"}, {}), ("str",), (True, True))
        >>> text.fits((("a", "b"), ("c",)), ({"a": "int", "b": "float"}, {"c": "float"}), ("str",))
        (1, 0)
        >>> text.fits((("b", "a"), ()), ({"a": "int", "b": "int"}, {}), ("str",)) is None
        True
        """
        if info_kinds != self.info_kinds:
            return None
        extra = []
        for length, guessed, final, own_kinds, final_kinds, plain in zip(
            self.lengths, self.columns, columns, self.kinds, kinds, self.plain_lines, strict=True
        ):
            if not length:  # no rows of this key here
                extra.append(0)
                continue
            if any(final_kinds[c] != kind for c, kind in own_kinds.items()):
                return None
            if final == guessed:
                extra.append(0)
            elif plain and final[: len(guessed)] == guessed:
                # columns the block lacks came last: each line just gets that many empty cells
                extra.append(len(final) - len(guessed))
            else:
                return None
        return tuple(extra)


_WORKER: dict[str, Any] = {}


class _Layout(NamedTuple):
    """Where a worker finds things in the export's rows, and which rows it keeps."""

    path: str
    width: int
    info_index: tuple[int | None, ...]
    workflow: int
    version: int
    annotations: int
    metadata: int
    workflow_id: int
    versions: VersionFilter
    order: bool = False  # -O: data columns sorted
    identity: tuple[int, int] | None = None  # the export's CsvBlocks.identity


def _init_worker(
    document: dict[str, Any], no_version: tuple[bool, ...], part_dir: str, layout: _Layout
) -> None:
    if _WORKER.get("layout") is layout:  # this run's, set up before the fork (extract_file)
        return
    pipeline = Pipeline.from_configs(document, [], digest=False)
    keys = list(document["extractor_config"])
    _WORKER["key_names"] = tuple(keys)
    _WORKER["entries"] = [
        (entry, keys.index(entry.key), flag, _cells_form(entry, flag))
        for entry, flag in zip(pipeline.extractors, no_version, strict=True)
    ]
    # (RowCells reads the forms' caches, which the forms fill: it needs these very forms)
    _WORKER["row_cells"] = row_cells([entry[3] for entry in _WORKER["entries"]])
    _WORKER["part_dir"] = part_dir
    _WORKER["layout"] = layout
    _WORKER["workflow_match"] = {}
    _WORKER["version_match"] = {}


def _cells_form(entry: Any, no_version: bool) -> Callable[[Classification], Any] | None:
    """The entry's extractor's shortcut to the cells (``core.extractors._cells_forms``)."""
    if entry.spec.returns_list:
        return None
    version = None if no_version else AGGREGATION_VERSION
    return cells_form(entry.spec.name, entry.params, version)


_Job = TypeVar("_Job")
_Result = TypeVar("_Result")


def _without_cycle_collection(func: Callable[[_Job], _Result]) -> Callable[[_Job], _Result]:
    """``func`` run under :func:`tally.parallel.collector_paused` (why: see there)."""

    @functools.wraps(func)
    def run(job: _Job) -> _Result:
        with collector_paused():
            return func(job)

    return run


class FinalLayout(NamedTuple):
    """The output files' layout: per extractor key its data columns and their kinds, and the
    kinds of the info cells."""

    columns: tuple[tuple[str, ...], ...]  # per key, without "data."
    kinds: tuple[dict[str, str], ...]  # per key, per column
    info_kinds: tuple[str, ...]


class BlockJob(NamedTuple):
    """A block of whole records of the export, read by the worker (not sent through a pipe)."""

    index: int
    offset: int  # in bytes
    length: int
    guess: FormatGuess | None = None  # None: format the block with its own layout
    final: FinalLayout | None = None  # given: the block is extracted again, in this layout


class BlockResult(NamedTuple):
    """One block's outcome: counts and column typing for the parent, its lines in a file."""

    rows: int
    matched: int
    size: int
    kinds: ReadKinds
    workflows: Counter
    versions: Counter
    chunk: ChunkResult
    unreadable: int  # rows skipped before the workflow/version filter could look at them


@_without_cycle_collection
def _extract_block(job: BlockJob) -> BlockResult:
    """Parse a block of export rows, keep the configured workflow and versions, extract them."""
    layout: _Layout = _WORKER["layout"]
    workflow_match: dict[str, bool] = _WORKER["workflow_match"]
    version_match: dict[str, bool | None] = _WORKER["version_match"]
    data = read_span(layout.path, job.offset, job.length, layout.identity)
    rows = parse_block(data, Path(layout.path), job.offset)
    kinds = ReadKinds(INFO_SOURCES)
    workflows: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    keep: list[tuple[int, tuple[str, ...], str, str]] = []
    skips: list[tuple[int, str, str, str, bool]] = []
    width = layout.width
    info_index = layout.info_index
    if None not in info_index:  # the usual export: every info column is there
        info_of = operator.itemgetter(*info_index)
    else:

        def info_of(row: list[str]) -> tuple[str, ...]:
            return tuple("" if i is None else row[i] for i in info_index)

    workflow_column, version_column = layout.workflow, layout.version
    annotations_column, metadata_column = layout.annotations, layout.metadata

    def filter_row(row_number: int, row: list[str]) -> None:
        # one row: malformed (a skip), another workflow or version (dropped), a kept one
        if len(row) != width:
            cid = row[info_index[0]] if len(row) > info_index[0] else "?"  # type: ignore[operator]
            skips.append(
                (
                    row_number,
                    cid,
                    "malformed CSV row",
                    f"{len(row)} fields where the header has {width}",
                    True,
                )
            )
            return
        info = info_of(row)
        kinds.add(info)
        workflow = row[workflow_column]
        hit = workflow_match.get(workflow)
        if hit is None:
            hit = workflow_match[workflow] = _workflow_number(workflow) == layout.workflow_id
        workflows[workflow] += 1
        if not hit:
            return
        version = row[version_column]
        versions[version] += 1
        if version in version_match:
            ok = version_match[version]
        else:
            try:
                ok = version_match[version] = version in layout.versions
            except TallyError:
                ok = version_match[version] = None
        if ok is None:
            skips.append((row_number, info[0], "invalid workflow_version", repr(version), True))
            return
        if not ok:
            return
        cid = info[0]
        if cid in NA_STRINGS or cid.isspace():  # core.events.missing_id, inline: per row
            # The reference extracts it with a NaN id; the engine (tally aggregate, the stream)
            # counts a classification once by its id and refuses one without, so skip it here too.
            detail = (
                f"classification_id is {cid!r}"
                if cid.strip()
                else "the classification_id cell is empty"
            )
            skips.append((row_number, repr(cid), "empty classification_id", detail, True))
            return
        subject = info[_SUBJECT_INFO]
        if subject in NA_STRINGS:
            # Its extracts would belong to no subject: the reference writes them with subject
            # NaN, and its reduce counts none of them (an empty reduction of subject NaN).
            detail = (
                "the subject_ids cell is empty" if not subject else f"subject_ids is {subject!r}"
            )
            skips.append((row_number, info[0], "empty subject_ids", detail, True))
            return
        keep.append((row_number, info, row[annotations_column], row[metadata_column]))

    if _filter_rows_compiled is not None and None not in info_index:
        # the same, the usual rows in C; filter_row gets the others (see tally/_csv_compiled.pyx)
        _filter_rows_compiled(
            rows,
            width,
            info_index,
            (workflow_column, version_column, annotations_column, metadata_column),
            workflow_match,
            version_match,
            _KindsAdder(kinds, NA_STRINGS),
            workflows,
            versions,
            keep,
            filter_row,
            NA_STRINGS,
            _SUBJECT_INFO,
        )
    else:
        for row_number, row in enumerate(rows):
            filter_row(row_number, row)
    chunk = _extract_chunk(job.index, keep, job.guess, kinds, job.final)
    unreadable = len(skips)
    if skips:
        chunk = chunk._replace(skips=sorted(skips + chunk.skips, key=lambda skip: skip[0]))
    return BlockResult(
        len(rows), len(keep), job.length, kinds, workflows, versions, chunk, unreadable
    )


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # NaN/Infinity literals, which Python's json accepts (orjson reads integers beyond 64
        # bits as floats rather than failing: docs/compatibility.md)
        return json.loads(text)


def _parse_cells(
    row_number: int,
    cid: str,
    annotations_text: str,
    metadata_text: str,
    skips: list[tuple[int, str, str, str, bool]],
) -> tuple[Any, Any] | None:
    """The annotations and metadata JSON of a row, or None after noting why it is skipped."""
    parsed = []
    for column, text in (("annotations", annotations_text), ("metadata", metadata_text)):
        if text in NA_STRINGS:
            skips.append((row_number, cid, f"empty {column}", f"the {column} cell is empty", True))
            return None
        try:
            parsed.append(_loads(text))
        except ValueError as exc:
            skips.append((row_number, cid, f"invalid JSON in {column}", str(exc), True))
            return None
    if not isinstance(parsed[1], dict):
        skips.append(
            (
                row_number,
                cid,
                "metadata is not a JSON object",
                f"expected {{...}}, got {type(parsed[1]).__name__} {metadata_text[:40]!r}",
                True,
            )
        )
        return None
    return parsed[0], parsed[1]


def _extract_chunk(
    index: int,
    rows: list[tuple[int, tuple[str, ...], str, str]],
    guess: FormatGuess | None,
    info_kinds: ReadKinds,
    final: FinalLayout | None = None,
) -> ChunkResult:
    """Run every extractor entry on the chunk's ``rows`` (row number, info cells, annotations,
    metadata); write their CSV lines, return counts and skips.

    The rows are kept as each kept classification's info cells once, and per extractor key a
    :class:`FlatRows` whose rows carry ``(index into infos, task)``; given the kinds of the info
    cells, they are formatted in the layout that the blocks before (``guess``) and this one
    make (see :class:`FormatGuess`), or in the ``final`` one.
    """
    out = [FlatRows() for _ in _WORKER["key_names"]]
    infos: list[tuple[str, ...]] = []
    skips: list[tuple[int, str, str, str, bool]] = []
    # Per entry, what the row loop needs, looked up once per chunk: the extractor function
    # (called directly: the params are parsed already), and where its rows go.
    targets = []
    for entry, key_index, no_version, cells_of in _WORKER["entries"]:
        version = None if no_version else AGGREGATION_VERSION
        key_rows = out[key_index]
        targets.append(
            (entry, entry.spec.func, entry.params, entry.task, version, key_rows.add)
            + (cells_of, key_rows)
        )
    n_targets = len(targets)
    loads, decode_error, na = orjson.loads, orjson.JSONDecodeError, NA_STRINGS
    na_longest = max(map(len, na))
    from_export = Classification.from_export
    # Where every entry has a cells form, which reads only the metadata's classifier_version,
    # the metadata is checked rather than parsed (see _metadata_stand_in); a form that
    # declines gets the classification again with the parsed metadata for the extractor.
    stand_in_of = None
    if _metadata_stand_in is not None and all(target[6] is not None for target in targets):
        stand_in_of = _metadata_stand_in

    def extract_row(
        row_number: int, info: tuple[str, ...], annotations_text: str, metadata_text: str
    ) -> None:
        # one kept row: its classification through every entry (the cells form, else the extractor)
        cid = info[0]
        # The usual row, parsed inline; anything else takes _parse_cells, which says why not.
        try:
            # (the length test first: hashing a long cell for the set lookup costs ~0.5 us)
            if (len(annotations_text) <= na_longest and annotations_text in na) or (
                len(metadata_text) <= na_longest and metadata_text in na
            ):
                raise ValueError
            annotations = loads(annotations_text)
            metadata = stand_in = None if stand_in_of is None else stand_in_of(metadata_text)
            if metadata is None:
                metadata = loads(metadata_text)
                if metadata.__class__ is not dict:
                    raise ValueError
        except (ValueError, decode_error):
            stand_in = None
            parsed = _parse_cells(row_number, cid, annotations_text, metadata_text, skips)
            if parsed is None:
                return
            annotations, metadata = parsed
        classification = usual_classification(annotations, metadata, cid)
        if classification is None:  # from_export checks it, and says what is wrong
            try:
                classification = from_export(annotations, metadata, classification_id=cid)
            except AnnotationParseError as exc:
                skips.append((row_number, cid, "malformed annotations", str(exc), True))
                return
        where_index = len(infos)
        infos.append(info)
        failed = None
        for entry, extract, params, task, version, add_row, cells_of, key_rows in targets:
            if cells_of is not None:  # the shortcut to the cells; None: run the extractor
                cells = cells_of(classification)
                if cells is not None:
                    key_rows.add_cells(cells, (where_index, task))
                    continue
                if stand_in is not None:  # the extractor reads the whole metadata
                    classification = from_export(
                        annotations, _loads(metadata_text), classification_id=cid
                    )
                    stand_in = None
            try:
                result = extract(classification, params)
            except AnnotationParseError as exc:
                failed = failed or []
                failed.append((f"{entry.key} could not read task {entry.task}", str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - the reference skips any failing extract too
                failed = failed or []
                failed.append(
                    (f"{entry.key} failed on task {entry.task}", f"{type(exc).__name__}: {exc}")
                )
                continue
            where = (where_index, task)
            if isinstance(result, list):
                for item in result:
                    add_row(item, where, version)
            else:
                add_row(result, where, version)
        if failed:
            whole = len(failed) == n_targets  # no entry of this classification was extracted
            skips.extend((row_number, cid, reason, detail, whole) for reason, detail in failed)

    if stand_in_of is not None and _extract_rows_compiled is not None:
        # every entry has a cells form: the usual rows in C, extract_row gets the others
        # (see tally/_csv_compiled.pyx)
        _extract_rows_compiled(
            rows,
            infos,
            tuple(
                (cells_of, task, key_rows.shapes, key_rows.counts, key_rows.rows)
                for _, _, _, task, _, _, cells_of, key_rows in targets
            ),
            extract_row,
            loads,
            usual_classification,
            na_longest,
            na,
            _WORKER["row_cells"],
        )
    else:
        for row in rows:
            extract_row(*row)
    counts = [len(rows) for rows in out]
    stats = [rows.stats() for rows in out]
    part = None
    text = None
    if any(counts):
        part = str(Path(_WORKER["part_dir"]) / f"c{index:08d}.csv-part")
        if final is None:
            text = _guessed_text(part, infos, out, stats, guess, info_kinds)
        else:
            texts = _format_rows(
                infos, out, _WORKER["key_names"], final.columns, final.kinds, final.info_kinds
            )
            text = GuessedText(
                _write_part(part, texts), final.columns, final.kinds, final.info_kinds, ()
            )
    return ChunkResult(part, counts, stats, skips, text)


def _guessed_text(
    part: str,
    infos: list[tuple[str, ...]],
    per_key: list[FlatRows],
    stats: list[ColumnStats],
    guess: FormatGuess | None,
    info_kinds: ReadKinds,
) -> GuessedText:
    """Format a chunk's rows in the layout of the blocks before it plus its own."""
    layout: _Layout = _WORKER["layout"]
    merged = []
    for k, own in enumerate(stats):
        both = ColumnStats()
        if guess is not None:
            both.merge(guess.stats[k])
        both.merge(own)
        merged.append(both)
    kinds_seen = ReadKinds(INFO_SOURCES)
    if guess is not None:
        kinds_seen.merge(guess.info)
    kinds_seen.merge(info_kinds)
    info = kinds_seen.kinds()
    source_kinds = tuple(info[name] for name in INFO_SOURCES)
    columns, data_kinds = _layout_of(merged, layout.order)
    texts = _format_rows(infos, per_key, _WORKER["key_names"], columns, data_kinds, source_kinds)
    own_kinds = tuple(
        {c: kinds[c] for c in own.columns()} for own, kinds in zip(stats, data_kinds, strict=True)
    )
    encoded = [text.encode("utf-8") for text in texts]
    # (UTF-8 bytes: a 10 is a line end; counted 8 bytes at a time, str.count takes one by one)
    plain = tuple(
        count_byte(data, 10) == len(rows) for data, rows in zip(encoded, per_key, strict=True)
    )
    return GuessedText(_write_part(part, encoded), columns, own_kinds, source_kinds, plain)


def _write_part(part: str, texts: list[str] | list[bytes]) -> tuple[int, ...]:
    """Write every key's lines of a chunk (texts or their UTF-8), one after the other; their
    lengths in bytes."""
    encoded = [text if text.__class__ is bytes else text.encode("utf-8") for text in texts]
    with open(part, "wb") as f:
        for data in encoded:
            f.write(data)
    return tuple(map(len, encoded))


@_without_cycle_collection
def _extract_again(job: BlockJob) -> tuple[int, ...]:
    """Extract a block again and write its lines in the final layout (``job.final``) over its
    part file; their lengths in bytes per key."""
    text = _extract_block.__wrapped__(job).chunk.text  # type: ignore[attr-defined]
    assert text is not None  # the block had rows the first time
    return text.lengths


def _format_rows(
    infos: list[tuple[str, ...]],
    per_key: list[FlatRows],
    keys: tuple[str, ...],
    columns_per_key: tuple[tuple[str, ...], ...],
    kinds_per_key: tuple[dict[str, str], ...],
    info_kinds: tuple[str, ...],
) -> list[str]:
    """The CSV lines of one chunk, per extractor key (the info cells formatted once per row).

    Lines are joined here rather than by ``csv.writer``, whose per-character copying took
    most of this function's time; :func:`~tally.tables.csv_field` quotes as it does.
    """
    heads = _info_heads(infos, info_kinds)
    texts = []
    for key, columns, kinds, rows in zip(
        keys, columns_per_key, kinds_per_key, per_key, strict=True
    ):
        if not rows:
            texts.append("")
            continue
        key_cell = csv_field(key) + ("," if columns else "")
        texts.append(
            _extract_lines(
                rows.rows,
                rows.layouts(columns, kinds),
                heads,
                {},
                _task_cell,
                {},
                _float_text,
                key_cell,
                csv_field,
            )
        )
    return texts


def _info_heads_py(
    infos: list[tuple[str, ...]], info_kinds: tuple[str, ...]
) -> list[tuple[str, str]]:
    """Per classification's info cells (``INFO_SOURCES``), its extraction rows' text before and
    after the task cell, the info columns written as ``info_kinds``.

    >>> _info_heads_py([("12", "ann", "7", "3", "2024-01-01 UTC", "9")], ("int", "str", "float", "int", "str", "int"))
    [('12,ann,7.0,3,', ',2024-01-01 UTC,9,')]
    """
    # (the cells of a column repeat: user names and ids, the workflow, subjects)
    cid_cell, name_cell, uid_cell, workflow_cell, created_cell, subject_cell = (
        _InfoCells(kind) for kind in info_kinds
    )
    return [
        (
            f"{cid_cell[cid]},{name_cell[user_name]},{uid_cell[user_id]},"
            f"{workflow_cell[workflow_id]},",
            f",{created_cell[created_at]},{subject_cell[subject]},",
        )
        for cid, user_name, user_id, workflow_id, created_at, subject in infos
    ]


#: per column kind, what ``_csv_compiled.info_heads`` writes without a look-up (see there)
_OWN_CELLS = {"int": 1, "str": 2}


def _info_heads_compiled(
    infos: list[tuple[str, ...]], info_kinds: tuple[str, ...]
) -> list[tuple[str, str]]:
    """``_info_heads_py`` by the compiled ``info_heads``: an id's or a time's cell is usually
    its own text, not made (and kept) per classification.

    >>> _info_heads_compiled([("12", "ann", "7", "3", "2024-01-01 UTC", "9")], ("int", "str", "float", "int", "str", "int"))
    [('12,ann,7.0,3,', ',2024-01-01 UTC,9,')]
    """
    caches = tuple(_InfoCells(kind) for kind in info_kinds)
    own = tuple(_OWN_CELLS.get(kind, 0) for kind in info_kinds)
    return _compiled_info_heads(infos, caches, own, NA_STRINGS)


class _InfoCells(dict[str, str]):
    """An info column's cells by raw text, as written in a column of ``kind``, made on first use.

    >>> cells = _InfoCells("float")
    >>> cells["7"], cells["NA"], cells["7"]
    ('7.0', '', '7.0')
    """

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.formatter = text_formatter(kind)

    def __missing__(self, text: str) -> str:
        cell = self[text] = csv_field(self.formatter(text))
        return cell


def _task_cell(task: Any) -> str:
    return csv_field(str(task))


def _float_text(text: str) -> str:
    """An int's text as written in a float column (``FlatRows``' ``to_float`` cells)."""
    return repr(float(int(text)))


def _extract_lines_py(
    rows: list[tuple[tuple[int, Any], int, tuple[str, ...]]],
    layouts: list[tuple[tuple[int, ...], tuple[int, ...]]],
    heads: list[tuple[str, str]],
    task_cells: dict[Any, str],
    task_cell: Callable[[Any], str],
    float_texts: dict[str, str],
    float_text: Callable[[str], str],
    key_cell: str,
    field: Callable[[str], str],
) -> str:
    r"""The CSV lines of one extractor key's rows of a chunk (``FlatRows.rows``), each ended by
    a line end: per row its info cells (``heads[where]``, around the task cell), the key cell,
    then its texts laid out by ``layouts[shape]`` (``FlatRows.layouts``), passed through
    ``field``. ``task_cells`` and ``float_texts`` are caches filled by ``task_cell`` and
    ``float_text``. ``_extract_lines`` is the compiled form (``tally/_csv_compiled.pyx``) when
    it is built and ``field`` is Python 3.11's ``csv_field``.

    >>> rows = [((0, "T0"), 0, ("[1, 2]", "3")), ((1, "T0"), 0, ("x", "4"))]
    >>> _extract_lines_py(rows, [((0, 2, 1), (1,))], [("1,", ","), ("2,", ",")], {},
    ...     lambda task: task, {}, _float_text, "k,", csv_field)
    '1,T0,k,"[1, 2]",,3.0\n2,T0,k,x,,4.0\n'
    """
    lines = []
    for (where, task), shape, texts in rows:
        source, to_float = layouts[shape]
        if to_float:
            fixed = list(texts)
            for p in to_float:
                cell = float_texts.get(fixed[p])
                if cell is None:
                    cell = float_texts[fixed[p]] = float_text(fixed[p])
                fixed[p] = cell
            texts = tuple(fixed)
        cells = (*texts, "")
        cell = task_cells.get(task)
        if cell is None:
            cell = task_cells[task] = task_cell(task)
        before, after = heads[where]
        data = ",".join([field(cells[i]) for i in source])
        lines.append(before + cell + after + key_cell + data + "\n")
    return "".join(lines)


try:  # setup.py builds it; optional, for machines without a C compiler
    from tally._csv_compiled import KindsAdder as _KindsAdder
    from tally._csv_compiled import extract_lines as _compiled_extract_lines
    from tally._csv_compiled import extract_rows as _extract_rows_compiled
    from tally._csv_compiled import filter_rows as _filter_rows_compiled
    from tally._csv_compiled import info_heads as _compiled_info_heads
    from tally._csv_compiled import metadata_stand_in as _metadata_stand_in
except ImportError:  # pragma: no cover - depends on the install
    _compiled_extract_lines = _compiled_info_heads = None
    _metadata_stand_in = None  # the metadata is parsed
    _filter_rows_compiled = _extract_rows_compiled = _KindsAdder = None
# the compiled forms quote as Python 3.11's csv module does (tally.tables picks csv_field so)
_csv_3_11 = _compiled_extract_lines is not None and csv_field.__name__ == "_csv_field_3_11"
_extract_lines = _compiled_extract_lines if _csv_3_11 else _extract_lines_py
_info_heads = _info_heads_compiled if _csv_3_11 else _info_heads_py


# ------------------------------------------------------------------------------------------
# the command


class _SkipSummary:
    """What was skipped: whole classifications, and single extractor entries of others.

    >>> summary = _SkipSummary()
    >>> summary.add(0, "11", "invalid JSON in annotations", whole=True)
    >>> summary.add(1, "12", "survey_extractor failed on task T1", whole=False)
    >>> print(summary.report(5))
    skipped 1 of 5 classifications; 1 more lost an extractor entry (their other entries were extracted):
      1 x invalid JSON in annotations (classification ids 11)
      1 x survey_extractor failed on task T1 (classification ids 12)
      (run with -vv to print each one, or --strict to stop at the first)
    """

    def __init__(self) -> None:  # a plain class: a dataclass costs every start ~1 ms to make
        self.counts: Counter[str] = Counter()
        self.ids: dict[str, list[str]] = {}  # the first SHOW_FIRST_IDS ids of each reason
        self.whole: set[int] = set()  # rows skipped whole
        self.partial: set[int] = set()  # rows that lost some entries

    def add(self, row_number: int, cid: str, reason: str, *, whole: bool) -> None:
        self.counts[reason] += 1
        (self.whole if whole else self.partial).add(row_number)
        ids = self.ids.setdefault(reason, [])
        if len(ids) < SHOW_FIRST_IDS:
            ids.append(cid)

    @property
    def rows(self) -> int:
        """How many rows had a problem (a row's entries all fail or not: whole xor partial)."""
        return len(self.whole) + len(self.partial)

    def report(self, total: int) -> str:
        """The summary printed at the end; ``total``: the classifications considered."""
        parts = []
        if self.whole:
            parts.append(f"skipped {len(self.whole)} of {total} classifications")
        if self.partial:
            n = len(self.partial)
            entries = "an extractor entry" if n == 1 else "extractor entries"
            parts.append(
                f"{n} more lost {entries}"
                if self.whole
                else f"{n} of {total} classifications lost {entries}"
            )
            parts[-1] += " (their other entries were extracted)"
        lines = ["; ".join(parts) + ":"]
        for reason, n in self.counts.most_common():
            more = ", ..." if n > len(self.ids[reason]) else ""
            lines.append(
                f"  {n} x {reason} (classification ids {', '.join(self.ids[reason])}{more})"
            )
        lines.append("  (run with -vv to print each one, or --strict to stop at the first)")
        return "\n".join(lines)


def _workflow_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def extract_file(
    classification_csv: str,
    extractor_config: str,
    *,
    output_dir: str = ".",
    output_name: str = "extractions",
    order: bool = False,
    cpu_count: int = 1,
    verbose: bool = False,
    hide_bar: bool = False,
    strict: bool = False,
) -> list[Path]:
    """Run the extractor config over the export; return the CSV files written, in config order."""
    plan = load_plan(extractor_config)
    base, _ = os.path.splitext(output_name)
    blocks = CsvBlocks(
        classification_csv, what="Panoptes classification export", block_bytes=BLOCK_BYTES
    )
    # (the pool ends, with the exit stack, after the outputs are written: see below)
    with scratch_dir(output_dir, "extract") as tmp, contextlib.ExitStack() as pool_end:
        header = blocks.header
        position = require_columns(
            header, REQUIRED_COLUMNS, path=blocks.path, what="Panoptes classification export"
        )
        layout = _Layout(
            path=str(blocks.path),
            width=len(header),
            info_index=tuple(position.get(name) for name in INFO_SOURCES),
            workflow=position["workflow_id"],
            version=position["workflow_version"],
            annotations=position["annotations"],
            metadata=position["metadata"],
            workflow_id=plan.workflow_id,
            versions=plan.versions,
            order=order,
            identity=blocks.identity,
        )
        kinds = ReadKinds(INFO_SOURCES)
        workflows_seen: Counter[str] = Counter()
        versions_seen: Counter[str] = Counter()
        summary = _SkipSummary()
        keys = plan.keys
        # one per chunk with rows, in input order: its job, part file and what the text is
        parts: list[tuple[BlockJob, str, GuessedText]] = []
        counts = [0 for _ in keys]
        stats = [ColumnStats() for _ in keys]
        total_rows = 0
        matched = 0
        unreadable = 0  # rows that never reached the workflow/version filter

        def bad_row(row_number: int, cid: str, reason: str, detail: str, whole: bool) -> None:
            if strict:
                raise InputError(
                    f"{blocks.path}: classification {cid} (data row {row_number + 1}): {reason}: {detail}"
                )
            if verbose:
                print(
                    f"skipped classification {cid}: {reason}: {detail} (data row {row_number + 1})",
                    file=sys.stderr,
                )
            summary.add(row_number, cid, reason, whole=whole)

        jobs_sent: deque[BlockJob] = deque()  # in the order their results come back
        # A block whose text does not fit the layout of the blocks merged so far cannot fit the
        # final one (a layout only grows: columns are added, kinds widen): a worker extracts it
        # again now, guessed from the merged blocks, rather than this process after the last
        # block. (Chiefly the first blocks, sent before any result was back: see _block_sizes.)
        again_early: deque[int] = deque()  # indexes into parts, not sent yet
        sent_again: set[int] = set()  # indexes into parts
        layout_so_far: FinalLayout | None = None
        part_of: dict[int, int] = {}  # block index -> its position in parts
        blocks_merged = 0
        all_sent = False  # jobs() has ended: the pool is closed, its workers exit when done

        def guess_now() -> FormatGuess | None:
            # the stats of every block merged so far (results come back in input order)
            if not total_rows:
                return None
            info = ReadKinds(INFO_SOURCES)  # a snapshot of the kinds' flags (all a guess reads)
            info.merge(kinds)
            return FormatGuess(tuple(map(_copy_stats, stats)), info)

        def jobs() -> Iterator[BlockJob]:
            # made when a worker is about to need one, with the stats of the blocks before
            nonlocal all_sent
            spans = enumerate(blocks.spans(_block_sizes(cpu_count, lambda: total_rows > 0)))
            while True:
                while again_early:  # (before finding the next block's end, which takes a while)
                    job = parts[again_early.popleft()][0]._replace(guess=guess_now())
                    jobs_sent.append(job)
                    yield job
                span = next(spans, None)
                if span is None:
                    all_sent = True
                    return
                i, (offset, length) = span
                job = BlockJob(i, offset, length, guess_now())
                jobs_sent.append(job)
                yield job

        bar = progress_bar(
            "Extracting", total=blocks.size, unit="B", hide=hide_bar, unit_scale=True
        )
        with bar:
            bar.update(blocks.data_start)
            worker_setup = (plan.document, plan.no_version, tmp, layout)
            if cpu_count > 1:
                # Set up here, before the fork, and inherited: ~0.3 ms here rather than 1.3-2.3
                # ms in each fresh worker (cold caches), on the cores this process needs just
                # then to start the pool's threads and send the first jobs (the first block
                # starts ~2 ms sooner after the pool's start: medians of 10 and 12 runs)
                _init_worker(*worker_setup)
            # The map is left after its last result rather than run to its end, which ends the
            # pool: that waits for the workers to exit (3-6 ms), which they do meanwhile (the
            # pool is closed once every job is sent) while this process writes the outputs.
            extracted = ordered_map(
                _extract_block,
                jobs(),
                workers=cpu_count,
                initializer=_init_worker,
                initargs=worker_setup,
                busy=cpu_count + 1,
            )
            pool_end.enter_context(contextlib.closing(extracted))
            for block in extracted:
                result = block.chunk
                job = jobs_sent.popleft()
                last = all_sent and not jobs_sent
                if job.index < blocks_merged:  # extracted again early: only its text is new
                    position = part_of[job.index]
                    parts[position] = (parts[position][0], result.part, result.text)
                    if last:
                        break
                    continue
                blocks_merged += 1
                for row_number, cid, reason, detail, whole in result.skips:
                    bad_row(total_rows + row_number, cid, reason, detail, whole)
                for key_index, key_stats in enumerate(result.stats):
                    stats[key_index].merge(key_stats)
                    counts[key_index] += result.counts[key_index]
                kinds.merge(block.kinds)
                if result.part is not None:
                    assert result.text is not None
                    part_of[job.index] = len(parts)
                    parts.append((job, result.part, result.text))
                if cpu_count > 1 and parts:
                    _, so_far = _merged_layout(stats, kinds.kinds(), order)
                    # (a layout that changed may refuse texts that fitted it before)
                    suspects = range(len(parts)) if so_far != layout_so_far else [len(parts) - 1]
                    layout_so_far = so_far
                    for i in suspects:
                        if i not in sent_again and parts[i][2].fits(*so_far) is None:
                            sent_again.add(i)
                            again_early.append(i)
                workflows_seen.update(block.workflows)
                versions_seen.update(block.versions)
                total_rows += block.rows
                matched += block.matched
                unreadable += block.unreadable
                bar.update(block.size)
                # text, not numbers: tqdm would show 20000 as "2e+4"
                bar.set_postfix(
                    classifications=f"{matched:,}", skipped=f"{summary.rows:,}", refresh=False
                )
                if last:
                    break
        # (the loop above leaves the map at what it takes for the last result: if that were
        # ever wrong, the blocks still out would be missing from the outputs)
        if not all_sent or jobs_sent:
            raise RuntimeError(
                f"internal error: the extraction of {blocks.path} ended before every block came "
                "back; please report it"
            )
        if matched == 0:
            raise _no_match_error(blocks.path, total_rows, plan, workflows_seen, versions_seen)
        written = [Path(output_dir) / f"{key}_{base}.csv" for key in keys]
        _write_extract_csvs(
            written, keys, parts, stats, kinds.kinds(), order, cpu_count, worker_setup
        )
        for key, path, n in zip(keys, written, counts, strict=True):
            if n == 0:
                tasks = ", ".join(str(e["task"]) for e in plan.document["extractor_config"][key])
                print(
                    f"note: {key} produced no extracts (task {tasks}); {path.name} has only the header",
                    file=sys.stderr,
                )
    if summary.rows:
        print(f"tally extract: {summary.report(matched + unreadable)}", file=sys.stderr)
    return written


def _no_match_error(
    path: Path, total_rows: int, plan: ExtractPlan, workflows: Counter[str], versions: Counter[str]
) -> InputError:
    if total_rows == 0:
        return InputError(f"{path} has a header but no classification rows")
    if not versions:
        present = ", ".join(
            f"{w} ({n} rows)" for w, n in sorted(workflows.items(), key=lambda kv: -kv[1])[:20]
        )
        return InputError(
            f"no classifications of workflow {plan.workflow_id} in {path}; workflow ids present: {present}"
        )

    def version_key(item: tuple[str, int]) -> Any:
        try:
            return (0, WorkflowVersion.parse(item[0]))
        except TallyError:
            return (1, item[0])

    listed = sorted(versions.items(), key=version_key)
    present = ", ".join(f"{v} ({n} rows)" for v, n in listed[:30])
    if len(listed) > 30:
        present += f", ... ({len(listed)} versions)"
    return InputError(
        f"no classifications of workflow {plan.workflow_id} match workflow_version "
        f"{plan.versions.text} in {path}; versions present: {present}. Edit workflow_version in "
        "the extractor config (e.g. '16.55', '16' for every 16.x, or {min: '16.1', max: '17.2'})"
    )


def _block_sizes(
    workers: int, guessing: Callable[[], bool] = lambda: True
) -> Callable[[int, int], int] | None:
    """Block sizes for ``workers`` processes (None: every block ``CsvBlocks``' default).

    The first blocks are small, so that the layout guess (:class:`FormatGuess`) sent with the
    big ones has the columns of a block before them; so is every block sent while
    ``guessing()`` is false (no result back yet: a big block would have no guess, and its text
    would not fit). Towards the end blocks shrink with the bytes left, so that the workers
    finish together rather than one waiting for the other's last 4 MB.

    >>> size = _block_sizes(2)
    >>> [size(i, left) // 1024 for i, left in ((0, 50 << 20), (3, 50 << 20), (9, 10 << 20), (12, 3 << 20))]
    [256, 4096, 2560, 768]
    >>> _block_sizes(2, lambda: False)(3, 50 << 20) // 1024
    256
    """
    if workers <= 1:
        return None
    small, full = BLOCK_BYTES // 16, BLOCK_BYTES

    def size(index: int, left: int) -> int:
        if index <= workers or not guessing():
            return small
        return max(small, min(full, left // (2 * workers)))

    return size


def _copy_stats(stats: ColumnStats) -> ColumnStats:
    # a snapshot for a job: the pool pickles it in another thread while this one merges on
    return ColumnStats(stats.rows, dict(stats.flags), dict(stats.present))


def _layout_of(
    stats: list[ColumnStats], order: bool
) -> tuple[tuple[tuple[str, ...], ...], tuple[dict[str, str], ...]]:
    """Per extractor key: its data columns (without ``data.``), and their kinds.

    (Each block's worker and this process after each block take it: the file's headers,
    which only the end needs, are made from the columns there, by :func:`_merged_layout`.)

    >>> stats = ColumnStats()
    >>> stats.add({"b": 1, "choice": "x", "a": 1.5})
    >>> _layout_of([stats], False)
    ((('b', 'choice', 'a'),), ({'b': 'int', 'choice': 'object', 'a': 'float'},))
    >>> _layout_of([stats], True)[0]
    (('choice', 'a', 'b'),)
    """
    if order:
        columns = tuple(
            tuple(
                name[len(DATA_PREFIX) :]
                for name in order_columns(
                    [DATA_PREFIX + c for c in key_stats.columns()], front=("choice",)
                )
            )
            for key_stats in stats
        )
    else:
        columns = tuple(tuple(key_stats.columns()) for key_stats in stats)
    return columns, tuple(key_stats.kinds() for key_stats in stats)


def _merged_layout(
    stats: list[ColumnStats], info_kinds: Mapping[str, str], order: bool
) -> tuple[list[list[str]], FinalLayout]:
    """Per extractor key the header of the blocks merged into ``stats`` (and ``info_kinds``),
    and their layout: the final one once every block is merged."""
    columns, data_kinds = _layout_of(stats, order)
    headers = [
        [*EXTRACT_INFO_COLUMNS, *(DATA_PREFIX + c for c in key_columns)] for key_columns in columns
    ]
    source_kinds = tuple(info_kinds[name] for name in INFO_SOURCES)
    return headers, FinalLayout(columns, data_kinds, source_kinds)


def _write_extract_csvs(
    paths: list[Path],
    keys: list[str],
    parts: list[tuple[BlockJob, str, GuessedText]],
    stats: list[ColumnStats],
    info_kinds: Mapping[str, str],
    order: bool,
    cpu_count: int,
    worker_setup: tuple[Any, ...],
) -> None:
    """Write every extractor key's file from the chunks' texts, extracting the blocks whose
    guessed layout did not come true again (in parallel if many; ``worker_setup``: the
    workers' ``_init_worker`` arguments).

    A chunk holds all keys' rows, so each classification's info cells are formatted once.
    """
    headers, final = _merged_layout(stats, info_kinds, order)
    written: list[tuple[tuple[int, ...], tuple[int, ...]] | None] = []  # (lengths, extra cells)
    again: list[int] = []
    for i, (_, _, text) in enumerate(parts):
        extra = text.fits(*final)
        if extra is None:
            written.append(None)
            again.append(i)
        else:
            written.append((text.lengths, extra))
    if again:
        jobs = (parts[i][0]._replace(guess=None, final=final) for i in again)
        # a few small blocks (the first ones, guessed from less) are quicker here than in a pool
        again_bytes = sum(parts[i][0].length for i in again)
        workers = min(cpu_count, len(again)) if again_bytes > 2 * BLOCK_BYTES else 1
        redone = ordered_map(
            _extract_again, jobs, workers=workers, initializer=_init_worker, initargs=worker_setup
        )
        for i, lengths in zip(again, redone, strict=True):
            written[i] = (lengths, (0,) * len(keys))
    header_lines = [(",".join(map(csv_field, header)) + "\n").encode("utf-8") for header in headers]
    chunks = [pieces for pieces in written if pieces is not None]  # all of them by now
    # each file's size, known unless a chunk's lines get cells appended
    sizes = [
        None if any(extra[k] for _, extra in chunks) else len(line) + sum(n[k] for n, _ in chunks)
        for k, line in enumerate(header_lines)
    ]
    with contextlib.ExitStack() as stack:
        # Another thread removes each part once copied, while this one copies the next: the
        # kernel takes about as long to free a part's pages as to copy them, on a core that is
        # idle after the last block. (Entered first: it finishes while the files are closed.)
        copied = stack.enter_context(_removed_in_background())
        files = [
            stack.enter_context(atomic_binary_file(path, size))
            for path, size in zip(paths, sizes, strict=True)
        ]
        for f, line in zip(files, header_lines, strict=True):
            f.write(line)
        for (_, part, _), done in zip(parts, written, strict=True):
            assert done is not None
            lengths, extra = done
            with open(part, "rb") as source:
                start = 0
                for f, length, cells in zip(files, lengths, extra, strict=True):
                    if cells:
                        piece = os.pread(source.fileno(), length, start)
                        f.write(piece.replace(b"\n", b"," * cells + b"\n"))
                    else:  # as it is: copied by the kernel where it can
                        append_span(f, source.fileno(), start, length)
                    start += length
            copied.put(part)


@contextlib.contextmanager
def _removed_in_background() -> Iterator[queue.SimpleQueue[str]]:
    """A queue of files that another thread removes, all of them by the end of the block.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "part")
    ...     open(path, "wb").close()
    ...     with _removed_in_background() as files:
    ...         files.put(path)
    ...     os.path.exists(path)
    False
    """
    files: queue.SimpleQueue[str | None] = queue.SimpleQueue()

    def remove() -> None:
        while (path := files.get()) is not None:
            with contextlib.suppress(OSError):  # (the scratch directory's removal takes it)
                os.unlink(path)

    remover = threading.Thread(target=remove, name="tally-remove-parts", daemon=True)
    remover.start()
    try:
        yield files  # type: ignore[misc]
    finally:
        files.put(None)
        remover.join()
