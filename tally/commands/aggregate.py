"""``tally aggregate``: the embedded incremental aggregator (one process, state in RocksDB).

Extracts and reduces a classification export in one pass with the same engine the Kafka workers
run, keeps its state in a local rocksdict database, and writes one reduction CSV per reducer
config in the ``tally reduce`` layout. Re-running on a newer export applies only the new
classifications.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.repeats import REPEAT_MODES
from tally.argtypes import existing_dir
from tally.errors import InputError

if TYPE_CHECKING:
    from stream.workflows import LoadedWorkflow

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "aggregate",
        help="extract + reduce incrementally in one process (embedded engine, local RocksDB)",
        description=(
            "Aggregate a classification export with the incremental engine, state in a local "
            "RocksDB directory, and write one reduction CSV per reducer config in the `tally "
            "reduce` layout (<reducer>_<extractor_key>_<output>.csv). Give either the workflow "
            "export (configs are built as `tally config` would) or the extractor and reducer "
            "configs. Running again on a newer export applies only new classifications."
        ),
    )
    parser.add_argument("classification_csv", help="the Panoptes classification export (CSV)")
    source = parser.add_argument_group("pipeline (one of)")
    source.add_argument("--workflow-csv", help="Panoptes workflow export, to configure from")
    source.add_argument("--workflow-id", type=int, help="workflow id (with --workflow-csv)")
    source.add_argument(
        "-v", "--version", help="workflow version (with --workflow-csv; default: latest)"
    )
    source.add_argument("--extractor-config", help="extractor config YAML (from `tally config`)")
    source.add_argument(
        "--reducer-config",
        nargs="+",
        default=[],
        metavar="R.yaml",
        help=(
            "reducer config YAML(s); a file named ..._<extractor_key>.yaml reduces that "
            "extractor's output, or write FILE:EXTRACTOR_KEY"
        ),
    )
    parser.add_argument(
        "-F",
        "--filter",
        choices=REPEAT_MODES,
        default="first",
        help="which of a volunteer's repeat classifications of a subject to use (default: first)",
    )
    parser.add_argument(
        "--rules",
        metavar="RULES.yaml",
        help=(
            "subject and user rules to evaluate after every reduction update (docs/rules.md); "
            "effects that fire are appended once each to OUTDIR/actions_<output>.csv"
        ),
    )
    parser.add_argument(
        "--state",
        help=(
            "state directory (default: OUTDIR/.tally-state): a new one, or one an earlier run "
            "made, to run incrementally; one run at a time"
        ),
    )
    parser.add_argument(
        "-d", "--dir", required=True, type=existing_dir, help="output directory (must exist)"
    )
    parser.add_argument("-o", "--output", default="reductions", help="base name of the output CSVs")
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first bad row instead of skipping it"
    )
    parser.add_argument("-hb", "--hide_bar", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run, parser=parser)


def _from_workflow_csv(args: argparse.Namespace) -> LoadedWorkflow:
    from core.errors import UnknownNameError
    from core.workflow_config import build_config
    from stream.workflows import build_workflow, workflow_message
    from tally.config import read_workflow_rows

    if args.workflow_id is None:
        raise InputError("--workflow-csv needs --workflow-id")
    config = build_config(
        read_workflow_rows(args.workflow_csv), args.workflow_id, version=args.version
    )
    for note in config.notes:  # what tally config warns about: a skipped part of the workflow
        print(f"tally aggregate: warning: {args.workflow_csv}: {note}", file=sys.stderr)
    extractor = dict(config.extractor_config)
    section = dict(extractor["extractor_config"])
    reducers, keys = [], []
    for key, document in config.reducer_configs.items():
        try:
            workflow_message(
                {**extractor, "extractor_config": {key: section[key]}}, [document], [key]
            )
        except UnknownNameError as exc:
            print(f"tally aggregate: skipping {key}: {exc}", file=sys.stderr)
            section.pop(key)
            continue
        reducers.append(document)
        keys.append(key)
    if not reducers:
        raise InputError(
            f"none of workflow {args.workflow_id}'s tasks has an extractor Tally implements; "
            "write the configs by hand and pass --extractor-config/--reducer-config"
        )
    extractor["extractor_config"] = section
    return build_workflow(
        workflow_message(extractor, reducers, keys, args.filter, rules=_rules(args))
    )


def _rules(args: argparse.Namespace) -> dict[str, Any] | None:
    if not args.rules:
        return None
    from tally.commands.rules import read_rules_file

    document = read_rules_file(args.rules)
    if not isinstance(document, dict):
        raise InputError(f"{args.rules}: a rules file must be a mapping (see docs/rules.md)")
    return document


def _load_workflow(args: argparse.Namespace) -> LoadedWorkflow:
    # The embedded engine's stack is imported here, not at start-up: every `tally` command
    # builds this parser.
    from stream.workflows import build_workflow, workflow_message

    if args.workflow_csv and args.extractor_config:
        raise InputError("give either --workflow-csv or --extractor-config, not both")
    if args.workflow_csv:
        return _from_workflow_csv(args)
    if not args.extractor_config or not args.reducer_config:
        raise InputError(
            "give --workflow-csv WF_CSV --workflow-id ID, or --extractor-config E.yaml "
            "--reducer-config R.yaml [R.yaml ...]"
        )
    from tally.commands.workflow import load

    message = load(args.extractor_config, args.reducer_config, args.filter)
    rules = _rules(args)
    if rules is not None:
        message = workflow_message(
            message["extractor_config"],
            message["reducer_configs"],
            message["reducer_keys"],
            args.filter,
            sources={**message["sources"], "rules": args.rules},
            rules=rules,
        )
    return build_workflow(message)


def run(args: argparse.Namespace) -> int:
    from stream.embedded import REQUIRED_COLUMNS, aggregate
    from tally.progress import progress_bar
    from tally.tables import CsvSource, require_columns

    workflow = _load_workflow(args)
    output_dir = Path(args.dir)
    state_dir = Path(args.state) if args.state else output_dir / ".tally-state"
    with CsvSource(args.classification_csv, what="Panoptes classification export") as source:
        header = source.header
        require_columns(
            header, REQUIRED_COLUMNS, path=source.path, what="Panoptes classification export"
        )

        def rows():
            for cells in source:
                yield source.line_number, cells

        with progress_bar(
            "Aggregating", total=source.size, unit="B", hide=args.hide_bar, unit_scale=True
        ) as bar:

            def on_progress(_: int) -> None:
                bar.update(source.position() - bar.n)

            # Errors about a row name the file, line and classification themselves; the
            # others (state directory, output files) have nothing to do with a line.
            summary = aggregate(
                rows(),
                header,
                workflow,
                state_dir=state_dir,
                output_dir=output_dir,
                source=str(source.path),
                name=args.output,
                on_progress=on_progress,
                strict=args.strict,
            )
    print(summary.report(), file=sys.stderr)
    if summary.actions_path is not None:
        if summary.actions_written:
            notice = f"{summary.actions_written} new actions appended to {summary.actions_path}"
        elif summary.actions_path.exists():
            notice = f"no new actions ({summary.actions_path} unchanged)"
        else:  # nothing has fired yet: the file is made with the first action
            notice = f"no new actions; no actions file written ({summary.actions_path})"
        print(notice, file=sys.stderr)
    for f in summary.files:
        targets = "volunteers" if f.of_volunteers else "subjects"
        print(f"wrote {f.path} ({f.subjects} {targets}, {f.rows} rows)", file=sys.stderr)
    if not summary.files:
        print("no reduction changed; CSVs left as they were", file=sys.stderr)
    return 0
