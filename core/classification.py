"""The annotation model: one classification, its annotations grouped by task, its front end.

Panoptes exports store annotations as a list of objects, each with a top-level ``task``. Two
front ends write them differently:

* PFE (classifier v1): drawing marks carry ``tool``; mark subtasks are inline ``details``.
* FEM (classifier v2, ``metadata.classifier_version >= 2.0``): marks carry ``toolIndex``;
  subtask answers are separate annotations ``{"task": "T0.0.0", "markIndex": k, ...}``;
  the type is in ``taskType`` (API) or ``task_type`` (some CSV exports).

>>> c = Classification.from_export(
...     [{"task": "T0", "value": "Yes"}, {"task": "T1.0.0", "value": 1, "markIndex": 0}],
...     {"classifier_version": "2.0"},
...     classification_id=7,
... )
>>> c.is_fem
True
>>> [a["task"] for a in c.for_task("T1")]
['T1.0.0']
>>> Classification.from_export([{"value": 1}], {}, classification_id=8)
Traceback (most recent call last):
...
core.errors.AnnotationParseError: classification 8, annotation #0: annotation has no 'task' key; ...
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import AnnotationParseError

__all__ = ["Classification", "usual_classification", "version_tuple"]

_VERSION_PART = re.compile(r"\d+")


def version_tuple(text: Any) -> tuple[int, ...]:
    """Numeric parts of a version string, for semantic ordering (``'14.55' > '14.6'``).

    >>> version_tuple("14.55") > version_tuple("14.6")
    True
    >>> version_tuple("2.0.1")
    (2, 0, 1)
    >>> version_tuple(None)
    ()
    """
    if text is None:
        return ()
    return tuple(int(p) for p in _VERSION_PART.findall(str(text).split("+")[0]))


class _cached_property:  # noqa: N801 - named like the functools decorator it replaces
    """``functools.cached_property`` without its lock (Python 3.11 takes one per access).

    The batch extract asks every classification whether it is FEM, once: the lock was most of
    that. Computing a value twice, were two threads to race, is harmless (both are pure).
    """

    def __init__(self, func: Any) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)  # later reads find it there
        return value


@dataclasses.dataclass(frozen=True)
class Classification:
    """One volunteer's classification, ready for extractors.

    ``annotations`` maps each task id to its annotations, in export order. Annotations are the
    export's own dicts; extractors must treat them as read-only.
    """

    annotations: Mapping[str, Sequence[Mapping[str, Any]]]
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    classification_id: Any = None
    #: The classification's own ``gold_standard`` flag (Caesar/HTTP input only; exports lack it).
    gold_standard: Any = False
    #: The volunteer's Panoptes user id (None: anonymous or unknown), for Caesar's ``who``.
    user_id: Any = None
    #: The rest of Caesar's classification payload (``Classification#prepare``) when the caller
    #: knows it: ``project_id``, ``workflow_id``, ``workflow_version``, ``subject_id``,
    #: ``subject`` (``{id, metadata, created_at, updated_at}``), ``created_at``,
    #: ``updated_at``. Read by Caesar's ``pluck_field``; other extractors ignore it.
    context: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_export(
        cls,
        annotations: Any,
        metadata: Any = None,
        *,
        classification_id: Any = None,
        gold_standard: Any = False,
        user_id: Any = None,
        context: Mapping[str, Any] | None = None,
    ) -> Classification:
        """Group an export's annotation list by task, validating its shape."""
        if cls is Classification and context is None:
            # The usual export row (parsed JSON: plain lists and dicts), grouped without the
            # checks below, which alone raise.
            made = _usual_classification(
                Classification, annotations, metadata, classification_id, gold_standard, user_id
            )
            if made is not None:
                return made
        context = {} if context is None else context
        if metadata is None:
            metadata = {}
        if not isinstance(metadata, Mapping):
            raise AnnotationParseError(
                f"metadata must be a JSON object, got {type(metadata).__name__} {metadata!r:.80}",
                classification_id=classification_id,
            )
        if annotations is None:
            annotations = []
        if isinstance(annotations, Mapping):
            # Already grouped by task (the form Caesar and the HTTP API use).
            grouped: dict[str, list] = {}
            for task, items in annotations.items():
                if not isinstance(items, list):
                    raise AnnotationParseError(
                        f"annotations grouped by task must map task ids to lists, got {items!r:.80}",
                        classification_id=classification_id,
                        task=str(task),
                    )
                for index, annotation in enumerate(items):
                    if not isinstance(annotation, Mapping):
                        raise AnnotationParseError(
                            f"annotation must be a JSON object, got {annotation!r:.80}",
                            classification_id=classification_id,
                            task=str(task),
                            index=index,
                        )
                grouped[str(task)] = list(items)
            return cls(grouped, metadata, classification_id, gold_standard, user_id, context)
        if not isinstance(annotations, list):
            raise AnnotationParseError(
                "annotations must be a JSON list of objects with a 'task' key, "
                f"got {type(annotations).__name__} {annotations!r:.80}",
                classification_id=classification_id,
            )
        grouped = {}
        for index, annotation in enumerate(annotations):
            if not isinstance(annotation, Mapping):
                raise AnnotationParseError(
                    f"annotation must be a JSON object, got {annotation!r:.80}",
                    classification_id=classification_id,
                    index=index,
                )
            if "task" not in annotation:
                raise AnnotationParseError(
                    "annotation has no 'task' key; expected e.g. "
                    '{"task": "T0", "value": ...} as in a Panoptes classification export',
                    classification_id=classification_id,
                    index=index,
                )
            grouped.setdefault(str(annotation["task"]), []).append(annotation)
        return cls(grouped, metadata, classification_id, gold_standard, user_id, context)

    @_cached_property
    def classifier_version(self) -> tuple[int, ...]:
        """The front end's version; ``(1, 0)`` when the metadata does not say."""
        return version_tuple(self.metadata.get("classifier_version", "1.0")) or (1, 0)

    @_cached_property
    def is_fem(self) -> bool:
        """True for the newer front end (FEM, classifier version 2.0 or later; ``'2'`` counts)."""
        text = self.metadata.get("classifier_version", "1.0")
        if text.__class__ is str:  # an export holds a few versions: parse each once
            return _is_fem_text(text)
        return _is_fem_version(self.classifier_version)

    def for_task(self, task: str) -> list[Mapping[str, Any]]:
        """Every annotation of ``task``, including FEM subtask annotations ``task.i.j``.

        ``task='all'`` gives every annotation, task by task.
        """
        if task == "all":
            return [a for items in self.annotations.values() for a in items]
        return [
            a
            for key, items in self.annotations.items()
            if key.split(".", 1)[0] == task
            for a in items
        ]

    def error(self, reason: str, *, task: str | None = None, index: int | None = None):
        """An :class:`AnnotationParseError` naming this classification."""
        return AnnotationParseError(
            reason, classification_id=self.classification_id, task=task, index=index
        )


