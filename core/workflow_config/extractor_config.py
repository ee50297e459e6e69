"""Extractor configs from a workflow's ``tasks``, as ``panoptes_aggregation config`` writes them.

Each task type (and each drawing tool type) maps to one extractor key; a key's value is a list of
entries, one per task, in task order. Keys appear in the order they are first met.

>>> tasks = {
...     "T0": {"type": "single", "answers": []},
...     "T1": {"type": "drawing", "tools": [
...         {"type": "point", "details": [{"type": "single"}, {"type": "highlighter"}]},
...         {"type": "circle", "details": []},
...         {"type": "point", "details": []},
...     ]},
... }
>>> config = workflow_extractor_config(tasks, keywords={"T0": {"foo": 1}})
>>> for key, entries in config.items():
...     print(key, entries)
question_extractor [{'task': 'T0', 'foo': 1}]
point_extractor_by_frame [{'task': 'T1', 'tools': [0, 2], 'details': {'T1_tool0': ['question_extractor', None]}}]
shape_extractor_circle [{'task': 'T1', 'tools': [1], 'details': {}, 'shape': 'circle'}]
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from types import MappingProxyType

from core.errors import WorkflowConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ANNOTATE_CONFIG",
    "SHAKESPEARES_WORLD_CONFIG",
    "SHAKESPEARES_WORLD_TASKS",
    "TYPE_TO_EXTRACTOR",
    "workflow_extractor_config",
]

#: Task type or drawing tool type -> extractor. ``shape_extractor`` becomes
#: ``shape_extractor_<tool>`` (with ``shape: <tool>``) for a drawing tool. Types not listed
#: (combo, highlighter, transcription, temporal tools, ...) are skipped, as in the reference.
TYPE_TO_EXTRACTOR: Mapping[str, str] = MappingProxyType(
    {
        "single": "question_extractor",
        "multiple": "question_extractor",
        "shortcut": "shortcut_extractor",
        "dropdown": "dropdown_extractor",
        "survey": "survey_extractor",
        "point": "point_extractor_by_frame",
        "rectangle": "shape_extractor",
        "circle": "shape_extractor",
        "column": "shape_extractor",
        "ellipse": "shape_extractor",
        "fullWidthLine": "shape_extractor",
        "fullHeightLine": "shape_extractor",
        "line": "shape_extractor",
        "rotateRectangle": "shape_extractor",
        "triangle": "shape_extractor",
        "fan": "shape_extractor",
        "slider": "slider_extractor",
        "freehandLine": "polygon_extractor",
        "polygon": "polygon_extractor",
        "bezier": "bezier_extractor",
        "text": "text_extractor",
    }
)

#: A drawing tool of this type with exactly one detail, of type ``text``, is a transcription
#: tool: its task gets this extractor (which reads every mark of the task, so no ``tools``).
_TEXT_TOOL_EXTRACTOR = {"polygon": "poly_line_text_extractor", "line": "line_text_extractor"}

#: Shakespeare's World keeps its real workflow outside Panoptes; its export holds only this.
SHAKESPEARES_WORLD_TASKS = {"init": {"question": "init.question", "type": "single", "answers": []}}

SHAKESPEARES_WORLD_CONFIG: Mapping[str, list[dict[str, str]]] = MappingProxyType(
    {
        "question_extractor": [{"task": "T0"}, {"task": "T3"}],
        "sw_extractor": [{"task": "T2"}],
        "sw_variant_extractor": [{"task": "T2"}],
        "sw_graphic_extractor": [{"task": "T2"}],
    }
)

#: AnnoTate (first task's type contains ``annotate-``): Shakespeare's World without variants.
ANNOTATE_CONFIG: Mapping[str, list[dict[str, str]]] = MappingProxyType(
    {
        "question_extractor": [{"task": "T0"}, {"task": "T3"}],
        "sw_extractor": [{"task": "T2"}],
        "sw_graphic_extractor": [{"task": "T2"}],
    }
)


def workflow_extractor_config(
    tasks: Mapping[str, Any],
    keywords: Mapping[str, Any] | None = None,
    notes: list[str] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Extractor key -> list of per-task entries, for a workflow's parsed ``tasks``.

    Parameters
    ----------
    tasks
        The workflow's ``tasks`` column, parsed.
    keywords
        Task id -> extra keywords merged into (and overriding) each of that task's entries,
        e.g. ``{"T0": {"dot_freq": "line"}}``. Ignored for the Shakespeare's World and AnnoTate
        presets. Ids of tasks that are not configured are ignored.
    notes
        If given, a note is appended for each malformed part of ``tasks`` that is left out or
        read as empty (a task or tool whose ``type`` is null or missing, ``tools: null``,
        ``details: null``, a detail that is not an object with a text ``type``), so a caller can
        say so; the reference stops with a bare exception on each of them.

    Entries of a drawing task are ``{task, tools, <keywords>, details, shape?}``: ``tools`` lists
    the indices of the task's tools that use this extractor, ``details`` maps ``<task>_tool<i>``
    to one sub-extractor (or None) per detail of tool ``i`` and is written even when empty. A
    polygon or line tool whose only detail is a text box gives a ``poly_line_text_extractor`` or
    ``line_text_extractor`` entry without ``tools``, which gets ``details: {}`` when the task has
    any other tool (as the reference writes it).

    Examples
    --------
    >>> transcription = {"T0": {"type": "drawing", "tools": [
    ...     {"type": "line", "details": [{"type": "text"}]},
    ...     {"type": "fan", "details": []}]}}
    >>> workflow_extractor_config(transcription, keywords={"T0": {"dot_freq": "line"}})
    {'line_text_extractor': [{'task': 'T0', 'dot_freq': 'line', 'details': {}}], 'shape_extractor_fan': [{'task': 'T0', 'tools': [1], 'dot_freq': 'line', 'details': {}, 'shape': 'fan'}]}
    >>> workflow_extractor_config({"T0": {"type": "annotate-transcribe"}})["sw_graphic_extractor"]
    [{'task': 'T2'}]
    """
    if not isinstance(tasks, Mapping):
        raise WorkflowConfigError(
            f"'tasks' must be a JSON object of task id -> task, got {tasks!r}"
        )
    keywords = _check_keywords(keywords)
    if tasks == SHAKESPEARES_WORLD_TASKS:
        return copy.deepcopy(dict(SHAKESPEARES_WORLD_CONFIG))
    if notes is None:
        notes = []
    task_types = {task_id: _task_type(task_id, task) for task_id, task in tasks.items()}
    first_type = task_types.get("T0")
    if isinstance(first_type, str) and "annotate-" in first_type:
        return copy.deepcopy(dict(ANNOTATE_CONFIG))

    config: dict[str, list[dict[str, Any]]] = {}
    for task_id, task in tasks.items():
        task_type = task_types[task_id]
        task_keywords = keywords.get(task_id, {})
        if task_type is None:
            notes.append(f"task {task_id!r} has 'type': null; skipped (no extractor configured)")
            continue
        if task_type == "drawing":
            entries = _drawing_entries(task_id, task, task_keywords, notes)
        elif task_type in TYPE_TO_EXTRACTOR:
            entries = {
                TYPE_TO_EXTRACTOR[task_type]: {"task": task_id, **copy.deepcopy(task_keywords)}
            }
        else:
            continue
        for key, entry in entries.items():
            config.setdefault(key, []).append(entry)
    return config


