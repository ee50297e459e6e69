"""``tally worker``: one stream worker (a Faust app) aggregating classifications from Kafka.

Workers started with the same app id (``--app-id``, default ``<topic prefix>-aggregator``) form
one consumer group and share the classifications topic's partitions; each needs its own
``--state`` directory (RocksDB locks it). Stop one with Ctrl-C / SIGTERM: it finishes the batch
in hand, commits and leaves the group, and the others take over its partitions.

A Faust worker runs on one core (one asyncio loop), so ``--processes N`` starts N of them from
one command, as members of the same group: process i keeps its tables in ``STATE/process-i``
and serves ``--web-port + i``. The command stays in the foreground, forwards Ctrl-C / SIGTERM to
them and, when one of them exits on its own, stops the others and exits with its status.

Each worker runs two stages: the subject stage (classifications keyed by subject id) and the
user stage (the classifications-by-user topic the subject stage feeds, for workflows with
``topic: reduce_by_user`` reducers or user rules); effects that rules fire go to the actions
topic (docs/kafka.md).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stream.topics import StreamTopics, add_topic_arguments, ensure_topics, settings_from_args
from tally.argtypes import positive_int

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "worker",
        help="run one stream worker (Faust on Kafka)",
        description="Run one worker of the streaming aggregator: read classifications from "
        "Kafka, keep each subject's extracts in a local RocksDB table backed by a Kafka "
        "changelog, publish reductions and dead letters, and the effects the workflow's rules "
        "fire to the actions topic. Classifications of workflows that reduce by user are "
        "forwarded to the by-user topic, which the same workers reduce per volunteer. Several "
        "workers with the same app id share the work.",
    )
    add_topic_arguments(parser, partitions=True)
    parser.add_argument(
        "--state",
        default=None,
        help="directory for this worker's RocksDB tables "
        "(default: $TALLY_STATE_DIR or ./tally-state/<app id>); one per worker",
    )
    parser.add_argument(
        "--processes",
        type=positive_int,
        default=1,
        help="worker processes to run, one per core you give it (default: 1); they join the "
        "same group, process i with state STATE/process-i and web port --web-port + i",
    )
    parser.add_argument(
        "--web-port",
        type=positive_int,
        default=None,
        help="serve Faust's web view and /tally/stats/ (counters, dead letters) on this port",
    )
    parser.add_argument(
        "--web-host", default="127.0.0.1", help="address for --web-port (default: 127.0.0.1)"
    )
    parser.add_argument(
        "--batch-max",
        type=positive_int,
        default=500,
        help="most classifications processed together (default: 500)",
    )
    parser.add_argument(
        "--batch-ms",
        type=positive_int,
        default=20,
        help="longest wait for a batch to fill, in milliseconds (default: 20)",
    )
    parser.add_argument(
        "--user-stage",
        choices=("auto", "on", "off"),
        default=os.environ.get("TALLY_USER_STAGE", "auto"),
        help="run the per-volunteer stage (the by-user topic and its state table): auto = when "
        "a loaded workflow reduces by user, restarting itself when one is loaded later; the "
        "stage costs about 15%% of throughput even when idle (default: $TALLY_USER_STAGE or "
        "auto)",
    )
    parser.add_argument(
        "-l",
        "--log-level",
        default="info",
        choices=("debug", "info", "warn", "warning", "error"),
        help="log level (default: info)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.processes > 1:
        return _supervise(args)
    import faust

    from core.reducers._hdbscan import use_compiled_spanning_tree
    from stream.app import WorkerOptions, create_app

    # A worker re-clusters a subject on every classification it gets: worth the 1.5 s import.
    use_compiled_spanning_tree()

    topics = StreamTopics.from_args(args)
    settings = settings_from_args(args, topics.app_id)
    described = ensure_topics(settings, topics)
    partitions = described[topics.classifications]
    if described[topics.classifications_by_user] != partitions:
        from tally.errors import InputError

        # The user stage's state table has the worker's partition count; a by-user topic with
        # another one would put a volunteer's classifications in the wrong state partition.
        raise InputError(
            f"topic {topics.classifications_by_user} has "
            f"{described[topics.classifications_by_user]} partitions but "
            f"{topics.classifications} has {partitions}; they must be equal (delete the "
            "by-user topic to have it created again, or pass another name)"
        )
    state = _state_dir(args, topics)
    state.mkdir(parents=True, exist_ok=True)
    options = WorkerOptions(
        topics=topics,
        settings=settings,
        datadir=state.resolve(),
        partitions=partitions,
        web_port=args.web_port,
        web_host=args.web_host,
        batch_max=args.batch_max,
        batch_within=args.batch_ms / 1000.0,
    )
    restart = UserStageRestart(args.argv)
    options = dataclasses.replace(
        options,
        user_stage=_user_stage_wanted(args.user_stage, settings, topics),
        on_user_stage_needed=restart.request if args.user_stage == "auto" else None,
    )
    app, _ = create_app(options)
    worker = faust.Worker(app, loglevel=args.log_level, quiet=True)
    # Faust's terminal spinner (on at levels >= warn) sets the root logger to DEBUG so that it
    # can spin on every record: every library debug call then builds a log record.
    worker.spinner = None
    try:
        worker.execute_from_commandline()
    except SystemExit:
        if not restart.requested:
            raise
    if restart.requested:
        restart.exec_with_user_stage()
    return 0


def _state_dir(args: argparse.Namespace, topics: StreamTopics) -> Path:
    return Path(
        args.state or os.environ.get("TALLY_STATE_DIR") or Path("tally-state") / topics.app_id
    )


#: While stopping, the supervisor repeats SIGTERM this often to children still running: one
#: that was restarting itself with the user stage (``UserStageRestart``) when the first came
#: runs again under the same pid and would otherwise be waited for forever. Faust treats a
#: repeated SIGTERM as the same shutdown.
STOP_REPEAT_SECONDS = 10
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGALRM)


def _child_command(args: argparse.Namespace, index: int) -> list[str]:
    """Process ``index``'s command: this one, with the options that differ per process
    appended (argparse keeps the last occurrence of an option)."""
    state = _state_dir(args, StreamTopics.from_args(args))
    argv = [*args.argv, "--processes", "1", "--state", str(state / f"process-{index}")]
    if args.web_port is not None:
        argv += ["--web-port", str(args.web_port + index)]
    return [sys.executable, "-m", "tally.cli", *argv]


def _supervise(
    args: argparse.Namespace,
    child_command: Callable[[argparse.Namespace, int], list[str]] = _child_command,
) -> int:
    """Run ``args.processes`` single-process workers of this command until stopped."""
    import subprocess  # here: every `tally` start builds this module's parser

    from tally.parallel import exit_with_parent

    running: dict[int, subprocess.Popen] = {}
    for index in range(args.processes):
        running[index] = subprocess.Popen(  # noqa: S603 - this very command
            child_command(args, index),
            # Own session: a Ctrl-C reaches this process only, which stops each child once.
            start_new_session=True,
            preexec_fn=exit_with_parent,  # noqa: PLW1509 - no threads started yet
        )
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for child in running.values():
            # os.kill, not Popen.send_signal: that polls, and a poll that reaps a child which
            # has just exited would hide its status from os.wait below. A pid not yet waited
            # for is never reused.
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, signal.SIGTERM)
        signal.alarm(STOP_REPEAT_SECONDS)  # SIGALRM: stop again, until every child is gone

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    status = 0
    try:
        while running:
            try:
                pid, raw = os.wait()
            except ChildProcessError:  # none left
                break
            index = next((i for i, child in running.items() if child.pid == pid), None)
            if index is None:  # not ours (as PID 1 in a container, orphans are reaped here too)
                continue
            running.pop(index)
            code = os.waitstatus_to_exitcode(raw)
            if stopping and code == -signal.SIGTERM:
                continue  # our SIGTERM came before its own handler was installed: stopped
            code = 128 - code if code < 0 else code  # killed by signal N: 128 + N, as a shell says
            if not stopping:
                print(
                    f"tally worker: process {index} exited with status {code}; stopping the others",
                    file=sys.stderr,
                )
                status = code or 1
                stop(signal.SIGTERM, None)
            elif code and not status:
                status = code  # failed while stopping
    finally:
        signal.alarm(0)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return status


class UserStageRestart:
    """A worker started without the user stage restarts itself (same process id, same
    arguments plus ``--user-stage on``) after a clean shutdown when a workflow that reduces by
    user is loaded: its partitions are released and its offsets committed as on SIGTERM, and the
    by-user topic keeps the forwarded classifications until the stage reads them."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv  # this command's arguments
        self.requested = False

    def request(self) -> None:
        if not self.requested:
            self.requested = True
            os.kill(os.getpid(), signal.SIGTERM)  # Faust's graceful shutdown

    def exec_with_user_stage(self) -> None:
        sys.stdout.flush()
        sys.stderr.flush()
        argv = [sys.executable, "-m", "tally.cli", *self.argv, "--user-stage", "on"]
        os.execv(sys.executable, argv)  # noqa: S606 - this very command, again


def _user_stage_wanted(mode: str, settings: Any, topics: StreamTopics) -> bool:
    """``on``/``off`` as given; ``auto``: whether a workflow on the workflows topic reduces by
    user (or has user rules)."""
    if mode != "auto":
        return mode == "on"
    from stream.kafka_io import latest_by_key
    from stream.records import decode
    from stream.workflows import build_workflow

    for raw in latest_by_key(settings, topics.workflows, timeout=30.0).values():
        try:
            if build_workflow(decode(raw)).user_engine is not None:
                return True
        except Exception:  # noqa: BLE001, S112 - an invalid message is the registry's to report
            continue
    return False
