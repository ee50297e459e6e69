"""ops/kafka-local's own helpers, without starting a broker."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "ops" / "kafka-local"


def test_cluster_ids_never_start_with_a_dash():
    """`StorageTool format -t -xyz…` reads such an id as an option and the broker never starts:
    one `make test` in 64 failed so (500 ids catch that with probability 1 - (63/64)^500,
    over 99.9 %). Ids are 16 random bytes, base64url, no padding."""
    function = re.search(r"^cluster_id\(\) \{.*?^\}$", SCRIPT.read_text(), re.M | re.S)
    assert function is not None
    ids = subprocess.run(
        ["bash", "-c", f"{function.group(0)}\nfor i in $(seq 500); do cluster_id; done"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert len(ids) == 500
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{22}", i) and not i.startswith("-") for i in ids)
    assert len(set(ids)) == 500
