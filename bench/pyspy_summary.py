#!/usr/bin/env python
"""Summarise a ``py-spy record -f raw`` profile: inclusive and self shares per function.

    py-spy record -r 200 -f raw -o extract.txt -- .venv/bin/tally extract ...
    .venv/bin/python bench/pyspy_summary.py extract.txt [--top 25] [--lines]

Inclusive share = fraction of samples with the function anywhere on the stack (counted once per
sample); self share = fraction with it on top. ``--lines`` keeps line numbers (per-line hot spots).
``--categories extract|reduce`` also splits the samples into the stages of a tally command (first
matching rule wins, so the order of the rules matters).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")

CATEGORIES: dict[str, list[tuple[str, str]]] = {
    "extract": [
        ("start-up imports", r"_find_and_load|<module> \(tally/cli"),
        (
            "core extractors (registry calls, point_extractor_by_frame, subtasks)",
            r"ExtractorSpec.__call__",
        ),
        (
            "flatten + format cells, write CSV",
            r"_write_extract_csv|flatten \(core/csv_layout|ColumnStats|with_version|format_cell|_format",
        ),
        ("orjson parse", r"_loads \("),
        ("read CSV rows", r"CsvSource|chunks \(|parse_block"),
        ("spill files", r"Spill"),
        ("per-row dispatch", r"_extract_chunk"),
    ],
    "reduce": [
        ("start-up imports", r"_find_and_load|<module> \(tally/cli"),
        ("HDBSCAN (scikit-learn)", r"run_hdbscan"),
        ("DBSCAN", r"run_dbscan|_dbscan"),
        ("cluster summaries", r"_summarise"),
        ("subtask reductions", r"add_subtask_reductions"),
        ("reducer (other)", r"ReducerSpec.__call__"),
        ("parse extraction cells", r"unflatten|literal_cell"),
        ("write reduction CSV", r"_write_reduction_csv"),
        (
            "read / group / route rows",
            r"CsvSource|parse_block|_scan_block|Spill|ReadKinds|_FirstRows|_route|created_key|time_key",
        ),
        ("per-bucket dispatch", r"_reduce_bucket"),
    ],
}


def summarise(path: Path, *, top: int, lines: bool, categories: str | None = None) -> str:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
    by_category: Counter[str] = Counter()
    rules = [(name, re.compile(pat)) for name, pat in CATEGORIES.get(categories or "", [])]
    total = 0
    for raw in path.read_text().splitlines():
        stack, _, count = raw.rpartition(" ")
        if not stack:
            continue
        n = int(count)
        frames = stack.split(";")
        if frames[0].startswith("Thread._bootstrap") or frames[0].startswith("_bootstrap "):
            continue  # helper threads (tqdm's monitor, pool feeders) idle-waiting
        total += n
        if rules:
            category = next((name for name, pat in rules if pat.search(stack)), "other")
            by_category[category] += n
        if not lines:
            frames = [_LINE.sub(")", f) for f in frames]
        for f in set(frames):
            inclusive[f] += n
        self_time[frames[-1]] += n
    out = [f"{path.name}: {total} samples"]
    if rules:
        out.append(f"by stage ({categories}):")
        out += [f"{100 * n / total:7.1f}  {name}" for name, n in by_category.most_common()]
        out.append("")
    out.append(f"{'incl %':>7} {'self %':>7}  function")
    for f, n in inclusive.most_common(top):
        out.append(f"{100 * n / total:7.1f} {100 * self_time[f] / total:7.1f}  {f}")
    out.append("")
    out.append("top self time:")
    for f, n in self_time.most_common(top):
        out.append(f"{100 * n / total:7.1f}  {f}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("profiles", nargs="+", type=Path)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--lines", action="store_true")
    ap.add_argument("--categories", choices=sorted(CATEGORIES))
    args = ap.parse_args()
    for p in args.profiles:
        print(summarise(p, top=args.top, lines=args.lines, categories=args.categories))
        print()


if __name__ == "__main__":
    main()
