"""``tally rules check``: dry-run a rules file over reduction CSVs before it goes live.

Reads reduction CSVs in the ``tally reduce`` layout (from ``tally reduce``, ``tally aggregate``
or ``tally export``), gives each file's reductions the names the engine gives them (the reducer
name, ``<reducer>_<task>`` when the file holds several tasks, or ``FILE:KEY`` to name it as a
reducer config's ``key:`` does), evaluates the subject rules for every subject, and prints which
subjects each rule would act on and which rules failed to evaluate. Nothing is fired.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from tally.errors import InputError

__all__ = ["add_parser", "load_reductions", "read_rules_file", "run_check"]

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
        help="print which subjects each rule would act on",
        description=(
            "Evaluate a rules file's subject rules over reduction CSVs (tally reduce layout) and "
            "print, per rule, the subjects it would act on and its effects. A file's reductions "
            "are named as the engine names them: the reducer name, or <reducer>_<task> when the "
            "file has several tasks; write FILE:KEY to give them a reducer config's key."
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
        "--limit", type=int, default=20, help="subject ids listed per rule (default 20; 0 = all)"
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

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read rules file {path!r}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"rules file {path!r} is not UTF-8 text") from None
    return parse_rules_yaml(text, str(path))


def _split_spec(spec: str) -> tuple[str, str | None]:
    path, sep, key = spec.rpartition(":")
    if sep and not Path(spec).exists() and Path(path).exists():
        return path, key
    return spec, None


def load_reductions(specs: list[str]) -> tuple[dict[Any, dict[str, Any]], set[Any]]:
    """``{subject_id: {reduction name: data}}`` from reduction CSVs, and the workflow ids seen.

    Data cells are read back as the values the engine's rules see
    (:func:`core.rules.reduction_cells.reduction_reader`)."""
    # Imported here, not at start-up: every `tally` command builds this parser.
    from core.events import parse_id
    from core.rules.reduction_cells import reduction_reader
    from tally.tables import CsvSource, require_columns

    by_subject: dict[Any, dict[str, Any]] = defaultdict(dict)
    workflows: set[Any] = set()
    for spec in specs:
        path, key = _split_spec(spec)
        with CsvSource(path, what="reduction CSV") as source:
            header = source.header
            position = require_columns(header, COLUMNS, path=source.path, what="reduction CSV")
            rows = list(source)
        # each cell as the value the reducer gave, which the engine's rules evaluate (not as
        # pandas would type the column: a count of 12 in a column with gaps reads 12.0)
        read_data = reduction_reader(header, rows)
        i_subject, i_workflow, i_task, i_reducer = (position[c] for c in COLUMNS)
        tasks = {row[i_task] for row in rows}
        # a grouped reducer's CSV (docs/rules.md, "Filters and grouping"): rules read
        # each group as <key>/<subgroup>
        i_subgroup = position.get("subgroup")
        for row in rows:
            base = key or row[i_reducer]
            name = f"{base}_{row[i_task]}" if len(tasks) > 1 else base
            if i_subgroup is not None:
                name = f"{name}/{row[i_subgroup]}"
            data = read_data(row)
            subject = parse_id(row[i_subject])
            if _returns_list(row[i_reducer]):
                # a list reduction (survey_reducer) is one row per element; the engine's rules
                # see the list, one element or many
                by_subject[subject].setdefault(name, []).append(data)
            elif name in by_subject[subject]:
                # another reducer's rows for one name: keep them all, as a list
                previous = by_subject[subject][name]
                by_subject[subject][name] = [
                    *(previous if isinstance(previous, list) else [previous]),
                    data,
                ]
            else:
                by_subject[subject][name] = data
            workflows.add(parse_id(row[i_workflow]))
    return by_subject, workflows


def _returns_list(reducer: str) -> bool:
    """Whether ``reducer`` gives a list (one CSV row per element); unknown names do not."""
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


def run_check(args: argparse.Namespace) -> int:
    from core.rules.rulebook import RuleBook, subject_bindings

    book = RuleBook.from_document(read_rules_file(args.rules_file), args.rules_file)
    by_subject, workflows = load_reductions(args.reduction_csv)
    metadata = _subject_metadata(args.subjects)
    available = {name for reductions in by_subject.values() for name in reductions}
    unknown = book.reducer_keys("subject") - available
    if unknown:
        print(
            f"warning: the rules read {', '.join(sorted(unknown))}, which no given CSV provides "
            f"(available: {', '.join(sorted(available)) or 'none'}); those lookups give their "
            "defaults",
            file=sys.stderr,
        )
    workflow_id = next(iter(workflows)) if len(workflows) == 1 else None
    acting: dict[str, list[Any]] = defaultdict(list)
    failures: dict[str, list[tuple[Any, str]]] = defaultdict(list)
    for subject in sorted(
        by_subject, key=lambda s: (not isinstance(s, int), str(s) if not isinstance(s, int) else s)
    ):
        bindings = subject_bindings(
            by_subject[subject], subject_id=subject, metadata=metadata.get(subject)
        )
        evaluation = book.evaluate_subject(bindings)
        for rule_id in evaluation.matched:
            acting[rule_id].append(subject)
        for error in evaluation.errors:
            failures[error.rule_id].append((subject, error.message))
    print(
        f"{len(by_subject)} subjects of workflow {workflow_id if workflow_id is not None else '?'}; "
        f"rules_applied: {book.rules_applied}"
    )
    for rule in book.rules("subject"):
        subjects = acting.get(rule.id, [])
        effects = (
            ", ".join(
                f"{e.action}({', '.join(f'{k}={v}' for k, v in e.config.items())})"
                for e in rule.effects
            )
            or "no effects"
        )
        shown = subjects if args.limit == 0 else subjects[: args.limit]
        more = f" ... and {len(subjects) - len(shown)} more" if len(shown) < len(subjects) else ""
        print(f"\nrule {rule.id}: {len(subjects)} subjects -> {effects}")
        if shown:
            print("  " + " ".join(str(s) for s in shown) + more)
        for subject, message in failures.get(rule.id, [])[:5]:
            print(f"  error on subject {subject}: {message}")
        if len(failures.get(rule.id, [])) > 5:
            print(f"  ... {len(failures[rule.id]) - 5} more errors")
    return 0
