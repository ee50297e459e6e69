"""``tally config``: the parser (a drop-in for ``panoptes_aggregation config``).

The implementation (file names, YAML text) is in :mod:`tally.config`, imported when the
command runs.
"""

from __future__ import annotations

import argparse
import json

from tally.argtypes import writable_dir

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "config",
        help="make extractor and reducer configs from a workflow export",
        description=(
            "Make the configuration files for extraction and reduction from a Panoptes workflow "
            "export: Extractor_config_workflow_<id>_V<version>.yaml, one "
            "Reducer_config_workflow_<id>_V<version>_<extractor>.yaml per extractor and "
            "Task_labels_workflow_<id>_V<version>.yaml. The config is built from the highest "
            "matching workflow version."
        ),
    )
    parser.add_argument(
        "workflow_csv", help="the workflow export (CSV) from the project's Data Exports page"
    )
    parser.add_argument("workflow_id", type=_workflow_id, help="the workflow ID to configure")
    parser.add_argument(
        "-v",
        "--version",
        type=_workflow_version,
        help=(
            "the workflow version: a major version (e.g. 3) takes every 3.x, a full version "
            "(e.g. 3.14) only that one (default: the latest version)"
        ),
    )
    parser.add_argument(
        "--min_version",
        type=_workflow_version,
        help="lowest workflow version, inclusive (3 or 3.14); ignored when -v is given",
    )
    parser.add_argument(
        "--max_version",
        type=_workflow_version,
        help=(
            "highest workflow version, inclusive (3.14, or 3 for every 3.x); ignored when -v is given"
        ),
    )
    parser.add_argument(
        "-k",
        "--keywords",
        type=_json_object,
        default={},
        help=(
            "keywords added to a task's extractor entries, as JSON, e.g. "
            '\'{"T0": {"dot_freq": "line"}}\' (double quotes inside)'
        ),
    )
    parser.add_argument(
        "-d",
        "--dir",
        default=".",
        type=writable_dir,
        help="existing directory for the config files (default: .)",
    )
    parser.add_argument(
        "-vv", "--verbose", action="store_true", help="say which version the config was built from"
    )
    parser.set_defaults(run=run)


def _workflow_id(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer workflow ID, got {text!r}") from None


def _workflow_version(text: str) -> str:
    """A version as ``3`` or ``3.14``, kept as text (the configs record it as given)."""
    from core.errors import TallyError  # only when the option is given: start-up stays fast
    from core.workflow_config.versions import WorkflowVersion

    try:
        WorkflowVersion.parse(text)
    except TallyError:
        raise argparse.ArgumentTypeError(
            f"not a workflow version: {text!r}; expected MAJOR or MAJOR.MINOR, e.g. 3 or 3.14 "
            "(the version and minor_version columns of the workflow export)"
        ) from None
    return text


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(
            f'not valid JSON ({exc.msg}); write e.g. \'{{"T0": {{"dot_freq": "line"}}}}\''
        ) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object of task ids, got {text!r}")
    return value


def run(args: argparse.Namespace) -> int:
    from tally.config import write_configs

    write_configs(
        args.workflow_csv,
        args.workflow_id,
        version=args.version,
        min_version=args.min_version,
        max_version=args.max_version,
        keywords=args.keywords,
        output_dir=args.dir,
        verbose=args.verbose,
    )
    return 0
