"""Mark subtasks ("details") for the clustering reducers.

A drawing tool can ask follow-up questions about each mark. The extractor stores one answer
extract per mark; the clustering reducer then reduces, for every cluster, the answers given to
the marks in that cluster, with another registered reducer (``question_reducer`` and so on).
The two front ends use different layouts, chosen here by the extracts' ``classifier_version``:

* PFE (v1): param ``details = {"T0_tool0": ["question_reducer", None, ...]}`` (one entry per
  subtask, None for a subtask with no reducer). Each frame gets ``T0_tool0_details`` (every mark's
  list of subtask extracts, concatenated over extracts) and, when the tool has clusters,
  ``T0_tool0_clusters_details``: per cluster, per subtask, the reduction (or the text
  ``'No reducer for this subtask type'``).
* FEM (v2, ``classifier_version >= 2.0``): ``details = {"T0_toolIndex0_subtask0":
  "question_reducer"}``. Each frame gets ``T0_toolIndex0_subtask0`` (all marks' extracts) and
  ``T0_toolIndex0_subtask0_clusters`` (one reduction per cluster), and the reduction gets a
  top-level ``classifier_version``.

Extracts of both versions together get no subtask output at all. Clusters are visited in label
order; each subtask reducer sees the marks' user ids.

Where the reference's ``subtask_wrapper`` hits a ``ValueError`` (marks with different numbers of
subtask answers, or a subtask reducer rejecting its input) it stops and then deletes every empty
``[]`` entry from the frames' lists; :func:`_drop_empty_entries` reproduces that clean-up.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from core.errors import InvalidParameterError, MalformedExtractError
from core.reducers.question_reducer import count_answers, question_reducer
from core.reducers.shortcut_reducer import shortcut_reducer
from core.registry import ExtractRecord, get_reducer

__all__ = ["NO_REDUCER", "add_subtask_reductions", "counting_details"]

#: Placeholder the reference writes for a v1 subtask configured with no reducer.
NO_REDUCER = "No reducer for this subtask type"

_RELEASE = re.compile(r"^\s*v?(\d+(?:\.\d+)*)\s*$", re.IGNORECASE)


class _Abort(Exception):
    """Where the reference raised ValueError inside its subtask step."""


def _version(value: Any) -> tuple[int, ...] | None:
    """Release numbers of a classifier version (``'2.0'``, or ``2.0`` after a CSV round trip).

    >>> _version("2.0"), _version(2.0), _version(True), _version([1])
    ((2, 0), (2, 0), None, None)
    """
    try:
        return _parsed_version(value)
    except TypeError:  # unhashable
        return _parse_version(value)


@functools.lru_cache(maxsize=256, typed=True)  # typed: 1, 1.0 and True read differently
def _parsed_version(value: Any) -> tuple[int, ...] | None:
    return _parse_version(value)


def _parse_version(value: Any) -> tuple[int, ...] | None:
    match = _RELEASE.match(str(value))
    if match is None:
        return None
    return tuple(int(part) for part in match.group(1).split("."))


def _trimmed(release: tuple[int, ...]) -> tuple[int, ...]:
    """Release without trailing zeros, so ``(2,)``, ``(2, 0)`` and ``(2, 0, 0)`` compare equal."""
    end = len(release)
    while end > 1 and release[end - 1] == 0:
        end -= 1
    return release[:end]


def add_subtask_reductions(
    output: dict[str, Any],
    records: Sequence[ExtractRecord],
    details: Mapping[str, Any] | None,
    *,
    reducer: str,
) -> dict[str, Any]:
    """Add the subtask keys to ``output`` (``{frame: {key: list}}``, modified in place) and return it.

    ``reducer`` names the calling reducer for error messages.
    """
    if details is None:
        return output
    layout, releases = _layout(records)
    if layout == "v1":
        _add_v1(output, records, details, reducer=reducer)
    elif layout == "v2" and _add_v2(output, records, details, reducer=reducer):
        trimmed = [_trimmed(r) for r in releases]  # type: ignore[arg-type]
        best = max(range(len(releases)), key=lambda i: trimmed[i])
        output["classifier_version"] = ".".join(map(str, releases[best]))  # type: ignore[arg-type]
    return output


def _layout(records: Sequence[ExtractRecord]) -> tuple[str, list[tuple[int, ...] | None]]:
    """The subtask layout of ``records`` (``'v1'``, ``'v2'``, or ``''``: no subtask output),
    with each record's classifier version."""
    if not any("classifier_version" in r.data for r in records):
        return "v1", [(1, 0)] * len(records)  # every record's version is the default "1.0"
    releases = [_version(r.data.get("classifier_version", "1.0")) for r in records]
    if any(r is None for r in releases):
        return "", releases  # the reference's version parse fails; its clean-up changes nothing
    trimmed = [_trimmed(r) for r in releases]  # type: ignore[arg-type]
    if all(t == (1,) for t in trimmed):
        return "v1", releases
    if all(t >= (2,) for t in trimmed):
        return "v2", releases
    return "", releases  # both versions: no subtask output


