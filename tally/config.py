"""``tally config``: workflow export -> extractor, reducer and task-label YAML configs.

A drop-in for ``panoptes_aggregation config``: same arguments, file names
(``Extractor_config_workflow_<id>_V<version>.yaml``,
``Reducer_config_workflow_<id>_V<version>_<extractor_key>.yaml``,
``Task_labels_workflow_<id>_V<version>.yaml``) and YAML text (PyYAML, keys sorted, block style,
indent 4, as the reference writes them). The configuration itself comes from
:func:`core.workflow_config.build_config`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import yaml

from core.errors import WorkflowConfigError, WorkflowVersionError
from core.workflow_config import WorkflowConfig, build_config
from tally.errors import InputError
from tally.tables import CsvSource, require_columns

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["read_workflow_rows", "write_configs"]

REQUIRED_COLUMNS = ("workflow_id", "version", "minor_version", "tasks", "strings")


def read_workflow_rows(path: str) -> list[dict[str, str]]:
    with CsvSource(path, what="Panoptes workflow export") as source:
        header = source.header
        require_columns(header, REQUIRED_COLUMNS, path=source.path, what="Panoptes workflow export")
        rows = []
        for row in source:
            if len(row) != len(header):
                raise InputError(
                    f"{source.path}, line {source.line_number}: {len(row)} fields where the header "
                    f"has {len(header)}"
                )
            rows.append(dict(zip(header, row, strict=True)))
    if not rows:
        raise InputError(f"{path} has a header but no workflow rows")
    return rows


def dump_yaml(document: Any, path: Path) -> None:
    """Write ``document`` exactly as the reference does (sorted keys, block style, indent 4)."""
    with open(path, "w", encoding="utf-8") as stream:
        yaml.dump(document, stream=stream, default_flow_style=False, indent=4)


def write_configs(
    workflow_csv: str,
    workflow_id: int,
    *,
    version: str | None = None,
    min_version: str | None = None,
    max_version: str | None = None,
    keywords: dict[str, Any] | None = None,
    output_dir: str = ".",
    verbose: bool = False,
) -> list[Path]:
    """Build the configs for ``workflow_id`` and write them into ``output_dir``; return the paths."""
    rows = read_workflow_rows(workflow_csv)
    try:
        config = build_config(
            rows,
            workflow_id,
            version=version,
            min_version=min_version,
            max_version=max_version,
            keywords=keywords or {},
        )
    except WorkflowVersionError:
        raise  # its message lists the ids or versions the export holds
    except WorkflowConfigError as exc:  # a cell of the export: name the file too
        raise InputError(f"{workflow_csv}: {exc}") from None
    for note in config.notes:  # a skipped part of the workflow is worth a word even without -vv
        print(f"tally config: warning: {workflow_csv}: {note}", file=sys.stderr)
    if verbose:
        if version is None and min_version is None and max_version is None:
            print(
                f"tally config: warning: no workflow version was specified, defaulting to version "
                f"{config.version_label}",
                file=sys.stderr,
            )
        elif len(config.matched_versions) > 1:
            print(
                f"tally config: warning: a workflow version range was specified "
                f"({', '.join(config.matched_versions)}); the configuration is based on "
                f"{config.version_label}",
                file=sys.stderr,
            )
    _check_keyword_tasks(keywords or {}, config)
    labels = {
        config.extractor_file_name: "Extractor config",
        config.task_labels_file_name: "task key look up table",
    }
    # Every file is written before anything is printed: a closed stdout (`| head`) must not
    # leave the set half written.
    written = []
    for name, document in config.files().items():
        path = Path(os.path.abspath(output_dir)) / name
        dump_yaml(document, path)
        written.append(path)
    for path in written:
        print(f"Saving {labels.get(path.name, 'Reducer config')} to:\n{path}")
        if path.name != config.task_labels_file_name:
            print()
    return written


def _check_keyword_tasks(keywords: Mapping[str, Any], config: WorkflowConfig) -> None:
    """Refuse ``-k`` keywords for a task no extractor entry covers (they would be dropped), and
    keywords that set another ``task`` (they would move the task's entries to that task).

    >>> rows = [{"workflow_id": "1", "version": "2", "minor_version": "3",
    ...          "tasks": '{"T0": {"type": "single", "answers": []}}', "strings": "{}"}]
    >>> _check_keyword_tasks({"T1": {"a": 1}}, build_config(rows, 1))
    Traceback (most recent call last):
    tally.errors.InputError: -k/--keywords names task T1, but no extractor of workflow 1 version 2.3 reads it (configured tasks: T0); check the task id in the workflow's tasks
    >>> _check_keyword_tasks({"T0": {"task": "T1"}}, build_config(rows, 1))
    Traceback (most recent call last):
    tally.errors.InputError: -k/--keywords for task T0 sets 'task' to 'T1': the keywords are added to task T0's extractor entries and cannot move them to another task; drop 'task' from them (to configure task T1, key the keywords by it: '{"T1": {...}}')
    """
    for task, extra in keywords.items():
        # the keywords are merged into the task's entries: a "task" key would move them to
        # another task (the reference writes that config, which then extracts the wrong task)
        if isinstance(extra, Mapping) and "task" in extra and str(extra["task"]) != str(task):
            raise InputError(
                f"-k/--keywords for task {task} sets 'task' to {extra['task']!r}: the keywords "
                f"are added to task {task}'s extractor entries and cannot move them to another "
                f"task; drop 'task' from them (to configure task {extra['task']}, key the "
                f"keywords by it: '{{\"{extra['task']}\": {{...}}}}')"
            )
    configured = {
        str(entry.get("task"))
        for entries in config.extractor_config["extractor_config"].values()
        for entry in entries
    }
    unused = [task for task in keywords if task not in configured]
    if unused:
        raise InputError(
            f"-k/--keywords names task {', '.join(unused)}, but no extractor of workflow "
            f"{config.workflow_id} version {config.version_label} reads it (configured tasks: "
            f"{', '.join(sorted(configured)) or 'none'}); check the task id in the workflow's tasks"
        )
