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

from core.errors import WorkflowConfigError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

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
            if _is_option_label(key):
                labels[key] = {_dropdown_option_value(tasks, key): labels[key]}
    return labels


def _is_option_label(key: str) -> bool:
    """Whether ``key`` names a dropdown option's label (not, say, a select's title).

    >>> _is_option_label("T0.selects.0.options.*.1.label"), _is_option_label("T0.selects.0.title")
    (True, False)
    """
    parts = key.split(".")
    # a select's title is left as text (the reference stops with a ValueError)
    return len(parts) == 7 and parts[1] == "selects" and parts[3] == "options"


def _dropdown_option_value(tasks: Mapping[str, Any], key: str) -> Any:
    """The ``value`` of the option a dropdown option label key names (None when it is null)."""
    task_id, _, select_index, _, group, option_index, _ = key.split(".")
    try:
        select = tasks[task_id]["selects"][int(select_index)]
        value = select["options"][group][int(option_index)]["value"]
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise WorkflowConfigError(
            f"dropdown label {key!r} names no option with a 'value' in task {task_id!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    if isinstance(value, list | dict):  # cannot be a key of the label table
        raise WorkflowConfigError(
            f"task {task_id!r}: the 'value' of dropdown option {group!r} {option_index} of select "
            f"{select_index} must be text, a number or null, got {value!r}; fix the option in "
            f"the workflow's 'tasks' column"
        )
    return value