#: Marks' subtask reducers whose per-cluster result is :func:`count_answers` (with their default
#: params, the only ones a subtask reducer gets; checked in :func:`counting_details`).
_COUNTING_NAMES = ("question_reducer", "shortcut_reducer")


def counting_details(
    records: Sequence[ExtractRecord], details: Mapping[str, Any] | None
) -> tuple[bool, dict[str, Any] | None]:
    """Whether :func:`add_subtask_reductions` would only count v1 answers (or add nothing):
    ``(True, details)``, ``(True, None)`` for no subtask output; ``(False, None)`` otherwise.

    A compiled reducer that counts answers itself (``_points_compiled.point_clusters``) runs
    only when this is True.

    >>> records = [ExtractRecord({"frame0": {}})]
    >>> counting_details(records, {"T0_tool0": ["question_reducer", None]})
    (True, {'T0_tool0': ['question_reducer', None]})
    >>> counting_details(records, None), counting_details(records, {"T0_tool0": ["slider_reducer"]})
    ((True, None), (False, None))
    """
    if details is None:
        return True, None
    if details.__class__ is not dict or not _counting_reducers_ready():
        return False, None
    for functions in details.values():
        if functions.__class__ not in (list, tuple):
            return False, None
        for name in functions:
            if name is not None and name not in _COUNTING_NAMES:
                return False, None
    layout, _ = _layout(records)
    if layout == "v1":
        return True, details
    return (True, None) if layout == "" else (False, None)


@functools.cache
def _counting_reducers_ready() -> bool:
    """Whether every reducer of :data:`_COUNTING_NAMES` is :func:`count_answers` by default."""
    for name in _COUNTING_NAMES:
        spec = get_reducer(name)
        if not _counts_only(spec, spec.parse_params({})):
            return False
    return True


def _collect(
    output: dict[str, Any],
    records: Sequence[ExtractRecord],
    keys: Sequence[str],
    *,
    reducer: str,
) -> dict[str, dict[str, list[Any]]]:
    """Concatenate each key's per-mark list over the extracts into every frame; return user ids."""
    user_ids: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for out_frame in output.values():
        for key in keys:
            out_frame.setdefault(key, [])
    for record in records:
        for frame_key, frame in record.data.items():
            out_frame = output.get(frame_key)
            if out_frame is None or not isinstance(frame, Mapping):
                continue
            for key in keys:
                if key in frame:
                    marks = frame[key]
                    if marks.__class__ is not list:
                        if not isinstance(marks, list | tuple):
                            raise MalformedExtractError(
                                f"{frame_key} {key} must be a list with one entry per mark, "
                                f"got {marks!r:.80}",
                                reducer=reducer,
                            )
                        marks = list(marks)
                    out_frame[key] += marks
                    user_ids[frame_key][key] += [record.user_id] * len(marks)
    return user_ids


