"""A small Panoptes API client: the four calls Caesar's effects make.

=============================  ==============================================================
retire a subject               ``POST {base}/workflows/{id}/retired_subjects``
                               ``{"admin": true, "subject_id": s, "retirement_reason": r}``
add a subject to a set         ``POST {base}/subject_sets/{id}/links/subjects {"subjects": [s]}``
add a subject to a collection  ``POST {base}/collections/{id}/links/subjects {"subjects": [s]}``
promote a user to a workflow   ``GET {base}/project_preferences?user_id=&project_id=``, its
                               ``ETag``, the two workflows' ``configuration.level``; if the
                               target's level is higher, ``PUT {base}/project_preferences/{id}``
                               ``{"project_preferences": {"settings": {"workflow_id": w}}}``
                               with ``If-Match`` (as panoptes-client's
                               ``promote_user_to_workflow``)
=============================  ==============================================================

The base URL comes from ``TALLY_PANOPTES_URL`` (default ``https://www.zooniverse.org/api``; it
must be https, or http to a loopback host for tests). The credential is a bearer token read from
the environment variable ``TALLY_PANOPTES_TOKEN`` (the name can be changed) when the client is
built; it is sent only in the ``Authorization`` header, never logged, never stored, and scrubbed
from every error message.

As in Caesar, "already there" answers count as success: a set that already holds the subject
(Panoptes reports ``PG::UniqueViolation``) and a collection that does (``already in the
collection``). Re-retiring a retired subject is harmless to Panoptes.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from core.rules.actions import check_url
from core.rules.conditions import RuleConfigError
from stream.effects.http import EffectFailed, Response, RetryPolicy, request

__all__ = ["DEFAULT_PANOPTES_URL", "TOKEN_ENV", "URL_ENV", "PanoptesClient"]

DEFAULT_PANOPTES_URL = "https://www.zooniverse.org/api"
URL_ENV = "TALLY_PANOPTES_URL"
TOKEN_ENV = "TALLY_PANOPTES_TOKEN"  # noqa: S105 - the name of the variable, not a token


def _level(workflow: Mapping[str, Any] | None) -> int:
    """``configuration.level.to_i`` (Ruby: missing or non-numeric is 0)."""
    configuration = (workflow or {}).get("configuration") or {}
    text = str(configuration.get("level") or "").strip()
    digits = ""
    for ch in text.lstrip("+-"):
        if not ch.isdigit():
            break
        digits += ch
    return (-1 if text.startswith("-") else 1) * int(digits) if digits else 0


class PanoptesClient:
    """Panoptes calls over an open :class:`aiohttp.ClientSession`; see the module docstring."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        base_url: str | None = None,
        environ: Mapping[str, str],
        token_env: str = TOKEN_ENV,
        policy: RetryPolicy,
        rng: random.Random,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
        allow_http_loopback: bool = True,
    ) -> None:
        url = base_url or environ.get(URL_ENV) or DEFAULT_PANOPTES_URL
        try:
            self.base_url = check_url(
                url, where="Panoptes URL", allow_http_loopback=allow_http_loopback
            ).rstrip("/")
        except RuleConfigError as exc:
            raise ValueError(str(exc)) from None
        self.token_env = token_env
        self.__token = environ.get(token_env) or None
        self._session = session
        self._policy = policy
        self._rng = rng
        self._sleep = sleep

    def __repr__(self) -> str:
        state = "with" if self.__token else "without"
        return f"PanoptesClient({self.base_url!r}, {state} a token from ${self.token_env})"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.__token,) if self.__token else ()

    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        idempotency_key: str | None = None,
        on_attempt: Callable[[], Any] | None = None,
        accept: Callable[[int, Any], bool] | None = None,
    ) -> Response:
        if not self.__token:
            raise EffectFailed(
                f"no Panoptes credentials: set the environment variable {self.token_env} "
                "to a bearer token of an account allowed to change this project"
            )
        all_headers = {
            "Accept": "application/vnd.api+json; version=1",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {self.__token}",
            "User-Agent": "tally-effects",
            **(headers or {}),
        }
        if idempotency_key:
            all_headers["Idempotency-Key"] = idempotency_key
        return await request(
            self._session,
            method,
            f"{self.base_url}{path}",
            policy=self._policy,
            json=json,
            params=params,
            headers=all_headers,
            rng=self._rng,
            sleep=self._sleep,
            secrets=self.secrets,
            on_attempt=on_attempt,
            accept=accept,
        )

    async def retire_subject(
        self, workflow_id: Any, subject_id: Any, reason: str, **kw: Any
    ) -> Response:
        return await self._call(
            "POST",
            f"/workflows/{workflow_id}/retired_subjects",
            json={"admin": True, "subject_id": subject_id, "retirement_reason": reason},
            **kw,
        )

    async def add_subjects_to_subject_set(
        self, subject_set_id: Any, subject_ids: list[Any], **kw: Any
    ) -> Response:
        return await self._call(
            "POST",
            f"/subject_sets/{subject_set_id}/links/subjects",
            json={"subjects": list(subject_ids)},
            accept=lambda status, body: 400 <= status < 500 and "PG::UniqueViolation" in str(body),
            **kw,
        )

    async def add_subjects_to_collection(
        self, collection_id: Any, subject_ids: list[Any], **kw: Any
    ) -> Response:
        return await self._call(
            "POST",
            f"/collections/{collection_id}/links/subjects",
            json={"subjects": list(subject_ids)},
            accept=lambda status, body: (
                400 <= status < 500 and "already in the collection" in str(body)
            ),
            **kw,
        )

    async def _first(self, path: str, key: str, **kw: Any) -> tuple[dict, Response]:
        response = await self._call("GET", path, **kw)
        items = (response.body or {}).get(key) if isinstance(response.body, Mapping) else None
        if not items:
            raise EffectFailed(f"GET {path}: no {key} in the answer", attempts=response.attempts)
        return items[0], response

    async def workflow(self, workflow_id: Any, **kw: Any) -> dict:
        workflow, _ = await self._first(f"/workflows/{workflow_id}", "workflows", **kw)
        return workflow

    async def workflow_project_id(self, workflow_id: Any, **kw: Any) -> Any:
        """The project a workflow belongs to (``links.project``)."""
        project = ((await self.workflow(workflow_id, **kw)).get("links") or {}).get("project")
        if project is None:
            raise EffectFailed(f"workflow {workflow_id} has no project link")
        return project

    async def promote_user_to_workflow(
        self, user_id: Any, project_id: Any, workflow_id: Any, **kw: Any
    ) -> str:
        """Move the user to ``workflow_id`` when its level is above their current workflow's;
        returns ``promoted`` or why not (a completed no-op, as in panoptes-client)."""
        preferences, _ = await self._first(
            "/project_preferences",
            "project_preferences",
            params={"user_id": str(user_id), "project_id": str(project_id)},
            **kw,
        )
        preference_id = preferences["id"]
        current = (preferences.get("settings") or {}).get("workflow_id")
        response = await self._call("GET", f"/project_preferences/{preference_id}", **kw)
        etag = response.headers.get("ETag")
        target_level = _level(await self.workflow(workflow_id, **kw))
        current_level = _level(await self.workflow(current, **kw)) if current else None
        if current_level is not None and target_level <= current_level:
            return (
                f"not promoted: workflow {workflow_id} (level {target_level}) is not above the "
                f"current workflow {current} (level {current_level})"
            )
        await self._call(
            "PUT",
            f"/project_preferences/{preference_id}",
            json={"project_preferences": {"settings": {"workflow_id": str(workflow_id)}}},
            headers={"If-Match": etag} if etag else None,
            **kw,
        )
        return "promoted"
