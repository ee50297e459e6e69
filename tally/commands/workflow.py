"""``tally workflow load|list|remove``: manage the workflow pipelines the stream workers run.

``load`` validates the configs exactly as a worker will parse them (``Pipeline.from_configs``)
before publishing anything, then publishes one message to the compacted workflows topic (key:
the workflow id) and waits for the broker's acknowledgement. Workers apply it without a
restart; if the reducer configs or the repeat filter changed, they re-reduce the workflow's
stored subjects from their stored extracts.

``--rules RULES.yaml`` adds the workflow's subject and user rules (docs/rules.md) to the
message; they are validated at load like the configs (an error names the file and the rule),
and workers evaluate them after every reduction update and publish the effects that fire to the
actions topic, once each.

Reducer configs bind to extractor keys as ``tally config`` names them
(``Reducer_config_..._<extractor_key>.yaml``), or explicitly as ``FILE:EXTRACTOR_KEY``; a
reducer config that can only consume one of the extractor keys needs neither.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import Any

from core.repeats import REPEAT_MODES
from stream.topics import StreamTopics, add_topic_arguments, ensure_topics, settings_from_args
from tally.errors import InputError

__all__ = ["add_parser", "load", "run"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "workflow",
        help="load, list or remove the workflow pipelines of the stream workers",
        description="Manage the workflow pipelines (extractor + reducer configs) on the "
        "workflows topic that every `tally worker` reads.",
    )
    actions = parser.add_subparsers(dest="action", title="actions", metavar="ACTION")
    load_p = actions.add_parser(
        "load",
        help="register or update a workflow's pipeline",
        description="Validate an extractor config and its reducer configs and publish them as "
        "the workflow's pipeline. Running workers pick it up without a restart; a changed "
        "reducer config (or -F) makes them re-reduce the workflow's stored subjects.",
    )
    load_p.add_argument("extractor_config", help="the extractor config (YAML) from `tally config`")
    load_p.add_argument(
        "reducer_configs",
        nargs="+",
        metavar="REDUCER_CONFIG",
        help="reducer configs (YAML), one reducer each; FILE:EXTRACTOR_KEY binds one to an "
        "extractor key, as does a name ending in _<extractor_key>.yaml",
    )
    load_p.add_argument(
        "-F",
        "--filter",
        choices=REPEAT_MODES,
        default="first",
        help="which classifications of a volunteer who classified a subject more than once "
        "count: first, last or all (default: first, as `tally reduce`)",
    )
    load_p.add_argument(
        "--rules",
        metavar="RULES.yaml",
        help="subject and user rules evaluated after every reduction update (docs/rules.md); "
        "each effect that fires is published once to the actions topic, for `tally effects "
        "run`. Validated here: a malformed rule fails the load, naming the rule. Loading "
        "without --rules removes the workflow's rules",
    )
    add_topic_arguments(load_p, partitions=True)
    load_p.set_defaults(run=run_load)

    list_p = actions.add_parser("list", help="list the loaded workflows")
    add_topic_arguments(list_p)
    list_p.set_defaults(run=run_list)

    remove_p = actions.add_parser(
        "remove",
        help="remove a workflow's pipeline (its classifications are then dead-lettered)",
    )
    remove_p.add_argument("workflow_id", type=int)
    add_topic_arguments(remove_p)
    remove_p.set_defaults(run=run_remove)

    parser.set_defaults(run=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def load(
    extractor_path: str,
    reducer_specs: list[str],
    repeat_filter: str = "first",
    rules_path: str | None = None,
) -> dict[str, Any]:
    """Read and validate the config files (and the rules file, if any); return the
    workflows-topic message."""
    # Imported here, not at start-up: every `tally` command builds this parser.
    from core.errors import TallyError
    from stream.workflows import bind_reducer_file, workflow_message
    from tally.tables import load_yaml

    extractor = load_yaml(extractor_path, "extractor config")
    if not isinstance(extractor, Mapping) or not isinstance(
        extractor.get("extractor_config"), Mapping
    ):
        raise InputError(
            f"{extractor_path}: not an extractor config (expected 'extractor_config' and "
            "'workflow_id', as written by `tally config`)"
        )
    keys_available = list(extractor["extractor_config"])
    reducers, keys, paths = [], [], []
    for spec in reducer_specs:
        path, key = bind_reducer_file(spec, keys_available)
        reducers.append(load_yaml(path, "reducer config"))
        keys.append(key)
        paths.append(path)
    sources: dict[str, Any] = {"extractor_config": extractor_path, "reducer_configs": paths}
    rules = None
    if rules_path is not None:
        from tally.commands.rules import read_rules_file

        rules = read_rules_file(rules_path)
        if not isinstance(rules, Mapping):
            raise InputError(
                f"{rules_path}: a rules file is a mapping with subject_rules and/or user_rules "
                "(see docs/rules.md)"
            )
        sources["rules"] = rules_path
    try:
        message = workflow_message(
            extractor, reducers, keys, repeat_filter, sources=sources, rules=rules
        )
    except TallyError as exc:
        # Rule errors already name the rules file and the rule (RuleBook).
        what = f"{extractor_path} + {', '.join(paths)}"
        if rules_path is not None:
            what += f" + {rules_path}"
        raise InputError(f"invalid pipeline ({what}): {exc}") from None
    return message


def run_load(args: argparse.Namespace) -> int:
    from stream.records import encode
    from stream.workflows import build_workflow

    message = load(args.extractor_config, args.reducer_configs, args.filter, args.rules)
    topics = StreamTopics.from_args(args)
    settings = settings_from_args(args, "tally-workflow")
    ensure_topics(settings, topics)
    publish(settings, topics.workflows, str(message["workflow_id"]).encode(), encode(message))
    loaded = build_workflow(message)
    rules = loaded.engine.rules
    rule_count = (
        ""
        if rules is None
        else f", {len(rules.rules('subject'))} subject and {len(rules.rules('user'))} user rules"
    )
    user_stage = " (reduced by user too)" if loaded.user_engine is not None else ""
    print(
        f"workflow {loaded.workflow_id}: pipeline {loaded.config_version} "
        f"({len(loaded.pipeline.extractors)} extractor tasks, "
        f"{len(loaded.pipeline.reducers)} reducers, filter {loaded.repeat_filter}"
        f"{rule_count}){user_stage} published to {topics.workflows}"
    )
    return 0


def publish(settings: Any, topic: str, key: bytes, value: bytes | None) -> None:
    from stream.kafka_io import make_producer

    producer = make_producer(settings)
    try:
        producer.send(topic, key=key, value=value).get(timeout=30)
        producer.flush(timeout=30)
    finally:
        producer.close()


def read_workflows(settings: Any, topic: str) -> dict[int, dict[str, Any]]:
    """Workflow id -> current message on the workflows topic."""
    from stream.kafka_io import latest_by_key
    from stream.records import decode

    out = {}
    for key, value in latest_by_key(settings, topic).items():
        try:
            message = decode(value)
            out[int(message["workflow_id"])] = message
        except (ValueError, KeyError, TypeError):
            print(f"warning: unreadable message for key {key!r} on {topic}", file=sys.stderr)
    return out


def run_list(args: argparse.Namespace) -> int:
    from core.errors import TallyError
    from stream.workflows import build_workflow

    topics = StreamTopics.from_args(args)
    settings = settings_from_args(args, "tally-workflow")
    workflows = read_workflows(settings, topics.workflows)
    if not workflows:
        print(f"no workflows on {topics.workflows}")
        return 0
    for workflow_id in sorted(workflows):
        message = workflows[workflow_id]
        try:
            loaded = build_workflow(message)
            summary = (
                f"{loaded.config_version}  filter={loaded.repeat_filter}  reducers="
                + ",".join(f"{b.name}<-{b.extractor_key}" for b in loaded.pipeline.reducers)
            )
        except TallyError as exc:
            summary = f"INVALID: {exc}"
        print(f"{workflow_id}  {summary}  loaded_at={message.get('loaded_at')}")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    topics = StreamTopics.from_args(args)
    settings = settings_from_args(args, "tally-workflow")
    publish(settings, topics.workflows, str(args.workflow_id).encode(), None)
    print(f"workflow {args.workflow_id} removed from {topics.workflows}")
    return 0


run = run_load
