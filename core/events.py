"""Classification events in the two shapes Tally accepts, parsed into ClassificationEvent.

1. **Panoptes/Caesar envelope**, as Panoptes publishes it to its stream::

       {"source": "panoptes", "type": "classification",
        "data": {"id": "1", "annotations": [...], "metadata": {...}, "created_at": "...",
                 "workflow_version": "16.55",
                 "links": {"workflow": "10", "subjects": ["77"], "user": "5"}},
        "linked": {"subjects": [{"id": "77", "metadata": {...}}]}}

2. **Flat form**, what ``tally replay`` emits for each row of a classification export::

       {"classification_id": 1, "subject_id": 77, "workflow_id": 10,
        "workflow_version": "16.55", "created_at": "2024-02-23 16:17:26 UTC",
        "user_id": 5, "user_name": "alice", "annotations": [...], "metadata": {...}}

Anything else raises :class:`EventSchemaError` saying which field is missing or wrong, so the
stream can send the record to the dead-letter topic with that reason. A classification must
have an id: the engine counts each classification once by it (docs/events.md).

>>> event = event_from_message({"classification_id": 1, "subject_id": "77", "workflow_id": "10",
...     "workflow_version": "16.55", "created_at": "2024-02-23 16:17:26 UTC", "user_id": None,
...     "user_name": "not-logged-in-ab", "annotations": [], "metadata": {}})
>>> event.subject_id, event.workflow_id, event.user_id
(77, 10, None)
>>> event_from_message({"source": "panoptes", "type": "classification", "data": {"id": "3"}})
Traceback (most recent call last):
...
core.events.EventSchemaError: classification 3: missing 'data.links.workflow'; ...
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from core.csv_layout import NA_STRINGS
from core.engine import ClassificationEvent
from core.errors import TallyError

__all__ = [
    "EventSchemaError",
    "event_from_export_message",
    "event_from_export_row",
    "event_from_message",
    "event_to_flat",
    "message_classification_id",
    "missing_id",
    "parse_id",
]


class EventSchemaError(TallyError, ValueError):
    """A message is not a classification event Tally understands."""


def parse_id(value: Any) -> Any:
    """Integer ids stay integers (``'77'`` -> 77, ``'77.0'`` -> 77); blanks become None;
    anything else is kept as text.

    >>> parse_id("77"), parse_id(""), parse_id("12.0"), parse_id("abc")
    (77, None, 12, 'abc')
    """
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else text


def _require(payload: Mapping[str, Any], path: str, cid: Any) -> Any:
    node: Any = payload
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise EventSchemaError(
                f"classification {cid}: missing {path!r}; expected a Panoptes classification "
                "event (source/type/data/linked) or Tally's flat replay form (docs/events.md)"
            )
        node = node[part]
    return node


def event_from_message(payload: Any) -> ClassificationEvent:
    """Parse a decoded JSON message in either accepted shape."""
    if not isinstance(payload, Mapping):
        raise EventSchemaError(
            f"a classification event must be a JSON object, got {type(payload).__name__}"
        )
    if "data" in payload and "source" in payload:
        return _from_envelope(payload)
    cid = payload.get("classification_id")
    for name in ("classification_id", "subject_id", "workflow_id", "annotations"):
        _require(payload, name, cid)
    return ClassificationEvent(
        classification_id=_classification_id(cid, "'classification_id'"),
        subject_id=_id(payload["subject_id"], "subject_id", cid),
        workflow_id=_int(payload["workflow_id"], "workflow_id", cid),
        workflow_version=_text(payload.get("workflow_version")),
        created_at=str(payload.get("created_at") or ""),
        user_id=_id(payload.get("user_id"), "user_id", cid),
        user_name=_user_name(payload.get("user_name"), "user_name", cid),
        annotations=payload["annotations"],
        metadata=payload.get("metadata") or {},
        subject_metadata=payload.get("subject_metadata") or {},
    )


def _from_envelope(payload: Mapping[str, Any]) -> ClassificationEvent:
    if payload.get("source") != "panoptes" or payload.get("type") != "classification":
        raise EventSchemaError(
            f"not a classification event: source={payload.get('source')!r}, "
            f"type={payload.get('type')!r} (expected 'panoptes' / 'classification')"
        )
    data = payload["data"]
    cid = data.get("id") if isinstance(data, Mapping) else None
    _require(payload, "data.links.workflow", cid)
    links = data["links"]
    subjects = _require(payload, "data.links.subjects", cid)
    if not isinstance(subjects, list) or not subjects:
        raise EventSchemaError(
            f"classification {cid}: 'data.links.subjects' must be a non-empty list"
        )
    metadata = data.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        raise EventSchemaError(
            f"classification {cid}: 'data.metadata' must be an object, got {_kind(metadata)}"
        )
    subject_metadata: Any = {}
    for linked in _linked(payload, "subjects", cid):
        if str(linked.get("id")) == str(subjects[0]):
            subject_metadata = linked.get("metadata") or {}
    linked_users = _linked(payload, "users", cid)
    user_id = _id(links.get("user"), "data.links.user", cid)
    # Live events carry no user_name; anonymous volunteers are told apart by session, which is
    # what the export's not-logged-in-<hash> name approximates.
    if user_id is not None:
        user_name = f"user-{user_id}"
        for user in linked_users:
            if parse_id(user.get("id")) == user_id and user.get("login"):
                user_name = _user_name(user["login"], "linked.users[].login", cid)
    else:
        user_name = f"not-logged-in-{metadata.get('session', cid)}"
    return ClassificationEvent(
        classification_id=_classification_id(_require(payload, "data.id", cid), "'data.id'"),
        subject_id=_id(subjects[0], "data.links.subjects", cid),
        workflow_id=_int(links["workflow"], "data.links.workflow", cid),
        workflow_version=_text(data.get("workflow_version") or metadata.get("workflow_version")),
        created_at=str(_require(payload, "data.created_at", cid)),
        user_id=user_id,
        user_name=user_name,
        annotations=_require(payload, "data.annotations", cid),
        metadata=metadata,
        subject_metadata=subject_metadata if isinstance(subject_metadata, Mapping) else {},
    )


def _linked(payload: Mapping[str, Any], name: str, cid: Any) -> list[Mapping[str, Any]]:
    """The envelope's ``linked.<name>`` (subjects, users): a list of objects, possibly absent."""
    linked = payload.get("linked")
    if linked is None:
        return []
    if not isinstance(linked, Mapping):
        raise EventSchemaError(
            f"classification {cid}: 'linked' must be an object (with 'subjects' and 'users' "
            f"lists), got {_kind(linked)}"
        )
    entries = linked.get(name)
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise EventSchemaError(
            f"classification {cid}: 'linked.{name}' must be a list of objects, got {_kind(entries)}"
        )
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise EventSchemaError(
                f"classification {cid}: 'linked.{name}' must be a list of objects (each with "
                f"an 'id'), got an entry {_kind(entry)}"
            )
    return entries


