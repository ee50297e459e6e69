"""The distributed mode end to end: real `tally worker` processes on the real broker.

1. equivalence: real exports (cls_export question workflow, kenya-sample survey/shortcut) and a
   simulated Penguin export, replayed through Kafka: `tally export` equals `tally reduce` (and
   the engine run in-process, the embedded mode's core), for -F first, then -F all after a
   `tally workflow load` that changes the filter (the worker re-reduces stored subjects);
2. scale-out: two workers in one group on a 4-partition topic, one stopped mid-replay;
3. crash: a worker killed with SIGKILL mid-replay and restarted on the same state;
4. duplicates: replaying an export again publishes nothing and changes nothing;
5. bad input: invalid JSON, unknown workflow, missing fields, a rejected annotation ->
   dead letters with reason and payload, the partition keeps flowing, the counter counts; an
   export with malformed rows replayed -> each dead-lettered with tally extract's reason and
   its id, reductions equal to tally extract + reduce and tally aggregate.

Each test uses its own topic prefix and worker group (uuid-based), deleted afterwards.
"""

from __future__ import annotations

import contextlib
import csv
import filecmp
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from core.events import EventSchemaError, event_from_export_row
from core.pipeline import Pipeline
from core.state import MemoryStore
from stream import kafka_io
from stream.kafka_settings import KafkaSettings, broker_from_env
from stream.records import decode
from stream.snapshot import output_names, write_snapshot
from stream.topics import StreamTopics, ensure_topics
from stream.workflows import build_workflow, workflow_message
from tally.cli import main as tally_main

from .conftest import admin_client, broker_problem, kafka_required

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
REAL = Path(os.environ.get("TALLY_REAL_DATA", REPO.parent / "shared" / "data" / "real"))
WAIT_S = 120.0


# ---------------------------------------------------------------------------------------------
# harness


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_tally(*args: str) -> None:
    status = tally_main([str(a) for a in args])
    assert status == 0, f"tally {' '.join(map(str, args))} exited with {status}"


