"""The effect executor: performs pending action records, each at most once.

It runs apart from aggregation (``tally effects run``), reading the action records the engine
emitted: from the actions CSV of the embedded mode or from the actions topic of the Kafka mode.
For every record (checked first, as :meth:`ActionRecord.from_dict` checks records: a malformed
one is reported as ``malformed`` and not performed, the others are):

1. **claim** it in the executor state (:class:`stream.effects.state.ExecutorState`); a record
   already completed (or failed, unless ``retry_failed``) is skipped, so re-reading the same
   records never performs an action twice;
2. **perform** it: a webhook POST (``external``, ``external_with_basic_auth``) or a Panoptes call
   (``retire_subject``, ``add_subject_to_set``, ``add_subject_to_collection``, ``promote_user``),
   each request with a timeout, retried with exponential backoff and jitter on timeouts,
   connection errors, 5xx and 429 (see :mod:`stream.effects.http`), and carrying an
   ``Idempotency-Key`` header equal to the action id, so a receiver can drop the duplicate a
   crash between "sent" and "recorded" may cause;
3. **record** the outcome (``completed`` or ``failed``, the number of attempts, a short scrubbed
   detail, ``completed_at``).

Actions for the same subject or user are performed one at a time, in the order read (an
``add_subject_to_set`` before the ``retire_subject`` of the same rule); different targets run
concurrently, up to ``concurrency`` at once.

Secrets: the Panoptes token and webhook credentials are read from environment variables when
needed and only ever placed in request headers. Log lines name the action id, effect, rule and
target, never a header, a credential or a payload.

Webhook request (``external``): ``POST url`` with the record's ``payload`` as JSON (the reducer's
data when the rule fired: ``{"reducible", "reducer_key", "data", "subject", "rule_id",
"updated_at", "action_id"}``), headers ``Content-Type: application/json``,
``Idempotency-Key: <action_id>``; ``external_with_basic_auth`` adds HTTP Basic credentials from
the environment variables its config names. Any 2xx is success.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import random
from collections.abc import AsyncIterable, Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp

from core.rules.actions import ActionRecord, check_url
from core.rules.conditions import RuleConfigError
from stream.effects.http import EffectFailed, RetryPolicy, request, scrub
from stream.effects.panoptes import TOKEN_ENV, PanoptesClient
from stream.effects.state import ExecutorState

__all__ = ["Executor", "Outcome", "RunSummary"]

log = logging.getLogger("tally.effects")


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What happened to one action record: ``completed``, ``failed``, ``skipped`` (completed
    in an earlier run), ``failed_before`` (failed in an earlier run and not retried: still
    not done, so a run that meets one does not succeed) or ``malformed`` (the record itself is
    wrong, see :meth:`ActionRecord.from_dict`; nothing was sent and nothing recorded)."""

    action_id: str
    status: str
    attempts: int = 0
    detail: str = ""


@dataclasses.dataclass
class RunSummary:
    """Outcomes of a run, counted by status (see :class:`Outcome`)."""

    completed: int = 0
    failed: int = 0
    skipped: int = 0
    failed_before: int = 0
    malformed: int = 0
    outcomes: list[Outcome] = dataclasses.field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        setattr(self, outcome.status, getattr(self, outcome.status) + 1)
        self.outcomes.append(outcome)

    def merge(self, other: RunSummary) -> None:
        """Add ``other``'s counts and outcomes (the Kafka mode sums its batches)."""
        for outcome in other.outcomes:  # every count comes from an outcome (add)
            self.add(outcome)

    @property
    def all_done(self) -> bool:
        """True when every action is completed: none failed, now or in an earlier run, and
        no record was malformed."""
        return not self.failed and not self.failed_before and not self.malformed