def _check_keywords(keywords: Mapping[str, Any] | None) -> Mapping[str, Mapping[str, Any]]:
    if keywords is None:
        return {}
    if not isinstance(keywords, Mapping):
        raise WorkflowConfigError(
            f"keywords must map task ids to keyword objects, e.g. {{'T0': {{'dot_freq': 'line'}}}}; got {keywords!r}"
        )
    for task_id, task_keywords in keywords.items():
        if not isinstance(task_keywords, Mapping):
            raise WorkflowConfigError(
                f"keywords for task {task_id!r} must be an object of keyword -> value, got {task_keywords!r}"
            )
    return keywords


def _task_type(task_id: str, task: Any) -> str | None:
    """The task's ``type``: text, or None for ``"type": null`` (skipped with a note)."""
    if not isinstance(task, Mapping) or "type" not in task:
        raise WorkflowConfigError(f"task {task_id!r} has no 'type': {task!r}")
    task_type = task["type"]
    if task_type is not None and not isinstance(task_type, str):
        raise WorkflowConfigError(
            f'task {task_id!r}: \'type\' must be text such as "single" or "drawing", '
            f"got {task_type!r}; fix the task in the workflow's 'tasks' column"
        )
    return task_type


def _tool_type(task_id: str, index: int, tool: Mapping[str, Any]) -> str | None:
    """The drawing tool's ``type``: text, or None when missing or null (skipped with a note)."""
    tool_type = tool.get("type")
    if tool_type is not None and not isinstance(tool_type, str):
        raise WorkflowConfigError(
            f"task {task_id!r} tool {index}: 'type' must be text such as \"point\" or "
            f"\"polygon\", got {tool_type!r}; fix the tool in the workflow's 'tasks' column"
        )
    return tool_type