class Worker:
    """``tally worker`` in its own process, logging to a file."""

    def __init__(self, stream: Stream, name: str, processes: int = 1) -> None:
        self.stream = stream
        self.name = name
        self.processes = processes
        self.port = free_port()
        self.log_path = stream.tmp / f"{name}.log"
        self.state = stream.tmp / f"state-{name}"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def start(self) -> Worker:
        self._log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tally.cli",
                "worker",
                *self.stream.flags,
                "--state",
                str(self.state),
                "--web-port",
                str(self.port),
                "--batch-ms",
                "10",
                *(["--processes", str(self.processes)] if self.processes > 1 else []),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 60) -> str:
        text = self.log_path.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stats(self, timeout: float = 30.0, process: int = 0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(
                    f"http://127.0.0.1:{self.port + process}/tally/stats/", timeout=5
                ) as response:
                    return json.loads(response.read())
            except OSError:
                if time.monotonic() > deadline or not self.alive():
                    raise
                time.sleep(0.3)

    def stop(self, timeout: float = 40.0) -> int:
        """SIGTERM (graceful: finish the batch, commit, leave the group)."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
                pytest.fail(f"{self.name} ignored SIGTERM for {timeout}s:\n{self.log_tail()}")
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: no flush, no commit, no goodbye."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(timeout=10)
        self._log.close()


class Stream:
    """One topic prefix and worker group on the broker, with helpers around the CLI."""

    def __init__(self, tmp: Path, partitions: int = 4) -> None:
        self.tmp = tmp
        self.prefix = f"it-stream-{uuid.uuid4().hex[:10]}"
        self.broker = broker_from_env()
        self.topics = StreamTopics.from_env(prefix=self.prefix, partitions=partitions)
        self.settings = KafkaSettings.from_env(client_id=f"{self.prefix}-test")
        self.flags = ["--broker", self.broker, "--topic-prefix", self.prefix]
        self.workers: list[Worker] = []
        ensure_topics(self.settings, self.topics)

    def worker(self, name: str | None = None, processes: int = 1) -> Worker:
        worker = Worker(self, name or f"worker{len(self.workers) + 1}", processes)
        self.workers.append(worker)
        return worker.start()

    def load(self, extractor: Path, reducers: list[Path], mode: str) -> None:
        run_tally("workflow", "load", *self.flags, extractor, *reducers, "-F", mode)

    def replay(self, export: Path, *extra: str) -> None:
        run_tally("replay", export, *self.flags, "-hb", *extra)

    def wait(self, targets: dict[int, int] | None = None, topic: str | None = None) -> None:
        """Until the group committed everything produced to ``topic`` (default: the
        classifications topic) so far, or the ``targets`` offsets."""
        from tally.commands.replay import wait_for_group

        topic = topic or self.topics.classifications
        targets = targets or kafka_io.end_offsets(self.settings, topic)
        try:
            wait_for_group(
                self.settings,
                self.topics.app_id,
                topic,
                {p: o for p, o in targets.items() if o},
                timeout=WAIT_S,
                quiet=True,
            )
        except TimeoutError as exc:
            tails = "\n".join(f"--- {w.name}:\n{w.log_tail()}" for w in self.workers)
            pytest.fail(f"{exc}\n{tails}", pytrace=False)

    def export(self, workflow_id: int, outdir: Path, *, settle: float = WAIT_S) -> list[Path]:
        """`tally export`, retried while the workers still re-reduce after a pipeline change."""
        from tally.commands.export import export
        from tally.errors import InputError

        outdir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + settle
        while True:
            try:
                files, _ = export(self.settings, self.topics, workflow_id, str(outdir))
                return [f.path for f in files]
            except InputError as exc:
                if "earlier pipeline" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def records(self, topic: str) -> list[tuple[int, int, bytes | None, bytes | None, int]]:
        return list(kafka_io.read_to_end(self.settings, topic))

    def close(self) -> None:
        for worker in self.workers:
            if worker.alive():
                worker.proc.kill()  # type: ignore[union-attr]
                worker.proc.wait(timeout=10)  # type: ignore[union-attr]
        with contextlib.suppress(Exception):
            admin = admin_client(self.settings)
            try:
                doomed = [t for t in admin.list_topics() if t.startswith(self.prefix)]
                if doomed:
                    admin.delete_topics(doomed)
            finally:
                admin.close()


def _require_broker() -> None:
    problem = broker_problem(broker_from_env())
    if problem is None:
        return
    message = f"Kafka broker {broker_from_env()} unreachable: {problem}"
    if kafka_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture
def stream(tmp_path: Path) -> Iterator[Stream]:
    _require_broker()
    s = Stream(tmp_path)
    try:
        yield s
    finally:
        s.close()


# ---------------------------------------------------------------------------------------------
# datasets and references


class Dataset:
    def __init__(self, name: str, export: Path, extractor: Path, reducers: dict[str, Path]):
        self.name = name
        self.export = export
        self.extractor = extractor
        self.reducers = reducers  # extractor key -> reducer config (named ..._<key>.yaml)
        self.workflow_id = int(yaml.safe_load(extractor.read_text())["workflow_id"])

    def pipeline(self) -> Pipeline:
        return Pipeline.from_configs(
            yaml.safe_load(self.extractor.read_text()),
            [yaml.safe_load(p.read_text()) for p in self.reducers.values()],
            reducer_keys=list(self.reducers),
        )

    def workflow(self, mode: str) -> Any:
        """The pipeline exactly as a worker builds it from `tally workflow load`."""
        return build_workflow(
            workflow_message(
                yaml.safe_load(self.extractor.read_text()),
                [yaml.safe_load(p.read_text()) for p in self.reducers.values()],
                list(self.reducers),
                mode,
            )
        )

    def batch(self, mode: str, outdir: Path) -> Path:
        """`tally extract` + `tally reduce` (one file per reducer, named as the export names)."""
        outdir.mkdir(parents=True, exist_ok=True)
        run_tally("extract", self.export, self.extractor, "-d", outdir, "-hb")
        for key, reducer in self.reducers.items():
            run_tally(
                "reduce", outdir / f"{key}_extractions.csv", reducer, "-F", mode,
                "-d", outdir, "-o", f"{key}_reductions", "-hb",
            )  # fmt: skip
        return outdir

    def engine(self, mode: str, outdir: Path) -> Path:
        """The engine in-process over a MemoryStore, written with the export's writer."""
        outdir.mkdir(parents=True, exist_ok=True)
        workflow = self.workflow(mode)
        pipeline, engine = workflow.pipeline, workflow.engine
        store, latest = MemoryStore(), {}
        with open(self.export, newline="", encoding="utf-8") as f:
            events = []
            for row in csv.DictReader(f):
                with contextlib.suppress(EventSchemaError):
                    events.append(event_from_export_row(row))
        for start in range(0, len(events), 100):
            with store.transaction() as txn:
                for r in engine.process(txn, events[start : start + 100]).reductions:
                    latest[r.key] = {
                        "workflow_id": r.workflow_id,
                        "subject_id": r.subject_id,
                        "task": r.task,
                        "reducer": r.reducer,
                        "reducer_index": r.reducer_index,
                        "data": r.data,
                    }
        write_snapshot(latest.values(), pipeline, outdir)
        return outdir


def cls_dataset(tmp: Path) -> Dataset:
    source = REAL / "aggregation-for-caesar"
    if not (source / "cls_export.csv").exists():
        pytest.skip(f"real exports not found under {REAL} (set TALLY_REAL_DATA)")
    configs = tmp / "cls-configs"
    configs.mkdir()
    run_tally("config", source / "wf_export.csv", "10", "-d", configs)
    extractor = next(configs.glob("Extractor_config_*.yaml"))
    reducers = {
        p.stem.split("_V16.55_")[1]: p for p in sorted(configs.glob("Reducer_config_*.yaml"))
    }
    return Dataset("cls", source / "cls_export.csv", extractor, reducers)


def kenya_dataset(tmp: Path) -> Dataset:
    export = REAL / "Data-digging" / "kenya-sample.csv"
    if not export.exists():
        pytest.skip(f"real exports not found under {REAL} (set TALLY_REAL_DATA)")
    configs = tmp / "kenya-configs"
    configs.mkdir()
    extractor = configs / "Extractor_config_workflow_2030_V307.77.yaml"
    extractor.write_text(
        yaml.safe_dump(
            {
                "extractor_config": {
                    "survey_extractor": [{"task": "T3"}],
                    "shortcut_extractor": [{"task": "T5"}],
                },
                "workflow_id": 2030,
                "workflow_version": "307.77",
            }
        )
    )
    reducers = {}
    for key, reducer in (
        ("survey_extractor", "survey_reducer"),
        ("shortcut_extractor", "shortcut_reducer"),
    ):
        path = configs / f"Reducer_config_workflow_2030_V307.77_{key}.yaml"
        path.write_text(yaml.safe_dump({"reducer_config": {reducer: {}}}))
        reducers[key] = path
    return Dataset("kenya", export, extractor, reducers)


def penguin_dataset(tmp: Path, n: int, seed: int = 5) -> Dataset:
    out = tmp / f"penguin-{n}"
    run_tally("simulate", "-d", out, "-n", str(n), "--seed", str(seed), "-hb")
    extractor = next(out.glob("Extractor_config_*.yaml"))
    version = extractor.stem.split("_V")[1]
    reducers = {
        p.stem.split(f"_V{version}_")[1]: p for p in sorted(out.glob("Reducer_config_*.yaml"))
    }
    return Dataset("penguin", next(out.glob("*-classifications.csv")), extractor, reducers)


def assert_same_files(
    got: list[Path], reference_dir: Path, *, rows_only: set[str] = frozenset()
) -> None:
    """Byte-identical, except files named in ``rows_only``: same rows (column order may differ;
    see docs/kafka.md, 'Equivalence')."""
    for path in got:
        expected = reference_dir / path.name
        assert expected.exists(), (
            f"{expected} missing; reference has {sorted(os.listdir(reference_dir))}"
        )
        if path.name in rows_only:
            with path.open() as a, expected.open() as b:
                rows_a, rows_b = list(csv.DictReader(a)), list(csv.DictReader(b))
            assert rows_a == rows_b, path.name
            continue
        if not filecmp.cmp(path, expected, shallow=False):
            diff = subprocess.run(
                ["diff", str(expected), str(path)], capture_output=True, text=True
            ).stdout
            pytest.fail(f"{path.name} differs from {expected}:\n{diff[:3000]}", pytrace=False)


def aggregate_reference(dataset: Dataset, mode: str, outdir: Path) -> Path | None:
    """`tally aggregate` (embedded mode) when the command exists."""
    try:
        import tally.commands.aggregate  # noqa: F401
    except ImportError:
        return None
    outdir.mkdir(parents=True, exist_ok=True)
    run_tally(
        "aggregate", dataset.export, "--extractor-config", dataset.extractor,
        "--reducer-config", *[f"{p}" for p in dataset.reducers.values()],
        "-F", mode, "--state", outdir / ".state", "-d", outdir,
    )  # fmt: skip
    return outdir


def assert_same_contents(got: list[Path], other_dir: Path) -> None:
    """The same set of file contents, whatever the files are called."""
    ours = sorted(p.read_bytes() for p in got)
    theirs = sorted(p.read_bytes() for p in other_dir.glob("*.csv"))
    assert ours == theirs, f"`tally export` and `tally aggregate` ({other_dir}) disagree"


# ---------------------------------------------------------------------------------------------
# 1. equivalence (+ a pipeline change re-reduces stored subjects)


@pytest.mark.timeout(240)
def test_export_equals_batch_reduce_for_first_then_all(stream: Stream, tmp_path: Path) -> None:
    datasets = [cls_dataset(tmp_path), kenya_dataset(tmp_path), penguin_dataset(tmp_path, 600)]
    worker = stream.worker()
    for mode in ("first", "all"):
        for d in datasets:
            stream.load(d.extractor, list(d.reducers.values()), mode)
        if mode == "first":
            for d in datasets:
                stream.replay(d.export)
            stream.wait()
        # After the -F all load, nothing is replayed: the worker re-reduces what it stored.
        for d in datasets:
            got = stream.export(d.workflow_id, tmp_path / f"export-{d.name}-{mode}")
            names = set(output_names(d.pipeline()))
            assert {p.name for p in got} == names
            rows_only = {n for n in names if n.startswith("survey_reducer")}
            assert_same_files(
                got, d.batch(mode, tmp_path / f"batch-{d.name}-{mode}"), rows_only=rows_only
            )
            assert_same_files(got, d.engine(mode, tmp_path / f"engine-{d.name}-{mode}"))
            aggregated = aggregate_reference(d, mode, tmp_path / f"aggregate-{d.name}-{mode}")
            if aggregated is not None:
                assert_same_contents(got, aggregated)
    stats = worker.stats()
    assert stats["counters"]["rereduced_subjects"] > 0, stats
    # kenya-sample has 8 rows of another workflow (3461) with no pipeline: dead letters
    assert stats["dead_letters_by_stage"] == {"pipeline": 8}, stats
    assert stats["counters"]["ignored"] > 0  # kenya rows of other workflow versions
    # The worker commits offsets itself, and records them in Faust's monitor for the stats.
    ends = kafka_io.end_offsets(stream.settings, stream.topics.classifications)
    assert stats["committed_offsets"] == {str(p): o for p, o in ends.items() if o}, stats
    assert worker.stop() == 0, worker.log_tail()


@pytest.mark.timeout(150)
def test_a_pipeline_change_while_classifications_flow(stream: Stream, tmp_path: Path) -> None:
    """`workflow load` with another filter, and more classifications of the stored subjects:
    every reduction ends up computed under the new pipeline, none half-way."""
    d = penguin_dataset(tmp_path, 600, seed=41)
    with d.export.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    halves = []
    for i, part in enumerate((rows[: len(rows) // 2], rows[len(rows) // 2 :])):
        path = tmp_path / f"half{i}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerows([header, *part])
        halves.append(path)
    worker = stream.worker("w")
    stream.load(d.extractor, list(d.reducers.values()), "first")
    stream.replay(halves[0], "--wait", "--timeout", str(WAIT_S))
    # The new pipeline and the next classifications are both waiting when the worker comes
    # back: its first batch must not run the new engine on subjects stored under the old one.
    assert worker.stop() == 0, worker.log_tail()
    stream.load(d.extractor, list(d.reducers.values()), "all")
    stream.replay(halves[1])
    stream.workers.append(Worker(stream, "w").start())
    stream.wait()
    got = stream.export(d.workflow_id, tmp_path / "export")
    assert_same_files(got, d.batch("all", tmp_path / "batch"))


# ---------------------------------------------------------------------------------------------
# 4. duplicates


@pytest.mark.timeout(150)
def test_replaying_the_same_export_twice_changes_nothing(stream: Stream, tmp_path: Path) -> None:
    d = penguin_dataset(tmp_path, 400, seed=11)
    stream.worker()
    stream.load(d.extractor, list(d.reducers.values()), "first")
    stream.replay(d.export)
    stream.wait()
    first = stream.export(d.workflow_id, tmp_path / "once")
    reductions_end = kafka_io.end_offsets(stream.settings, stream.topics.reductions)
    stream.replay(d.export, "--wait", "--timeout", str(WAIT_S))
    assert kafka_io.end_offsets(stream.settings, stream.topics.reductions) == reductions_end, (
        "a replayed duplicate published reductions"
    )
    second = stream.export(d.workflow_id, tmp_path / "twice")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
    counters = stream.workers[0].stats()["counters"]
    assert counters["duplicate"] == counters["applied"] == 400, counters
    assert_same_files(second, d.batch("first", tmp_path / "batch"))


# ---------------------------------------------------------------------------------------------
# 2. scale-out


def replay_in_background(
    stream: Stream, export: Path, rate: float
) -> tuple[threading.Thread, dict]:
    result: dict[str, Any] = {}

    def run() -> None:
        from tally.commands.replay import replay

        try:
            result["sent"], result["bad"], result["ends"] = replay(
                str(export), stream.settings, stream.topics.classifications, rate=rate
            )
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            result["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def wait_for_progress(stream: Stream, minimum: int, timeout: float = 60.0) -> None:
    """Until the group committed at least ``minimum`` records."""
    deadline = time.monotonic() + timeout
    while (
        sum(
            kafka_io.committed_offsets(
                stream.settings, stream.topics.app_id, stream.topics.classifications
            ).values()
        )
        < minimum
    ):
        if time.monotonic() > deadline:
            tails = "\n".join(f"--- {w.name}:\n{w.log_tail()}" for w in stream.workers)
            pytest.fail(f"no progress to {minimum} committed records in {timeout}s\n{tails}")
        time.sleep(0.2)


def wait_for_sharing(a: Worker, b: Worker, timeout: float = 90.0) -> None:
    """Until both workers of the group hold at least one partition."""
    deadline = time.monotonic() + timeout
    while not (a.stats()["assigned_partitions"] and b.stats()["assigned_partitions"]):
        if time.monotonic() > deadline:
            pytest.fail(
                f"the two workers did not share the partitions in {timeout}s\n"
                f"--- a:\n{a.log_tail()}\n--- b:\n{b.log_tail()}"
            )
        time.sleep(0.3)


@pytest.mark.timeout(200)
def test_two_workers_share_the_work_and_one_takes_over(stream: Stream, tmp_path: Path) -> None:
    d = penguin_dataset(tmp_path, 2400, seed=21)
    stream.load(d.extractor, list(d.reducers.values()), "first")
    a, b = stream.worker("a"), stream.worker("b")
    # Both must hold partitions before the replay: otherwise the first worker to join can
    # finish much of the export before the group rebalances, and nothing is shared.
    wait_for_sharing(a, b)
    thread, result = replay_in_background(stream, d.export, rate=400)
    wait_for_progress(stream, 400)
    assert len(a.stats()["assigned_partitions"]) in (1, 2, 3), a.stats()
    assert a.stop() == 0, a.log_tail()  # mid-replay
    thread.join(timeout=60)
    assert "error" not in result, result
    stream.wait(result["ends"])
    assert b.alive()
    assert b.stats()["assigned_partitions"] == [0, 1, 2, 3]
    assert_counts(stream, d)
    got = stream.export(d.workflow_id, tmp_path / "export")
    assert_same_files(got, d.batch("first", tmp_path / "batch"))


@pytest.mark.timeout(200)
def test_one_worker_command_runs_a_process_per_core(stream: Stream, tmp_path: Path) -> None:
    d = penguin_dataset(tmp_path, 1200, seed=41)
    stream.load(d.extractor, list(d.reducers.values()), "all")
    pair = stream.worker("pair", processes=2)
    deadline = time.monotonic() + 90
    while not all(pair.stats(process=i)["assigned_partitions"] for i in (0, 1)):
        assert time.monotonic() < deadline, pair.log_tail()
        time.sleep(0.3)
    held = [p for i in (0, 1) for p in pair.stats(process=i)["assigned_partitions"]]
    assert sorted(held) == [0, 1, 2, 3]
    stream.replay(d.export)
    stream.wait()
    assert_same_files(
        stream.export(d.workflow_id, tmp_path / "export"), d.batch("all", tmp_path / "batch")
    )
    assert_counts(stream, d, "all")
    assert pair.proc is not None
    children = subprocess.run(
        ["pgrep", "-P", str(pair.proc.pid)], capture_output=True, text=True, check=True
    ).stdout.split()
    assert len(children) == 2
    # A process that dies takes the command down (its supervisor restarts the whole worker).
    os.kill(int(children[0]), signal.SIGKILL)
    assert pair.proc.wait(timeout=60) != 0, pair.log_tail()
    pair._log.close()  # noqa: SLF001
    for pid in children[1:]:
        with pytest.raises(ProcessLookupError):
            for _ in range(100):  # the other one leaves the group and exits
                os.kill(int(pid), 0)
                time.sleep(0.3)


# ---------------------------------------------------------------------------------------------
# 3. crash


@pytest.mark.timeout(200)
def test_a_killed_worker_restarts_without_losing_or_double_counting(
    stream: Stream, tmp_path: Path
) -> None:
    d = penguin_dataset(tmp_path, 2400, seed=31)
    stream.load(d.extractor, list(d.reducers.values()), "first")
    worker = stream.worker("crashy")
    thread, result = replay_in_background(stream, d.export, rate=400)
    wait_for_progress(stream, 500)
    worker.kill()  # kill -9 mid-replay
    thread.join(timeout=60)
    assert "error" not in result, result
    restarted = Worker(stream, "crashy").start()  # same state directory
    stream.workers.append(restarted)
    stream.wait(result["ends"])
    got = stream.export(d.workflow_id, tmp_path / "export")
    assert_same_files(got, d.batch("first", tmp_path / "batch"))
    assert_counts(stream, d)


def assert_counts(stream: Stream, d: Dataset, mode: str = "first") -> None:
    """Every current reduction counts exactly the classifications the engine counts in-process:
    nothing counted twice, nothing lost."""
    counts = {
        key.decode(): decode(value)["classifications"]
        for key, value in kafka_io.latest_by_key(stream.settings, stream.topics.reductions).items()
    }
    expected = engine_counts(d, mode)
    wrong = {k: (counts.get(k), n) for k, n in expected.items() if counts.get(k) != n}
    assert not wrong and set(counts) == set(expected), f"(got, expected) by key: {wrong}"


def engine_counts(d: Dataset, mode: str) -> dict[str, int]:
    engine = d.workflow(mode).engine
    store, counts = MemoryStore(), {}
    with open(d.export, newline="", encoding="utf-8") as f:
        events = [event_from_export_row(row) for row in csv.DictReader(f)]
    with store.transaction() as txn:
        for r in engine.process(txn, events).reductions:
            counts[r.key] = r.classifications
    return counts


# ---------------------------------------------------------------------------------------------
# 5. bad input


@pytest.mark.timeout(150)
def test_bad_records_become_dead_letters_and_the_partition_keeps_flowing(
    stream: Stream, tmp_path: Path
) -> None:
    d = cls_dataset(tmp_path)
    stream.load(d.extractor, list(d.reducers.values()), "all")
    worker = stream.worker()
    good = {
        "classification_id": 1,
        "subject_id": 42,
        "workflow_id": 10,
        "workflow_version": "16.55",
        "created_at": "2024-02-23 16:17:42 UTC",
        "user_id": None,
        "user_name": "not-logged-in-1",
        "annotations": [{"task": "T0", "value": "Yes"}],
        "metadata": {},
    }
    bad = [
        (b"{not json", "decode", "not valid JSON"),
        (
            orjson.dumps({**good, "classification_id": 2, "workflow_id": 99999}),
            "pipeline",
            "unknown workflow 99999",
        ),
        (
            orjson.dumps({"classification_id": 3, "subject_id": 42}),
            "schema",
            "missing 'workflow_id'",
        ),
        (
            orjson.dumps(
                {**good, "classification_id": 4, "annotations": [{"task": "T0", "value": 1.5}]}
            ),
            "extract",
            "an answer must be a string",
        ),
    ]
    later = {**good, "classification_id": 5, "annotations": [{"task": "T0", "value": "No"}]}
    producer = kafka_io.make_producer(stream.settings)
    try:
        producer.send(stream.topics.classifications, key=b"42", value=orjson.dumps(good))
        for payload, _, _ in bad:
            producer.send(stream.topics.classifications, key=b"42", value=payload)
        producer.send(stream.topics.classifications, key=b"42", value=orjson.dumps(later))
        producer.flush(timeout=30)
    finally:
        producer.close()
    stream.wait()
    dead = [decode(v) for _, _, _, v, _ in stream.records(stream.topics.dead_letters)]
    assert [(r["stage"], r["payload"]) for r in dead] == [
        (stage, payload.decode()) for payload, stage, _ in bad
    ]
    for record, (_, _, reason) in zip(dead, bad, strict=True):
        assert reason in record["reason"], record
        assert record["source"]["topic"] == stream.topics.classifications
        assert record["source"]["key"] == "42"
        assert isinstance(record["source"]["offset"], int) and record["time"]
    # the good records on either side of the bad ones were both reduced
    latest = kafka_io.latest_by_key(stream.settings, stream.topics.reductions)
    t0 = decode(latest[b"10/42/T0/0:question_reducer"])
    assert t0["data"] == {"yes": 1, "no": 1} and t0["classifications"] == 2, t0
    stats = worker.stats()
    assert stats["dead_letters"] == 4, stats
    assert stats["dead_letters_by_stage"] == {"decode": 1, "pipeline": 1, "schema": 1, "extract": 1}


@pytest.mark.timeout(150)
def test_a_replayed_export_with_bad_rows_dead_letters_each_with_its_reason(
    stream: Stream, tmp_path: Path
) -> None:
    """`tally replay` of an export with malformed rows: each is dead-lettered with the reason
    `tally extract` gives and its classification id, and the reductions equal `tally extract` +
    `tally reduce` and `tally aggregate` on the same file (which skip those rows)."""
    d = cls_dataset(tmp_path)
    with d.export.open(newline="", encoding="utf-8") as f:
        header, *rows = list(csv.reader(f))
    at = {name: i for i, name in enumerate(header)}

    def changed(row: list[str], **cells: str) -> list[str]:
        row = list(row)
        for name, value in cells.items():
            row[at[name]] = value
        return row

    width = len(header)
    bad = [  # (row, stage, reason, classification id in the dead letter)
        (
            [*changed(rows[0], classification_id="900001", subject_ids="77700001"), "surplus"],
            "schema",
            f"classification 900001: malformed CSV row: {width + 1} fields where the header "
            f"has {width}",
            900001,
        ),
        (
            changed(rows[0], classification_id="900002")[:-2],
            "schema",
            f"classification 900002: malformed CSV row: {width - 2} fields where the header "
            f"has {width}",
            900002,
        ),
        (
            changed(rows[0], classification_id="900003", annotations="[{not json"),
            "schema",
            "classification 900003: annotations or metadata is not valid JSON",
            900003,
        ),
        (
            changed(rows[0], classification_id="900005", workflow_version="sixteen.x"),
            "extract",
            "invalid workflow_version: 'sixteen.x'",
            900005,
        ),
        # two id-less classifications of one subject: the second was a silent 'duplicate'
        *[
            (
                changed(rows[n], classification_id="", subject_ids="77700008"),
                "schema",
                "empty classification_id: the classification_id cell is ''",
                None,
            )
            for n in (1, 2)
        ],
    ]
    export = tmp_path / "bad_rows.csv"
    with export.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows[:3], *[b[0] for b in bad]])
        csv.writer(f, lineterminator="\n").writerows(rows[3:])
    dataset = Dataset("bad", export, d.extractor, d.reducers)
    stream.load(d.extractor, list(d.reducers.values()), "first")
    worker = stream.worker()
    stream.replay(export, "--wait", "--timeout", str(WAIT_S))
    dead = [decode(v) for _, _, _, v, _ in stream.records(stream.topics.dead_letters)]
    got = sorted((r["classification_id"] or 0, r["stage"], r["reason"]) for r in dead)
    expected = sorted((cid or 0, stage, reason) for _, stage, reason, cid in bad)
    assert len(got) == len(expected), got
    for (cid, stage, reason), want in zip(got, expected, strict=True):
        assert (cid, stage) == want[:2] and reason.startswith(want[2]), (got, expected)
    files = stream.export(d.workflow_id, tmp_path / "export")
    assert_same_files(files, dataset.batch("first", tmp_path / "batch"))
    aggregated = aggregate_reference(dataset, "first", tmp_path / "aggregate")
    if aggregated is not None:
        assert_same_contents(files, aggregated)

    # Replayed apart: a blank subject_ids cell makes `tally extract` write the subject column
    # as floats (as pandas reads it), a documented difference (compatibility.md).
    # No subject: the engine's reason and stage (the worker's decoder said 'no subject id').
    # An id beyond 64 bits stopped the replay half-way (orjson cannot encode it).
    huge = "123456789012345678901234567890"
    more = tmp_path / "more_bad_rows.csv"
    with more.open("w", newline="", encoding="utf-8") as f:
        csv.writer(f, lineterminator="\n").writerows(
            [
                header,
                changed(rows[0], classification_id="900004", subject_ids=""),
                changed(rows[0], classification_id=huge, subject_ids="77700010"),
            ]
        )
    stream.replay(more, "--wait", "--timeout", str(WAIT_S))
    # (from two input partitions: in either order)
    no_subject, too_big = sorted(
        (decode(r[3]) for r in stream.records(stream.topics.dead_letters)[-2:]),
        key=lambda record: record["classification_id"] != 900004,
    )
    assert (no_subject["classification_id"], no_subject["stage"], no_subject["reason"]) == (
        900004,
        "extract",
        "empty subject id",
    )
    assert too_big["classification_id"] == huge and too_big["stage"] == "schema", too_big
    assert f"classification_id {huge} does not fit in 64 bits" in too_big["reason"]
    stats = worker.stats()
    assert stats["dead_letters_by_stage"] == {"schema": 6, "extract": 2}, stats
    counters = stats["counters"]
    assert counters.get("duplicate", 0) == counters.get("ignored", 0) == 0, stats
    assert worker.stop() == 0, worker.log_tail()
