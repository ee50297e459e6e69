"""``tally reduce``: the parser (a drop-in for ``panoptes_aggregation reduce``).

The implementation, and how it scales (buckets of subjects reduced in ``-c`` workers), is in
:mod:`tally.reduce`, imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from core.repeats import REPEAT_MODES
from tally.argtypes import base_name, positive_int, swapped_order, writable_dir

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "reduce",
        help="reduce an extraction CSV, subject by subject",
        description=(
            "Reduce the extracts of an extraction CSV (from `tally extract`) with the one reducer "
            "of a reducer config. Writes <reducer_name>_<output>.csv with the columns subject_id, "
            "workflow_id, task, reducer, data.*: one row per subject and task (list reductions "
            "give one row per element)."
        ),
    )
    parser.add_argument("extracted_csv", help="the extraction CSV")
    parser.add_argument("reducer_config", help="the reducer config (YAML) with exactly one reducer")
    parser.add_argument(
        "-F",
        "--filter",
        choices=REPEAT_MODES,
        default="first",
        help=(
            "which classifications to keep when a volunteer (by user_name, so anonymous "
            "sessions too) classified a subject more than once: their first, their last, or all "
            "(default: first). panoptes_aggregation 5.3.1 ignores this option and always uses all"
        ),
    )
    parser.add_argument(
        "-O",
        "--order",
        action="store_true",
        help="sort the data.* columns alphabetically, data.choice, data.total_vote_count, data.choice_count first",
    )
    parser.add_argument(
        "-c",
        "--cpu_count",
        type=positive_int,
        default=1,
        help=(
            "worker processes for reduction; a small reduction (under a quarter second of CPU, "
            "estimated from its first subjects) runs in one process anyway. The output does not "
            "depend on it (default: 1)"
        ),
    )
    parser.add_argument("-hb", "--hide_bar", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "-d",
        "--dir",
        default=".",
        type=writable_dir,
        help="existing directory for the output file (default: .)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=base_name,
        default="reductions",
        help="base name of the output file; an extension is dropped (default: reductions)",
    )
    parser.add_argument(
        "-s",
        "--stream",
        action="store_true",
        help=(
            "write each subject's reductions to the output file as soon as they are done; if the "
            "run stops, running it again resumes after the subjects already written. The "
            "finished file is identical to one written without -s"
        ),
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    wrong_order = swapped_order(
        "reduce", ("EXTRACTED_CSV", args.extracted_csv), ("REDUCER_CONFIG", args.reducer_config)
    )
    if wrong_order is not None:
        print(wrong_order, file=sys.stderr)
        return 2
    from tally.parallel import available_workers
    from tally.reduce import reduce_file
    from tally.scratch import note_leftovers

    note_leftovers(args.dir, "reduce")

    path = reduce_file(
        args.extracted_csv,
        args.reducer_config,
        filter=args.filter,
        output_name=args.output,
        output_dir=args.dir,
        order=args.order,
        stream=args.stream,
        cpu_count=available_workers(args.cpu_count, "reduce"),
        hide_bar=args.hide_bar,
    )
    print(f"Saved reductions to {path}")
    return 0
