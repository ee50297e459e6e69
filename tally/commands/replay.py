"""``tally replay``: a Panoptes classification export into the classifications topic.

Each row becomes one message in the flat form of docs/events.md (``event_from_export_row`` ->
``event_to_flat``), keyed by its subject id, in file order. A row that cannot be parsed (its
annotations or metadata are not JSON, the workflow id is not a number, a number of fields
other than the header's) is still sent, as ``{"export_row": {...the CSV cells...}}``: the
worker dead-letters it with the reason and the row, so the dead-letter topic is the one place
to look for every rejected input. The count of such rows is printed. A file that is not UTF-8
is refused before anything is published, as ``tally extract`` refuses it (:func:`check_utf8`).

``--wait`` returns once every replayed classification is reflected in the reductions topic: it
records, per partition, the offset after the last message it produced, then waits until the
worker group's committed offsets reach them. A worker commits an offset only after the
reductions of every record before it were acknowledged by the broker (it waits for them, and
Faust flushes its producer before committing), so a committed offset means published
reductions. User reductions (``topic: reduce_by_user``) are computed by the workers' user stage
from the classifications-by-user topic, which the subject stage feeds before it commits: so
``--wait`` then waits the same way for the group to reach that topic's end offsets.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from stream.topics import StreamTopics, add_topic_arguments, ensure_topics, settings_from_args
from tally.argtypes import positive_float

__all__ = ["add_parser", "check_utf8", "replay", "row_message", "run", "wait_for_group"]


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "replay",
        help="replay a classification export into the stream",
        description="Publish the rows of a Panoptes classification export to the "
        "classifications topic, keyed by subject id, as the stream workers read them.",
    )
    parser.add_argument("classification_csv", help="the classification export (CSV)")
    add_topic_arguments(parser, partitions=True)
    parser.add_argument(
        "--rate",
        type=positive_float,
        default=None,
        help="messages per second (default: as fast as possible)",
    )
    parser.add_argument(
        "--wait",
        action="store_true",
        help="return only when the worker group has processed every replayed classification "
        "and published its reductions",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        help="with --wait: give up after this many seconds (default: 600)",
    )
    parser.add_argument(
        "--workflow-id",
        type=int,
        default=None,
        help="replay only the rows of this workflow",
    )
    parser.add_argument("-hb", "--hide_bar", action="store_true", help="hide the progress bar")
    parser.set_defaults(run=run)


def replay(
    path: str,
    settings: Any,
    topic: str,
    *,
    rate: float | None = None,
    workflow_id: int | None = None,
    hide_bar: bool = True,
    check_encoding: bool = True,
) -> tuple[int, int, dict[int, int]]:
    """Publish the export; return (messages sent, unparseable rows, partition -> end offset).

    A file that is not UTF-8 is refused before anything is published (:func:`check_utf8`;
    ``check_encoding=False``: the caller checked it)."""
    if check_encoding:
        check_utf8(path)
    # Imported here, not at start-up: every `tally` command builds this parser.
    from stream.kafka_io import make_producer
    from tally.progress import progress_bar
    from tally.tables import CsvSource

    producer = make_producer(settings, linger_ms=20, batch_size=262144)
    ends: dict[int, int] = {}
    errors: list[BaseException] = []

    def sent(metadata: Any) -> None:
        if metadata.offset + 1 > ends.get(metadata.partition, 0):
            ends[metadata.partition] = metadata.offset + 1

    sent_count = bad = 0
    started = time.monotonic()
    try:
        with (
            CsvSource(path, what="classification export") as source,
            progress_bar(
                "Replaying", total=source.size, unit="B", hide=hide_bar, unit_scale=True
            ) as bar,
        ):
            header = source.header
            workflow_at = header.index("workflow_id") if "workflow_id" in header else None
            done = 0
            for cells in source:
                if (
                    workflow_id is not None
                    and len(cells) == len(header)  # a malformed row is sent (dead-lettered)
                    and (workflow_at is None or cells[workflow_at].strip() != str(workflow_id))
                ):
                    continue
                key, value, unparsed = row_message(header, cells)
                bad += unparsed
                future = producer.send(topic, key=key, value=value)
                future.add_callback(sent)
                future.add_errback(errors.append)
                sent_count += 1
                if rate is not None:
                    ahead = sent_count / rate - (time.monotonic() - started)
                    if ahead > 0:
                        time.sleep(ahead)
                if sent_count % 1000 == 0:
                    now = source.position()
                    bar.update(now - done)
                    done = now
            bar.update(source.size - done)
        producer.flush(timeout=120)
    finally:
        producer.close()
    if errors:
        raise RuntimeError(f"{len(errors)} messages could not be published: {errors[0]!r}")
    return sent_count, bad, ends


def check_utf8(path: str | os.PathLike[str], *, chunk_bytes: int = 4 << 20) -> None:
    r"""Raise :class:`~tally.errors.InputError` naming the byte, its offset and line if the file
    is not UTF-8 text.

    Run before publishing anything, as ``tally extract`` refuses such a file before extracting
    anything: an undecodable byte half-way stopped the replay with part of the export published
    (and a line number far from the byte). A team then re-saves the file and replays it whole;
    nothing is half-published meanwhile, and no row is lost to a guessed encoding. Decoding
    costs about 70 ms for a 20,000-row export (50 MB), next to seconds of publishing it.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = os.path.join(tmp, "export.csv")
    ...     with open(path, "wb") as f:
    ...         _ = f.write(b"a,b\n1,Jos\xe9\n")
    ...     check_utf8(path)
    Traceback (most recent call last):
    ...
    tally.errors.InputError: ... is not UTF-8 text (byte b'\xe9' at byte 9, line 2); ...
    """
    import codecs

    from tally.errors import InputError

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = lines = 0  # bytes and line ends before the chunk
    try:
        with open(path, "rb") as f:
            while True:
                chunk = f.read(chunk_bytes)
                pending = len(decoder.getstate()[0])  # bytes of a character cut by the last chunk
                try:
                    decoder.decode(chunk, final=not chunk)
                except UnicodeDecodeError as exc:
                    start = offset - pending + exc.start
                    data = exc.object
                    line = lines + data[: exc.start].count(b"\n") + 1
                    raise InputError(
                        f"{path} is not UTF-8 text (byte {data[exc.start : exc.start + 1]!r} at "
                        f"byte {start}, line {line}); nothing was published. Panoptes exports "
                        "are UTF-8: re-save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8) "
                        "and replay it"
                    ) from None
                if not chunk:
                    return
                offset += len(chunk)
                lines += chunk.count(b"\n")
    except OSError as exc:
        raise InputError(
            f"cannot open classification export {str(path)!r}: {exc.strerror}"
        ) from exc


def row_message(header: Sequence[str], cells: Sequence[str]) -> tuple[bytes | None, bytes, bool]:
    """The key and value ``tally replay`` publishes for one export row, and whether the row is
    sent as ``{"export_row": ...}`` because it cannot be parsed (the workers dead-letter it with
    the reason).

    A row with another number of fields than the header has is sent with ``"malformed_row"``:
    its cells are not where the header says (a surplus cell was silently dropped, and a
    truncated row was refused for a misleading reason, such as no subject id).

    >>> import orjson
    >>> header = ["classification_id", "subject_ids", "workflow_id", "annotations"]
    >>> key, value, unparsed = row_message(header, ["1", "77", "10", "[]"])
    >>> key, orjson.loads(value)["subject_id"], unparsed
    (b'77', 77, False)
    >>> key, value, unparsed = row_message(header, ["1", "77", "10", "[]", "surplus"])
    >>> key, orjson.loads(value)["malformed_row"], unparsed
    (b'77', {'fields': 5, 'header_fields': 4, 'extra_cells': ['surplus']}, True)
    """
    import orjson

    from core.events import EventSchemaError, event_from_export_row, event_to_flat

    row = dict(zip(header, cells, strict=False))
    subject = (row.get("subject_ids") or "").split(";")[0].strip()
    if len(cells) != len(header):
        malformed = {
            "fields": len(cells),
            "header_fields": len(header),
            "extra_cells": list(cells[len(header) :]),
        }
        message = {"export_row": row, "malformed_row": malformed}
        return subject.encode() or None, orjson.dumps(message), True
    try:
        event = event_from_export_row(row)
        value = orjson.dumps(event_to_flat(event))
    except (EventSchemaError, orjson.JSONEncodeError):
        # (an encode error: a value the stream cannot carry; it stopped the whole replay)
        return subject.encode() or None, orjson.dumps({"export_row": row}), True
    key = None if event.subject_id is None else str(event.subject_id).encode()
    return key, value, False


def wait_for_group(
    settings: Any,
    group_id: str,
    topic: str,
    targets: dict[int, int],
    *,
    timeout: float,
    quiet: bool = False,
) -> float:
    """Wait until ``group_id`` committed at least ``targets[p]`` on every partition ``p``;
    return the seconds waited. Raises TimeoutError."""
    from kafka.errors import KafkaError

    from stream import kafka_io

    started = time.monotonic()
    last_report = 0.0
    while True:
        try:
            committed = kafka_io.committed_offsets(settings, group_id, topic)
        except KafkaError as exc:
            if not exc.retriable:
                raise
            # e.g. CoordinatorNotAvailable: a broker just (re)started is still loading the
            # group offsets topic. Nothing committed that we can see yet; ask again.
            committed = {}
        behind = {p: t - committed.get(p, 0) for p, t in targets.items() if committed.get(p, 0) < t}
        if not behind:
            return time.monotonic() - started
        elapsed = time.monotonic() - started
        if elapsed > timeout:
            raise TimeoutError(
                f"worker group {group_id!r} still has {sum(behind.values())} replayed "
                f"classifications to process after {timeout:.0f}s (partitions {sorted(behind)}); "
                "is a `tally worker` with this app id running?"
            )
        if not quiet and elapsed - last_report >= 5:
            print(
                f"waiting for {group_id}: {sum(behind.values())} classifications to go",
                file=sys.stderr,
            )
            last_report = elapsed
        time.sleep(0.25)


def run(args: argparse.Namespace) -> int:
    topics = StreamTopics.from_args(args)
    settings = settings_from_args(args, "tally-replay")
    check_utf8(args.classification_csv)  # before anything touches the broker
    ensure_topics(settings, topics)
    sent, bad, ends = replay(
        args.classification_csv,
        settings,
        topics.classifications,
        rate=args.rate,
        workflow_id=args.workflow_id,
        hide_bar=args.hide_bar,
        check_encoding=False,
    )
    print(f"replayed {sent} classifications to {topics.classifications}")
    if bad:
        print(
            f"note: {bad} rows could not be parsed; they were sent as export_row messages and "
            f"the workers will dead-letter them to {topics.dead_letters} with the reason",
            file=sys.stderr,
        )
    if args.wait and ends:
        waited = wait_for_group(
            settings, topics.app_id, topics.classifications, ends, timeout=args.timeout
        )
        # The user stage: the workers forwarded these classifications to the by-user topic
        # (acknowledged before their input offsets were committed); wait for those too.
        from stream.kafka_io import end_offsets

        by_user = end_offsets(settings, topics.classifications_by_user)
        by_user = {p: o for p, o in by_user.items() if o}
        if by_user:
            waited += wait_for_group(
                settings, topics.app_id, topics.classifications_by_user, by_user,
                timeout=args.timeout,
            )  # fmt: skip
        print(
            f"all {sent} classifications processed by {topics.app_id} ({waited:.1f}s after the last was sent)"
        )
    return 0
