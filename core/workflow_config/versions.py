"""Workflow versions ("16.55") and choosing the workflow export row a config is built from.

Versions compare number by number, as ``packaging.version`` does in the reference, so ``14.55`` is
newer than ``14.6``, and a trailing ``.0`` changes nothing (``3`` equals ``3.0``).

>>> WorkflowVersion.parse("14.55") > WorkflowVersion.parse("14.6")
True
>>> str(max(WorkflowVersion.parse(v) for v in ["14.6", "14.55", "9.100"]))
'14.55'
>>> rows = [
...     {"workflow_id": "10", "version": "14", "minor_version": "55", "tasks": "{}"},
...     {"workflow_id": "10", "version": "14", "minor_version": "6", "tasks": "{}"},
...     {"workflow_id": "10", "version": "15", "minor_version": "2", "tasks": "{}"},
... ]
>>> chosen = select_workflow_version(rows, 10, version="14")
>>> str(chosen.version), chosen.workflow_version
('14.55', '14')
>>> select_workflow_version(rows, 10, version="16")
Traceback (most recent call last):
...
core.errors.WorkflowVersionError: workflow 10 has no version matching version '16' (every 16.x); versions in the export: 14.6, 14.55, 15.2
"""

from __future__ import annotations

import functools
import re

from core.errors import WorkflowVersionError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

__all__ = ["VersionSelection", "WorkflowVersion", "parse_workflow_id", "select_workflow_version"]

_VERSION_TEXT = re.compile(r"[vV]?(\d+(?:\.\d+)*)")


# The classes of this package are plain classes, not dataclasses: `tally config` would import
# dataclasses (and inspect) for them alone, about 10 ms of its start.


@functools.total_ordering
class WorkflowVersion:
    """A dotted release number such as ``16.55``; ordered numerically, trailing zeros ignored."""

    __slots__ = ("release",)

    def __init__(self, release: tuple[int, ...]) -> None:
        self.release = release

    @classmethod
    def parse(cls, text: Any) -> WorkflowVersion:
        """Read ``'3'``, ``'3.14'`` (or an int); anything else raises :class:`WorkflowVersionError`."""
        match = _VERSION_TEXT.fullmatch(str(text).strip())
        if match is None:
            raise WorkflowVersionError(
                f"not a workflow version: {text!r}; expected MAJOR or MAJOR.MINOR, e.g. '3' or '3.14'"
            )
        return cls(tuple(int(part) for part in match.group(1).split(".")))

    @classmethod
    def from_row(cls, major: Any, minor: Any) -> WorkflowVersion:
        """The version of a workflow export row, from its ``version`` and ``minor_version`` cells."""
        return cls.parse(f"{_cell_int(major, 'version')}.{_cell_int(minor, 'minor_version')}")

    @property
    def major(self) -> int:
        return self.release[0]

    @property
    def minor(self) -> int:
        return self.release[1] if len(self.release) > 1 else 0

    @property
    def is_major_only(self) -> bool:
        """True for ``'3'`` or ``'3.0'``: the reference then means every ``3.x``."""
        return self.minor == 0

    def _key(self) -> tuple[int, ...]:
        release = list(self.release)
        while len(release) > 1 and release[-1] == 0:
            release.pop()
        return tuple(release)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, WorkflowVersion):
            return NotImplemented
        return self._key() == other._key()

    def __lt__(self, other: WorkflowVersion) -> bool:
        return self._key() < other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __str__(self) -> str:
        return ".".join(str(part) for part in self.release)

    def __repr__(self) -> str:
        return f"WorkflowVersion({str(self)!r})"


class VersionSelection:
    """The workflow export row a config is built from, and how the request is recorded.

    Attributes
    ----------
    row
        The matching row with the highest version (the first such row if the export repeats it).
    version
        That row's version; ``str(version)`` is the ``V<version>`` in the reference's file names.
    workflow_version
        What the extractor config records as ``workflow_version``: the latest version as text when
        no version was asked for (``'16.55'``), the ``version`` argument as given (``'3'`` or
        ``'3.14'``), or ``{'min': ..., 'max': ...}`` with the bounds that were given.
    matched
        Every matching version, oldest first (more than one means a range was configured from its
        newest version; the CLI can say so).
    """

    __slots__ = ("matched", "row", "version", "workflow_version")

    def __init__(
        self,
        *,
        row: Mapping[str, Any],
        version: WorkflowVersion,
        workflow_version: str | dict[str, str],
        matched: tuple[WorkflowVersion, ...],
    ) -> None:
        self.row = row
        self.version = version
        self.workflow_version = workflow_version
        self.matched = matched


def parse_workflow_id(value: Any) -> int:
    """A workflow id as an int (the export's cells are text)."""
    try:
        text = str(value).strip()
        return int(text)
    except (TypeError, ValueError) as exc:
        raise WorkflowVersionError(f"not a workflow id: {value!r}; expected an integer") from exc


