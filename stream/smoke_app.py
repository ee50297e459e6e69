"""A minimal Faust app that proves the Kafka + Faust + RocksDB (rocksdict) stack end to end.

It counts events per subject id in a RocksDB-backed table and reports every new count on an
output topic, together with what the table store really is (so a test can check that the store
is Faust's RocksDB store driven by rocksdict). tests/integration/test_faust_smoke.py runs it as a
real worker process, stops it and restarts it to check that the table survives.

Run it by hand against ``ops/kafka-local``::

    TALLY_SMOKE_APP_ID=smoke-1 python -m stream.smoke_app worker -l info --without-web

Configuration (read at import, so a worker process takes it from its environment):

* ``TALLY_KAFKA_BROKER``: see :mod:`stream.kafka_settings`;
* ``TALLY_SMOKE_APP_ID``: the Faust app id (consumer group, topic and changelog prefix);
* ``TALLY_SMOKE_DATADIR``: where Faust keeps the app's RocksDB files (default under the temp dir);
* ``TALLY_SMOKE_PARTITIONS``: partitions of the input topic and the table (default 2).

Topics: ``<app id>-events`` (input, key = subject id, value = JSON ``{"seq": n}``) and
``<app id>-out`` (one JSON record per event handled; see :func:`count_events`).
"""

from __future__ import annotations

import os
import tempfile
from typing import Any

import faust
from faust.stores import rocksdb as faust_rocksdb

from stream.kafka_settings import KafkaSettings

APP_ID = os.environ.get("TALLY_SMOKE_APP_ID", "tally-smoke")
DATADIR = os.environ.get(
    "TALLY_SMOKE_DATADIR", os.path.join(tempfile.gettempdir(), "tally-faust", APP_ID)
)
PARTITIONS = int(os.environ.get("TALLY_SMOKE_PARTITIONS", "2"))
EVENTS_TOPIC = f"{APP_ID}-events"
OUTPUT_TOPIC = f"{APP_ID}-out"
TABLE_NAME = "counts"

settings = KafkaSettings.from_env(client_id=APP_ID)

app = faust.App(
    APP_ID,
    **settings.faust_config(),
    store="rocksdb://",
    datadir=DATADIR,
    topic_partitions=PARTITIONS,
    topic_replication_factor=1,
    table_standby_replicas=0,
    web_enabled=False,
    # Commit consumer offsets often, so a stop loses as little progress as possible.
    broker_commit_interval=1.0,
)

# internal=True: this app owns both topics, so Faust creates them (with these partition counts) if
# they are missing. The table is co-partitioned with the input topic.
events = app.topic(
    EVENTS_TOPIC,
    partitions=PARTITIONS,
    key_serializer="raw",
    value_serializer="json",
    internal=True,
)
output = app.topic(
    OUTPUT_TOPIC, partitions=1, key_serializer="raw", value_serializer="json", internal=True
)

counts = app.Table(TABLE_NAME, default=int, key_type=str, value_type=int, partitions=PARTITIONS)


def store_report() -> dict[str, Any]:
    """What backs the ``counts`` table in this process.

    ``faust.stores.rocksdb`` picks rocksdict whenever it imports (python-rocksdb is only the
    fallback); this reports the choice as made at run time, from the live store and its open
    databases.
    """
    import rocksdict

    store = counts.data
    dbs = dict(getattr(store, "_dbs", {}))
    all_rdict = all(isinstance(db, rocksdict.Rdict) for db in dbs.values())
    return {
        "store_class": f"{type(store).__module__}.{type(store).__qualname__}",
        "use_rocksdict": bool(getattr(store, "use_rocksdict", False)),
        "python_rocksdb_installed": faust_rocksdb.rocksdb is not None,
        "open_dbs": len(dbs),
        "dbs_are_rocksdict": bool(dbs) and all_rdict,
        "table_path": str(getattr(store, "path", "")),
    }


@app.agent(events)
async def count_events(stream: faust.StreamT) -> None:
    """Count events per subject; publish ``{subject, seq, count, store, pid}`` per event."""
    async for event in stream.events():
        key = event.key
        subject = key.decode() if isinstance(key, bytes) else str(key)
        # Assign, never mutate in place: only an assignment writes the changelog.
        new_count = counts[subject] + 1
        counts[subject] = new_count
        await output.send(
            key=subject.encode(),
            value={
                "subject": subject,
                "seq": (event.value or {}).get("seq"),
                "count": new_count,
                "partition": event.message.partition,
                "offset": event.message.offset,
                "pid": os.getpid(),
                "store": store_report(),
            },
        )


if __name__ == "__main__":
    app.main()
