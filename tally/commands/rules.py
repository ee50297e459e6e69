"""``tally rules check``: dry-run a rules file over reduction CSVs before it goes live.

Reads reduction CSVs in the ``tally reduce`` layout (from ``tally reduce``, ``tally aggregate``
or ``tally export``), gives each file's reductions the names the engine gives them (the reducer
name, ``<reducer>_<task>`` when the file holds several tasks, or ``FILE:KEY`` to name it as a
reducer config's ``key:`` does), evaluates the subject rules for every subject and the user
rules for every volunteer (user reduction CSVs, whose first column is ``user_id``), and prints
which subjects or users each rule would act on and which rules failed to evaluate. Rules of a
kind no given CSV holds are named as not checked. Nothing is fired.
"""

from __future__ import annotations

import argparse
import functools
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tally.errors import InputError

__all__ = ["add_parser", "load_reductions", "read_reduction_csvs", "read_rules_file", "run_check"]

COLUMNS = ("subject_id", "workflow_id", "task", "reducer")


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "rules",
        help="check a rules file against reduction CSVs (a dry run; nothing fires)",
        description="Rules (docs/rules.md): test them on real reductions before going live.",
    )
    commands = parser.add_subparsers(dest="rules_command", metavar="SUBCOMMAND")
    check = commands.add_parser(
        "check",
        help="print which subjects (or users) each rule would act on",
        description=(
            "Evaluate a rules file's subject rules over subject reduction CSVs (tally reduce "
            "layout) and its user rules over user reduction CSVs (first column user_id, from a "
            "reducer config with topic: reduce_by_user), and print, per rule, the subjects or "
            "users it would act on and its effects. A file's reductions are named as the "
            "engine names them: the reducer name, or <reducer>_<task> when the file has several "
            "tasks; write FILE:KEY to give them a reducer config's key. Cells are read back as "
            "the values the engine's rules see (docs/rules.md, 'Testing a rule')."
        ),
    )
    check.add_argument("rules_file", help="the rules YAML")
    check.add_argument("reduction_csv", nargs="+", help="reduction CSV(s), optionally FILE:KEY")
    check.add_argument(
        "--subjects",
        metavar="SUBJECTS_CSV",
        help="a Panoptes subject export, for rules that read subject.<metadata>",
    )
    check.add_argument(
        "--limit",
        type=int,
        default=20,
        help="subject or user ids listed per rule (default 20; 0 = all)",
    )
    check.set_defaults(run=run_check, parser=check)
    parser.set_defaults(run=lambda args: _usage(parser))


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def read_rules_file(path: str) -> Any:
    """The document of a rules file, for :meth:`core.rules.rulebook.RuleBook.from_document`:
    YAML (or JSON) with a key written twice in one mapping refused and each rule's line kept
    for error messages (:func:`core.rules.loading.parse_rules_yaml`). Every command that takes
    a rules file reads it here."""
    from core.rules.loading import parse_rules_yaml
    from tally.tables import read_text

    return parse_rules_yaml(read_text(path, "rules file"), str(path))


def _split_spec(spec: str) -> tuple[str, str | None]:
    path, sep, key = spec.rpartition(":")
    if sep and not Path(spec).exists() and Path(path).exists():
        return path, key
    return spec, None


def read_reduction_csvs(
    specs: list[str],
) -> tuple[dict[str, dict[Any, dict[str, Any]]], set[Any]]:
    """``{"subject" | "user": {target id: {reduction name: data}}}`` from reduction CSVs, and
    the workflow ids seen. A CSV whose first column is ``user_id`` (a reducer config with
    ``topic: reduce_by_user``, as ``tally aggregate`` writes it) holds user reductions.

    Data cells are read back as the values the engine's rules see
    (:func:`core.rules.reduction_cells.reduction_reader`)."""
    # Imported here, not at start-up: every `tally` command builds this parser.
    from core.events import parse_id
    from core.rules.reduction_cells import reduction_reader
    from tally.tables import CsvSource, require_columns

    out: dict[str, dict[Any, dict[str, Any]]] = {
        "subject": defaultdict(dict),
        "user": defaultdict(dict),
    }
    workflows: set[Any] = set()
    for spec in specs:
        path, key = _split_spec(spec)
        with CsvSource(path, what="reduction CSV") as source:
            header = source.header
            kind = "user" if header[:1] == ["user_id"] else "subject"
            columns = (f"{kind}_id", *COLUMNS[1:])
            position = require_columns(header, columns, path=source.path, what="reduction CSV")
            rows = list(source)
        # each cell as the value the reducer gave, which the engine's rules evaluate (not as
        # pandas would type the column: a count of 12 in a column with gaps reads 12.0)
        read_data = reduction_reader(header, rows)
        i_target, i_workflow, i_task, i_reducer = (position[c] for c in columns)
        tasks = {row[i_task] for row in rows}
        # a grouped reducer's CSV (docs/rules.md, "Filters and grouping"): rules read
        # each group as <key>/<subgroup>
        i_subgroup = position.get("subgroup")
        targets = out[kind]
        for row in rows:
            base = key or row[i_reducer]
            name = f"{base}_{row[i_task]}" if len(tasks) > 1 else base
            if i_subgroup is not None:
                name = f"{name}/{row[i_subgroup]}"
            data = read_data(row)
            target = parse_id(row[i_target])
            if _returns_list(row[i_reducer]):
                # a list reduction (survey_reducer) is one row per element; the engine's rules
                # see the list, one element or many
                targets[target].setdefault(name, []).append(data)
            elif name in targets[target]:
                # another reducer's rows for one name: keep them all, as a list
                previous = targets[target][name]
                targets[target][name] = [
                    *(previous if isinstance(previous, list) else [previous]),
                    data,
                ]
            else:
                targets[target][name] = data
            workflows.add(parse_id(row[i_workflow]))
    return out, workflows


