"""tally/parallel.py: ordered results, bounded work in flight, pools that always shut down."""

from __future__ import annotations

import signal
import sys
import time

import pytest

from tally.parallel import ordered_map


def _square(x: int) -> int:
    return x * x


def test_results_in_input_order_whatever_the_workers():
    assert list(ordered_map(_square, range(50), workers=3)) == [x * x for x in range(50)]
    assert list(ordered_map(_square, range(5), workers=1)) == [0, 1, 4, 9, 16]
    assert list(ordered_map(_square, iter([7]), workers=2)) == [49]  # one item: no pool
    assert list(ordered_map(_square, [], workers=2)) == []


def test_items_are_pulled_lazily():
    pulled = []

    def items():
        for i in range(1000):
            pulled.append(i)
            yield i

    results = ordered_map(_square, items(), workers=2, in_flight=4)
    assert next(results) == 0
    assert len(pulled) <= 5
    results.close()


def _sleep(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


def test_the_source_ends_before_the_last_result_of_a_burst():
    """Items are pulled after each result the caller takes: when the last results are ready
    together, the source's end (and the pool's close, which lets the workers exit) comes before
    the last one, so a caller can stop there (tally.extract writes its outputs meanwhile)."""
    ended = []

    def items():
        yield 0.1
        yield 0.3  # done while the caller still holds the first result: the two come together
        ended.append(True)

    seen = []
    results = ordered_map(_sleep, items(), workers=2, busy=2)
    for result in results:
        seen.append((result, bool(ended)))
        if len(seen) == 1:
            time.sleep(0.6)
    assert seen == [(0.1, False), (0.3, True)]


def test_no_item_is_left_unsent_after_a_burst_of_results():
    """Every item is mapped when all the items in flight finish while the caller still holds a
    result. The count of items in flight once went stale across such a burst (each taken
    result was still counted as busy), so the map could end with items never sent: a -s -c 2
    reduce lost its last bucket about one run in two."""
    results = ordered_map(_square, range(12), workers=2, busy=3)
    seen = []
    for result in results:
        seen.append(result)
        time.sleep(0.05)  # meanwhile every item in flight finishes
    assert seen == [x * x for x in range(12)]


@pytest.mark.timeout(300)
def test_pools_shut_down_while_workers_are_still_starting():
    """With a Python SIGTERM handler in the parent (as `tally` installs), a pool terminated while
    a worker was still starting used to wait for that worker forever."""

    def handler(signum, frame):  # pragma: no cover - must never run in a worker
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        for _ in range(40):  # two items, three workers: the pool ends before the third is up
            assert list(ordered_map(_square, [3, 4], workers=3)) == [9, 16]
    finally:
        signal.signal(signal.SIGTERM, previous)


PARENT = """
import os, sys, time
from tally.parallel import ordered_map

def work(item):
    with open(f"{sys.argv[1]}/worker-{os.getpid()}", "w"):
        pass
    time.sleep(60)
    return item

for _ in ordered_map(work, range(2), workers=2, in_flight=2):
    pass
"""


@pytest.mark.timeout(120)
def test_workers_stop_when_their_parent_is_killed(tmp_path):
    """A `kill -9` of the command must not leave its workers running (and printing tracebacks)."""
    import os
    import subprocess
    import sys
    import time

    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path)])
    deadline = time.monotonic() + 60
    while len(list(tmp_path.glob("worker-*"))) < 2:
        assert parent.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    pids = [int(p.name.removeprefix("worker-")) for p in tmp_path.glob("worker-*")]
    parent.kill()
    parent.wait()

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as f:  # a zombie (not yet reaped by init) is gone
                return f.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    still = [pid for pid in pids if alive(pid)]
    for pid in still:
        os.kill(pid, signal.SIGKILL)
    assert not still, "workers outlived their killed parent"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_compiled_and_ctypes_death_signals_agree(monkeypatch):
    """tally._process_compiled (when built) and the ctypes fallback set the same signal."""
    import ctypes

    from tally import parallel

    def current() -> int:  # PR_GET_PDEATHSIG, asked through ctypes
        sig = ctypes.c_int(-1)
        assert ctypes.CDLL(None).prctl(2, ctypes.byref(sig)) == 0
        return sig.value

    before = current()
    forms = {}
    parallel._prctl.cache_clear()
    forms["first choice"] = parallel._prctl()
    parallel._prctl.cache_clear()
    monkeypatch.setitem(sys.modules, "tally._process_compiled", None)  # not built: ctypes
    forms["ctypes"] = parallel._prctl()
    monkeypatch.undo()
    parallel._prctl.cache_clear()
    try:
        for name, form in forms.items():
            assert form is not None, name
            assert form(signal.SIGUSR2) == 0 and current() == signal.SIGUSR2, name
            assert form(0) == 0 and current() == 0, name
            assert form(100000) == -1 and current() == 0, name  # not a signal: refused
    finally:
        forms["ctypes"](before)
    try:
        from tally._process_compiled import parent_death_signal, set_parent_death_signal
    except ImportError:  # pragma: no cover - not built here
        return
    assert forms["first choice"] is set_parent_death_signal
    set_parent_death_signal(signal.SIGUSR1)
    assert parent_death_signal() == current() == signal.SIGUSR1
    set_parent_death_signal(before)