def _kind(value: Any) -> str:
    """``str 'x'``: a value's JSON-ish type and the start of its text, for error messages."""
    return f"{type(value).__name__} {repr(value)[:40]}"


def message_classification_id(payload: Any) -> Any:
    """The classification id a message names, in any accepted shape, for a dead letter about
    it; None if there is none to read. An id that is not a plain integer stays text.

    >>> message_classification_id({"export_row": {"classification_id": "900003"}})
    900003
    >>> message_classification_id({"source": "panoptes", "data": {"id": "29"}})
    29
    >>> message_classification_id({"classification_id": "123456789012345678901234567890"})
    '123456789012345678901234567890'
    >>> message_classification_id([1, 2]), message_classification_id({"classification_id": {}})
    (None, None)
    """
    if not isinstance(payload, Mapping):
        return None
    if "export_row" in payload:
        row = payload["export_row"]
        value = row.get("classification_id") if isinstance(row, Mapping) else None
    elif "data" in payload and "source" in payload:
        data = payload["data"]
        value = data.get("id") if isinstance(data, Mapping) else None
    else:
        value = payload.get("classification_id")
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    parsed = parse_id(value)
    if isinstance(parsed, int) and parsed not in _STORABLE:
        return str(value)  # (a dead letter must stay encodable)
    return None if parsed == "" else parsed


