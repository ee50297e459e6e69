"""One HTTP request with a timeout, retried with exponential backoff and jitter.

Retried: connection errors, timeouts, ``5xx`` and ``429`` answers (a numeric ``Retry-After`` is
honoured up to the policy's ``max_delay``). Not retried: other ``4xx`` (the request itself is
wrong; repeating it cannot help). The delay before attempt ``k + 1`` is
``min(max_delay, base_delay * 2**(k-1))`` scaled by a random factor in ``[1 - jitter, 1]``, so
many executors retrying against a recovering service spread out instead of arriving together.

Nothing here logs or returns a request header; error texts are scrubbed of every secret the
caller names (:func:`scrub`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

import aiohttp

__all__ = ["EffectFailed", "Response", "RetryPolicy", "request", "scrub"]


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_attempts`` requests, each with a ``timeout`` (seconds, total)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    timeout: float = 10.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.timeout <= 0 or self.base_delay < 0 or self.max_delay < 0:
            raise ValueError("timeout must be > 0 and delays >= 0")
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return ceiling * rng.uniform(1 - self.jitter, 1.0)


@dataclasses.dataclass(frozen=True)
class Response:
    status: int
    body: Any  # parsed JSON, or the text when it is not JSON
    headers: Mapping[str, str]  # case-insensitive
    attempts: int


class EffectFailed(Exception):
    """The effect could not be performed. ``attempts`` says how many requests were made."""

    def __init__(self, message: str, *, attempts: int = 0, status: int | None = None) -> None:
        super().__init__(message)
        self.attempts = attempts
        self.status = status


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


async def _read(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    if not text:
        return None
    try:
        return await response.json(content_type=None)
    except ValueError:
        return text


async def request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    json: Any = None,
    params: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
    rng: random.Random,
    sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    secrets: Iterable[str | None] = (),
    on_attempt: Callable[[], Any] | None = None,
    accept: Callable[[int, Any], bool] | None = None,
) -> Response:
    """Send the request until it succeeds (2xx, or ``accept(status, body)``) or the policy gives
    up; raise :class:`EffectFailed` then. ``on_attempt`` runs before every attempt."""
    secrets = tuple(secrets)
    last = ""
    status = None
    for attempt in range(1, policy.max_attempts + 1):
        if on_attempt is not None:
            on_attempt()
        retry_after = None
        try:
            async with session.request(
                method,
                url,
                json=json,
                params=params,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=policy.timeout),
                allow_redirects=False,
            ) as response:
                body = await _read(response)
                status = response.status
                if 200 <= status < 300 or (accept is not None and accept(status, body)):
                    return Response(status, body, response.headers.copy(), attempt)
                last = f"HTTP {status}: {str(body)[:200]}"
                if status != 429 and status < 500:
                    raise EffectFailed(
                        scrub(f"{method} {url}: {last}", secrets), attempts=attempt, status=status
                    )
                if status == 429:
                    value = response.headers.get("Retry-After", "")
                    retry_after = float(value) if value.isdigit() else None
        except TimeoutError:
            last = f"no answer within {policy.timeout:g} s"
        except aiohttp.ClientError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if attempt < policy.max_attempts:
            delay = policy.delay(attempt, rng)
            if retry_after is not None:
                delay = min(policy.max_delay, max(delay, retry_after))
            await sleep(delay)
    raise EffectFailed(
        scrub(
            f"{method} {url}: gave up after {policy.max_attempts} attempts; last: {last}", secrets
        ),
        attempts=policy.max_attempts,
        status=status,
    )
