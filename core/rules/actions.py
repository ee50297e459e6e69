"""Effects and the action records they produce: validation, fire-once identity, serialisation.

An *effect* is what a rule does when its condition holds (``retire_subject``, ``promote_user``,
...); an *action* is one effect fired for one subject or user, written as an
:class:`ActionRecord` to the actions topic (Kafka mode) or the actions CSV (embedded mode) and
performed later by the effect executor (``stream/effects``).

Fire once. :func:`action_id` is a stable hash of (workflow, rule, subject or user, effect
position, effect action and config). The engine keeps the ids it has emitted and never emits one
twice, so an effect fires once per (rule, subject or user, effect) however often the rule is
evaluated again (later classifications, re-delivery, replay); the executor keeps the ids it has
performed and never performs one twice. Changing an effect's config makes a new action.

Secrets never enter a record: webhook credentials are named by environment variable
(``username_env``, ``password_env``) and read by the executor when it sends the request.

>>> cfg = validate_effect("retire_subject", {}, where="rule 'r'")
>>> cfg
{'reason': 'other'}
>>> a = action_id(1, "r", "subject", 55, 0, "retire_subject", cfg)
>>> a == action_id("1", "r", "subject", "55", 0, "retire_subject", {"reason": "other"}), len(a)
(True, 32)
>>> validate_effect("retire_subject", {"reason": "done"}, where="rule 'r'")
Traceback (most recent call last):
...
core.rules.conditions.RuleConfigError: rule 'r': retire_subject reason must be one of blank, classification_count, consensus, flagged, human, nothing_here, other; got 'done'
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Container, Iterable, Mapping
from typing import Any

from core.rules.conditions import RuleConfigError

__all__ = [
    "ACTION_COLUMNS",
    "ACTION_STATUSES",
    "RETIREMENT_REASONS",
    "SUBJECT_ACTIONS",
    "USER_ACTIONS",
    "ActionRecord",
    "action_id",
    "check_url",
    "unfired",
    "validate_effect",
]

#: Caesar's ``retire_subject`` reasons (Panoptes' ``retirement_reason`` values).
RETIREMENT_REASONS = (
    "classification_count", "flagged", "nothing_here", "blank", "consensus", "other", "human",
)  # fmt: skip
SUBJECT_ACTIONS = (
    "retire_subject", "add_subject_to_set", "add_subject_to_collection", "external",
    "external_with_basic_auth",
)  # fmt: skip
USER_ACTIONS = ("promote_user",)
ACTION_STATUSES = ("pending", "completed", "failed")
#: Columns of the actions CSV (``config`` and ``payload`` hold JSON text).
ACTION_COLUMNS = (
    "action_id", "workflow_id", "rule_id", "target_kind", "subject_id", "user_id", "effect",
    "config", "time", "status", "payload",
)  # fmt: skip

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOPBACK_NAMES = {"localhost"}


def _suggest(name: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _positive_int(value: Any, key: str, *, where: str, action: str) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RuleConfigError(
            f"{where}: {action} {key} must be a positive integer id, got {value!r}"
        )
    return value


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(url: Any, *, where: str, allow_http_loopback: bool = False) -> str:
    """``url`` if it is an absolute ``https`` URL with a host.

    ``http`` is accepted only for a loopback host (``127.0.0.1``, ``::1``, ``localhost``) and
    only when ``allow_http_loopback`` is set: tests and local development, never production.
    """
    if not isinstance(url, str) or not url:
        raise RuleConfigError(f"{where}: url must be an https URL, got {url!r}")
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme == "https" and host:
        return url
    if parts.scheme == "http" and host and _is_loopback(host):
        if allow_http_loopback:
            return url
        raise RuleConfigError(
            f"{where}: url {url!r} is plain http; http is allowed only for a loopback host and "
            "only with --allow-http-loopback (tests, local development)"
        )
    raise RuleConfigError(f"{where}: url must be an https URL with a host, got {url!r}")


def _env_name(value: Any, key: str, *, where: str, action: str) -> str:
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise RuleConfigError(
            f"{where}: {action} {key} must name an environment variable (letters, digits, _), "
            f"got {value!r}"
        )
    return value


_KEYS = {
    "retire_subject": ("reason",),
    "add_subject_to_set": ("subject_set_id",),
    "add_subject_to_collection": ("collection_id",),
    "external": ("url", "reducer_key"),
    "external_with_basic_auth": ("url", "reducer_key", "username_env", "password_env"),
    "promote_user": ("workflow_id", "project_id"),
}


def validate_effect(
    action: Any, config: Any, *, where: str, allow_http_loopback: bool = False
) -> dict[str, Any]:
    """The normalised config of one effect, or :class:`RuleConfigError` saying what is wrong.

    =============================  ===========================================================
    ``retire_subject``             ``reason`` in :data:`RETIREMENT_REASONS`; missing: ``other``
    ``add_subject_to_set``         ``subject_set_id`` (integer; numeric text accepted)
    ``add_subject_to_collection``  ``collection_id`` (integer)
    ``external``                   ``url`` (https), ``reducer_key`` (whose data is posted)
    ``external_with_basic_auth``   as ``external``, plus ``username_env``/``password_env``: the
                                   *names* of environment variables holding the credentials
    ``promote_user``               ``workflow_id`` (the target workflow), optional
                                   ``project_id`` (else looked up from the workflow)
    =============================  ===========================================================
    """
    valid = (*SUBJECT_ACTIONS, *USER_ACTIONS)
    if action not in valid:
        raise RuleConfigError(
            f"{where}: unknown action {action!r}{_suggest(str(action), valid)}; valid actions: "
            f"{', '.join(valid)}"
        )
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise RuleConfigError(f"{where}: {action} config must be an object, got {config!r}")
    allowed = _KEYS[action]
    for key in config:
        if key not in allowed:
            if action.startswith("external") and key in ("username", "password"):
                raise RuleConfigError(
                    f"{where}: {action} must not hold credentials ({key!r}): put them in "
                    f"environment variables and name those with username_env and password_env"
                )
            raise RuleConfigError(
                f"{where}: {action} has no config key {key!r}{_suggest(str(key), allowed)}; "
                f"valid keys: {', '.join(allowed) or '(none)'}"
            )
    out: dict[str, Any] = {}
    if action == "retire_subject":
        reason = config.get("reason") or "other"
        if reason not in RETIREMENT_REASONS:
            raise RuleConfigError(
                f"{where}: retire_subject reason must be one of "
                f"{', '.join(sorted(RETIREMENT_REASONS))}; got {reason!r}"
            )
        out["reason"] = reason
    elif action in ("add_subject_to_set", "add_subject_to_collection", "promote_user"):
        key = allowed[0]
        if key not in config:
            raise RuleConfigError(f"{where}: {action} needs {key}")
        out[key] = _positive_int(config[key], key, where=where, action=action)
        if "project_id" in config:
            out["project_id"] = _positive_int(
                config["project_id"], "project_id", where=where, action=action
            )
    else:  # external, external_with_basic_auth
        for key in allowed:
            if key not in config:
                raise RuleConfigError(f"{where}: {action} needs {key}")
        out["url"] = check_url(
            config["url"], where=f"{where}: {action}", allow_http_loopback=allow_http_loopback
        )
        if not isinstance(config["reducer_key"], str) or not config["reducer_key"]:
            raise RuleConfigError(
                f"{where}: {action} reducer_key must be a reducer key, got {config['reducer_key']!r}"
            )
        out["reducer_key"] = config["reducer_key"]
        for key in ("username_env", "password_env"):
            if key in allowed:
                out[key] = _env_name(config[key], key, where=where, action=action)
    return out


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def action_id(
    workflow_id: Any,
    rule_id: str,
    target_kind: str,
    target_id: Any,
    effect_index: int,
    action: str,
    config: Mapping[str, Any],
) -> str:
    """The stable identity of one effect fired for one target: 32 hex digits (128 bits of
    SHA-256). Ids are compared as text, so subject ``55`` and ``"55"`` are the same target."""
    text = _canonical(
        ["tally-action/1", str(workflow_id), str(rule_id), target_kind, str(target_id),
         int(effect_index), action, dict(config)]
    )  # fmt: skip
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class ActionRecord:
    """One fired effect. ``status`` is ``pending`` when the engine emits it; the executor
    records ``completed``/``failed`` in its own state, never by rewriting the record.

    ``time`` is the ``created_at`` of the classification whose reduction made the rule true.
    ``payload`` is what an ``external`` webhook receives (the reduction's data at firing time);
    None for the other effects. ``config`` never holds a secret (see :func:`validate_effect`).
    """

    action_id: str
    workflow_id: Any
    rule_id: str
    target_kind: str  # "subject" or "user"
    subject_id: Any
    user_id: Any
    effect: str
    config: Mapping[str, Any]
    time: str | None
    status: str = "pending"
    payload: Mapping[str, Any] | None = None

    @property
    def target_id(self) -> Any:
        return self.subject_id if self.target_kind == "subject" else self.user_id

    def to_dict(self) -> dict[str, Any]:
        """The JSON object written to the actions topic."""
        return {
            "action_id": self.action_id,
            "workflow_id": self.workflow_id,
            "rule_id": self.rule_id,
            "target_kind": self.target_kind,
            "subject_id": self.subject_id,
            "user_id": self.user_id,
            "effect": self.effect,
            "config": dict(self.config),
            "time": self.time,
            "status": self.status,
            "payload": None if self.payload is None else dict(self.payload),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActionRecord:
        """Read a record back (from the actions topic or :meth:`from_row`), checking it the way
        the engine made it: a ``ValueError`` naming the action id says what is wrong.

        The effect's config is validated as in a rules file (:func:`validate_effect`; a
        webhook's plain-http loopback URL is left for the executor to accept or refuse) and
        comes back normalised; the target (``subject_id`` or ``user_id``) and the workflow
        must be given; an ``external`` effect needs its payload.

        >>> good = {"action_id": "a1", "workflow_id": 7, "rule_id": "r", "target_kind": "subject",
        ...         "subject_id": 55, "user_id": None, "effect": "add_subject_to_set",
        ...         "config": {"subject_set_id": "12"}, "time": None}
        >>> ActionRecord.from_dict(good).config
        {'subject_set_id': 12}
        >>> ActionRecord.from_dict({**good, "config": {}})
        Traceback (most recent call last):
        ...
        ValueError: action a1 (add_subject_to_set, rule 'r'): add_subject_to_set needs subject_set_id
        >>> ActionRecord.from_dict({**good, "subject_id": None})
        Traceback (most recent call last):
        ...
        ValueError: action a1 (add_subject_to_set, rule 'r'): no subject_id: a subject action needs the subject it acts on
        """
        missing = [k for k in ACTION_COLUMNS if k not in data and k not in ("status", "payload")]
        if missing:
            raise ValueError(f"action record lacks {', '.join(missing)}: {dict(data)!r:.200}")
        ident = data["action_id"]
        if ident is None or not str(ident).strip():
            raise ValueError(f"action record has no action_id: {dict(data)!r:.200}")
        effect = data["effect"]
        where = f"action {ident} ({effect}, rule {data['rule_id']!r})"
        kind = data["target_kind"]
        if kind not in ("subject", "user"):
            raise ValueError(f"{where}: target_kind must be subject or user, got {kind!r}")
        if effect not in (*SUBJECT_ACTIONS, *USER_ACTIONS):
            raise ValueError(f"{where}: unknown action effect {effect!r}")
        if effect not in (SUBJECT_ACTIONS if kind == "subject" else USER_ACTIONS):
            raise ValueError(f"{where}: {effect} does not act on a {kind} (target_kind {kind!r})")
        status = data.get("status") or "pending"
        if status not in ACTION_STATUSES:
            raise ValueError(
                f"{where}: status must be one of {', '.join(ACTION_STATUSES)}, got {status!r}"
            )
        target_column = f"{kind}_id"
        if _blank_id(data[target_column]):
            raise ValueError(
                f"{where}: no {target_column}: a {kind} action needs the {kind} it acts on"
            )
        if _blank_id(data["workflow_id"]):
            raise ValueError(f"{where}: no workflow_id")
        if data["rule_id"] is None or not str(data["rule_id"]).strip():
            raise ValueError(f"{where}: no rule_id")
        raw_config = data["config"]
        if raw_config is not None and not isinstance(raw_config, Mapping):
            raise ValueError(f"{where}: config must be a JSON object, got {raw_config!r:.100}")
        try:
            config = validate_effect(effect, raw_config, where=where, allow_http_loopback=True)
        except RuleConfigError as exc:
            raise ValueError(str(exc)) from None
        payload = data.get("payload")
        if payload is not None and not isinstance(payload, Mapping):
            raise ValueError(f"{where}: payload must be a JSON object, got {payload!r:.100}")
        if effect.startswith("external") and payload is None:
            raise ValueError(f"{where}: an {effect} action needs the payload to post")
        return cls(
            action_id=str(ident),
            workflow_id=data["workflow_id"],
            rule_id=str(data["rule_id"]),
            target_kind=kind,
            subject_id=data["subject_id"],
            user_id=data["user_id"],
            effect=effect,
            config=config,
            time=data["time"],
            status=status,
            payload=payload,
        )

    def to_row(self) -> dict[str, str]:
        """The actions-CSV row (:data:`ACTION_COLUMNS`; empty cell for null)."""
        d = self.to_dict()
        row = {}
        for column in ACTION_COLUMNS:
            value = d[column]
            if column in ("config", "payload"):
                row[column] = "" if value is None else _canonical(value)
            else:
                row[column] = "" if value is None else str(value)
        return row

    @classmethod
    def from_row(cls, row: Mapping[str, str]) -> ActionRecord:
        """Read an actions-CSV row; numeric ids come back as integers. A malformed row raises
        ``ValueError`` saying what is wrong (see :meth:`from_dict`)."""

        def number(text: str | None) -> Any:
            if text is None or text.strip() == "":
                return None
            return int(text) if re.fullmatch(r"-?\d+", text) else text

        def json_cell(column: str) -> Any:
            text = row.get(column)
            if not text:
                return None
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(
                    f"action {row.get('action_id')}: {column} is not JSON ({exc}): {text!r:.100}"
                ) from None

        return cls.from_dict(
            {
                "action_id": row.get("action_id"),
                "workflow_id": number(row.get("workflow_id")),
                "rule_id": row.get("rule_id"),
                "target_kind": row.get("target_kind"),
                "subject_id": number(row.get("subject_id")),
                "user_id": number(row.get("user_id")),
                "effect": row.get("effect"),
                "config": json_cell("config"),
                "time": row.get("time") or None,
                "status": row.get("status") or "pending",
                "payload": json_cell("payload"),
            }
        )


def _blank_id(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def unfired(actions: Iterable[ActionRecord], fired: Container[str]) -> list[ActionRecord]:
    """The actions whose id is not in ``fired`` (the engine's store of emitted ids), each once."""
    out, seen = [], set()
    for action in actions:
        if action.action_id in fired or action.action_id in seen:
            continue
        seen.add(action.action_id)
        out.append(action)
    return out
