"""tally/tables.py helpers that must match the csv module byte for byte."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from tally.tables import csv_field

_text = st.text(alphabet=st.sampled_from(list(",\"\n\r\t ab1'[]{}\\\x00é\u2028")), max_size=8)


@given(st.lists(_text, min_size=1, max_size=5))
def test_csv_field_joins_as_csv_writer_writes(fields):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(fields)
    if fields == [""]:
        assert buffer.getvalue() == '""\n'  # the one case the joined form does not cover
    else:
        assert ",".join(map(csv_field, fields)) + "\n" == buffer.getvalue()


def test_csv_field_on_every_ascii_character():
    for code in range(128):
        field = f"a{chr(code)}b"
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([field, ""])
        assert csv_field(field) + ",\n" == buffer.getvalue(), repr(field)