def _tool_details(task_id: str, index: int, tool: Mapping[str, Any], notes: list[str]) -> list[Any]:
    details = tool.get("details")
    if details is None:  # FEM tools may omit it; the reference would stop with a KeyError
        if "details" in tool:  # an explicit null is not FEM's omission: say so
            notes.append(f"task {task_id!r} tool {index} has 'details': null; read as no details")
        return []
    if not isinstance(details, list):
        raise WorkflowConfigError(
            f"task {task_id!r} tool {index}: 'details' must be a list, got {details!r}"
        )
    return details


def _detail_extractor(
    task_id: str, index: int, position: int, detail: Any, notes: list[str]
) -> str | None:
    detail_type = detail.get("type") if isinstance(detail, Mapping) else None
    if not isinstance(detail_type, str):
        notes.append(
            f"task {task_id!r} tool {index} detail {position} is not an object with a text "
            f"'type' ({detail!r}); configured without a sub-extractor (null)"
        )
        return None
    return TYPE_TO_EXTRACTOR.get(detail_type)


def _text_tool_extractor(tool_type: Any, details: list[Any]) -> str | None:
    if tool_type not in _TEXT_TOOL_EXTRACTOR or len(details) != 1:
        return None
    detail = details[0]
    if isinstance(detail, Mapping) and detail.get("type") == "text":
        return _TEXT_TOOL_EXTRACTOR[tool_type]
    return None


def _drawing_entries(
    task_id: str, task: Mapping[str, Any], task_keywords: Mapping[str, Any], notes: list[str]
) -> dict[str, dict[str, Any]]:
    """Extractor key -> this drawing task's entry, keys in order of the first tool using them."""
    tools = task.get("tools")
    if tools is None:
        notes.append(
            f"drawing task {task_id!r} has no 'tools' (missing or null); nothing configured for it"
        )
        tools = []
    if not isinstance(tools, list):
        raise WorkflowConfigError(f"task {task_id!r}: 'tools' must be a list, got {tools!r}")
    template: dict[str, Any] = {"task": task_id, "tools": [], **task_keywords}
    if not isinstance(template["tools"], list):
        raise WorkflowConfigError(
            f"keywords for drawing task {task_id!r}: 'tools' must be a list, got {template['tools']!r}"
        )
    entries: dict[str, dict[str, Any]] = {}
    text_keys: list[str] = []
    has_other_tool = False
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping):
            raise WorkflowConfigError(f"task {task_id!r} tool {index} is not an object: {tool!r}")
        tool_type = _tool_type(task_id, index, tool)
        if tool_type is None:  # skipped whole: one note, none about its details
            notes.append(
                f"task {task_id!r} tool {index} has no 'type' (missing or null); skipped "
                f"(no extractor configured for it)"
            )
            continue
        details = _tool_details(task_id, index, tool, notes)
        text_key = _text_tool_extractor(tool_type, details)
        if text_key is not None:
            if text_key not in entries:
                entries[text_key] = {
                    k: copy.deepcopy(v) for k, v in template.items() if k != "tools"
                }
                text_keys.append(text_key)
            continue
        has_other_tool = True
        extractor = TYPE_TO_EXTRACTOR.get(tool_type)
        if extractor is None:
            continue
        shape = None
        if extractor == "shape_extractor":
            extractor, shape = f"shape_extractor_{tool_type}", tool_type
        entry = entries.get(extractor)
        if entry is None:
            entry = copy.deepcopy(template)
            entry["details"] = {}
            entries[extractor] = entry
        entry["tools"].append(index)
        if shape is not None:
            entry["shape"] = shape
        if details:
            entry["details"][f"{task_id}_tool{index}"] = [
                _detail_extractor(task_id, index, position, detail, notes)
                for position, detail in enumerate(details)
            ]
    if has_other_tool:
        for key in text_keys:
            entries[key]["details"] = {}
    return entries