def _cell_int(value: Any, column: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = str(value).strip() if value is not None else ""
    if not text.isdigit():
        raise WorkflowVersionError(
            f"workflow export column {column!r} must hold a whole number, got {value!r}"
        )
    return int(text)


def _version_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def select_workflow_version(
    rows: Sequence[Mapping[str, Any]],
    workflow_id: int | str,
    version: str | None = None,
    min_version: str | None = None,
    max_version: str | None = None,
) -> VersionSelection:
    """Pick the workflow export row to configure from, with ``panoptes_aggregation config``'s rules.

    Parameters
    ----------
    rows
        Workflow export rows (``workflow_id``, ``version``, ``minor_version`` are read; cells may be
        text or ints).
    workflow_id
        The workflow to configure.
    version
        ``'3'`` (or ``'3.0'``) selects every ``3.x``; ``'3.14'`` selects exactly 3.14. When given,
        ``min_version`` and ``max_version`` are ignored, as the reference does.
    min_version, max_version
        Inclusive bounds, each ``MAJOR`` or ``MAJOR.MINOR``. A major-only ``max_version`` includes its
        whole major (``'3'`` admits 3.99); the reference's config step admitted only up to 3.0 there
        (see docs/compatibility.md).

    With no version arguments the latest version is used. Otherwise the highest matching version
    is used. Raises :class:`~core.errors.WorkflowVersionError` when nothing matches, listing the
    workflow ids (or that workflow's versions) present in the export.
    """
    wanted_id = parse_workflow_id(workflow_id)
    candidates: list[tuple[WorkflowVersion, int, Mapping[str, Any]]] = []
    ids_present: set[int] = set()
    for index, row in enumerate(rows):
        try:
            row_id = parse_workflow_id(row.get("workflow_id"))
        except WorkflowVersionError as exc:
            raise WorkflowVersionError(f"workflow export row {index + 1}: {exc}") from exc
        ids_present.add(row_id)
        if row_id != wanted_id:
            continue
        try:
            row_version = WorkflowVersion.from_row(row.get("version"), row.get("minor_version"))
        except WorkflowVersionError as exc:
            raise WorkflowVersionError(
                f"workflow export row {index + 1} (workflow {row_id}): {exc}"
            ) from exc
        candidates.append((row_version, index, row))

    if not candidates:
        present = ", ".join(str(i) for i in sorted(ids_present)) or "none (the export has no rows)"
        raise WorkflowVersionError(
            f"workflow {wanted_id} is not in the workflow export; workflow ids in the export: {present}"
        )

    workflow_version: str | dict[str, str]
    if version is None and min_version is None and max_version is None:
        accept = _accept_all
        workflow_version = ""  # filled in with the chosen version below
        wanted = "the latest version"
    elif version is None:
        workflow_version = {}
        bounds = []
        low = high = None
        if min_version is not None:
            workflow_version["min"] = _version_text(min_version)
            low = WorkflowVersion.parse(min_version)
            bounds.append(f"min_version {workflow_version['min']!r}")
        if max_version is not None:
            workflow_version["max"] = _version_text(max_version)
            high = WorkflowVersion.parse(max_version)
            whole = f" (every {high.major}.x included)" if high.is_major_only else ""
            bounds.append(f"max_version {workflow_version['max']!r}{whole}")
        accept = functools.partial(_in_range, low=low, high=high)
        wanted = " and ".join(bounds)
    else:
        workflow_version = _version_text(version)
        exact = WorkflowVersion.parse(version)
        if exact.is_major_only:
            accept = functools.partial(_whole_major, start=exact)
            wanted = f"version {workflow_version!r} (every {exact.major}.x)"
        else:
            accept = functools.partial(_equal, exact=exact)
            wanted = f"version {workflow_version!r}"

    matching = [c for c in candidates if accept(c[0])]
    if not matching:
        present = ", ".join(str(v) for v in sorted({c[0] for c in candidates}))
        raise WorkflowVersionError(
            f"workflow {wanted_id} has no version matching {wanted}; versions in the export: {present}"
        )
    # highest version; among equal versions the first row, as numpy's argmax picks
    best_version, _, best_row = max(matching, key=lambda c: (c[0], -c[1]))
    if workflow_version == "":
        workflow_version = str(best_version)
    return VersionSelection(
        row=best_row,
        version=best_version,
        workflow_version=workflow_version,
        matched=tuple(sorted(c[0] for c in matching)),
    )


def _accept_all(_: WorkflowVersion) -> bool:
    return True


def _equal(candidate: WorkflowVersion, *, exact: WorkflowVersion) -> bool:
    return candidate == exact


def _whole_major(candidate: WorkflowVersion, *, start: WorkflowVersion) -> bool:
    # the reference's [start, next major) test; for '3' or '3.0' that is every 3.x
    return start <= candidate and candidate.major == start.major


def _in_range(
    candidate: WorkflowVersion, *, low: WorkflowVersion | None, high: WorkflowVersion | None
) -> bool:
    if low is not None and candidate < low:
        return False
    if high is None:
        return True
    if high.is_major_only:
        return candidate.major <= high.major
    return candidate <= high
