"""Ordered fan-out of work items to worker processes, with a bounded number in flight."""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

__all__ = [
    "available_workers",
    "collector_paused",
    "cpus_available",
    "exit_with_parent",
    "ordered_map",
]


_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@functools.cache
def _prctl() -> Callable[[int], int] | None:
    """``prctl(PR_SET_PDEATHSIG, sig)`` as a function of ``sig`` (None: not on this platform)."""
    # looked up in the parent before it forks: importing ctypes costs each worker ~12 ms, and
    # the parent ~2.5 ms of its serial start, so the compiled form first (Linux, when built)
    try:
        from tally._process_compiled import set_parent_death_signal
    except ImportError:
        pass
    else:
        return set_parent_death_signal
    try:
        import ctypes

        return functools.partial(ctypes.CDLL(None).prctl, 1)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return None


def exit_with_parent() -> None:
    """In a child process: get SIGTERM when the parent dies (Linux; elsewhere nothing).

    Without it, workers of a ``kill -9``-ed command run on, finish their current item and print
    broken-pipe tracebacks into the terminal.
    """
    prctl = _prctl()
    if prctl is not None:
        prctl(signal.SIGTERM)


def _start_worker(parent: int, initializer: Callable[..., None] | None, *initargs: Any) -> None:
    # Workers start with SIGTERM and SIGINT blocked (see ordered_map). Install the worker's own
    # dispositions first, then unblock: a SIGTERM the pool sent while this process was still
    # starting is delivered now and stops it, instead of reaching the parent's Python handler,
    # which a fresh fork still has, and being lost (the pool would wait for it forever).
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    exit_with_parent()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    if os.getppid() != parent:  # the parent died before the line above: nobody to work for
        os._exit(1)
    if initializer is not None:
        initializer(*initargs)


