#!/usr/bin/env python
"""Summarise a ``py-spy record -f raw`` profile: inclusive and self shares per function.

    py-spy record -r 200 -f raw -o extract.txt -- .venv/bin/tally extract ...
    .venv/bin/python bench/pyspy_summary.py extract.txt [--top 25] [--lines]

Inclusive share = fraction of samples with the function anywhere on the stack (counted once per
sample); self share = fraction with it on top. ``--lines`` keeps line numbers (per-line hot spots).
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def summarise(path: Path, *, top: int, lines: bool) -> str:
    inclusive: Counter[str] = Counter()
    self_time: Counter[str] = Counter()
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
        if not lines:
            frames = [_LINE.sub(")", f) for f in frames]
        for f in set(frames):
            inclusive[f] += n
        self_time[frames[-1]] += n
    out = [f"{path.name}: {total} samples"]
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
    args = ap.parse_args()
    for p in args.profiles:
        print(summarise(p, top=args.top, lines=args.lines))
        print()


if __name__ == "__main__":
    main()
