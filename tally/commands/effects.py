"""``tally effects``: perform the actions rules fired (``run``), and report on them (``status``).

``tally effects run --actions actions.csv`` performs the action records of the embedded mode's
actions CSV; ``tally effects run --broker HOST:PORT`` consumes the actions topic of the Kafka
mode until stopped (or ``--idle-exit`` seconds without records). Either way each action is
performed at most once: outcomes are kept in ``--state`` (a SQLite file) and a completed action
is never performed again, however often the same records are read. See docs/rules.md.

Credentials come from the environment only: ``TALLY_PANOPTES_TOKEN`` (a bearer token for the
Panoptes API at ``TALLY_PANOPTES_URL``) and the variables ``external_with_basic_auth`` effects
name. Exit status: 0 when every action completed (in this run or an earlier one); 1 when any
failed, in this run or in an earlier one and was not retried (--retry-failed performs those
again), or a record was malformed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from tally.argtypes import positive_float, positive_int
from tally.errors import InputError

__all__ = ["add_parser", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "effects",
        help="perform the actions rules fired (webhooks, Panoptes calls), each once",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="effects_command", metavar="ACTION")
    run_p = commands.add_parser(
        "run",
        help="perform pending actions from an actions CSV or the actions topic",
        description="Perform pending action records, each at most once, with timeouts, retries "
        "(exponential backoff with jitter) and an Idempotency-Key header equal to the action id.",
    )
    source = run_p.add_mutually_exclusive_group(required=True)
    source.add_argument("--actions", metavar="FILE", help="the actions CSV of the embedded mode")
    source.add_argument(
        "--broker", metavar="HOST:PORT", help="consume the actions topic of this Kafka broker"
    )
    run_p.add_argument(
        "--topic",
        default=None,
        help="actions topic (default: $TALLY_TOPIC_ACTIONS or <$TALLY_TOPIC_PREFIX>-actions)",
    )
    run_p.add_argument(
        "--group",
        default=None,
        help="consumer group (default: $TALLY_EFFECTS_GROUP or <prefix>-effects)",
    )
    run_p.add_argument(
        "--idle-exit",
        type=positive_float,
        default=None,
        metavar="SECONDS",
        help="with --broker: stop after this long without new records (default: run until stopped)",
    )
    run_p.add_argument(
        "--state",
        default=None,
        help="the executor's state file (default: <FILE>.effects.sqlite next to --actions, "
        "else ./tally-effects.sqlite)",
    )
    run_p.add_argument(
        "--max-attempts", type=positive_int, default=5, help="requests per action (default: 5)"
    )
    run_p.add_argument(
        "--timeout", type=positive_float, default=10.0, help="seconds per request (default: 10)"
    )
    run_p.add_argument(
        "--base-delay",
        type=positive_float,
        default=0.5,
        help="first retry delay in seconds (default: 0.5)",
    )
    run_p.add_argument(
        "--max-delay",
        type=positive_float,
        default=30.0,
        help="longest retry delay in seconds (default: 30)",
    )
    run_p.add_argument(
        "--concurrency", type=positive_int, default=8, help="targets served at once (default: 8)"
    )
    run_p.add_argument(
        "--retry-failed",
        action="store_true",
        help="perform again the actions that failed in an earlier run",
    )
    run_p.add_argument(
        "--allow-http-loopback",
        action="store_true",
        help="accept http:// webhook URLs to 127.0.0.1/localhost (tests only)",
    )
    run_p.add_argument(
        "--panoptes-url",
        default=None,
        help="Panoptes API base URL (default: $TALLY_PANOPTES_URL or https://www.zooniverse.org/api)",
    )
    run_p.add_argument(
        "--panoptes-token-env",
        default="TALLY_PANOPTES_TOKEN",
        metavar="NAME",
        help="environment variable holding the Panoptes bearer token (default: TALLY_PANOPTES_TOKEN)",
    )
    run_p.add_argument(
        "-l", "--log-level", default="info", choices=("debug", "info", "warning", "error")
    )
    run_p.set_defaults(run=run)
    status_p = commands.add_parser(
        "status", help="counts of performed actions by outcome, and the failures"
    )
    status_p.add_argument("--state", required=True, help="the executor's state file")
    status_p.set_defaults(run=status)
    parser.set_defaults(run=lambda args: parser.error("give an action: run or status"))


def _state_path(args: argparse.Namespace) -> Path:
    if args.state:
        return Path(args.state)
    if args.actions:
        return Path(f"{args.actions}.effects.sqlite")
    return Path("tally-effects.sqlite")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import logging

    from stream.effects import Executor, ExecutorState, RetryPolicy
    from stream.effects.sources import read_actions_csv

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if args.max_delay < args.base_delay:
        raise InputError(
            f"--max-delay ({args.max_delay}) is below --base-delay ({args.base_delay})"
        )
    policy = RetryPolicy(
        max_attempts=args.max_attempts,
        base_delay=args.base_delay,
        max_delay=args.max_delay,
        timeout=args.timeout,
    )
    if args.actions and not Path(args.actions).is_file():
        raise InputError(f"{args.actions}: no such actions file")
    problems: list[str] = []

    async def main() -> Any:
        with ExecutorState.open(_state_path(args)) as state:
            try:
                executor = Executor(
                    state,
                    policy=policy,
                    panoptes_url=args.panoptes_url,
                    panoptes_token_env=args.panoptes_token_env,
                    allow_http_loopback=args.allow_http_loopback,
                    retry_failed=args.retry_failed,
                    concurrency=args.concurrency,
                )
                async with executor:
                    if args.actions:
                        try:
                            return await executor.run(read_actions_csv(args.actions, problems))
                        except ValueError as exc:
                            raise InputError(str(exc)) from None
                    return await _run_kafka(executor, args, problems)
            except ValueError as exc:
                raise InputError(str(exc)) from None

    summary = asyncio.run(main())
    malformed = len(problems) + summary.malformed
    print(
        f"tally effects: {summary.completed} completed, {summary.failed} failed, "
        f"{summary.skipped} already done, {summary.failed_before} failed in an earlier run "
        f"(not retried); {malformed} malformed record(s) not performed "
        f"(state: {_state_path(args)})",
        file=sys.stderr,
    )
    if summary.failed_before:
        print(
            f"tally effects: {summary.failed_before} action(s) failed in an earlier run and are "
            "still not done: see `tally effects status --state "
            f"{_state_path(args)}`, fix the cause, then run again with --retry-failed",
            file=sys.stderr,
        )
    return 0 if summary.all_done and not malformed else 1


async def _run_kafka(executor: Any, args: argparse.Namespace, problems: list[str]) -> Any:
    import os

    from stream.effects.executor import RunSummary
    from stream.effects.sources import actions_topic, consume_actions, effects_group
    from stream.kafka_settings import BROKER_ENV, KafkaSettings

    settings = KafkaSettings.from_env(
        {**os.environ, BROKER_ENV: args.broker}, client_id="tally-effects"
    )
    total = RunSummary()
    async for batch in consume_actions(
        settings,
        args.topic or actions_topic(),
        args.group or effects_group(),
        idle_exit=args.idle_exit,
        problems=problems,
    ):
        summary = await executor.run([record for _, record in batch if record is not None])
        total.merge(summary)
    return total


def status(args: argparse.Namespace) -> int:
    from stream.effects import ExecutorState

    if not Path(args.state).is_file():
        raise InputError(f"{args.state}: no such state file")
    with ExecutorState.open(args.state) as state:
        counts = state.counts()
        print(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no actions")
        for row in state.rows("failed"):
            print(
                f"failed {row['action_id']} {row['effect']} rule {row['rule_id']!r} "
                f"{row['target_kind']} {row['target_id']} after {row['attempts']} attempt(s): "
                f"{row['detail']}"
            )
    return 0
