"""The batch commands' scratch directories, and those a killed run left behind.

``tally extract``/``reduce`` spill to a hidden ``.tally-<command>-*`` directory inside the output
directory and remove it at the end, on errors and on SIGTERM; ``kill -9`` or a power cut leave it
(hundreds of MB for a million classifications). The next run says so instead of letting the disk
fill up silently. It never deletes them: the directory's name carries the pid of the run that
made it, so a run still going is recognised and not reported, but the output directory may be
shared with another machine, where that pid means nothing.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

__all__ = ["note_leftovers", "scratch_dir"]


@contextlib.contextmanager
def scratch_dir(output_dir: str | os.PathLike[str], command: str) -> Iterator[str]:
    """A hidden ``.tally-<command>-<pid>-<random>`` directory in ``output_dir``, removed at the
    end (the pid tells :func:`note_leftovers` of a later run whether its owner still runs).

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d, scratch_dir(d, "reduce") as tmp:
    ...     _owner(os.path.basename(tmp), "reduce") == os.getpid()
    True
    """
    import tempfile  # here: a reduce held in memory makes no scratch directory (13 M instructions)

    with tempfile.TemporaryDirectory(
        prefix=f".tally-{command}-{os.getpid()}-", dir=output_dir
    ) as tmp:
        yield tmp


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
        owner = _owner(path.name, command)
        if owner is not None and _running(owner):
            continue  # another run's, in use right now (or a reused pid: we only leave a note)
        size = 0
        for root, _, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):  # removed meanwhile by the run that owns it
                    size += os.path.getsize(os.path.join(root, name))
        who = (
            "(or by one still running)" if owner is None else f"(process {owner}, which has ended)"
        )
        print(
            f"tally {command}: note: {path} holds {size / 1e6:.1f} MB left by an interrupted run "
            f"{who}; remove it when no other tally runs there",
            file=sys.stderr,
        )
        found.append(path)
    return found


def _owner(name: str, command: str) -> int | None:
    """The pid in a scratch directory's name (``.tally-<command>-<pid>-<random>``), if any.

    >>> _owner(".tally-reduce-4242-x1y2", "reduce"), _owner(".tally-reduce-x1y2", "reduce")
    (4242, None)
    """
    pid, _, rest = name.removeprefix(f".tally-{command}-").partition("-")
    return int(pid) if pid.isdigit() and rest else None


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
