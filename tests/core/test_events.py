"""Parsing classification events (core/events.py): what is refused, and with which reason."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from core.events import (
    EventSchemaError,
    event_from_export_message,
    event_from_export_row,
    event_from_message,
)


def flat(**fields: Any) -> dict[str, Any]:
    return {
        "classification_id": 1,
        "subject_id": 77,
        "workflow_id": 10,
        "workflow_version": "16.55",
        "created_at": "2024-02-23 16:17:26 UTC",
        "user_id": None,
        "user_name": "not-logged-in-ab",
        "annotations": [],
        "metadata": {},
        **fields,
    }


def envelope(data: dict[str, Any] | None = None, **linked: Any) -> dict[str, Any]:
    return {
        "source": "panoptes",
        "type": "classification",
        "data": {
            "id": "3",
            "created_at": "2024-02-23T16:17:42Z",
            "workflow_version": "16.55",
            "annotations": [],
            "links": {"workflow": "10", "subjects": ["77"], "user": "5"},
            **(data or {}),
        },
        "linked": linked,
    }


def export_row(**cells: str) -> dict[str, str]:
    return {
        "classification_id": "1",
        "user_name": "alice",
        "user_id": "5",
        "workflow_id": "10",
        "workflow_version": "16.55",
        "created_at": "2024-02-23 16:17:26 UTC",
        "metadata": "{}",
        "annotations": "[]",
        "subject_data": "{}",
        "subject_ids": "77",
        **cells,
    }


# -- a classification must have an id (the engine counts each once by it) ---------------------


@pytest.mark.parametrize(("cid", "shown"), [(None, "null"), ("", "''"), ("  ", "'  '")])
def test_a_flat_event_without_classification_id_is_refused(cid, shown):
    with pytest.raises(EventSchemaError) as raised:
        event_from_message(flat(classification_id=cid))
    assert str(raised.value).startswith(
        f"empty classification_id: 'classification_id' is {shown}; every classification needs"
    )


@pytest.mark.parametrize("cid", [None, ""])
def test_an_envelope_without_data_id_is_refused(cid):
    with pytest.raises(EventSchemaError, match="^empty classification_id: 'data.id' is"):
        event_from_message(envelope({"id": cid}))


@pytest.mark.parametrize("cell", ["", " ", "NA", "nan", "null"])
def test_an_export_row_without_classification_id_is_refused(cell):
    with pytest.raises(EventSchemaError) as raised:
        event_from_export_row(export_row(classification_id=cell))
    assert str(raised.value).startswith(
        f"empty classification_id: the classification_id cell is {cell!r}; every "
        "classification needs its id"
    )


def test_an_id_of_zero_is_an_id():
    assert event_from_message(flat(classification_id=0)).classification_id == 0
    assert event_from_export_row(export_row(classification_id="0")).classification_id == 0


# -- export rows as messages (what tally replay sends for a row it cannot parse) --------------


def test_an_export_row_read_with_the_wrong_number_of_fields_is_refused_with_the_counts():
    message = {
        "export_row": export_row(classification_id="9"),
        "malformed_row": {"fields": 12, "header_fields": 10, "extra_cells": ["x", "y"]},
    }
    with pytest.raises(EventSchemaError) as raised:
        event_from_export_message(message)
    assert str(raised.value) == (
        "classification 9: malformed CSV row: 12 fields where the header has 10"
    )


@pytest.mark.parametrize("malformed", [{}, {"fields": "12", "header_fields": 10}, "12"])
def test_a_malformed_row_note_that_is_not_the_counts_is_refused_too(malformed):
    message = {"export_row": export_row(), "malformed_row": malformed}
    with pytest.raises(EventSchemaError, match="'malformed_row' must be an object"):
        event_from_export_message(message)


def test_an_export_row_message_is_parsed_as_the_row_with_null_cells_empty():
    event = event_from_export_message({"export_row": {**export_row(), "user_id": None}})
    assert (event.classification_id, event.subject_id, event.user_id) == (1, 77, None)


def test_an_export_row_that_is_not_an_object_is_refused():
    with pytest.raises(EventSchemaError, match="'export_row' must be an object of CSV cells"):
        event_from_export_message({"export_row": "1,2,3"})


# -- ids beyond 64 bits (Panoptes ids are 64-bit; the state and the messages cannot hold them) --

HUGE = 123456789012345678901234567890


@pytest.mark.parametrize("field", ["classification_id", "subject_id", "user_id", "workflow_id"])
def test_a_flat_event_with_an_id_beyond_64_bits_is_refused(field):
    with pytest.raises(EventSchemaError, match=f"{field} {HUGE} does not fit in 64 bits"):
        event_from_message(flat(**{field: str(HUGE)}))


def test_a_json_number_beyond_64_bits_is_refused_too():
    # orjson reads it as a float, which parse_id made an integer again (not even the same one)
    payload = orjson.loads(f'{{"classification_id": 1, "subject_id": {HUGE}}}')
    with pytest.raises(EventSchemaError, match="subject_id 1234567890123456[0-9]+ does not fit"):
        event_from_message(flat(**payload))


@pytest.mark.parametrize("column", ["classification_id", "subject_ids", "user_id"])
def test_an_export_row_with_an_id_beyond_64_bits_is_refused(column):
    with pytest.raises(EventSchemaError, match=f"{column} {HUGE} does not fit in 64 bits"):
        event_from_export_row(export_row(**{column: str(HUGE)}))


def test_an_envelope_with_a_subject_beyond_64_bits_is_refused():
    links = {"workflow": "10", "subjects": [str(HUGE)], "user": "5"}
    with pytest.raises(EventSchemaError, match="classification 3: data.links.subjects 1234"):
        event_from_message(envelope({"links": links}))


def test_the_largest_64_bit_ids_are_ids():
    assert event_from_message(flat(subject_id=2**64 - 1, user_id=-(2**63))).subject_id == 2**64 - 1


# -- subjects -------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["", "NA", "null", ";77"])
def test_an_export_row_without_a_subject_has_none(cell):
    # The engine rejects it ('empty subject id'), as tally extract skips it ('empty
    # subject_ids'); "NA" was the subject "NA" in the stream only.
    assert event_from_export_row(export_row(subject_ids=cell)).subject_id is None


def test_the_first_of_several_subjects_is_the_subject():
    assert event_from_export_row(export_row(subject_ids="77;78")).subject_id == 77


# -- malformed envelopes get a reason that says what is wrong, not a Python error -------------


@pytest.mark.parametrize(
    ("linked", "reason"),
    [
        (
            {"users": ["x"]},
            "classification 3: 'linked.users' must be a list of objects (each with an 'id'), "
            "got an entry str 'x'",
        ),
        ({"users": "x"}, "classification 3: 'linked.users' must be a list of objects, got str"),
        (
            {"subjects": [{"id": "77"}, 5]},
            "classification 3: 'linked.subjects' must be a list of objects (each with an 'id'), "
            "got an entry int 5",
        ),
        ("x", "classification 3: 'linked' must be an object"),
    ],
)
def test_malformed_linked_entries_are_refused_with_a_reason(linked, reason):
    payload = envelope()
    payload["linked"] = linked
    with pytest.raises(EventSchemaError) as raised:
        event_from_message(payload)
    assert str(raised.value).startswith(reason), raised.value


def test_envelope_metadata_that_is_not_an_object_is_refused_with_a_reason():
    with pytest.raises(EventSchemaError, match="'data.metadata' must be an object, got str"):
        event_from_message(envelope({"metadata": "x"}))


def test_an_envelope_names_its_volunteer_from_linked_users():
    payload = envelope(users=[{"id": "5", "login": "alice"}], subjects=[{"id": "77"}])
    assert event_from_message(payload).user_name == "alice"


# -- ids and names of the wrong JSON type -----------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("subject_id", True, "bool True"),  # was the subject True
        ("workflow_id", True, "bool True"),  # was workflow 1... or 'unknown workflow True'
        ("subject_id", {"a": 1}, "dict {'a': 1}"),  # was the subject "{'a': 1}"
        ("user_id", [5], "list [5]"),
        ("classification_id", {"id": 5}, "dict {'id': 5}"),
    ],
)
def test_an_id_that_is_not_a_number_or_text_is_refused(field, value, kind):
    with pytest.raises(EventSchemaError) as raised:
        event_from_message(flat(**{field: value}))
    assert str(raised.value).endswith(f"{field} must be an integer (or text), got {kind}")


def test_a_user_name_that_is_not_text_is_refused():
    # It was applied, and every later classification of its subject then failed in the engine
    # (the repeat filters hash user names): 'unhashable type: dict'.
    with pytest.raises(EventSchemaError, match="user_name must be text or null, got dict"):
        event_from_message(flat(user_name={"a": 1}))
    login = envelope(users=[{"id": "5", "login": ["alice"]}])
    with pytest.raises(EventSchemaError, match=r"linked.users\[\].login must be text or null"):
        event_from_message(login)