class Executor:
    """Performs action records; use as ``async with Executor(state, ...) as ex: await ex.run(...)``.

    Parameters
    ----------
    state
        The open executor state (idempotency by action id).
    policy
        Timeout and retry policy for every request.
    environ
        Where credentials and ``TALLY_PANOPTES_URL`` are read (default ``os.environ``).
    panoptes_url, panoptes_token_env
        The Panoptes API base URL (else ``$TALLY_PANOPTES_URL``, else production) and the name
        of the variable holding its bearer token.
    allow_http_loopback
        Accept ``http://127.0.0.1``-style webhook URLs (tests); https is required otherwise.
    retry_failed
        Perform again actions that failed in an earlier run (off: failures need a decision).
    """

    def __init__(
        self,
        state: ExecutorState,
        *,
        policy: RetryPolicy | None = None,
        environ: Mapping[str, str] | None = None,
        panoptes_url: str | None = None,
        panoptes_token_env: str = TOKEN_ENV,
        allow_http_loopback: bool = False,
        retry_failed: bool = False,
        concurrency: int = 8,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        self.state = state
        self.policy = policy or RetryPolicy()
        self.environ = os.environ if environ is None else environ
        self.panoptes_url = panoptes_url
        self.panoptes_token_env = panoptes_token_env
        self.allow_http_loopback = allow_http_loopback
        self.retry_failed = retry_failed
        self.concurrency = concurrency
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self.sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._panoptes: PanoptesClient | None = None
        self._project_ids: dict[Any, Any] = {}
        self._failed: set[str] = set()  # action ids that failed in this run

    async def __aenter__(self) -> Executor:
        self._session = aiohttp.ClientSession()
        try:
            self._panoptes = PanoptesClient(
                self._session,
                base_url=self.panoptes_url,
                environ=self.environ,
                token_env=self.panoptes_token_env,
                policy=self.policy,
                rng=self.rng,
                sleep=self.sleep,
            )
        except BaseException:
            await self._session.close()
            self._session = None
            raise
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._session is not None:
            await self._session.close()
        self._session = None

    # -- one action ---------------------------------------------------------------------------
    async def perform(self, action: ActionRecord) -> Outcome:
        """Claim, perform and record one action (see the module docstring)."""
        if self._session is None:
            raise RuntimeError("use the Executor as `async with Executor(...) as executor`")
        try:
            # the readers check records already; this guards records built in code, so a
            # bad one is reported, not sent half-formed or crashing the run
            action = ActionRecord.from_dict(action.to_dict())
        except (ValueError, TypeError) as exc:
            log.error("malformed action record, not performed: %s", exc)
            return Outcome(action.action_id, "malformed", 0, str(exc))
        if not self.state.claim(action, retry_failed=self.retry_failed):
            row = self.state.get(action.action_id) or {}
            log.debug("action %s already %s; skipped", action.action_id, row.get("status"))
            # a repeat of a record this run already failed is counted once, as that failure
            failed_before = row.get("status") == "failed" and action.action_id not in self._failed
            status = "failed_before" if failed_before else "skipped"
            return Outcome(action.action_id, status, row.get("attempts", 0), row.get("detail", ""))
        where = (
            f"action {action.action_id} ({action.effect}, rule {action.rule_id!r}, "
            f"{action.target_kind} {action.target_id})"
        )

        def count_attempt() -> None:
            self.state.attempt(action.action_id)

        secrets = self._secrets(action)
        try:
            detail = await self._dispatch(action, count_attempt)
        except EffectFailed as exc:
            message = scrub(str(exc), secrets)
            self.state.finish(action.action_id, "failed", message)
            self._failed.add(action.action_id)
            attempts = (self.state.get(action.action_id) or {}).get("attempts", 0)
            log.warning("%s failed after %d attempt(s): %s", where, attempts, message)
            return Outcome(action.action_id, "failed", attempts, message)
        self.state.finish(action.action_id, "completed", detail)
        attempts = (self.state.get(action.action_id) or {}).get("attempts", 0)
        log.info(
            "%s completed after %d attempt(s)%s", where, attempts, f": {detail}" if detail else ""
        )
        return Outcome(action.action_id, "completed", attempts, detail)

    def _secrets(self, action: ActionRecord) -> list[str]:
        """Every text that would give a credential away: the values and, for Basic auth, the
        encoded header (a server may echo it back)."""
        secrets = list(self._panoptes.secrets if self._panoptes else ())
        names = [action.config.get(key) for key in ("username_env", "password_env")]
        values = [self.environ.get(name) for name in names if name]
        secrets.extend(v for v in values if v)
        if len(values) == 2 and all(v is not None for v in values):
            header = aiohttp.encode_basic_auth(values[0], values[1])
            secrets.extend([header, header.split(" ", 1)[-1]])
        return sorted(secrets, key=len, reverse=True)  # longest first: no partial leftovers

    async def _dispatch(self, action: ActionRecord, on_attempt: Callable[[], Any]) -> str:
        config = action.config
        panoptes = self._panoptes
        assert panoptes is not None
        kw = {"idempotency_key": action.action_id, "on_attempt": on_attempt}
        if action.effect == "retire_subject":
            await panoptes.retire_subject(
                action.workflow_id, action.subject_id, config.get("reason") or "other", **kw
            )
            return ""
        if action.effect == "add_subject_to_set":
            await panoptes.add_subjects_to_subject_set(
                config["subject_set_id"], [action.subject_id], **kw
            )
            return ""
        if action.effect == "add_subject_to_collection":
            await panoptes.add_subjects_to_collection(
                config["collection_id"], [action.subject_id], **kw
            )
            return ""
        if action.effect == "promote_user":
            project_id = config.get("project_id")
            if project_id is None:
                if action.workflow_id not in self._project_ids:
                    self._project_ids[action.workflow_id] = await panoptes.workflow_project_id(
                        action.workflow_id, on_attempt=on_attempt
                    )
                project_id = self._project_ids[action.workflow_id]
            result = await panoptes.promote_user_to_workflow(
                action.user_id, project_id, config["workflow_id"], on_attempt=on_attempt
            )
            return "" if result == "promoted" else result
        if action.effect in ("external", "external_with_basic_auth"):
            return await self._webhook(action, on_attempt)
        raise EffectFailed(f"unknown effect {action.effect!r}")

    async def _webhook(self, action: ActionRecord, on_attempt: Callable[[], Any]) -> str:
        try:
            url = check_url(
                action.config.get("url"),
                where="webhook",
                allow_http_loopback=self.allow_http_loopback,
            )
        except RuleConfigError as exc:
            raise EffectFailed(str(exc)) from None
        if action.payload is None:
            raise EffectFailed("the action record carries no payload to post")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": action.action_id,
            "User-Agent": "tally-effects",
        }
        if action.effect == "external_with_basic_auth":
            names = (action.config.get("username_env"), action.config.get("password_env"))
            missing = [n for n in names if not n or n not in self.environ]
            if missing:
                raise EffectFailed(
                    f"webhook credentials missing: set the environment variable(s) "
                    f"{', '.join(str(n) for n in missing)}"
                )
            headers["Authorization"] = aiohttp.encode_basic_auth(
                self.environ[names[0]], self.environ[names[1]]
            )
        assert self._session is not None
        await request(
            self._session,
            "POST",
            url,
            policy=self.policy,
            json=dict(action.payload),
            headers=headers,
            rng=self.rng,
            sleep=self.sleep,
            secrets=self._secrets(action),
            on_attempt=on_attempt,
        )
        return ""

    # -- many actions -------------------------------------------------------------------------
    async def run(
        self, actions: Iterable[ActionRecord] | AsyncIterable[ActionRecord]
    ) -> RunSummary:
        """Perform ``actions``: one target at a time in the order given, up to ``concurrency``
        targets at once. Returns the tally of outcomes (in completion order)."""
        summary = RunSummary()
        chains: dict[tuple[str, str], asyncio.Task] = {}
        running: collections.deque[asyncio.Task] = collections.deque()
        slots = asyncio.Semaphore(self.concurrency)

        async def after(
            previous: asyncio.Task | None, action: ActionRecord, key: tuple[str, str]
        ) -> None:
            try:
                if previous is not None:
                    await asyncio.shield(previous)
                async with slots:
                    summary.add(await self.perform(action))
            finally:
                if chains.get(key) is asyncio.current_task():
                    del chains[key]  # the chain is done: forget the target

        async def submit(action: ActionRecord) -> None:
            key = (action.target_kind, str(action.target_id))
            previous = chains.get(key)
            task = asyncio.ensure_future(after(previous, action, key))
            chains[key] = task
            running.append(task)
            while len(running) > 4 * self.concurrency:  # bounded memory on long inputs
                await running.popleft()

        if isinstance(actions, AsyncIterable):
            async for action in actions:
                await submit(action)
        else:
            for action in actions:
                await submit(action)
        await asyncio.gather(*running)
        return summary
