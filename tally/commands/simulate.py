"""``tally simulate``: write a realistic Penguin-Watch-like project (exports, truth, configs).

The generator itself is :mod:`tally.simulate`; this module only wires it to the command line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tally.argtypes import positive_int, whole_number

__all__ = ["add_parser", "run"]

# tally.simulate's default; repeated here so that building the parser imports nothing heavy
DEFAULT_WORKFLOW_ID = 21434


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate",
        help="write a simulated Penguin-Watch-like project (exports, ground truth, configs)",
        description=(
            "Write a simulated Zooniverse project like Penguin Watch into DIR: a workflow export, "
            "a classification export (PFE annotations: point marks by frame with a subtask, a "
            "question, a 'Nothing here' shortcut; volunteers of varying skill who miss and "
            "jitter marks, anonymous volunteers, repeat classifications, empty images), the "
            "ground truth (JSON lines), the extractor/reducer configs (point_reducer_hdbscan "
            "with min_cluster_size 4, min_samples 3) and simulation.json. The same --seed "
            "gives identical files. Rows are streamed, so memory stays flat at any size."
        ),
    )
    parser.add_argument(
        "-d",
        "--dir",
        default=".",
        type=Path,
        help="output directory, created if missing (default: .)",
    )
    parser.add_argument(
        "-n",
        "--classifications",
        type=positive_int,
        default=20_000,
        help="number of classifications (default: 20000)",
    )
    parser.add_argument(
        "--subjects",
        type=positive_int,
        default=None,
        help="number of subjects (default: classifications / 15, about 15 per subject)",
    )
    parser.add_argument("--seed", type=whole_number, default=0, help="random seed (default: 0)")
    parser.add_argument(
        "--workflow-id",
        type=positive_int,
        default=DEFAULT_WORKFLOW_ID,
        help=argparse.SUPPRESS,
    )
    parser.add_argument("-hb", "--hide_bar", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from tally.progress import progress_bar
    from tally.simulate import SimulationParams, simulate

    if args.subjects is not None and args.subjects > args.classifications:
        print(
            f"tally simulate: error: --subjects ({args.subjects}) cannot exceed --classifications "
            f"({args.classifications}): every subject gets at least one classification",
            file=sys.stderr,
        )
        return 2
    params = SimulationParams(
        classifications=args.classifications,
        subjects=args.subjects,
        seed=args.seed,
        workflow_id=args.workflow_id,
    )
    with progress_bar(
        "simulate", total=params.classifications, unit="cls", hide=args.hide_bar
    ) as bar:

        def progress(done: int) -> None:
            bar.update(done - bar.n)

        summary = simulate(args.dir, params, progress=progress)
    c = summary.counts
    print(
        f"Simulated {c['classifications']:,} classifications of {c['subjects']:,} subjects "
        f"({c['empty_subjects']:,} empty) by {c['registered_users']:,} registered and "
        f"{c['anonymous_users']:,} anonymous volunteers in {summary.seconds:.1f} s:"
    )
    for path in (
        summary.workflows_csv,
        summary.classifications_csv,
        summary.ground_truth,
        summary.extractor_config,
        *summary.reducer_configs.values(),
        summary.task_labels,
        summary.directory / "simulation.json",
    ):
        print(f"  {path}")
    return 0
