"""``tally extract``: the parser (a drop-in for ``panoptes_aggregation extract``).

The implementation, and how the export is streamed through ``-c`` workers, is in
:mod:`tally.extract`, imported when the command runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tally.argtypes import base_name, positive_int, swapped_order, writable_dir

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "extract",
        help="extract data from a Panoptes classification export",
        description=(
            "Extract data from a Panoptes classification export with the extractors of an "
            "extractor config (as written by `tally config`). Writes one CSV per extractor key, "
            "named <extractor_key>_<output>.csv, with the columns classification_id, user_name, "
            "user_id, workflow_id, task, created_at, subject_id, extractor, data.*. Rows that "
            "cannot be extracted are skipped and summarised at the end (see --strict)."
        ),
    )
    parser.add_argument(
        "classification_csv",
        help="the classification export (CSV) from the project's Data Exports page",
    )
    parser.add_argument("extractor_config", help="the extractor config (YAML)")
    parser.add_argument(
        "-d",
        "--dir",
        default=".",
        type=writable_dir,
        help="existing directory for the output files (default: .)",
    )
    parser.add_argument(
        "-o",
        "--output",
        type=base_name,
        default="extractions",
        help="base name of the output files; an extension is dropped (default: extractions)",
    )
    parser.add_argument(
        "-O",
        "--order",
        action="store_true",
        help="sort the data.* columns alphabetically, data.choice first",
    )
    parser.add_argument(
        "-c",
        "--cpu_count",
        type=positive_int,
        default=1,
        help="worker processes for extraction; the output order does not depend on it (default: 1)",
    )
    parser.add_argument(
        "-vv", "--verbose", action="store_true", help="print every skipped classification and why"
    )
    parser.add_argument("-hb", "--hide_bar", action="store_true", help="hide the progress bar")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="stop at the first row that cannot be extracted instead of skipping it",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    wrong_order = swapped_order(
        "extract",
        ("CLASSIFICATION_CSV", args.classification_csv),
        ("EXTRACTOR_CONFIG", args.extractor_config),
    )
    if wrong_order is not None:
        print(wrong_order, file=sys.stderr)
        return 2
    from tally.extract import extract_file
    from tally.parallel import available_workers
    from tally.scratch import note_leftovers

    note_leftovers(args.dir, "extract")

    paths = extract_file(
        args.classification_csv,
        args.extractor_config,
        output_dir=args.dir,
        output_name=args.output,
        order=args.order,
        cpu_count=available_workers(args.cpu_count, "extract"),
        verbose=args.verbose,
        hide_bar=args.hide_bar,
        strict=args.strict,
    )
    for path in paths:
        print(f"Saved extractions to {path}")
    return 0