def _add_v1(
    output: dict[str, Any],
    records: Sequence[ExtractRecord],
    details: Mapping[str, Any],
    *,
    reducer: str,
) -> None:
    keys = [f"{tool}_details" for tool in details]
    user_ids = _collect(output, records, keys, reducer=reducer)
    reducers = _SubtaskReducers(reducer)
    try:
        for frame_key, frame in output.items():
            for tool, functions in details.items():
                key = f"{tool}_details"
                marks = frame[key]
                shape = _shape(marks)
                labels_key = f"{tool}_cluster_labels"
                if labels_key not in frame:
                    continue
                labels = frame[labels_key]
                clusters = sorted(k for k in set(labels) if k > -1)
                if not clusters:
                    continue
                where = f"{frame_key} {key}"
                if len(shape) != 2 or shape[0] != len(labels):
                    # More answers than clustered marks: marks with a None/NaN coordinate are
                    # left out of clustering, but their answers are not (the reference stops
                    # there with an IndexError).
                    hint = (
                        "; marks with a missing (None/NaN) coordinate are not clustered, so "
                        "their subtask answers have no mark: fix or remove those marks"
                        if len(shape) == 2 and shape[0] > len(labels)
                        else ""
                    )
                    raise MalformedExtractError(
                        f"{where}: expected one list of subtask answers per mark "
                        f"({len(labels)} marks), got {shape[0] if shape else 0} "
                        f"({marks!r:.200}){hint}",
                        reducer=reducer,
                    )
                if isinstance(functions, str | bytes) or not isinstance(functions, Sequence):
                    raise InvalidParameterError(
                        f"{reducer}: details[{tool!r}] must be a list with one reducer name (or "
                        f"null) per subtask, got {functions!r}"
                    )
                if shape[1] > len(functions):
                    raise InvalidParameterError(
                        f"{reducer}: details[{tool!r}] names {len(functions)} subtask reducers but "
                        f"the marks have {shape[1]} subtask answers"
                    )
                ids = user_ids[frame_key][key]
                members_of = _members(labels)
                for label in clusters:
                    members = members_of[label]
                    per_subtask: list[Any] = []
                    for column, name in enumerate(functions[: shape[1]]):
                        if name is None:
                            per_subtask.append(NO_REDUCER)
                            continue
                        answers = [marks[i][column] for i in members]
                        per_subtask.append(
                            reducers.reduce(name, answers, [ids[i] for i in members], where)
                        )
                    frame.setdefault(f"{tool}_clusters_details", []).append(per_subtask)
    except _Abort:
        _drop_empty_entries(output, reducer=reducer)


def _add_v2(
    output: dict[str, Any],
    records: Sequence[ExtractRecord],
    details: Mapping[str, Any],
    *,
    reducer: str,
) -> bool:
    """The FEM layout; False when the step was aborted (no ``classifier_version`` then)."""
    user_ids = _collect(output, records, list(details), reducer=reducer)
    reducers = _SubtaskReducers(reducer)
    try:
        for frame_key, frame in output.items():
            tools = list(dict.fromkeys("_".join(k.split("_")[:2]) for k in frame))
            for tool in tools:
                for subtask in (k for k in details if k.startswith(f"{tool}_")):
                    labels = frame.get(f"{tool}_cluster_labels")
                    if labels is None:
                        # No mark of this tool in the frame (the reference raises KeyError).
                        frame[f"{subtask}_clusters"] = []
                        continue
                    answers = frame[subtask]
                    clusters = sorted(k for k in set(labels) if k > -1)
                    if clusters and len(answers) != len(labels):
                        raise MalformedExtractError(
                            f"{frame_key} {subtask}: expected one subtask answer per mark "
                            f"({len(labels)} marks), got {len(answers)}",
                            reducer=reducer,
                        )
                    ids = user_ids[frame_key][subtask]
                    reduced = []
                    members_of = _members(labels)
                    for label in clusters:
                        members = members_of[label]
                        reduced.append(
                            reducers.reduce(
                                details[subtask],
                                [answers[i] for i in members],
                                [ids[i] for i in members],
                                f"{frame_key} {subtask}",
                            )
                        )
                    frame[f"{subtask}_clusters"] = reduced
    except _Abort:
        _drop_empty_entries(output, reducer=reducer)
        return False
    return True


