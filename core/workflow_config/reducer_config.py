"""Default reducer configs for an extractor config, one per extractor key (sorted by key).

>>> extractors = {
...     "question_extractor": [{"task": "T0"}],
...     "shape_extractor_circle": [{"task": "T1", "tools": [0], "details": {}, "shape": "circle"}],
... }
>>> workflow_reducer_configs(extractors)
{'question_extractor': {'question_reducer': {}}, 'shape_extractor_circle': {'shape_reducer_dbscan': {'shape': 'circle'}}}

Unlike the reference (issue #280), the ``details`` of every task sharing an extractor key are
kept. Their keys are prefixed by the task id, so the merged mapping is unambiguous:

>>> extractors = {"point_extractor_by_frame": [
...     {"task": "T0", "tools": [0], "details": {"T0_tool0": ["question_extractor"]}},
...     {"task": "T3", "tools": [1], "details": {"T3_tool1": ["text_extractor", None]}},
... ]}
>>> workflow_reducer_configs(extractors)["point_extractor_by_frame"]
{'point_reducer_dbscan': {'details': {'T0_tool0': ['question_reducer'], 'T3_tool1': ['text_reducer', None]}}}
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from types import MappingProxyType

from core.errors import WorkflowConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["DEFAULT_REDUCERS", "default_reducer", "workflow_reducer_configs"]

#: Extractor -> the reducer the reference configures for it.
DEFAULT_REDUCERS: Mapping[str, str] = MappingProxyType(
    {
        "question_extractor": "question_reducer",
        "shortcut_extractor": "shortcut_reducer",
        "dropdown_extractor": "dropdown_reducer",
        "survey_extractor": "survey_reducer",
        "point_extractor": "point_reducer",
        "point_extractor_by_frame": "point_reducer_dbscan",
        "rectangle_extractor": "rectangle_reducer",
        "sw_graphic_extractor": "rectangle_reducer",
        "line_text_extractor": "poly_line_text_reducer",
        "poly_line_text_extractor": "poly_line_text_reducer",
        "sw_extractor": "poly_line_text_reducer",
        "sw_variant_extractor": "sw_variant_reducer",
        "shape_extractor": "shape_reducer_dbscan",
        "polygon_extractor": "polygon_reducer",
        "bezier_extractor": "polygon_reducer",
        "slider_extractor": "slider_reducer",
        "text_extractor": "text_reducer",
    }
)

#: Entry keywords a reducer config inherits (in this order of precedence within an entry).
_SCALARS = ("dot_freq", "shape")


def default_reducer(extractor_key: str) -> str:
    """The reducer for an extractor config key; every ``shape_extractor_<tool>`` key -> ``shape_reducer_dbscan``.

    >>> default_reducer("shape_extractor_rotateRectangle"), default_reducer("bezier_extractor")
    ('shape_reducer_dbscan', 'polygon_reducer')
    """
    if "shape_extractor" in extractor_key:
        return DEFAULT_REDUCERS["shape_extractor"]
    try:
        return DEFAULT_REDUCERS[extractor_key]
    except KeyError:
        known = ", ".join(sorted(DEFAULT_REDUCERS))
        raise WorkflowConfigError(
            f"no default reducer for extractor {extractor_key!r}; extractors with one: {known}"
        ) from None


def workflow_reducer_configs(
    extractor_config: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, dict[str, dict[str, Any]]]:
    """Extractor key (sorted) -> ``{reducer name: keywords}``.

    Keywords: ``dot_freq: line`` for ``sw_extractor``; ``details`` (each sub-extractor replaced by
    its default reducer) merged over all of the key's entries; ``dot_freq`` and ``shape`` copied
    from the entries that have them. Two entries asking for different ``dot_freq`` or ``shape``
    (or different sub-extractors for one tool) cannot share one reducer config, so that raises
    :class:`~core.errors.WorkflowConfigError` instead of silently keeping the last one.
    """
    configs: dict[str, dict[str, dict[str, Any]]] = {}
    for key in sorted(extractor_config):
        reducer = default_reducer(key)
        kwargs: dict[str, Any] = {}
        # which task set each detail tool key / scalar keyword, for conflict messages
        detail_origin: dict[str, Any] = {}
        scalar_origin: dict[str, Any] = {}
        if key == "sw_extractor":
            kwargs["dot_freq"] = "line"
        for entry in extractor_config[key]:
            task = entry.get("task")
            details = entry.get("details")
            if details is not None and not isinstance(details, Mapping):
                raise WorkflowConfigError(
                    f"{key} entry for task {task!r}: 'details' must be an object of tool key -> "
                    f"list of extractor names, e.g. {{'{task}_tool0': ['question_extractor']}}, "
                    f"got {details!r}; check -k/--keywords for {task!r}"
                )
            if details:
                merged = kwargs.setdefault("details", {})
                for tool_key, sub_extractors in details.items():
                    reducers = _detail_reducers(key, task, tool_key, sub_extractors)
                    if tool_key in merged and merged[tool_key] != reducers:
                        raise _conflict(
                            key,
                            f"details[{tool_key!r}]",
                            detail_origin[tool_key],
                            task,
                            merged[tool_key],
                            reducers,
                        )
                    merged[tool_key] = reducers
                    detail_origin[tool_key] = task
            for name in _SCALARS:
                if name not in entry:
                    continue
                value = copy.deepcopy(entry[name])
                if name in scalar_origin and kwargs[name] != value:
                    raise _conflict(key, name, scalar_origin[name], task, kwargs[name], value)
                kwargs[name] = value
                scalar_origin[name] = task
        configs[key] = {reducer: kwargs}
    return configs


def _detail_reducers(key: str, task: Any, tool_key: str, sub_extractors: Any) -> list[str | None]:
    if not isinstance(sub_extractors, list):
        raise WorkflowConfigError(
            f"{key} entry for task {task!r}: details[{tool_key!r}] must be a list of extractor "
            f"names (or null), got {sub_extractors!r}"
        )
    reducers: list[str | None] = []
    for name in sub_extractors:
        if name is None:
            reducers.append(None)
        elif isinstance(name, str) and name in DEFAULT_REDUCERS:
            reducers.append(DEFAULT_REDUCERS[name])
        else:
            known = ", ".join(sorted(DEFAULT_REDUCERS))
            raise WorkflowConfigError(
                f"{key} entry for task {task!r}: no default reducer for sub-extractor {name!r} in "
                f"details[{tool_key!r}]; extractors with one: {known}"
            )
    return reducers


def _conflict(key: str, name: str, first: Any, second: Any, a: Any, b: Any) -> WorkflowConfigError:
    return WorkflowConfigError(
        f"tasks {first!r} and {second!r} both use {key} but need different reducer {name} "
        f"({a!r} vs {b!r}); one reducer config cannot hold both. Give both tasks the same value "
        f"(-k/--keywords) or configure and reduce them separately"
    )
