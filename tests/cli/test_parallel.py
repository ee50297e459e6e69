"""tally/parallel.py: ordered results, bounded work in flight, pools that always shut down."""

from __future__ import annotations

import signal

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
