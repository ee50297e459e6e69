"""The JSON records Tally writes to Kafka: reductions and dead letters, and their encoding.

Reduction record (topic ``<prefix>-reductions``, compacted, key = :attr:`Reduction.key`,
``"<workflow>/<subject>/<task>/<index>:<reducer>"``)::

    {"workflow_id": 10, "subject_id": 96588114, "task": "T0", "reducer": "question_reducer",
     "reducer_index": 0, "extractor_key": "question_extractor", "data": {"yes": 1},
     "classifications": 1, "latest_created_at": "2024-02-23 16:17:42 UTC",
     "config_version": "3f2a9c0d1b7e-first"}

``data`` has the structure ``tally reduce`` writes (before flattening); ``config_version``
identifies the workflow pipeline (configs and repeat filter) that computed it. A reducer with
``grouping:`` makes one record per group value: those records add ``"subgroup": "<value>"`` and
their key ends in ``/<value>``.

Dead-letter record (topic ``<prefix>-dead-letters``, key = the input record's key)::

    {"reason": "unknown workflow 99: no pipeline loaded (tally workflow load)",
     "stage": "pipeline", "payload": "{...the original message text...}",
     "payload_encoding": "utf-8", "source": {"topic": "tally-classifications",
     "partition": 3, "offset": 1041, "key": "77"},
     "classification_id": 5, "workflow_id": 99, "time": "2024-05-01T10:00:00.123456+00:00"}

A payload that is not UTF-8 is kept as base64 (``payload_encoding: "base64"``).

Encoding: JSON (orjson). Reducer outputs may hold NaN or infinities (``slider_reducer``), which
strict JSON cannot carry; such a record is written with the non-standard ``NaN``/``Infinity``
tokens that Python's ``json`` module reads, so a reduction read back equals the one written.

>>> decode(encode({"a": [1.5, float("nan")], "b": None}))
{'a': [1.5, nan], 'b': None}
>>> encode({"x": 1})
b'{"x":1}'
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

import orjson

from core.engine import Reduction

__all__ = ["dead_letter_record", "decode", "encode", "encode_reduction", "reduction_record"]


def _has_nonfinite(value: Any) -> bool:
    # Iterative, exact types first: this runs on every state write that holds a null (an
    # anonymous volunteer's log row), so it must be cheap on large nested extracts.
    stack = [value]
    pop, push, push_all = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is float:
            if item - item != 0.0:  # NaN and +-inf (inf - inf is NaN); finite floats give 0.0
                return True
        elif kind is list or kind is tuple:
            push_all(item)
        elif kind is dict:
            push_all(item.values())
        elif kind in (str, int, bool) or item is None:
            continue
        elif isinstance(item, float):
            push(float(item))
        elif isinstance(item, Mapping):
            push_all(item.values())
        elif isinstance(item, list | tuple):
            push_all(item)
    return False


def encode(value: Any) -> bytes:
    """JSON bytes; NaN and infinities survive (see the module docstring)."""
    out = orjson.dumps(value)
    # orjson writes a non-finite float as null: only then is the slow exact path needed. A
    # null is common (anonymous volunteers), so first a C-speed test: decoding gives the value
    # back unless something turned into null (or a tuple into a list); ~10x cheaper than a walk.
    if b"null" in out and orjson.loads(out) != value and _has_nonfinite(value):
        return json.dumps(value, allow_nan=True, separators=(",", ":")).encode()
    return out


def decode(raw: bytes | str) -> Any:
    """Inverse of :func:`encode` (also reads plain JSON)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def reduction_record(reduction: Reduction) -> dict[str, Any]:
    """The JSON record published for one reduction (``subgroup`` only for a grouped reducer's
    reductions, so ungrouped records are unchanged)."""
    record = {
        "workflow_id": reduction.workflow_id,
        "subject_id": reduction.subject_id,
        "user_id": reduction.user_id,
        "task": reduction.task,
        "reducer": reduction.reducer,
        "reducer_index": reduction.reducer_index,
        "extractor_key": reduction.extractor_key,
        "data": reduction.data,
        "classifications": reduction.classifications,
        "latest_created_at": reduction.latest_created_at,
        "config_version": reduction.config_version,
    }
    if reduction.subgroup is not None:
        record["subgroup"] = reduction.subgroup
    return record


def encode_reduction(reduction: Reduction) -> bytes:
    """:func:`encode` of :func:`reduction_record`, looking for NaN only inside ``data`` (the
    other fields are ids, counts and text; ``null`` there is common and says nothing)."""
    record = reduction_record(reduction)
    record["data"] = orjson.Fragment(encode(reduction.data))
    return orjson.dumps(record)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def dead_letter_record(
    reason: str,
    payload: bytes | None,
    *,
    stage: str,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    classification_id: Any = None,
    workflow_id: Any = None,
) -> dict[str, Any]:
    """The JSON record sent to the dead-letter topic for one input record.

    >>> r = dead_letter_record("bad", b"{", stage="decode", topic="t", partition=0, offset=7,
    ...                        key=b"5")
    >>> r["payload"], r["payload_encoding"], r["source"]
    ('{', 'utf-8', {'topic': 't', 'partition': 0, 'offset': 7, 'key': '5'})
    """
    text, encoding = _text(payload)
    key_text, _ = _text(key)
    return {
        "reason": reason,
        "stage": stage,
        "payload": text,
        "payload_encoding": encoding,
        "source": {"topic": topic, "partition": partition, "offset": offset, "key": key_text},
        "classification_id": classification_id,
        "workflow_id": workflow_id,
        "time": _now(),
    }


def _text(raw: bytes | None) -> tuple[str | None, str]:
    if raw is None:
        return None, "utf-8"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return base64.b64encode(raw).decode("ascii"), "base64"
