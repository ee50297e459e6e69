"""The rules file: subject and user rules, validated at load, evaluated in order.

A rules file (YAML or JSON) per workflow; see docs/rules.md::

    rules_applied: all_matching_rules      # or first_matching_rule, no_rules
    subject_rules:
      - id: retire-nothing-here
        condition: ["or", ["gte", ["lookup", "nothing_here.classifications", 0], ["const", 5]],
                          ["gte", ["lookup", "count.classifications", 0], ["const", 20]]]
        effects:
          - action: retire_subject
            config: {reason: nothing_here}
    user_rules:
      - id: promote-experts
        condition: ["gte", ["lookup", "skill.correct", 0], ["const", 50]]
        effects:
          - action: promote_user
            config: {workflow_id: 2002}

Everything is checked when the file is loaded, and every error names the file and the rule:
missing or duplicate ids, malformed conditions (:func:`~core.rules.conditions.compile_condition`),
unknown actions or config keys (with a suggestion), bad config values.

Evaluation (:meth:`RuleBook.evaluate_subject`, :meth:`RuleBook.evaluate_user`) follows Caesar
(caesar.md §3.4): rules in file order; ``all_matching_rules`` fires the effects of every true
rule; ``first_matching_rule`` stops at the first true one (a rule with no effects still stops
it); ``no_rules`` evaluates nothing. Unlike Caesar, an error in one rule (comparing a number with
text, an ``any`` over a missing reduction) does not abort the others: the rule is reported in
:attr:`Evaluation.errors` and counts as not true; under ``first_matching_rule`` evaluation stops
there, since a later rule fires only when every earlier one is known to be false.

>>> book = RuleBook.from_document({
...     "subject_rules": [{"id": "enough", "condition": ["gte", ["lookup", "count.classifications", 0],
...                                                      ["const", 3]],
...                        "effects": [{"action": "retire_subject",
...                                     "config": {"reason": "classification_count"}}]}]})
>>> bindings = subject_bindings({"count": {"classifications": 3, "extracts": 3}}, subject_id=55)
>>> [(f.rule.id, f.effect_index, f.effect.action) for f in book.evaluate_subject(bindings)]
[('enough', 0, 'retire_subject')]
>>> actions, errors = book.subject_actions(bindings, workflow_id=1, subject_id=55,
...                                        time="2024-01-02 10:00:00 UTC")
>>> actions[0].effect, actions[0].config, actions[0].status, errors
('retire_subject', {'reason': 'classification_count'}, 'pending', [])
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Callable, Collection, Iterator, Mapping
from typing import Any, NamedTuple

from core.rules.actions import (
    SUBJECT_ACTIONS,
    USER_ACTIONS,
    ActionRecord,
    action_id,
    validate_effect,
)
from core.rules.conditions import RuleConfigError, compile_condition, ruby_truthy
from core.rules.loading import line_of, parse_rules_yaml

__all__ = [
    "RULES_APPLIED",
    "Effect",
    "Evaluation",
    "Firing",
    "Rule",
    "RuleBook",
    "RuleError",
    "subject_bindings",
    "user_bindings",
]

RULES_APPLIED = ("all_matching_rules", "first_matching_rule", "no_rules")
_TOP_KEYS = ("rules_applied", "subject_rules", "user_rules")
_RULE_KEYS = ("id", "condition", "effects", "description")
_EFFECT_KEYS = ("action", "config")


@dataclasses.dataclass(frozen=True)
class Effect:
    """One effect of a rule: an action and its normalised config."""

    action: str
    config: Mapping[str, Any]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A validated rule. ``kind`` is ``subject`` or ``user``; ``check(bindings)`` evaluates the
    compiled condition (Caesar's value, to be read with Ruby truthiness)."""

    id: str
    kind: str
    condition: Any
    effects: tuple[Effect, ...]
    description: str = ""
    check: Callable[[Mapping[str, Any]], Any] = dataclasses.field(
        default=lambda bindings: None, compare=False, repr=False
    )
    #: where the rule starts in its rules file (None for a document not read from text)
    line: int | None = dataclasses.field(default=None, compare=False)

    def reads(self) -> dict[str, list[str]]:
        """The reductions this rule reads, each with how: ``condition`` and/or
        ``effect #n`` (an external effect's ``reducer_key``). ``subject`` is not a reduction.

        >>> rule = RuleBook.from_document({"subject_rules": [{"id": "a",
        ...     "condition": ["gte", ["lookup", "count.classifications", 0], ["const", 3]],
        ...     "effects": [{"action": "external",
        ...                  "config": {"url": "https://h.org/x", "reducer_key": "consensus"}}]}]}
        ... ).subject_rules[0]
        >>> rule.reads()
        {'count': ['condition'], 'consensus': ['effect #1']}
        """
        out: dict[str, list[str]] = {}
        keys: set[str] = set()
        _lookup_keys(self.condition, keys)
        keys.discard("subject")
        for key in sorted(keys):
            out.setdefault(key, []).append("condition")
        for index, effect in enumerate(self.effects):
            if effect.action.startswith("external"):
                out.setdefault(effect.config["reducer_key"], []).append(f"effect #{index + 1}")
        return out

    def where(self, source: str) -> str:
        """How errors name this rule: ``rules.yaml, line 4: subject rule 'a'``."""
        return _where(source, self.kind, 0, self.id, self.line)