def _usual_classification_py(
    cls: type[Classification],
    annotations: Any,
    metadata: Any,
    classification_id: Any,
    gold_standard: Any,
    user_id: Any,
) -> Classification | None:
    """``Classification.from_export`` of the usual export row: a list of dicts, each with a
    ``task``, and a dict of metadata; None for anything else.

    Grouped in one loop without the ABC checks, and built without the frozen dataclass's
    __init__ (six object.__setattr__ calls): ~6 -> ~2 µs a classification; the compiled form
    (``core/_classification_compiled.pyx``) ~0.5 µs.

    >>> c = _usual_classification_py(Classification, [{"task": "T0", "value": 1}], {}, 7, False, None)
    >>> c.annotations, c.classification_id
    ({'T0': [{'task': 'T0', 'value': 1}]}, 7)
    >>> _usual_classification_py(Classification, [{"value": 1}], {}, 7, False, None) is None
    True
    """
    if annotations.__class__ is not list or metadata.__class__ is not dict:
        return None
    grouped: dict[str, list[Any]] = {}
    for annotation in annotations:
        if annotation.__class__ is not dict or "task" not in annotation:
            return None
        task = str(annotation["task"])
        items = grouped.get(task)
        if items is None:
            grouped[task] = [annotation]
        else:
            items.append(annotation)
    made = object.__new__(cls)
    object.__setattr__(
        made,
        "__dict__",
        {
            "annotations": grouped,
            "metadata": metadata,
            "classification_id": classification_id,
            "gold_standard": gold_standard,
            "user_id": user_id,
            "context": {},
        },
    )
    return made


try:  # setup.py builds it; optional, for machines without a C compiler
    from core._classification_compiled import usual_classification as _usual_classification
except ImportError:  # pragma: no cover - depends on the install
    _usual_classification = _usual_classification_py


def usual_classification(
    annotations: Any, metadata: Any, classification_id: Any
) -> Classification | None:
    """``Classification.from_export(annotations, metadata, classification_id=...)`` of the
    usual export row (a list of dicts, each with a ``task``, and a dict of metadata), None for
    anything else: a caller making one per row (the batch extract) then calls ``from_export``,
    which checks and raises. Saves ``from_export``'s keyword call.

    >>> usual_classification([{"task": "T0", "value": 1}], {}, 7).annotations
    {'T0': [{'task': 'T0', 'value': 1}]}
    >>> usual_classification({"T0": []}, {}, 7) is None  # (grouped already: from_export reads it)
    True
    """
    return _usual_classification(
        Classification, annotations, metadata, classification_id, False, None
    )


def _is_fem_version(version: tuple[int, ...]) -> bool:
    return version + (0,) * (2 - len(version)) >= (2, 0)


#: Release numbers followed by a pre-release or development suffix (PEP 440 spellings):
#: ``2.0b1``, ``2.0.dev0`` and ``2.0rc1`` come before ``2.0``, as ``packaging.version`` orders them.
_PRE_RELEASE = re.compile(
    r"\s*v?([\d.]*\d)[-_.]?(?:a|b|c|rc|alpha|beta|pre|preview|dev)(?![a-z])", re.I
)


@functools.lru_cache(maxsize=256)
def _is_fem_text(text: str) -> bool:
    """Whether a ``classifier_version`` text is 2.0 or later, as the reference decides it.

    >>> [_is_fem_text(v) for v in ("2.0", "2", "2.0.1", "1.0", "2.0b1", "2.0.dev0", "2.1rc1")]
    [True, True, True, False, False, False, True]
    """
    pre_release = _PRE_RELEASE.match(text)
    if pre_release is None:
        return _is_fem_version(version_tuple(text) or (1, 0))
    release = version_tuple(pre_release[1])
    # a pre-release of 2.0 is older than 2.0; one of 2.1 is newer
    return release + (0,) * (2 - len(release)) > (2, 0)
