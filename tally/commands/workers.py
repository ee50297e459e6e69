"""How many worker processes ``-c/--cpu_count`` really gets (``tally extract`` and ``reduce``)."""

from __future__ import annotations

import os
import sys

__all__ = ["available_workers"]


def cpus_available() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def available_workers(requested: int, command: str) -> int:
    """``requested`` worker processes, at most one per available CPU (but 2 are always allowed).

    More processes than CPUs only add start-up time and memory (the work is CPU-bound and the
    output does not depend on the count), and ``-c 1000`` would fork a thousand processes on a
    shared machine; the cap is said on stderr. Two stay allowed on a one-CPU machine so that
    ``-c 2`` runs the parallel code path everywhere (tests, CI).

    >>> available_workers(2, "extract")
    2
    >>> available_workers(10**6, "extract") == max(cpus_available(), 2)
    True
    """
    cpus = max(cpus_available(), 2)
    if requested <= cpus:
        return requested
    print(
        f"tally {command}: note: -c {requested} is more than the {cpus} CPUs available; "
        f"using {cpus} worker processes",
        file=sys.stderr,
    )
    return cpus