class Firing(NamedTuple):
    """An effect a true rule fires: ``(rule, effect_index, effect)``."""

    rule: Rule
    effect_index: int
    effect: Effect


@dataclasses.dataclass(frozen=True)
class RuleError:
    """A rule (or one of its effects) that could not be evaluated on these bindings."""

    rule_id: str
    message: str
    effect_index: int | None = None


@dataclasses.dataclass
class Evaluation:
    """The outcome of evaluating one list of rules. Iterating it gives the :class:`Firing` s."""

    firings: list[Firing] = dataclasses.field(default_factory=list)
    matched: list[str] = dataclasses.field(default_factory=list)  # ids of true rules
    errors: list[RuleError] = dataclasses.field(default_factory=list)

    def __iter__(self) -> Iterator[Firing]:
        return iter(self.firings)

    def __len__(self) -> int:
        return len(self.firings)


def subject_bindings(
    reductions: Mapping[str, Any], *, subject_id: Any, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """What subject rules see (Caesar's ``RuleBindings``): each reduction's data by reducer key,
    plus ``subject``: the subject's metadata with ``zooniverse_subject_id``."""
    bindings = dict(reductions)
    bindings["subject"] = {**(metadata or {}), "zooniverse_subject_id": subject_id}
    return bindings


def user_bindings(reductions: Mapping[str, Any]) -> dict[str, Any]:
    """What user rules see: the user's reductions' data by reducer key (no subject)."""
    return dict(reductions)


def _where(
    source: str, kind: str, position: int, rule_id: Any = None, line: int | None = None
) -> str:
    name = f"{kind} rule #{position + 1}" if rule_id is None else f"{kind} rule {rule_id!r}"
    return f"{source}{'' if line is None else f', line {line}'}: {name}"


def _check_keys(mapping: Mapping, allowed: tuple[str, ...], *, where: str, what: str) -> None:
    for key in mapping:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RuleConfigError(
                f"{where}: unknown {what} key {key!r}{hint}; valid keys: {', '.join(allowed)}"
            )


def _lookup_keys(condition: Any, out: set[str], *, inside_item: bool = False) -> None:
    if not isinstance(condition, list) or not condition:
        return
    op, args = condition[0], condition[1:]
    if op == "const":
        return
    if op == "lookup" and args and isinstance(args[0], str):
        if not inside_item:
            out.add(args[0].partition(".")[0])
        return
    if op in ("any", "all") and len(args) == 2:
        if isinstance(args[0], str):
            out.add(args[0])
        _lookup_keys(args[1], out, inside_item=True)
        return
    for arg in args:
        _lookup_keys(arg, out, inside_item=inside_item)


class RuleBook:
    """The validated rules of one workflow; build it with :meth:`from_document` or :meth:`from_yaml`."""

    def __init__(
        self,
        *,
        rules_applied: str = "all_matching_rules",
        subject_rules: tuple[Rule, ...] = (),
        user_rules: tuple[Rule, ...] = (),
        source: str = "rules.yaml",
    ) -> None:
        self.rules_applied = rules_applied
        self.subject_rules = tuple(subject_rules)
        self.user_rules = tuple(user_rules)
        self.source = source

    def __repr__(self) -> str:
        return (
            f"RuleBook({self.source!r}, {self.rules_applied}, {len(self.subject_rules)} subject "
            f"rules, {len(self.user_rules)} user rules)"
        )

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def from_yaml(
        cls, text: str, source: str = "rules.yaml", *, allow_http_loopback: bool = False
    ) -> RuleBook:
        """Parse YAML (or JSON, which is YAML) text and validate it. A key written twice in
        one mapping is an error (:func:`core.rules.loading.parse_rules_yaml`), and errors give
        the line of the rule."""
        document = parse_rules_yaml(text, source)
        return cls.from_document(document, source, allow_http_loopback=allow_http_loopback)

    @classmethod
    def from_document(
        cls, doc: Any, source: str = "rules.yaml", *, allow_http_loopback: bool = False
    ) -> RuleBook:
        """Validate a loaded rules document; see the module docstring for the format.

        ``allow_http_loopback`` lets ``external`` webhooks use ``http://127.0.0.1`` (tests).
        """
        if doc is None:
            doc = {}
        if not isinstance(doc, Mapping):
            raise RuleConfigError(
                f"{source}: a rules file is an object with subject_rules and/or user_rules, "
                f"got {type(doc).__name__}"
            )
        _check_keys(doc, _TOP_KEYS, where=source, what="top-level")
        rules_applied = doc.get("rules_applied") or "all_matching_rules"
        if rules_applied not in RULES_APPLIED:
            raise RuleConfigError(
                f"{source}: rules_applied must be one of {', '.join(RULES_APPLIED)}, "
                f"got {rules_applied!r}"
            )
        seen: dict[str, str] = {}
        parsed = {}
        for kind in ("subject", "user"):
            raw_rules = doc.get(f"{kind}_rules") or []
            if not isinstance(raw_rules, list):
                raise RuleConfigError(f"{source}: {kind}_rules must be a list of rules")
            rules = []
            for position, raw in enumerate(raw_rules):
                rule = cls._parse_rule(
                    raw, kind, position, source, allow_http_loopback=allow_http_loopback
                )
                if rule.id in seen:
                    raise RuleConfigError(
                        f"{rule.where(source)}: duplicate rule id (also used by a "
                        f"{seen[rule.id]} rule); ids must be unique in the file"
                    )
                seen[rule.id] = kind
                rules.append(rule)
            parsed[kind] = tuple(rules)
        return cls(
            rules_applied=rules_applied,
            subject_rules=parsed["subject"],
            user_rules=parsed["user"],
            source=source,
        )

    @staticmethod
    def _parse_rule(
        raw: Any, kind: str, position: int, source: str, *, allow_http_loopback: bool
    ) -> Rule:
        line = line_of(raw)
        where = _where(source, kind, position, line=line)
        if not isinstance(raw, Mapping):
            raise RuleConfigError(f"{where}: a rule is an object with id, condition, effects")
        rule_id = raw.get("id")
        if rule_id is None or (isinstance(rule_id, str) and not rule_id.strip()):
            raise RuleConfigError(
                f"{where}: every rule needs an id (a short unique name, e.g. id: retire-blank); "
                "it identifies the rule in action records"
            )
        if isinstance(rule_id, bool):
            raise RuleConfigError(
                f"{where}: id must be a text or a whole number, got the boolean "
                f"{str(rule_id).lower()}: YAML reads yes, no, on, off, true and false unquoted "
                f'as booleans; quote it (id: "{"yes" if rule_id else "no"}")'
            )
        if isinstance(rule_id, int):
            rule_id = str(rule_id)
        if not isinstance(rule_id, str):
            raise RuleConfigError(
                f"{where}: id must be a text or a whole number (a short unique name, e.g. "
                f"id: retire-blank), got {type(rule_id).__name__} {rule_id!r}"
            )
        where = _where(source, kind, position, rule_id, line)
        _check_keys(raw, _RULE_KEYS, where=where, what="rule")
        if "condition" not in raw:
            raise RuleConfigError(f"{where}: no condition")
        condition = raw["condition"]
        if isinstance(condition, str):  # Caesar's UI and API hold the condition as JSON text
            try:
                condition = json.loads(condition)
            except json.JSONDecodeError as exc:
                raise RuleConfigError(f"{where}: condition is text but not JSON: {exc}") from None
        check = compile_condition(condition, where=f"{where}: condition")
        if kind == "user":
            read: set[str] = set()
            _lookup_keys(condition, read)
            if "subject" in read:
                raise RuleConfigError(
                    f"{where}: condition reads 'subject', but user rules see only the "
                    "volunteer's reductions (reducer configs with topic: reduce_by_user), no "
                    "subject: a subject's metadata is for subject_rules"
                )
        raw_effects = raw.get("effects") or []
        if not isinstance(raw_effects, list):
            raise RuleConfigError(f"{where}: effects must be a list of {{action, config}}")
        allowed = SUBJECT_ACTIONS if kind == "subject" else USER_ACTIONS
        effects = []
        for index, raw_effect in enumerate(raw_effects):
            effect_line = line_of(raw_effect)
            effect_where = (
                f"{_where(source, kind, position, rule_id, effect_line or line)}: "
                f"effect #{index + 1}"
            )
            if not isinstance(raw_effect, Mapping) or "action" not in raw_effect:
                raise RuleConfigError(f"{effect_where}: an effect is an object with action, config")
            _check_keys(raw_effect, _EFFECT_KEYS, where=effect_where, what="effect")
            action = raw_effect["action"]
            if action in (*SUBJECT_ACTIONS, *USER_ACTIONS) and action not in allowed:
                other = "user_rules" if kind == "subject" else "subject_rules"
                raise RuleConfigError(
                    f"{effect_where}: {action} is not a {kind} action; it belongs in {other}"
                )
            config = validate_effect(
                action,
                raw_effect.get("config"),
                where=effect_where,
                allow_http_loopback=allow_http_loopback,
            )
            effects.append(Effect(action, config))
        description = raw.get("description") or ""
        return Rule(rule_id, kind, condition, tuple(effects), str(description), check, line)

    # -- inspection ---------------------------------------------------------------------------
    def rules(self, kind: str) -> tuple[Rule, ...]:
        if kind not in ("subject", "user"):
            raise ValueError(f"kind must be 'subject' or 'user', got {kind!r}")
        return self.subject_rules if kind == "subject" else self.user_rules

    def reducer_keys(self, kind: str = "subject") -> set[str]:
        """The reducer keys ``kind`` rules read, in their conditions and as the ``reducer_key``
        of their external effects (``subject`` excluded): the reductions the engine keeps for
        them, and a check for typos against the pipeline's reducer keys."""
        return {key for rule in self.rules(kind) for key in rule.reads()}

    def readers(self, kind: str, name: str) -> str:
        """Which ``kind`` rules read reduction ``name``, and how, for messages:
        ``subject rule 'a' (line 3: condition), subject rule 'b' (effect #1's reducer_key)``."""
        out = []
        for rule in self.rules(kind):
            hows = [
                how if how == "condition" else f"{how}'s reducer_key"
                for how in rule.reads().get(name, ())
            ]
            if hows:
                line = "" if rule.line is None else f"line {rule.line}: "
                out.append(f"{kind} rule {rule.id!r} ({line}{', '.join(hows)})")
        return ", ".join(out)

    def check_reductions(
        self,
        kind: str,
        available: Collection[str],
        *,
        grouped: Collection[str] = (),
        elsewhere: Collection[str] = (),
    ) -> None:
        """Raise :class:`RuleConfigError` if a ``kind`` rule reads a reduction the pipeline
        does not make, naming the rules file, each rule that reads it (with its line) and the
        reductions there are. ``available``: the pipeline's reduction names for ``kind``
        rules; ``grouped``: its grouped reducers, read only as ``<name>/<group>``;
        ``elsewhere``: the reductions of the other topic, for a hint.

        :class:`core.engine.Engine` runs it when it is built (:meth:`check_pipeline`).

        >>> book = RuleBook.from_yaml(
        ...     '{"subject_rules": [{"id": "a", "condition": '
        ...     '["gte", ["lookup", "cuont.classifications", 0], ["const", 1]]}]}', "r.json")
        >>> book.check_reductions("subject", {"count", "consensus"})
        Traceback (most recent call last):
        ...
        core.rules.conditions.RuleConfigError: r.json: reduction 'cuont', read by subject rule 'a' (line 1: condition), is not made by this pipeline (did you mean 'count'?); its subject reductions are: consensus, count
        """
        read = set().union(*(rule.reads() for rule in self.rules(kind)))
        problems = []
        for name in sorted(read & set(grouped)):
            problems.append(
                f"reduction {name!r}, read by {self.readers(kind, name)}, is grouped (grouping: "
                f"in its reducer config): read one group's reduction as {name}/<group value>"
            )
        for name in sorted(read - set(available) - set(grouped)):
            if "/" in name and name.partition("/")[0] in grouped:
                continue  # one group of a grouped reducer: groups appear with the data
            close = difflib.get_close_matches(name, sorted(available), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            if name in elsewhere:
                hint = (
                    f" ({name!r} is a user reduction: subject rules read reducer configs "
                    "without topic: reduce_by_user)"
                    if kind == "subject"
                    else f" ({name!r} is a subject reduction: user rules read reducer configs "
                    "with topic: reduce_by_user)"
                )
            problems.append(
                f"reduction {name!r}, read by {self.readers(kind, name)}, is not made by this "
                f"pipeline{hint}"
            )
        if problems:
            raise RuleConfigError(
                f"{self.source}: {'; '.join(problems)}; its {kind} reductions are: "
                f"{', '.join(sorted(available)) or 'none'}"
            )

    def check_pipeline(self, pipeline: Any) -> None:
        """:meth:`check_reductions` for the subject and the user rules against a
        :class:`core.pipeline.Pipeline` (anything with its ``rule_keys(topic, grouped=)``)."""
        for kind, other in (("subject", "user"), ("user", "subject")):
            if self.rules(kind):
                self.check_reductions(
                    kind,
                    pipeline.rule_keys(kind),
                    grouped=pipeline.rule_keys(kind, grouped=True),
                    elsewhere=pipeline.rule_keys(other) | pipeline.rule_keys(other, grouped=True),
                )

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, kind: str, bindings: Mapping[str, Any]) -> Evaluation:
        """Evaluate the ``kind`` rules in order against ``bindings``; see the module docstring."""
        result = Evaluation()
        if self.rules_applied == "no_rules":
            return result
        first_only = self.rules_applied == "first_matching_rule"
        for rule in self.rules(kind):
            try:
                value = rule.check(bindings)
            except Exception as exc:  # noqa: BLE001 - one failing rule must not abort the others
                result.errors.append(RuleError(rule.id, f"{type(exc).__name__}: {exc}"))
                if first_only:
                    break
                continue
            if not ruby_truthy(value):
                continue
            result.matched.append(rule.id)
            result.firings.extend(Firing(rule, i, e) for i, e in enumerate(rule.effects))
            if first_only:
                break
        return result

    def evaluate_subject(self, bindings: Mapping[str, Any]) -> Evaluation:
        """Evaluate the subject rules (bindings from :func:`subject_bindings`)."""
        return self.evaluate("subject", bindings)

    def evaluate_user(self, bindings: Mapping[str, Any]) -> Evaluation:
        """Evaluate the user rules (bindings from :func:`user_bindings`)."""
        return self.evaluate("user", bindings)

    # -- action records -----------------------------------------------------------------------
    def actions_for(
        self,
        evaluation: Evaluation,
        bindings: Mapping[str, Any],
        *,
        workflow_id: Any,
        target_kind: str,
        target_id: Any,
        time: str | None,
    ) -> tuple[list[ActionRecord], list[RuleError]]:
        """One pending :class:`ActionRecord` per firing, plus the evaluation's errors.

        An ``external`` effect whose reducer has no reduction for this target is not made into
        an action (a :class:`RuleError` instead), so it can still fire once the reduction exists.
        The caller drops the ids it has already emitted (:func:`core.rules.actions.unfired`).
        """
        actions: list[ActionRecord] = []
        errors = list(evaluation.errors)
        for rule, index, effect in evaluation:
            payload = None
            if effect.action.startswith("external"):
                key = effect.config["reducer_key"]
                if key not in bindings:
                    errors.append(
                        RuleError(
                            rule.id,
                            f"{effect.action}: no reduction {key!r} for {target_kind} "
                            f"{target_id}; not fired yet",
                            index,
                        )
                    )
                    continue
                subject = None
                if target_kind == "subject":
                    metadata = dict(bindings.get("subject") or {})
                    metadata.pop("zooniverse_subject_id", None)
                    subject = {"id": target_id, "metadata": metadata}
                payload = {
                    "reducible": {"id": workflow_id, "type": "Workflow"},
                    "reducer_key": key,
                    "data": bindings[key],
                    "subject": subject,
                    "rule_id": rule.id,
                    "updated_at": time,
                }
            ident = action_id(
                workflow_id, rule.id, target_kind, target_id, index, effect.action, effect.config
            )
            if payload is not None:
                payload["action_id"] = ident
            actions.append(
                ActionRecord(
                    action_id=ident,
                    workflow_id=workflow_id,
                    rule_id=rule.id,
                    target_kind=target_kind,
                    subject_id=target_id if target_kind == "subject" else None,
                    user_id=target_id if target_kind == "user" else None,
                    effect=effect.action,
                    config=dict(effect.config),
                    time=time,
                    payload=payload,
                )
            )
        return actions, errors

    def subject_actions(
        self, bindings: Mapping[str, Any], *, workflow_id: Any, subject_id: Any, time: str | None
    ) -> tuple[list[ActionRecord], list[RuleError]]:
        """Evaluate the subject rules and turn the firings into pending action records."""
        return self.actions_for(
            self.evaluate_subject(bindings),
            bindings,
            workflow_id=workflow_id,
            target_kind="subject",
            target_id=subject_id,
            time=time,
        )

    def user_actions(
        self, bindings: Mapping[str, Any], *, workflow_id: Any, user_id: Any, time: str | None
    ) -> tuple[list[ActionRecord], list[RuleError]]:
        """Evaluate the user rules and turn the firings into pending action records."""
        return self.actions_for(
            self.evaluate_user(bindings),
            bindings,
            workflow_id=workflow_id,
            target_kind="user",
            target_id=user_id,
            time=time,
        )
