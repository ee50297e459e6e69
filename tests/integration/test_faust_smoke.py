"""A real Faust worker (stream/smoke_app.py) against the real broker, stopped and restarted.

What is checked, through the worker's output topic (one record per handled event, carrying the
count it assigned) and through its RocksDB files after it stopped:

1. the table store is Faust's RocksDB store and rocksdict opened its databases;
2. a worker stopped with SIGTERM exits cleanly (code 0) and a restart on the same data dir
   continues every count where it stopped, without handling an old event again;
3. the counts are in the RocksDB files on disk (read back with rocksdict);
4. a worker on an empty data dir rebuilds the table from its changelog topic and goes on
   counting correctly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from stream.kafka_settings import KafkaSettings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
PARTITIONS = 2
WAIT_S = 60.0


class Worker:
    """``python -m stream.smoke_app worker`` in its own process, logging to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "stream.smoke_app", "worker", "-l", "info", "--without-web"],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def check_alive(self) -> None:
        if self.proc.poll() is not None:
            pytest.fail(
                f"worker exited early with {self.proc.returncode}:\n{self.log_tail()}",
                pytrace=False,
            )

    def wait_ready(self) -> None:
        """Until Faust logs that the worker is ready (partitions assigned, tables recovered).

        Events sent before that can be lost: Faust was seen to fetch a partition's first
        record while seeking to the committed offset, then skip it (a restarted worker counted
        the later records and never the first; the product's worker commits offsets itself and
        reads such gaps back, stream/app.py "Offsets"). This smoke test is about the tables, so
        it sends once the worker is ready.
        """
        deadline = time.monotonic() + WAIT_S
        while b"[^Worker]: Ready" not in self.log_path.read_bytes():
            self.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(f"worker not ready after {WAIT_S}s:\n{self.log_tail()}", pytrace=False)
            time.sleep(0.1)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM (Faust's graceful shutdown), then SIGKILL if it hangs; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                self._log.close()
                pytest.fail(f"worker ignored SIGTERM for {timeout}s:\n{self.log_tail()}")
        self._log.close()
        return self.proc.returncode


class Harness:
    def __init__(self, settings: KafkaSettings, app_id: str, tmp_path: Path) -> None:
        self.settings = settings
        self.app_id = app_id
        self.tmp_path = tmp_path
        self.events_topic = f"{app_id}-events"
        self.output_topic = f"{app_id}-out"
        self.producer = KafkaProducer(**settings.producer_config())
        self.reader = KafkaConsumer(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.client_id}-reader",
            enable_auto_commit=False,
            isolation_level="read_committed",
        )
        out = TopicPartition(self.output_topic, 0)
        self.reader.assign([out])
        self.reader.seek_to_beginning(out)
        self.seq = 0
        self.workers: list[Worker] = []

    def start_worker(self, state_dir: str) -> Worker:
        env = {
            **os.environ,
            "TALLY_KAFKA_BROKER": self.settings.bootstrap_servers,
            "TALLY_SMOKE_APP_ID": self.app_id,
            "TALLY_SMOKE_DATADIR": str(self.tmp_path / state_dir),
            "TALLY_SMOKE_PARTITIONS": str(PARTITIONS),
            "PYTHONUNBUFFERED": "1",
        }
        worker = Worker(env, self.tmp_path / f"worker-{len(self.workers) + 1}.log")
        self.workers.append(worker)
        worker.wait_ready()
        return worker

    def send(self, subjects: str) -> dict[int, str]:
        """One event per letter (the subject id); returns {seq: subject}."""
        sent = {}
        for subject in subjects:
            self.seq += 1
            value = json.dumps({"seq": self.seq}).encode()
            self.producer.send(self.events_topic, key=subject.encode(), value=value)
            sent[self.seq] = subject
        self.producer.flush(timeout=30)
        return sent

    def outputs_for(self, sent: dict[int, str], worker: Worker) -> list[dict[str, Any]]:
        """Output records until every sent seq has one; any other record is collected too."""
        records: list[dict[str, Any]] = []
        missing = set(sent)
        deadline = time.monotonic() + WAIT_S
        while missing:
            worker.check_alive()
            if time.monotonic() > deadline:
                pytest.fail(
                    f"no output for seqs {sorted(missing)} after {WAIT_S}s; got {records}\n"
                    f"worker log:\n{worker.log_tail()}",
                    pytrace=False,
                )
            for batch in self.reader.poll(timeout_ms=500).values():
                for record in batch:
                    value = json.loads(record.value)
                    records.append(value)
                    missing.discard(value["seq"])
        return records

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.wait(timeout=10)
        self.producer.close()
        self.reader.close()


