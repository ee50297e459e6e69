"""``pluck_field`` (Caesar's ``PluckFieldExtractor``): copy fields of the classification into an
extract, each chosen by a JSONPath.

The paths are read over Caesar's ``prepare`` document (``core.extractors._caesar.prepare``)::

    {"id", "project_id", "workflow_id", "workflow_version", "subject_id", "user_id",
     "annotations": {task: [annotation, ...]}, "metadata": {...},
     "subject": {"id", "metadata", "created_at", "updated_at"}, "created_at", "updated_at"}

JSONPath subset (what Caesar configs use), checked when the config is loaded:

==================  ================================================================
``$``               the whole document
``.name``           a key (any characters but ``.``, ``[``, ``]`` and spaces)
``['name']``        a key, quoted (``"..."`` too): for keys with dots or spaces
``[n]``             the n-th element of an array, from 0; negative counts from the end
``[*]``, ``.*``     every element of an array, or every value of an object
``['a','b']``       several keys (or ``[0,2]`` several indexes), in that order
==================  ================================================================

Recursive descent (``..``), slices and filters (``?()``) are rejected with an error.

>>> compile_path("$.subject.metadata['#ra']")
('subject', 'metadata', '#ra')
>>> evaluate(compile_path("$.a[*].b"), {"a": [{"b": 1}, {"c": 2}, {"b": None}]})
[1, None]
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from core.classification import Classification
from core.errors import InvalidParameterError
from core.extractors._caesar import prepare
from core.params import Params, field_with
from core.registry import extractor

__all__ = ["PluckFieldParams", "compile_path", "evaluate", "pluck_field"]

_NAME = "pluck_field"
WILDCARD = "*"

_DOT_NAME = re.compile(r"\.([^.\[\]\s]+)")
_BRACKET = re.compile(r"\[([^\]]*)\]")
_INDEX = re.compile(r"-?\d+")


def _selectors(inside: str, path: str) -> tuple:
    parts = []
    for raw in inside.split(","):
        part = raw.strip()
        if part == WILDCARD:
            parts.append(WILDCARD)
        elif len(part) >= 2 and part[0] == part[-1] and part[0] in "'\"":
            parts.append(part[1:-1])
        elif _INDEX.fullmatch(part):
            parts.append(int(part))
        else:
            raise ValueError(
                f"unsupported selector [{inside}] in {path!r}: use [n], [*] or ['key'] "
                "(slices and filters are not supported)"
            )
    return tuple(parts)


def compile_path(path: str) -> tuple:
    """Parse ``path`` into segments: a key (str), an index (int), ``'*'``, or a tuple of keys or
    indexes. Raises ValueError on syntax outside the subset."""
    if not isinstance(path, str) or not path.startswith("$"):
        raise ValueError(f"a path must start with '$', got {path!r}")
    segments: list[Any] = []
    position = 1
    while position < len(path):
        rest = path[position:]
        if rest.startswith(".."):
            raise ValueError(f"recursive descent '..' is not supported, in {path!r}")
        if rest.startswith(".*"):
            segments.append(WILDCARD)
            position += 2
            continue
        match = _DOT_NAME.match(rest)
        if match:
            segments.append(match.group(1))
            position += match.end()
            continue
        match = _BRACKET.match(rest)
        if match:
            selectors = _selectors(match.group(1), path)
            segments.append(selectors[0] if len(selectors) == 1 else selectors)
            position += match.end()
            continue
        raise ValueError(f"cannot read {path!r} at {rest!r}")
    return tuple(segments)


def _step(node: Any, selector: Any) -> list[Any]:
    if selector == WILDCARD and not isinstance(selector, int):
        if isinstance(node, Mapping):
            return list(node.values())
        return list(node) if isinstance(node, list) else []
    if isinstance(selector, int):
        if isinstance(node, list) and -len(node) <= selector < len(node):
            return [node[selector]]
        return []
    if isinstance(node, Mapping) and selector in node:
        return [node[selector]]
    return []


def evaluate(segments: tuple, document: Any) -> list[Any]:
    """Every value the compiled path matches in ``document``, in document order."""
    nodes = [document]
    for segment in segments:
        selectors = segment if isinstance(segment, tuple) else (segment,)
        nodes = [found for node in nodes for s in selectors for found in _step(node, s)]
    return nodes


class PluckFieldParams(Params):
    """Keywords of ``pluck_field``.

    field_map
        ``{name: JSONPath}``: each name becomes a key of the extract, with the value the path
        finds (required, at least one entry).
    if_missing
        What a path that finds nothing does: ``error`` (default; the classification is rejected,
        as Caesar's extraction fails), ``ignore`` (the name gets null) or ``reject`` (no extract
        at all for this classification).
    """

    field_map: Mapping[str, str] | None = None
    if_missing: str = field_with("error", choices=("error", "ignore", "reject"))

    def __post_init__(self) -> None:
        if not self.field_map:
            raise InvalidParameterError(
                f"{_NAME}: 'field_map' is required: {{name: JSONPath}}, e.g. "
                "field_map: {ra: $.subject.metadata.ra}"
            )
        if self.if_missing not in ("error", "ignore", "reject"):
            raise InvalidParameterError(
                f"{_NAME}: 'if_missing' must be one of 'error', 'ignore', 'reject', "
                f"got {self.if_missing!r}"
            )
        compiled = {}
        for name, path in self.field_map.items():
            try:
                compiled[name] = compile_path(path)
            except ValueError as exc:
                raise InvalidParameterError(f"{_NAME}: field_map[{name!r}]: {exc}") from None
        object.__setattr__(self, "_compiled", compiled)

    @property
    def compiled(self) -> dict[str, tuple]:
        return self._compiled  # type: ignore[attr-defined]


@extractor(_NAME, params=PluckFieldParams)
def pluck_field(classification: Classification, params: PluckFieldParams) -> dict[str, Any] | list:
    """``{name: value found at the name's JSONPath}`` for every entry of ``field_map``.

    One match gives (a copy of) the value itself, null included when the key is there with a
    null; several matches give the list of them, in document order. A path that matches nothing
    follows ``if_missing``: ``error`` raises, ``ignore`` gives null, ``reject`` gives no
    extract (an empty list, which the engine and ``tally extract`` read as "no extract": Caesar's
    NoData).

    Parameters
    ----------
    classification : Classification
        Its ``user_id`` and ``context`` (subject, workflow, times) fill the ``prepare`` document.
    params : PluckFieldParams

    Raises
    ------
    AnnotationParseError
        ``if_missing: error`` and a path found nothing; the message names the path.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T0", "value": "Yes"}], {"session": "ab"},
    ...     classification_id=5, context={"subject": {"id": 9, "metadata": {"#ra": 12.5}}})
    >>> p = PluckFieldParams(field_map={"answer": "$.annotations.T0[0].value",
    ...                                  "ra": "$.subject.metadata['#ra']"})
    >>> pluck_field(c, p)
    {'answer': 'Yes', 'ra': 12.5}
    >>> pluck_field(c, PluckFieldParams(field_map={"x": "$.metadata.nope"}, if_missing="ignore"))
    {'x': None}
    >>> pluck_field(c, PluckFieldParams(field_map={"x": "$.metadata.nope"}, if_missing="reject"))
    []
    """
    document = prepare(classification)
    out: dict[str, Any] = {}
    for name, segments in params.compiled.items():
        found = evaluate(segments, document)
        if not found:
            if params.if_missing == "reject":
                return []
            if params.if_missing == "error":
                raise classification.error(
                    f"{_NAME}: {params.field_map[name]!r} (field {name!r}) matches nothing; "
                    "set if_missing: ignore or reject to accept that"
                )
            out[name] = None
        else:
            out[name] = copy.deepcopy(found[0] if len(found) == 1 else found)
    return out