def _shape(marks: list[Any]) -> tuple[int, ...]:
    """``np.shape(marks)`` (ValueError -> _Abort), without building an object array in the
    common case: every mark a list of the same number of answer dicts."""
    if marks and set(map(type, marks)) == {list}:
        widths = set(map(len, marks))
        if len(widths) == 1 and set(map(type, itertools.chain.from_iterable(marks))) <= {dict}:
            return (len(marks), widths.pop())
    try:
        return np.shape(marks)
    except ValueError as exc:  # marks with different numbers of subtask answers
        raise _Abort from exc


def _members(labels: Sequence[int]) -> dict[int, list[int]]:
    """Indices of each cluster's marks, in mark order."""
    members: dict[int, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        members[label].append(index)
    return members


class _SubtaskReducers:
    """Registered reducers by name, each with its default params, called on one cluster's answers."""

    def __init__(self, caller: str) -> None:
        self.caller = caller
        self.cache: dict[Any, tuple[Any, Any]] = {}

    def reduce(self, name: Any, answers: Sequence[Any], user_ids: Sequence[Any], where: str) -> Any:
        if name not in self.cache:
            if not isinstance(name, str):
                raise InvalidParameterError(
                    f"{self.caller}: subtask reducer names must be strings, got {name!r}"
                )
            spec = get_reducer(name)
            params = spec.parse_params({})
            self.cache[name] = (spec, params, _counts_only(spec, params))
        spec, params, counts_only = self.cache[name]
        for answer in answers:
            if answer.__class__ is not dict and not isinstance(answer, Mapping):
                raise MalformedExtractError(
                    f"{where}: subtask answers for {name} must be extract objects, got {answer!r:.80}",
                    reducer=self.caller,
                )
        if counts_only:  # the same counts, without a record per answer
            return count_answers(answers)
        batch = [ExtractRecord(data=a, user_id=u) for a, u in zip(answers, user_ids, strict=True)]
        try:
            return spec.func(batch, params)
        except ValueError as exc:  # the reference's subtask step stops on a ValueError
            raise _Abort from exc


def _counts_only(spec: Any, params: Any) -> bool:
    """Whether ``spec`` with ``params`` is :func:`count_answers` of the extracts' data."""
    return (
        spec.func in (question_reducer, shortcut_reducer)
        and not params.pairs
        and not params.track_user_ids
    )


def _drop_empty_entries(output: dict[str, Any], *, reducer: str) -> None:
    """The reference's clean-up after a ValueError in its subtask step, reproduced literally.

    It walks every frame's lists in order, collecting the positions of ``[]`` entries, and removes
    all positions collected so far from each list it visits (positions found in one key are also
    removed from the lists visited after it). Removing a position a list does not have fails in
    the reference with IndexError.
    """
    positions: list[int] = []
    for frame_key, frame in output.items():
        if not isinstance(frame, dict):
            continue
        for key, values in frame.items():
            if not isinstance(values, list):
                continue
            positions.extend(i for i, v in enumerate(values) if isinstance(v, list) and v == [])
            for i in reversed(positions):
                if i >= len(values):
                    raise MalformedExtractError(
                        f"{frame_key} {key}: marks with missing subtask answers cannot be dropped "
                        "consistently (the reference fails here with IndexError)",
                        reducer=reducer,
                    )
                values.pop(i)