def assert_counts(
    records: list[dict[str, Any]], sent: dict[int, str], before: Counter[str]
) -> Counter[str]:
    """Each sent event got exactly one output, counts continue from ``before`` per subject, and
    no other event (an old one handled again) was reported. Returns the counts after."""
    seqs = [r["seq"] for r in records]
    assert sorted(seqs) == sorted(sent), f"expected exactly seqs {sorted(sent)}, got {records}"
    after = Counter(before)
    for seq in sorted(sent):
        subject = sent[seq]
        after[subject] += 1
        (record,) = (r for r in records if r["seq"] == seq)
        assert record["subject"] == subject, record
        assert record["count"] == after[subject], (
            f"subject {subject}: expected count {after[subject]} for seq {seq}, got {record}"
        )
    return after


def assert_rocksdict_store(records: list[dict[str, Any]]) -> None:
    for record in records:
        store = record["store"]
        assert store["store_class"] == "faust.stores.rocksdb.Store", store
        assert store["use_rocksdict"] is True, store
        assert store["dbs_are_rocksdict"] is True, store


def read_rocksdb_counts(table_dir: Path) -> Counter[str]:
    """Sum the ``counts`` table over its partition databases, read with rocksdict directly."""
    from rocksdict import AccessType, Options, Rdict

    totals: Counter[str] = Counter()
    dbs = sorted(table_dir.glob("counts-*.db"))
    assert dbs, f"no RocksDB partition dirs under {table_dir}"
    for path in dbs:
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                if key.startswith(b"__faust"):
                    continue
                totals[json.loads(key)] += json.loads(value)  # Faust stores JSON keys and values
        finally:
            db.close()
    return totals


@pytest.mark.timeout(150)
def test_faust_rocksdb_table_survives_restart(
    kafka_settings: KafkaSettings, make_topic, topic_cleanup, run_id: str, tmp_path: Path
) -> None:
    app_id = f"tally-smoke-{run_id}"
    topic_cleanup.append(app_id)  # changelog, assignor and the app's own topics
    make_topic(f"{app_id}-events", PARTITIONS)
    make_topic(f"{app_id}-out", 1)
    h = Harness(kafka_settings, app_id, tmp_path)
    try:
        # 1. first worker: fresh state
        worker = h.start_worker("state-a")
        # (subjects A and B hash to partition 0, D and E to partition 1: both are exercised)
        sent = h.send("AAADD")
        records = h.outputs_for(sent, worker)
        assert_rocksdict_store(records)
        assert {r["partition"] for r in records} == {0, 1}, records
        counts = assert_counts(records, sent, Counter())
        assert counts == {"A": 3, "D": 2}
        table_dir = Path(records[0]["store"]["table_path"])
        assert worker.stop() == 0, worker.log_tail()

        # 2. restart on the same data dir: local RocksDB state (+ changelog) carries on
        worker = h.start_worker("state-a")
        sent = h.send("AAEDB")
        records = h.outputs_for(sent, worker)
        assert_rocksdict_store(records)
        counts = assert_counts(records, sent, counts)
        assert counts == {"A": 5, "D": 3, "E": 1, "B": 1}
        assert worker.stop() == 0, worker.log_tail()

        # 3. what the stopped worker left in RocksDB, read without Faust
        assert read_rocksdb_counts(table_dir) == counts

        # 4. a worker with an empty data dir rebuilds the table from the changelog topic
        worker = h.start_worker("state-b")
        sent = h.send("ADEB")
        records = h.outputs_for(sent, worker)
        assert_rocksdict_store(records)
        counts = assert_counts(records, sent, counts)
        assert counts == {"A": 6, "D": 4, "E": 2, "B": 2}
        assert worker.stop() == 0, worker.log_tail()
    finally:
        h.close()
