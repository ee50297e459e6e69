"""The task label table: the workflow's ``strings`` for the configured tasks, without help texts.

>>> strings = {
...     "T0.question": "Is there a cat?", "T0.help": "Look closely",
...     "T0.answers.0.label": "Yes", "T1.instruction": "Draw", "T10.question": "Not configured",
... }
>>> task_labels(strings, {}, {"question_extractor": [{"task": "T0"}, {"task": "T1"}]})
{'T0.question': 'Is there a cat?', 'T0.answers.0.label': 'Yes', 'T1.instruction': 'Draw'}

The reference matches task ids as string prefixes, so configuring ``T1`` also pulled in every
``T10...`` string; here a key belongs to the task named before its first ``.``
(see docs/compatibility.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.errors import WorkflowConfigError

__all__ = ["task_labels"]


def task_labels(
    strings: Mapping[str, Any],
    tasks: Mapping[str, Any],
    extractor_config: Mapping[str, Sequence[Mapping[str, Any]]],
) -> dict[str, Any]:
    """Label key -> text for every task in ``extractor_config``, in the order of ``strings``.

    Keys containing ``help`` are left out. Dropdown option labels
    (``<task>.selects.<i>.options.<group>.<j>.label``) become ``{option value: label}``, the value
    being the option's ``value`` in ``tasks``.

    Examples
    --------
    >>> tasks = {"T0": {"type": "dropdown", "selects": [
    ...     {"options": {"*": [{"label": "T0.selects.0.options.*.0.label", "value": "a1b2"}]}}]}}
    >>> task_labels({"T0.selects.0.options.*.0.label": "Oak"}, tasks,
    ...             {"dropdown_extractor": [{"task": "T0"}]})
    {'T0.selects.0.options.*.0.label': {'a1b2': 'Oak'}}
    """
    task_ids = {
        str(entry.get("task")) for entries in extractor_config.values() for entry in entries
    }
    labels = {
        key: value
        for key, value in strings.items()
        if key.split(".", 1)[0] in task_ids and "help" not in key
    }
    for entry in extractor_config.get("dropdown_extractor", ()):
        task_id = str(entry.get("task"))
        prefix = f"{task_id}.selects"
        for key in [k for k in labels if k.startswith(prefix)]:
            option_value = _dropdown_option_value(tasks, key)
            if option_value is not None:
                labels[key] = {option_value: labels[key]}
    return labels


def _dropdown_option_value(tasks: Mapping[str, Any], key: str) -> Any:
    """The ``value`` of the option a dropdown label key names, or None for other ``selects`` keys."""
    parts = key.split(".")
    if len(parts) != 7 or parts[1] != "selects" or parts[3] != "options":
        return None  # e.g. a select's title: left as text (the reference stops with a ValueError)
    task_id, _, select_index, _, group, option_index, _ = parts
    try:
        select = tasks[task_id]["selects"][int(select_index)]
        return select["options"][group][int(option_index)]["value"]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise WorkflowConfigError(
            f"dropdown label {key!r} names no option with a 'value' in task {task_id!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
