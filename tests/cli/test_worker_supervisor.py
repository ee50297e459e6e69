"""`tally worker --processes N`: the supervisor's stop, with stand-in children (no broker).

The supervisor runs in its own interpreter: it installs signal handlers and waits for any child,
neither of which belongs in the pytest process.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

# A child that survives its first SIGTERM, as a worker does that was restarting itself with the
# user stage when the stop came (it runs again under the same pid), and stops on the second.
RESTARTING_CHILD = textwrap.dedent(
    """
    import pathlib, signal, sys, time
    seen = []
    def on_term(signum, frame):
        seen.append(signum)
        if len(seen) >= 2:
            sys.exit(0)
    signal.signal(signal.SIGTERM, on_term)
    pathlib.Path(sys.argv[1]).touch()
    while True:
        time.sleep(0.05)
    """
)

SUPERVISOR = textwrap.dedent(
    """
    import argparse, sys
    import tally.commands.worker as worker
    worker.STOP_REPEAT_SECONDS = 1
    ready = sys.argv[1]
    child = sys.argv[2]
    def command(args, index):
        return [sys.executable, "-c", child, f"{ready}-{index}"]
    sys.exit(worker._supervise(argparse.Namespace(processes=2), command))
    """
)


def _stop_supervisor(tmp_path, child: str) -> int:
    """Start the supervisor over two ``child`` processes, SIGTERM it once both are up, and
    return its exit status (killing it after 30 s instead of hanging the suite)."""
    ready = tmp_path / "ready"
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(ready), child], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not all((tmp_path / f"ready-{i}").exists() for i in range(2)):
            assert supervisor.poll() is None, supervisor.stderr.read()
            assert time.monotonic() < deadline, "the children did not start"
            time.sleep(0.05)
        supervisor.send_signal(signal.SIGTERM)
        return supervisor.wait(timeout=30)
    finally:
        if supervisor.poll() is None:
            supervisor.kill()  # its children get SIGTERM from the kernel (PR_SET_PDEATHSIG)
            supervisor.wait()


def test_stop_is_repeated_until_a_restarting_child_is_gone(tmp_path):
    # One SIGTERM leaves both children running; the repeat a second later stops them.
    assert _stop_supervisor(tmp_path, RESTARTING_CHILD) == 0


def test_a_child_killed_by_the_stop_before_its_handler_counts_as_stopped(tmp_path):
    plain_child = "import pathlib, sys, time\npathlib.Path(sys.argv[1]).touch()\ntime.sleep(60)"
    assert _stop_supervisor(tmp_path, plain_child) == 0
