#!/usr/bin/env python
"""Streaming benchmark: one `tally worker` on the real broker, throughput and latency.

For each workflow it simulates a Penguin-Watch-like export (``tally simulate``), loads the
pipeline, starts one ``tally worker`` (``--processes 2`` by default: a Faust worker per core,
as one command; ``--processes 1`` for a single Faust process) and measures, through Kafka:

1. **sustained throughput**: after a warm-up, the worker is stopped, a backlog of N
   classifications is produced, and the worker restarts on its state and drains it. Throughput
   = N / the time between the first and the last reduction record the worker publishes for the
   backlog (Kafka timestamps set by the worker's producer); the run waits until the group has
   committed the last offset (which implies every reduction was acknowledged, see
   ``tally replay --wait``). Producing the backlog beforehand keeps the producer, which shares
   the machine, from pacing the worker.
2. **latency at half that rate**: classifications are produced at half the measured throughput
   for ``--duration`` seconds. A classification's latency is the time from its Kafka timestamp
   (set by the producer when it was sent) to the timestamp of the first reduction record that
   counts it (set by the worker's producer), matched per subject on the reduction's
   ``classifications`` count (the pipeline runs with ``-F all``, so the count goes up by one per
   classification). Reported: p50, p90, p99, max.

Workflows: ``question`` (the simulated project's question task T1 and "Nothing here" shortcut
T2: question_reducer + shortcut_reducer, incremental counting) and ``penguin`` (the full
simulated pipeline: point_extractor_by_frame + point_reducer_hdbscan on T0, recomputed from the
subject's stored extracts, plus T1 and T2).

    .venv/bin/python bench/stream.py                     # both workflows, default sizes
    .venv/bin/python bench/stream.py --workflows question --question-n 60000 --duration 30
    .venv/bin/python bench/stream.py --json bench-stream.json

The broker is ``$TALLY_KAFKA_BROKER`` (``ops/kafka-local start``). Topics are created under a
fresh prefix and deleted at the end.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import orjson  # noqa: E402
import yaml  # noqa: E402

from core.events import event_from_export_row, event_to_flat  # noqa: E402
from stream import kafka_io  # noqa: E402
from stream.kafka_settings import KafkaSettings, broker_from_env  # noqa: E402
from stream.records import decode, encode  # noqa: E402
from stream.topics import StreamTopics, ensure_topics  # noqa: E402
from stream.workflows import workflow_message  # noqa: E402
from tally.commands.replay import wait_for_group  # noqa: E402

WARMUP = 300


def simulate(workdir: Path, n: int, seed: int) -> Path:
    out = workdir / f"sim-{n}-{seed}"
    if not (out / "simulation.json").exists():
        subprocess.run(
            [sys.executable, "-m", "tally.cli", "simulate", "-d", str(out), "-n", str(n),
             "--seed", str(seed), "-hb"],
            cwd=REPO, check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
    return out


def pipeline_message(sim: Path, workflow: str) -> dict[str, Any]:
    extractor = yaml.safe_load(next(sim.glob("Extractor_config_*.yaml")).read_text())
    reducers, keys = [], []
    for path in sorted(sim.glob("Reducer_config_*.yaml")):
        key = path.stem.split("_V", 1)[1].split("_", 1)[1]
        if workflow == "question" and key == "point_extractor_by_frame":
            continue
        reducers.append(yaml.safe_load(path.read_text()))
        keys.append(key)
    if workflow == "question":
        extractor = {
            **extractor,
            "extractor_config": {
                k: v
                for k, v in extractor["extractor_config"].items()
                if k != "point_extractor_by_frame"
            },
        }
    return workflow_message(extractor, reducers, keys, "all")


def flat_messages(sim: Path) -> list[tuple[bytes, bytes]]:
    out = []
    with next(sim.glob("*-classifications.csv")).open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            event = event_from_export_row(row)
            out.append((str(event.subject_id).encode(), orjson.dumps(event_to_flat(event))))
    return out


def produce(
    settings: KafkaSettings, topic: str, messages: list[tuple[bytes, bytes]], rate: float | None
) -> dict[int, int]:
    """Send ``messages`` (at ``rate`` per second if given); the end offset per partition.

    aiokafka, not kafka-python: its compiled record batches take about half the CPU per record
    (61 vs 129 µs measured), and the load generator shares the 2 cores with the worker and the
    broker while latency is measured.
    """
    import asyncio

    from aiokafka import AIOKafkaProducer

    async def send_all() -> dict[int, int]:
        config = {
            **settings.producer_config(),
            "linger_ms": 2 if rate else 20,
            "max_batch_size": 262144,
        }
        producer = AIOKafkaProducer(**config)
        await producer.start()
        try:
            pending = []
            started = time.monotonic()
            for i, (key, value) in enumerate(messages, 1):
                pending.append(await producer.send(topic, key=key, value=value))
                if rate:
                    ahead = i / rate - (time.monotonic() - started)
                    if ahead > 0:
                        await asyncio.sleep(ahead)
            ends: dict[int, int] = {}
            for metadata in await asyncio.gather(*pending):
                ends[metadata.partition] = max(ends.get(metadata.partition, 0), metadata.offset + 1)
            return ends
        finally:
            await producer.stop()

    return asyncio.run(send_all())


def start_worker(
    prefix: str, broker: str, state: Path, log: Path, args: argparse.Namespace
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tally.cli", "worker", "--broker", broker, "--topic-prefix", prefix,
         "--state", str(state), "--batch-max", str(args.batch_max), "--batch-ms", str(args.batch_ms),
         "--processes", str(args.processes),
         "-l", "info"],
        cwd=REPO, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def latencies(
    settings: KafkaSettings,
    topics: StreamTopics,
    start_offsets: dict[int, int],
    reducer: str,
    task: str,
) -> list[float]:
    """Seconds from each classification sent at or after ``start_offsets`` to the first
    reduction record of (reducer, task) that counts it."""
    counts: dict[str, int] = {}
    watched: dict[str, list[tuple[int, int]]] = {}
    for partition, offset, key, _, ts in kafka_io.read_to_end(settings, topics.classifications):
        subject = key.decode()
        counts[subject] = counts.get(subject, 0) + 1
        if offset >= start_offsets.get(partition, 0):
            watched.setdefault(subject, []).append((counts[subject], ts))
    reductions: dict[str, list[tuple[int, int]]] = {}
    for _, _, _key, value, ts in kafka_io.read_to_end(settings, topics.reductions):
        record = decode(value)
        if record["reducer"] != reducer or record["task"] != task:
            continue
        reductions.setdefault(str(record["subject_id"]), []).append((record["classifications"], ts))
    out = []
    for subject, sent in watched.items():
        seen = reductions.get(subject, [])
        for nth, sent_ts in sent:
            reflected = next((ts for n, ts in seen if n >= nth), None)
            if reflected is None:
                raise RuntimeError(f"classification #{nth} of subject {subject} never reduced")
            out.append((reflected - sent_ts) / 1000.0)
    return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_workflow(args: argparse.Namespace, workflow: str, workdir: Path) -> dict[str, Any]:
    n = args.question_n if workflow == "question" else args.penguin_n
    rate_guess = 2000 if workflow == "question" else 500
    total = WARMUP + n + int(args.duration * rate_guess)
    sim = simulate(workdir, total, seed=7)
    messages = flat_messages(sim)
    prefix = f"bench-{workflow}-{uuid.uuid4().hex[:8]}"
    broker = broker_from_env()
    topics = StreamTopics.from_env(prefix=prefix, partitions=args.partitions)
    settings = KafkaSettings.from_env(client_id=prefix)
    ensure_topics(settings, topics)
    message = pipeline_message(sim, workflow)
    producer = kafka_io.make_producer(settings)
    producer.send(
        topics.workflows, key=str(message["workflow_id"]).encode(), value=encode(message)
    ).get(30)
    producer.close()
    log = workdir / f"{prefix}.log"
    worker = start_worker(prefix, broker, workdir / f"state-{prefix}", log, args)
    result: dict[str, Any] = {
        "workflow": workflow,
        "reducers": [r for r in message["reducer_configs"]],
    }
    try:
        group = topics.app_id
        # warm-up: worker joined, imports and first reductions done
        ends = produce(settings, topics.classifications, messages[:WARMUP], None)
        wait_for_group(settings, group, topics.classifications, ends, timeout=180, quiet=True)

        # The backlog is produced while the worker is stopped, so that the producer (which
        # shares the CPU) does not pace the worker; then the worker restarts on its state and
        # drains it. Processing time = first to last reduction record it published (Kafka
        # timestamps set by the worker's producer).
        stop_worker(worker)
        backlog = messages[WARMUP : WARMUP + n]
        before = kafka_io.end_offsets(settings, topics.reductions)
        started = time.monotonic()
        ends = produce(settings, topics.classifications, backlog, None)
        produced = time.monotonic() - started
        started = time.monotonic()
        worker = start_worker(prefix, broker, workdir / f"state-{prefix}", log, args)
        wait_for_group(settings, group, topics.classifications, ends, timeout=1800, quiet=True)
        wall = time.monotonic() - started
        stamps = [
            ts
            for partition, offset, _, _, ts in kafka_io.read_to_end(settings, topics.reductions)
            if offset >= before.get(partition, 0)
        ]
        elapsed = (max(stamps) - min(stamps)) / 1000.0
        throughput = n / elapsed
        result["throughput"] = {
            "classifications": n,
            "seconds": round(elapsed, 2),
            "seconds_with_worker_start": round(wall, 2),
            "produce_seconds": round(produced, 2),
            "per_second": round(throughput, 1),
        }
        print(
            f"{workflow}: {n} classifications processed in {elapsed:.1f}s -> {throughput:.0f}/s "
            f"({wall:.1f}s including the worker's start)",
            flush=True,
        )

        rate = throughput / 2
        count = min(len(messages) - WARMUP - n, int(rate * args.duration))
        start_offsets = kafka_io.end_offsets(settings, topics.classifications)
        paced = messages[WARMUP + n : WARMUP + n + count]
        t0 = time.monotonic()
        ends = produce(settings, topics.classifications, paced, rate)
        achieved = count / (time.monotonic() - t0)
        wait_for_group(settings, group, topics.classifications, ends, timeout=600, quiet=True)
        reducer, task = ("question_reducer", "T1")
        lat = latencies(settings, topics, start_offsets, reducer, task)
        if workflow == "penguin":
            lat_points = latencies(settings, topics, start_offsets, "point_reducer_hdbscan", "T0")
            result["latency_points"] = summarize(lat_points)
        result["latency"] = {
            "rate_target": round(rate, 1),
            "rate_achieved": round(achieved, 1),
            "classifications": count,
            **summarize(lat),
        }
        print(
            f"{workflow}: latency at {achieved:.0f}/s over {count} classifications: "
            f"p50 {result['latency']['p50_ms']} ms, p99 {result['latency']['p99_ms']} ms",
            flush=True,
        )
    finally:
        stop_worker(worker)
        cleanup(settings, prefix)
    return result


def summarize(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "p50_ms": round(1000 * pct(values, 0.50), 1),
        "p90_ms": round(1000 * pct(values, 0.90), 1),
        "p99_ms": round(1000 * pct(values, 0.99), 1),
        "max_ms": round(1000 * max(values), 1),
        "mean_ms": round(1000 * statistics.fmean(values), 1),
    }


def cleanup(settings: KafkaSettings, prefix: str) -> None:
    from kafka import KafkaAdminClient

    config = settings.admin_config()
    admin = KafkaAdminClient(
        **{k: v for k, v in config.items() if k in KafkaAdminClient.DEFAULT_CONFIG}
    )
    try:
        doomed = [t for t in admin.list_topics() if t.startswith(prefix)]
        if doomed:
            admin.delete_topics(doomed)
    except Exception as exc:  # noqa: BLE001
        print(f"note: could not delete topics {prefix}-*: {exc}", file=sys.stderr)
    finally:
        admin.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", default="question,penguin")
    parser.add_argument("--question-n", type=int, default=40000, help="backlog size (question)")
    parser.add_argument("--penguin-n", type=int, default=8000, help="backlog size (penguin)")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of paced load")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--batch-max", type=int, default=500)
    parser.add_argument("--batch-ms", type=int, default=20)
    parser.add_argument(
        "--processes",
        type=int,
        default=2,
        help="tally worker --processes (default: 2, one per core)",
    )
    parser.add_argument("--workdir", default=None, help="keep simulated exports and logs here")
    parser.add_argument("--json", default=None, help="write the results to this file")
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tally-bench-stream-"))
    workdir.mkdir(parents=True, exist_ok=True)
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "broker": broker_from_env(),
        },
        "settings": {
            "partitions": args.partitions,
            "batch_max": args.batch_max,
            "processes": args.processes,
            "batch_ms": args.batch_ms,
        },
        "workflows": [],
    }
    for workflow in args.workflows.split(","):
        results["workflows"].append(run_workflow(args, workflow.strip(), workdir))
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
