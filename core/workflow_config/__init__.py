"""Auto-configuration from a Panoptes workflow export (``panoptes_aggregation config``'s output).

Pure: rows in (dicts of the workflow export CSV's columns), plain data out; the CLI writes the
YAML files. The pieces:

* :func:`select_workflow_version` picks the export row (``-v``, ``--min_version``,
  ``--max_version``; highest matching version, compared number by number);
* :func:`workflow_extractor_config` maps tasks and drawing tools to extractor entries;
* :func:`workflow_reducer_configs` gives each extractor key its default reducer;
* :func:`task_labels` keeps the configured tasks' strings;
* :func:`build_config` does all of it and returns a :class:`WorkflowConfig` whose ``files()``
  maps the reference's file names to their documents.

Deliberate differences from the reference (docs/compatibility.md): the ``details`` of tasks
sharing an extractor key are merged, not overwritten (issue #280); task labels match task ids
exactly, not as prefixes; a major-only ``max_version`` admits its whole major; ``strings`` is
parsed as JSON, never ``eval``'d.
"""

from core.workflow_config.build import WorkflowConfig, build_config, parse_json_column
from core.workflow_config.extractor_config import TYPE_TO_EXTRACTOR, workflow_extractor_config
from core.workflow_config.reducer_config import (
    DEFAULT_REDUCERS,
    default_reducer,
    workflow_reducer_configs,
)
from core.workflow_config.task_labels import task_labels
from core.workflow_config.versions import (
    VersionSelection,
    WorkflowVersion,
    parse_workflow_id,
    select_workflow_version,
)

__all__ = [
    "DEFAULT_REDUCERS",
    "TYPE_TO_EXTRACTOR",
    "VersionSelection",
    "WorkflowConfig",
    "WorkflowVersion",
    "build_config",
    "default_reducer",
    "parse_json_column",
    "parse_workflow_id",
    "select_workflow_version",
    "task_labels",
    "workflow_extractor_config",
    "workflow_reducer_configs",
]