@functools.cache
def _quiet_pool_class() -> type:
    """``multiprocessing.pool.Pool`` whose worker-handler thread wakes only when a worker ends
    or the pool's state changes.

    CPython's (3.8 on) also wakes it for every result not read yet, so while the result thread
    waits for the GIL to read one, the handler turns round (checking each worker, polling its
    pipes) holding the GIL in turns: 700-1,000 turns in a 20k extract, 10-30 ms of the parent's
    CPU, which the workers' two cores pay for, and results read later. Neither of the handler's
    jobs needs the results: replacing workers that ended (their sentinels wake it) and ending
    when closed or terminated (the pool's change notifier wakes it).
    """
    import multiprocessing.pool  # here, as multiprocessing: only runs with workers need it

    class QuietPool(multiprocessing.pool.Pool):
        def _get_sentinels(self) -> list[Any]:  # (CPython's adds self._outqueue._reader)
            notifier = getattr(self, "_change_notifier", None)
            if notifier is None:  # a Python whose Pool is built otherwise: keep its own
                return super()._get_sentinels()  # type: ignore[misc]
            return [notifier._reader]  # noqa: SLF001 - the base class does the same

    return QuietPool


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
    busy: int | None = None,
) -> Iterator[R]:
    """``map(func, items)`` over ``workers`` processes, results in input order.

    Items are pulled lazily, at most ``in_flight`` (default ``2 * workers + 2``) at a time, so a
    huge input never piles up in the pool's queue. ``busy`` bounds the items sent and not yet
    finished (default: ``in_flight``): with ``busy=workers + 1`` an item is pulled only when a
    worker is about to need it, after the results before it were consumed, so the caller can
    make later items from earlier results. Items are pulled after each result taken, so the
    source's end is found (and the pool closed: its workers exit once idle) before the last
    result of results that came together; a caller that knows it has the last one may stop there
    and close the iterator later. ``workers <= 1``, or a single item, runs in this process (a
    pool would only add its start-up time).
    Closing the iterator early terminates the pool. Workers get SIGTERM when the thread that
    created them ends (Linux's parent-death signal follows the forking thread), so call this
    from a thread that outlives the iteration, as the batch commands' main thread does.
    """
    source = iter(items)
    if workers > 1:  # look ahead: is there a second item?
        ahead = list(itertools.islice(source, 2))
        if len(ahead) == 2:
            source = itertools.chain(ahead, source)
        else:
            workers, source = 1, iter(ahead)
    if workers <= 1:
        if initializer is not None:
            initializer(*initargs)
        for item in source:
            yield func(item)
        return
    limit = in_flight or 2 * workers + 2
    _prctl()
    import multiprocessing  # here: runs without workers (small inputs, -c 1) do not need it
    import queue  # ... nor this (with threading: 1.5 ms of a start)

    # Fork with the stop signals blocked; the pool's helper threads keep them blocked too, so
    # workers they replace also start blocked. The main thread unblocks right after.
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        pool = _quiet_pool_class()(
            workers,
            _start_worker,
            (os.getpid(), initializer, *initargs),
            context=multiprocessing.get_context(),
        )
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
    most_busy = busy or limit
    with pool:
        pending: deque[Any] = deque()  # sent, not yet yielded, in input order
        finished: queue.SimpleQueue[None] = queue.SimpleQueue()  # one entry per finished item

        def done(_: object) -> None:  # in the pool's result thread; the result stays in pending
            finished.put(None)

        unfinished = 0
        exhausted = False

        def send() -> None:  # as many items as may be sent now
            nonlocal unfinished, exhausted
            # Count what finished meanwhile (the pool's thread puts the entries, each before its
            # result is ready): every result taken so far is then no longer counted as busy.
            # Counted only once per pass of the loop below, a burst of results taken together
            # still counted as busy, and with nothing pending the map ended with items unsent.
            while True:
                try:
                    finished.get_nowait()
                except queue.Empty:
                    break
                unfinished -= 1
            while not exhausted and len(pending) < limit and unfinished < most_busy:
                try:
                    item = next(source)
                except StopIteration:
                    exhausted = True
                    # no more items: the workers exit once the last results are delivered,
                    # while the caller goes on (the pool's end then waits for no one)
                    pool.close()
                    break
                pending.append(pool.apply_async(func, (item,), callback=done, error_callback=done))
                unfinished += 1

        while True:
            while pending and pending[0].ready():
                yield pending.popleft().get()
                # the next items after each result the caller took, not after all that were
                # ready: so the source's end, and the pool's close, come before the last result
                # of a burst, and the caller can leave the map there (it need not wait for the
                # pool's end: see tally.extract)
                send()
            send()
            if not pending:
                if not exhausted:  # never: send() had room for an item; ending here would drop
                    # the items left (as a stale count of busy items once did: a lost bucket)
                    raise RuntimeError(
                        "internal error: ordered_map ended with items unsent; please report it"
                    )
                return
            # Nothing more may be sent: wait until any item finishes (not just the first)
            if unfinished:
                finished.get()
                unfinished -= 1
            else:  # all finished; the first one's result is being stored right now
                pending[0].wait()


def cpus_available() -> int:
    """The CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def available_workers(requested: int, command: str) -> int:
    """``requested`` worker processes, at most one per available CPU (but 2 are always allowed).

    More processes than CPUs only add start-up time and memory (the work is CPU-bound and the
    output does not depend on the count), and ``-c 1000`` would fork a thousand processes on a
    shared machine; the cap is said on stderr. Two stay allowed on a one-CPU machine so that
    ``-c 2`` runs the parallel code path everywhere (tests, CI).

    >>> available_workers(2, "extract")
    2
    >>> available_workers(10**6, "extract") == max(cpus_available(), 2)
    True
    """
    cpus = max(cpus_available(), 2)
    if requested <= cpus:
        return requested
    print(
        f"tally {command}: note: -c {requested} is more than the {cpus} CPUs available; "
        f"using {cpus} worker processes",
        file=sys.stderr,
    )
    return cpus


@contextlib.contextmanager
def collector_paused(pause: bool = True) -> Iterator[None]:
    """Python's cyclic garbage collector paused inside (when ``pause``).

    Extracting or reducing a block allocates some 10^5 containers (parsed cells, extracts,
    rows), all freed by reference counting; the collector's passes over them every 700
    allocations found nothing and cost 4-10 % of a run. Cycles made meanwhile wait for the
    next collection.

    >>> with collector_paused():
    ...     gc.isenabled()
    False
    """
    if not pause or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
