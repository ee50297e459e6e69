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
from pathlib import Path
from typing import Any

import yaml

from core.workflow_config import build_config
from tally.errors import InputError
from tally.tables import CsvSource, require_columns

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
    config = build_config(
        rows,
        workflow_id,
        version=version,
        min_version=min_version,
        max_version=max_version,
        keywords=keywords or {},
    )
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
    written = []
    labels = {
        config.extractor_file_name: "Extractor config",
        config.task_labels_file_name: "task key look up table",
    }
    for name, document in config.files().items():
        path = Path(os.path.abspath(output_dir)) / name
        dump_yaml(document, path)
        print(f"Saving {labels.get(name, 'Reducer config')} to:\n{path}")
        if name != config.task_labels_file_name:
            print()
        written.append(path)
    return written