def event_from_export_row(row: Mapping[str, str]) -> ClassificationEvent:
    """Parse one row of a Panoptes classification export (all cells are text).

    >>> event_from_export_row({"classification_id": "", "workflow_id": "10"})
    Traceback (most recent call last):
    ...
    core.events.EventSchemaError: empty classification_id: the classification_id cell is ''; ...
    """
    cell = row.get("classification_id")
    if cell is None or missing_id(cell):
        # pandas reads these as NaN: the reference extracts the row with a NaN id
        raise EventSchemaError(
            f"empty classification_id: the classification_id cell is {cell or ''!r}; {_WHY_AN_ID}"
        )
    cid = _classification_id(cell, "the classification_id cell")
    try:
        annotations = orjson.loads(row.get("annotations") or "[]")
        metadata = orjson.loads(row.get("metadata") or "{}")
    except orjson.JSONDecodeError as exc:
        raise EventSchemaError(
            f"classification {cid}: annotations or metadata is not valid JSON ({exc})"
        ) from None
    subject_ids = str(row.get("subject_ids") or "")
    # NA, null, ...: pandas' missing-value marks (tally extract skips such a row as 'empty
    # subject_ids'); the engine rejects a classification without subject
    subject = "" if subject_ids in NA_STRINGS else subject_ids.split(";")[0]
    subject_metadata: Any = {}
    if row.get("subject_data"):
        # {"<subject id>": {"retired": ..., <metadata>...}}; rules read it as subject.<field>
        try:
            subject_data = orjson.loads(row["subject_data"])
        except orjson.JSONDecodeError:
            subject_data = {}
        entry = subject_data.get(subject) if isinstance(subject_data, Mapping) else None
        if isinstance(entry, Mapping):
            subject_metadata = {k: v for k, v in entry.items() if k != "retired"}
    return ClassificationEvent(
        classification_id=cid,
        subject_id=_id(subject, "subject_ids", cid),
        workflow_id=_int(row.get("workflow_id"), "workflow_id", cid),
        workflow_version=_text(row.get("workflow_version")),
        created_at=row.get("created_at") or "",
        user_id=_id(row.get("user_id"), "user_id", cid),
        user_name=row.get("user_name") or None,
        annotations=annotations,
        metadata=metadata,
        subject_metadata=subject_metadata,
    )


def event_from_export_message(payload: Mapping[str, Any]) -> ClassificationEvent:
    """Parse ``{"export_row": {...cells...}}`` (docs/events.md, shape 3).

    ``tally replay`` sends a row read with another number of fields than the header has with
    ``"malformed_row": {"fields": N, "header_fields": M, "extra_cells": [...]}``: its cells are
    not where the header says, so it is refused with that reason (as ``tally extract`` skips it).

    >>> event_from_export_message({"export_row": {"classification_id": "7"},
    ...     "malformed_row": {"fields": 22, "header_fields": 21, "extra_cells": ["x"]}})
    Traceback (most recent call last):
    ...
    core.events.EventSchemaError: classification 7: malformed CSV row: 22 fields where the header has 21
    """
    row = payload["export_row"]
    if not isinstance(row, Mapping):
        raise EventSchemaError(
            f"'export_row' must be an object of CSV cells, got {type(row).__name__}"
        )
    cells = {str(k): "" if v is None else str(v) for k, v in row.items()}
    malformed = payload.get("malformed_row")
    if malformed is not None:
        cid = parse_id(cells.get("classification_id"))
        fields = malformed.get("fields") if isinstance(malformed, Mapping) else None
        header_fields = malformed.get("header_fields") if isinstance(malformed, Mapping) else None
        if not isinstance(fields, int) or not isinstance(header_fields, int):
            raise EventSchemaError(
                f"classification {cid}: 'malformed_row' must be an object with the integers "
                f"'fields' and 'header_fields', got {malformed!r}"
            )
        raise EventSchemaError(
            f"classification {cid}: malformed CSV row: {fields} fields where the header has "
            f"{header_fields}"
        )
    return event_from_export_row(cells)


