"""Ordered fan-out of work items to worker processes, with a bounded number in flight."""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = ["ordered_map"]


def _start_worker(initializer: Callable[..., None] | None, *initargs: Any) -> None:
    # The parent turns SIGTERM into a clean exit; workers just stop when the pool terminates them.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if initializer is not None:
        initializer(*initargs)


T = TypeVar("T")
R = TypeVar("R")


def ordered_map(
    func: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int,
    initializer: Callable[..., None] | None = None,
    initargs: tuple[Any, ...] = (),
    in_flight: int | None = None,
) -> Iterator[R]:
    """``map(func, items)`` over ``workers`` processes, results in input order.

    Items are pulled lazily, at most ``in_flight`` (default ``2 * workers + 2``) at a time, so a
    huge input never piles up in the pool's queue. ``workers <= 1`` runs in this process.
    Closing the iterator early terminates the pool.
    """
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in items:
            yield func(item)
        return
    limit = in_flight or 2 * workers + 2
    with multiprocessing.get_context().Pool(
        workers, _start_worker, (initializer, *initargs)
    ) as pool:
        pending: deque[Any] = deque()
        for item in items:
            pending.append(pool.apply_async(func, (item,)))
            if len(pending) >= limit:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()
