"""Everything ``panoptes_aggregation config`` writes, built from workflow export rows.

>>> rows = [{
...     "workflow_id": "10", "version": "16", "minor_version": "55",
...     "tasks": '{"T0": {"type": "single", "answers": [{"label": "T0.answers.0.label"}]}}',
...     "strings": '{"T0.answers.0.label": "Yes", "T0.help": ""}',
... }]
>>> config = build_config(rows, 10)
>>> for name, document in config.files().items():
...     print(name, document)
Extractor_config_workflow_10_V16.55.yaml {'workflow_id': 10, 'workflow_version': '16.55', 'extractor_config': {'question_extractor': [{'task': 'T0'}]}}
Reducer_config_workflow_10_V16.55_question_extractor.yaml {'reducer_config': {'question_reducer': {}}}
Task_labels_workflow_10_V16.55.yaml {'T0.answers.0.label': 'Yes'}
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping

from core.errors import WorkflowConfigError
from core.workflow_config.extractor_config import workflow_extractor_config
from core.workflow_config.reducer_config import workflow_reducer_configs
from core.workflow_config.task_labels import task_labels
from core.workflow_config.versions import parse_workflow_id, select_workflow_version

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

__all__ = ["WorkflowConfig", "build_config", "parse_json_column"]


class WorkflowConfig:
    """The three kinds of files ``panoptes_aggregation config`` writes, as plain data.

    Attributes
    ----------
    workflow_id
        The workflow configured.
    workflow_version
        What the extractor config records: ``'16.55'`` (no version asked for), the ``version``
        argument as given, or ``{'min': ..., 'max': ...}``.
    version_label
        The version the config was built from (the highest matching one), as in the file names.
    matched_versions
        Every version that matched the request, oldest first, as text.
    extractor_config
        The extractor file's document: ``{workflow_id, workflow_version, extractor_config}``.
    reducer_configs
        Extractor key -> the reducer file's document ``{reducer_config: {reducer: keywords}}``,
        keys sorted; the key is the file name's suffix.
    task_labels
        The task label file's document.
    notes
        Malformed parts of the workflow's ``tasks`` that were skipped or read as empty (where the
        reference stops with a bare exception), each starting with the workflow id and version.

    The reference writes each document with ``yaml.dump(document, default_flow_style=False,
    indent=4)`` (keys sorted, PyYAML's default).
    """

    def __init__(
        self,
        *,
        workflow_id: int,
        workflow_version: str | dict[str, str],
        version_label: str,
        matched_versions: tuple[str, ...],
        extractor_config: dict[str, Any],
        reducer_configs: dict[str, dict[str, Any]],
        task_labels: dict[str, Any],
        notes: tuple[str, ...] = (),
    ) -> None:
        self.workflow_id = workflow_id
        self.workflow_version = workflow_version
        self.version_label = version_label
        self.matched_versions = matched_versions
        self.extractor_config = extractor_config
        self.reducer_configs = reducer_configs
        self.task_labels = task_labels
        self.notes = notes

    @property
    def extractor_file_name(self) -> str:
        return f"Extractor_config_workflow_{self.workflow_id}_V{self.version_label}.yaml"

    def reducer_file_name(self, extractor_key: str) -> str:
        return (
            f"Reducer_config_workflow_{self.workflow_id}_V{self.version_label}_{extractor_key}.yaml"
        )

    @property
    def task_labels_file_name(self) -> str:
        return f"Task_labels_workflow_{self.workflow_id}_V{self.version_label}.yaml"

    @property
    def file_names(self) -> list[str]:
        """The reference's file names, in the order it writes them."""
        return list(self.files())

    def files(self) -> dict[str, dict[str, Any]]:
        """File name -> document, in the order the reference writes them."""
        files = {self.extractor_file_name: self.extractor_config}
        for key, document in self.reducer_configs.items():
            files[self.reducer_file_name(key)] = document
        files[self.task_labels_file_name] = self.task_labels
        return files


def parse_json_column(value: Any, column: str, where: str) -> Any:
    """A workflow export cell holding JSON (already-parsed values pass through, copied)."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError as exc:
            raise WorkflowConfigError(
                f"{where}: the {column!r} column is not valid JSON ({exc}); "
                f"starts with {value[:80]!r}"
            ) from exc
    if isinstance(value, Mapping | list):
        return copy.deepcopy(value)
    raise WorkflowConfigError(f"{where}: the {column!r} column must be JSON text, got {value!r}")


def build_config(
    rows: Sequence[Mapping[str, Any]],
    workflow_id: int | str,
    *,
    version: str | None = None,
    min_version: str | None = None,
    max_version: str | None = None,
    keywords: Mapping[str, Any] | None = None,
) -> WorkflowConfig:
    """Extractor, reducer and task-label configs for one workflow of a workflow export.

    Parameters
    ----------
    rows
        Workflow export rows as dicts of the CSV's columns; ``workflow_id``, ``version``,
        ``minor_version``, ``tasks`` and ``strings`` are read (``tasks`` and ``strings`` as JSON
        text or already parsed).
    workflow_id
        The workflow to configure.
    version, min_version, max_version
        Which versions the config covers; see :func:`~core.workflow_config.select_workflow_version`.
    keywords
        ``-k/--keywords``: task id -> keywords merged into that task's extractor entries, e.g.
        ``{"T0": {"dot_freq": "line"}}``.

    Raises
    ------
    WorkflowVersionError
        No row matches (the message lists what the export holds) or a version is malformed.
    WorkflowConfigError
        The chosen row's ``tasks`` or ``strings`` is not valid JSON, or the tasks cannot be
        configured; the message names the workflow id and version.
    """
    selection = select_workflow_version(
        rows, workflow_id, version=version, min_version=min_version, max_version=max_version
    )
    wid = parse_workflow_id(workflow_id)
    where = f"workflow {wid} version {selection.version}"
    tasks = parse_json_column(selection.row.get("tasks"), "tasks", where)
    notes: list[str] = []
    try:
        extractors = workflow_extractor_config(tasks, keywords=copy.deepcopy(keywords), notes=notes)
        reducers = workflow_reducer_configs(extractors)
    except WorkflowConfigError as exc:
        raise WorkflowConfigError(f"{where}: {exc}") from exc
    strings = parse_json_column(selection.row.get("strings"), "strings", where)
    if not isinstance(strings, Mapping):
        raise WorkflowConfigError(
            f"{where}: the 'strings' column must be a JSON object, got {strings!r}"
        )
    try:
        labels = task_labels(strings, tasks, extractors)
    except WorkflowConfigError as exc:
        raise WorkflowConfigError(f"{where}: {exc}") from exc
    return WorkflowConfig(
        workflow_id=wid,
        workflow_version=copy.deepcopy(selection.workflow_version),
        version_label=str(selection.version),
        matched_versions=tuple(str(v) for v in selection.matched),
        extractor_config={
            "workflow_id": wid,
            "workflow_version": copy.deepcopy(selection.workflow_version),
            "extractor_config": extractors,
        },
        reducer_configs={key: {"reducer_config": config} for key, config in reducers.items()},
        task_labels=labels,
        notes=tuple(f"{where}: {note}" for note in notes),
    )