def event_to_flat(event: ClassificationEvent) -> dict[str, Any]:
    """The flat message form of an event (what ``tally replay`` publishes)."""
    return {
        "classification_id": event.classification_id,
        "subject_id": event.subject_id,
        "workflow_id": event.workflow_id,
        "workflow_version": event.workflow_version,
        "created_at": event.created_at,
        "user_id": event.user_id,
        "user_name": event.user_name,
        "annotations": event.annotations,
        "metadata": event.metadata,
        "subject_metadata": event.subject_metadata,
    }


def missing_id(cell: str) -> bool:
    """True for a classification_id cell that holds no id: blank, or a mark pandas reads as a
    missing value (the reference then extracts the row with a NaN id).

    >>> [missing_id(c) for c in ("", "  ", "NA", "nan", "12", " NA ")]
    [True, True, True, True, False, False]
    """
    return cell in NA_STRINGS or cell.isspace()


_WHY_AN_ID = (
    "every classification needs its id, which Tally counts it once by (without one, a second "
    "classification of the subject would be taken for a repeat of the first)"
)


def _classification_id(value: Any, where: str) -> Any:
    """The classification id of ``value`` (read by :func:`parse_id`); a missing or blank one
    raises :class:`EventSchemaError`."""
    cid = _id(value, "classification_id", value)
    if cid is None or cid == "":
        shown = "null" if value is None else repr(value)  # (as the JSON message says it)
        raise EventSchemaError(f"empty classification_id: {where} is {shown}; {_WHY_AN_ID}")
    return cid


#: The integers JSON state and messages hold (orjson: signed or unsigned 64-bit).
_STORABLE = range(-(2**63), 2**64)


def _id(value: Any, name: str, cid: Any) -> Any:
    """``parse_id(value)``, refusing an integer beyond 64 bits: Panoptes ids are 64-bit, and
    the engine's state and the stream's messages cannot hold a larger one (writing it failed
    half-way through a replay or a run), and one that is neither a number nor text."""
    if isinstance(value, bool) or not (value is None or isinstance(value, str | int | float)):
        # (true was the subject True, a workflow id 1; an object became its text)
        raise EventSchemaError(
            f"classification {cid}: {name} must be an integer (or text), got {_kind(value)}"
        )
    parsed = parse_id(value)
    if isinstance(parsed, int) and parsed not in _STORABLE:
        raise EventSchemaError(
            f"classification {cid}: {name} {parsed} does not fit in 64 bits; Panoptes ids are "
            "64-bit integers, so this one is not a Panoptes id"
        )
    return parsed


def _int(value: Any, name: str, cid: Any) -> int:
    parsed = _id(value, name, cid)
    if not isinstance(parsed, int):
        raise EventSchemaError(f"classification {cid}: {name!r} must be an integer, got {value!r}")
    return parsed


def _user_name(value: Any, name: str, cid: Any) -> str | None:
    """A volunteer's name: text or null. (An object was applied, and then failed every later
    classification of its subject: the repeat filters hash user names.)"""
    if value is None or isinstance(value, str):
        return value
    raise EventSchemaError(f"classification {cid}: {name} must be text or null, got {_kind(value)}")


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