def load_reductions(specs: list[str]) -> tuple[dict[Any, dict[str, Any]], set[Any]]:
    """``{subject_id: {reduction name: data}}`` from reduction CSVs (user reduction CSVs left
    out), and the workflow ids seen; see :func:`read_reduction_csvs`."""
    reductions, workflows = read_reduction_csvs(specs)
    return reductions["subject"], workflows


@functools.cache
def _returns_list(reducer: str) -> bool:
    """Whether ``reducer`` gives a list (one CSV row per element); unknown names do not (looked
    up once per name: it is asked for every row)."""
    from core.errors import UnknownNameError
    from core.registry import get_reducer

    try:
        return get_reducer(reducer).returns_list
    except UnknownNameError:
        return False


def _subject_metadata(path: str | None) -> dict[Any, dict[str, Any]]:
    if not path:
        return {}
    import orjson

    from core.events import parse_id
    from tally.tables import CsvSource, require_columns

    out: dict[Any, dict[str, Any]] = {}
    with CsvSource(path, what="Panoptes subject export") as source:
        header = source.header
        position = require_columns(
            header, ("subject_id", "metadata"), path=source.path, what="Panoptes subject export"
        )
        i_subject, i_metadata = position["subject_id"], position["metadata"]
        for row in source:
            try:
                out[parse_id(row[i_subject])] = orjson.loads(row[i_metadata] or "{}")
            except orjson.JSONDecodeError:
                raise InputError(
                    f"{source.path}, line {source.line_number}: metadata is not valid JSON"
                ) from None
    return out


def _ordered(ids: Any) -> list[Any]:
    return sorted(ids, key=lambda i: (not isinstance(i, int), i if isinstance(i, int) else str(i)))


def run_check(args: argparse.Namespace) -> int:
    from core.rules.rulebook import RuleBook, subject_bindings, user_bindings

    book = RuleBook.from_document(read_rules_file(args.rules_file), args.rules_file)
    reductions, workflows = read_reduction_csvs(args.reduction_csv)
    metadata = _subject_metadata(args.subjects)
    workflow_id = next(iter(workflows)) if len(workflows) == 1 else None
    print(
        f"workflow {workflow_id if workflow_id is not None else '?'}; "
        f"rules_applied: {book.rules_applied}"
    )
    for kind in ("subject", "user"):
        rules = book.rules(kind)
        targets = reductions[kind]
        if not rules:
            continue
        if not targets:
            # say so: a dry run that prints nothing for them looks like rules that never fire
            other = "a subject_id" if kind == "subject" else "a user_id"
            print(
                f"\n{len(rules)} {kind} rule(s) not checked ({', '.join(r.id for r in rules)}): "
                f"no {kind} reduction CSV given (one whose first column is {other}"
                + (", from a reducer config with topic: reduce_by_user)" if kind == "user" else ")")
            )
            continue
        available = {name for named in targets.values() for name in named}
        for name in sorted(book.reducer_keys(kind) - available):
            print(
                f"warning: {book.source}: reduction {name!r}, read by "
                f"{book.readers(kind, name)}, is in none of the given {kind} CSVs (they hold: "
                f"{', '.join(sorted(available)) or 'none'}; write FILE:KEY to give a file a "
                "reducer config's key); in this dry run its lookups give their defaults",
                file=sys.stderr,
            )
        acting: dict[str, list[Any]] = defaultdict(list)
        failures: dict[str, list[tuple[Any, str]]] = defaultdict(list)
        for target in _ordered(targets):
            if kind == "subject":
                bindings = subject_bindings(
                    targets[target], subject_id=target, metadata=metadata.get(target)
                )
            else:
                bindings = user_bindings(targets[target])
            evaluation = book.evaluate(kind, bindings)
            for rule_id in evaluation.matched:
                acting[rule_id].append(target)
            for error in evaluation.errors:
                failures[error.rule_id].append((target, error.message))
        print(f"\n{len(targets)} {kind}s")
        for rule in rules:
            _print_rule(rule, kind, acting.get(rule.id, []), failures.get(rule.id, []), args.limit)
    return 0


def _print_rule(rule: Any, kind: str, targets: list[Any], failures: list, limit: int) -> None:
    effects = (
        ", ".join(
            f"{e.action}({', '.join(f'{k}={v}' for k, v in e.config.items())})"
            for e in rule.effects
        )
        or "no effects"
    )
    shown = targets if limit == 0 else targets[:limit]
    more = f" ... and {len(targets) - len(shown)} more" if len(shown) < len(targets) else ""
    print(f"\nrule {rule.id}: {len(targets)} {kind}s -> {effects}")
    if shown:
        print("  " + " ".join(str(t) for t in shown) + more)
    for target, message in failures[:5]:
        print(f"  error on {kind} {target}: {message}")
    if len(failures) > 5:
        print(f"  ... {len(failures) - 5} more errors")
