"""The ``tally`` command line, one module per subcommand under ``tally/commands/``.

A run builds (and imports) only the parser of the subcommand it names; ``tally --help`` and
unknown commands build them all. Each subcommand imports its implementation when it runs, so that
every start (``--help`` included) stays fast.

``config``, ``extract`` and ``reduce`` are drop-ins for ``panoptes_aggregation`` (same arguments,
file names and CSV layouts); the other subcommands run the simulator and the stream.

Exit status: 0 success, 1 bad input (the message says what is wrong and how to fix it),
2 usage error (unknown option, missing argument, nonexistent path).

>>> main(["--help"])  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
SystemExit: 0
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import signal
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

#: The subcommands, in the order ``tally --help`` lists them; each is the module
#: ``tally.commands.<name>`` with ``add_parser(subparsers)`` and a ``run(args)`` it sets.
COMMANDS = (
    "config",
    "extract",
    "reduce",
    "aggregate",
    "simulate",
    "workflow",
    "worker",
    "replay",
    "export",
    "effects",
    "rules",
)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``tally`` parser; with a ``command`` of :data:`COMMANDS`, only that subcommand's.

    Each subcommand's module is imported to add its parser, and some import more (the stream
    commands' topic settings): a run needs only its own (10-20 ms of every batch command).

    >>> build_parser("reduce").parse_args(["reduce", "x.csv", "r.yaml"]).filter
    'first'
    """
    parser = argparse.ArgumentParser(
        prog="tally",
        description=(
            "Aggregate Zooniverse (Panoptes) classifications: a faster drop-in for the "
            "panoptes_aggregation command. The workshop recipe is: tally config (workflow export "
            "-> YAML configs), tally extract (classification export -> extraction CSVs), "
            "tally reduce (extraction CSV -> reduction CSV)."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", title="commands", metavar="COMMAND")
    for name in COMMANDS if command not in COMMANDS else (command,):
        importlib.import_module(f"tally.commands.{name}").add_parser(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``tally`` with ``argv`` (default: the process arguments); return the exit status."""
    return _dispatch(argv)[0]


def console_main() -> None:
    """The ``tally`` program: :func:`main` on the process arguments, then exit.

    A batch command ends with :func:`os._exit` once its output is flushed: its files are closed
    and renamed into place and its worker pools joined by then, and the interpreter's teardown
    would only free the run's objects one by one (0.1-0.2 s after a 20k-classification reduce,
    a tenth of the run) before the operating system reclaims the memory anyway. The other
    commands (Kafka clients, RocksDB state) exit normally, running their exit hooks.
    """
    status, command = _dispatch(None)
    if command in BATCH_COMMANDS:
        try:
            for stream in (sys.stdout, sys.stderr):
                if stream is not None:  # None: started with that descriptor closed (`>&-`)
                    stream.flush()
        except (OSError, ValueError):
            sys.exit(status)  # let Python report the unwritable stream as it does at exit
        os._exit(status)
    sys.exit(status)


def _dispatch(argv: Sequence[str] | None) -> tuple[int, str | None]:
    """Run ``tally`` with ``argv``; the exit status and the command that ran (None: none)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    # A batch command runs with Python's cyclic collector paused, from its parser's imports to
    # its end: its start (modules, the parser, the config, a worker pool) makes objects that live
    # until the end, and its work objects that reference counting frees; the collector's passes
    # over them found nothing (some 100 passes over the 20k recipe's five commands, ≈ 16 ms of
    # their serial time; none found a cycle there nor at 1M). Worker processes fork with it
    # paused, as they pause it for their blocks and buckets anyway.
    pause = bool(arguments) and arguments[0] in BATCH_COMMANDS and gc.isenabled()
    if pause:
        gc.disable()
    try:
        return _parse_and_run(arguments)
    finally:
        if pause:
            gc.enable()


def _parse_and_run(arguments: list[str]) -> tuple[int, str | None]:
    # The command is the first argument (tally has no options before it but --help).
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    # What this command was given: commands that start copies of themselves (tally worker
    # --processes, its user-stage restart) pass it on, not the host program's sys.argv.
    args.argv = arguments
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2, None
    return _run_command(args), args.command


def _run_command(args: argparse.Namespace) -> int:
    # `kill` and job schedulers send SIGTERM: the batch commands then exit through the normal
    # path, so temporary files are removed and worker processes stopped.
    from core.errors import TallyError  # after parsing: `--help` does not need it

    handle_term = args.command in BATCH_COMMANDS and _set_sigterm(_terminate)
    if args.command in BATCH_COMMANDS:
        # numpy's OpenBLAS starts a thread per core when imported (30-40 ms of CPU for a point
        # reduce); the batch commands run their own -c worker processes and multiply only tiny
        # matrices. A value the user set is kept.
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        return int(args.run(args) or 0)
    except TallyError as exc:
        print(f"tally {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # stdout was closed early (`tally config ... | head`): the files are written, only the
        # notices were cut off. Exit as a program killed by SIGPIPE would, without a traceback
        # or a second error when Python flushes stdout at exit.
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except OSError as exc:  # e.g. the output directory is not writable
        print(f"tally {args.command}: error: {_describe_os_error(exc)}", file=sys.stderr)
        return 1
    except _Terminated:
        print(f"tally {args.command}: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"tally {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        if handle_term:
            _set_sigterm(signal.SIG_DFL)


BATCH_COMMANDS = ("config", "extract", "reduce")


def _describe_os_error(exc: OSError) -> str:
    """An operating-system error as a sentence naming the file, without Python's ``[Errno N]``.

    >>> _describe_os_error(PermissionError(13, "Permission denied", "/data/out/x.csv"))
    "cannot write or read '/data/out/x.csv': Permission denied (check the directory's permissions, or choose another -d)"
    >>> _describe_os_error(OSError(28, "No space left on device", "/d/.tally-reduce-7-x/b1.part"))
    "cannot write or read '/d': No space left on device"
    >>> _describe_os_error(OSError(28, "No space left on device"))
    'No space left on device'
    """
    if exc.filename is None:
        return exc.strerror or str(exc)
    # Temporary files live in a hidden .tally-* directory or are named .<output>.<pid>.tmp:
    # name the directory the user chose, not our scratch names.
    path = str(exc.filename)
    parts = path.split("/")
    for i, part in enumerate(parts):
        if part.startswith(".tally-") or (
            i == len(parts) - 1 and part.startswith(".") and part.endswith(".tmp")
        ):
            path = "/".join(parts[:i]) or "."
            break
    message = f"cannot write or read {path!r}: {exc.strerror or exc}"
    if isinstance(exc, PermissionError):
        message += " (check the directory's permissions, or choose another -d)"
    return message


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a file (tests capture it)
        pass


class _Terminated(KeyboardInterrupt):
    pass


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def _set_sigterm(handler: object) -> bool:
    try:
        signal.signal(signal.SIGTERM, handler)  # type: ignore[arg-type]
    except ValueError:  # not the main thread
        return False
    return True


if __name__ == "__main__":  # pragma: no cover
    console_main()
