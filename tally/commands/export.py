"""``tally export``: the current reductions of a workflow as ``tally reduce`` CSV files.

Runs in its own process, next to (or without) the workers: it reads the workflow's pipeline
from the workflows topic and the compacted reductions topic up to its end offsets at start,
keeps the latest record per key, and writes one CSV per reducer config with
:func:`stream.snapshot.write_snapshot`, the same layout and cell text as ``tally reduce``.

Only reductions computed under the workflow's current pipeline (``config_version``) are used:
while the workers are still re-reducing after a ``tally workflow load``, the export fails
saying so (``--allow-stale`` writes what is there). Records of reducers an earlier pipeline had
and the current one does not are ignored.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from stream.topics import StreamTopics, add_topic_arguments, settings_from_args
from tally.argtypes import existing_dir
from tally.errors import InputError

__all__ = ["add_parser", "export", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "export",
        help="write the current stream reductions of a workflow as CSV files",
        description="Snapshot the reductions topic: one CSV per reducer config of the "
        "workflow's pipeline, named <reducer>_<extractor_key>_<NAME>.csv, in exactly the "
        "layout `tally reduce` writes.",
    )
    add_topic_arguments(parser)
    parser.add_argument("--workflow-id", type=int, required=True, help="the workflow to export")
    parser.add_argument(
        "-d",
        "--dir",
        default=".",
        type=existing_dir,
        help="existing directory for the output files (default: .)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="reductions",
        help="base name of the output files (default: reductions)",
    )
    parser.add_argument(
        "-O",
        "--order",
        action="store_true",
        help="sort the data.* columns as `tally reduce -O` does",
    )
    parser.add_argument(
        "--allow-stale",
        action="store_true",
        help="write reductions computed under an earlier pipeline of the workflow (a "
        "re-reduction still running) instead of failing",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=120.0,
        help="seconds allowed for reading the topics to their end (default: 120)",
    )
    parser.set_defaults(run=run)


def export(
    settings: Any,
    topics: StreamTopics,
    workflow_id: int,
    output_dir: str,
    *,
    name: str = "reductions",
    order: bool = False,
    timeout: float = 120.0,
    allow_stale: bool = False,
) -> tuple[list[Any], int]:
    """Write the snapshot; return (files written, reductions from an earlier pipeline)."""
    # Imported here, not at start-up: every `tally` command builds this parser.
    from core.errors import TallyError
    from stream.kafka_io import latest_by_key
    from stream.records import decode
    from stream.snapshot import write_snapshot
    from stream.workflows import build_workflow

    pipelines = latest_by_key(settings, topics.workflows, timeout=timeout)
    raw = pipelines.get(str(workflow_id).encode())
    if raw is None:
        raise InputError(
            f"workflow {workflow_id} has no pipeline on topic {topics.workflows}; "
            "load it with `tally workflow load`"
        )
    try:
        loaded = build_workflow(decode(raw))
    except TallyError as exc:
        raise InputError(f"the pipeline of workflow {workflow_id} is invalid: {exc}") from None
    prefix = f"{workflow_id}/".encode()
    bindings = {(i, b.name) for i, b in enumerate(loaded.pipeline.reducers)}
    records = []
    stale = 0
    for key, value in latest_by_key(settings, topics.reductions, timeout=timeout).items():
        if key is None or not key.startswith(prefix):
            continue
        record = decode(value)
        if record.get("workflow_id") != workflow_id:
            continue
        if (record.get("reducer_index"), record.get("reducer")) not in bindings:
            continue  # a reducer of an earlier pipeline that the current one no longer has
        if record.get("config_version") != loaded.config_version:
            stale += 1
            if not allow_stale:
                continue
        records.append(record)
    if stale and not allow_stale:
        raise InputError(
            f"{stale} reductions of workflow {workflow_id} were computed under an earlier "
            f"pipeline: the workers are still re-reducing after `tally workflow load`. Export "
            "again when they are done, or pass --allow-stale to write them as they are"
        )
    # write_snapshot keys user reductions (reduce_by_user) by volunteer (first column
    # user_id), the same for `tally aggregate`.
    files = write_snapshot(
        records,
        loaded.pipeline,
        output_dir,
        name=name,
        no_version=loaded.no_version,
        order=order,
    )
    return files, stale


def run(args: argparse.Namespace) -> int:
    topics = StreamTopics.from_args(args)
    settings = settings_from_args(args, "tally-export")
    try:
        files, stale = export(
            settings,
            topics,
            args.workflow_id,
            args.dir,
            name=args.output,
            order=args.order,
            timeout=args.timeout,
            allow_stale=args.allow_stale,
        )
    except (LookupError, TimeoutError) as exc:
        raise InputError(str(exc)) from None
    for f in files:
        print(
            f"Saved {f.reducer} ({f.extractor_key}) reductions of {f.subjects} subjects to {f.path}"
        )
    if stale:
        print(
            f"note: {stale} of the reductions written were computed under an earlier pipeline "
            f"of workflow {args.workflow_id} (--allow-stale)",
            file=sys.stderr,
        )
    return 0
