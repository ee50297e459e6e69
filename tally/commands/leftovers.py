"""Scratch directories that a killed ``tally extract``/``reduce`` left behind, reported at start.

The batch commands spill to a hidden ``.tally-<command>-*`` directory inside the output
directory and remove it at the end, on errors and on SIGTERM; ``kill -9`` or a power cut leave it
(hundreds of MB for a million classifications). The next run says so instead of letting the disk
fill up silently. It never deletes them: another run may be using the same directory right now.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

__all__ = ["note_leftovers"]


def note_leftovers(output_dir: str, command: str) -> list[Path]:
    """Print a note on stderr for each ``.tally-<command>-*`` directory in ``output_dir``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     os.mkdir(os.path.join(d, ".tally-extract-abc"))
    ...     [p.name for p in note_leftovers(d, "extract")]  # the note goes to stderr
    ['.tally-extract-abc']
    """
    found = []
    try:
        entries = sorted(Path(output_dir).glob(f".tally-{command}-*"))
    except OSError:
        return []
    for path in entries:
        if not path.is_dir():
            continue
        size = 0
        for root, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):  # removed meanwhile by the run that owns it
                    size += os.path.getsize(os.path.join(root, name))
        print(
            f"tally {command}: note: {path} holds {size / 1e6:.1f} MB left by an interrupted run "
            "(or by one still running); remove it when no other tally runs there",
            file=sys.stderr,
        )
        found.append(path)
    return found
