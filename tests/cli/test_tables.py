"""tally/tables.py helpers that must match the csv module byte for byte."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tally import tables
from tally.errors import InputError
from tally.tables import CsvBlocks, csv_field, parse_block, read_span

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


def _reference_blocks(path, data_start, block_bytes):
    """The blocks as CsvBlocks cut them before spans(): one buffer, counted from its start."""

    def last_record_end(buffer):
        newline = buffer.rfind(b"\n")
        if newline == -1:
            return None
        quotes = buffer.count(b'"', 0, newline)
        while quotes % 2:
            previous = buffer.rfind(b"\n", 0, newline)
            if previous == -1:
                return None
            quotes -= buffer.count(b'"', previous, newline)
            newline = previous
        return newline + 1

    with open(path, "rb") as f:
        f.seek(data_start)
        offset, carry = data_start, b""
        while True:
            data = f.read(block_bytes)
            if not data:
                if carry:
                    yield offset, carry
                return
            buffer = carry + data
            end = last_record_end(buffer)
            if end is None:
                carry = buffer
                continue
            yield offset, buffer[:end]
            offset += end
            carry = buffer[end:]


_cell = st.text(alphabet=st.sampled_from(list('ab,"\n\r é')), max_size=12)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(_cell, min_size=2, max_size=2), max_size=12),
    block_bytes=st.integers(1, 40),
    crlf=st.booleans(),
)
def test_blocks_are_whole_records_as_before(tmp_path_factory, rows, block_bytes, crlf):
    path = tmp_path_factory.mktemp("blocks") / "x.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\r\n" if crlf else "\n").writerows([["h1", "h2"], *rows])
    blocks = CsvBlocks(path, block_bytes=block_bytes)
    got = list(blocks)
    if b"\r" not in path.read_bytes().replace(b"\r\n", b""):
        # cut where the \n-only cutter cut; a lone \r (csv.writer leaves a "\r" cell unquoted
        # under "\n" line ends, and the csv module ends the record there) is a line end now
        assert got == list(_reference_blocks(path, blocks.data_start, block_bytes))
    assert [(o, len(b)) for o, b in got] == list(blocks.spans())
    parsed = [row for offset, data in got for row in parse_block(data, path, offset)]
    with open(path, encoding="utf-8", newline="") as f:
        assert parsed == [row for row in csv.reader(f) if row][1:]  # as the whole file parses
    # read once into one reused buffer: whole records too, each view parsed before the next
    viewed = [(offset, bytes(view)) for offset, view in blocks.views()]
    assert b"".join(data for _, data in viewed) == path.read_bytes()[blocks.data_start :]
    assert [row for offset, view in blocks.views() for row in parse_block(view, path, offset)] == (
        parsed
    )


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(st.lists(_cell, min_size=2, max_size=2), max_size=12),
    targets=st.lists(st.integers(1, 40), min_size=1, max_size=5),
)
def test_blocks_of_planned_sizes_are_whole_records(tmp_path_factory, rows, targets):
    path = tmp_path_factory.mktemp("sized") / "x.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["h1", "h2"], *rows])
    blocks = CsvBlocks(path)
    asked = []

    def sizes(index, left):
        asked.append((index, left))
        return targets[index % len(targets)]

    spans = list(blocks.spans(sizes))
    offsets = [blocks.data_start] + [o + n for o, n in spans]
    assert [o for o, _ in spans] == offsets[:-1] and offsets[-1] == blocks.size  # contiguous
    parsed = [
        row
        for offset, length in spans
        for row in parse_block(read_span(path, offset, length), path, offset)
    ]
    with open(path, encoding="utf-8", newline="") as f:
        assert parsed == [row for row in csv.reader(f) if row][1:]
    assert all(left == blocks.size - offsets[index] for index, left in asked if index < len(spans))


def test_a_file_renamed_over_the_path_is_not_read_at_the_old_offsets(tmp_path):
    """Workers open the path again per block: a fresh export moved into place meanwhile must
    stop the run, not give the other file's bytes at offsets found in the first one."""
    import os

    import pytest

    from tally.errors import InputError

    path = tmp_path / "x.csv"
    path.write_text("h1,h2\n" + "".join(f"{i},a\n" for i in range(50)), encoding="utf-8")
    blocks = CsvBlocks(path, block_bytes=64)
    spans = list(blocks.spans())
    assert read_span(path, *spans[1], blocks.identity) == read_span(path, *spans[1])
    fresh = tmp_path / "fresh.csv"
    fresh.write_text("h1,h2\n" + "".join(f"{i},bb\n" for i in range(80)), encoding="utf-8")
    os.replace(fresh, path)
    with pytest.raises(InputError, match="replaced by another file while it was read"):
        read_span(path, *spans[1], blocks.identity)
    with pytest.raises(InputError, match="replaced by another file"):
        list(blocks)  # tally reduce's blocks


def test_views_say_that_a_file_was_cut_short_while_read(tmp_path):
    """As read_span does for the blocks of spans(): not fewer rows without a word."""
    path = tmp_path / "x.csv"
    path.write_bytes(b"h\n" + b"".join(b"%d\n" % i for i in range(100_000)))
    views = CsvBlocks(path, block_bytes=64).views()
    next(views)
    os.truncate(path, 20_000)
    with pytest.raises(InputError, match="changed while it was read"):
        for _ in views:
            pass


def test_compiled_splitter_is_built_and_in_use():
    """The install builds it (setup.py); a missing build would only be a silent slowdown."""
    import doctest

    from tally import _csv_compiled, tables

    assert tables._split_records is _csv_compiled.split_records
    assert tables.count_byte is _csv_compiled.count_byte
    # pytest --doctest-modules collects .py files only; the compiled module's examples run here
    assert doctest.testmod(_csv_compiled).failed == 0


@settings(max_examples=1000, deadline=None)
@given(
    st.binary(max_size=300) | st.text(alphabet='"a\n', max_size=2100).map(str.encode),
    st.sampled_from(b'"\n\x00\xff'),
    st.integers(0, 2200),
    st.none() | st.integers(0, 2200),
)
def test_count_byte_is_bytes_count(data, byte, start, end):
    """The compiled byte counter (8 bytes at a time, summed every 255 words) is bytes.count."""
    from tally._csv_compiled import count_byte

    from tally.tables import _count_byte_py

    assert count_byte(data, byte, start, end) == data.count(byte, start, end)
    assert _count_byte_py(data, byte, start, end) == data.count(byte, start, end)
    # CsvBlocks.spans counts in a reused bytearray
    assert count_byte(bytearray(data), byte, start, end) == data.count(byte, start, end)
    assert _count_byte_py(bytearray(data), byte, start, end) == data.count(byte, start, end)


def _csv_module_rows(block: bytes) -> list[list[str]]:
    return [row for row in csv.reader(io.StringIO(block.decode("utf-8"), newline="")) if row]


_csv_bytes = st.text(alphabet=st.sampled_from(list(',"\n\r ab1é\u2028\x00')), max_size=40).map(
    lambda text: text.encode("utf-8")
)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(_csv_bytes, st.binary(max_size=30)))
def test_split_records_is_the_csv_module_where_it_answers(block):
    from tally._csv_compiled import split_records

    rows = split_records(block)
    if rows is None:
        return  # parse_block falls back to the csv module
    assert rows == _csv_module_rows(block)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(_text, min_size=1, max_size=5), min_size=1, max_size=6),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.booleans(),
)
def test_split_records_answers_for_what_csv_writer_writes(rows, ending, last_ending):
    """Every file csv.writer writes (exports, `tally extract`) takes the compiled path."""
    from tally._csv_compiled import split_records

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending).writerows(rows)
    text = buffer.getvalue()
    if not last_ending:
        text = text.removesuffix(ending)
    block = text.encode("utf-8")
    expected = _csv_module_rows(block)
    if "\x00" in text:
        assert split_records(block) is None
    else:
        assert split_records(block) == expected
    assert parse_block(block, Path("x.csv"), 0) == expected


@pytest.mark.parametrize("compiled", [True, False])
@pytest.mark.parametrize("kind", [bytes, lambda data: memoryview(bytearray(data))])
def test_parse_block_falls_back_to_the_csv_module_and_its_errors(kind, compiled, monkeypatch):
    # (a view of a buffer too: CsvBlocks.views; and without the compiled splitter)
    if not compiled:
        monkeypatch.setattr(tables, "_split_records", None)
        assert parse_block(kind(b'1,"a,b"\n'), Path("x.csv"), 0) == [["1", "a,b"]]
    assert parse_block(kind(b'1,a"b\n"c"d,2\n'), Path("x.csv"), 0) == [["1", 'a"b'], ["cd", "2"]]
    with pytest.raises(InputError, match=r"x.csv is not UTF-8 text \(byte b'\\xff' at byte 12\)"):
        parse_block(kind(b"1,\xff\n"), Path("x.csv"), 10)


@pytest.mark.parametrize(
    "content",
    [
        b"a,b\r1,2\r3,4\r",  # classic Mac line ends (Excel's "CSV (Macintosh)")
        b"a,b\r1,2\r3,4\n5,6\n",  # mixed: the header's line ends with a lone \r
        b'"a\rx",b\r1,2\r\n3,4\r\n',  # a \r inside the header's quotes is no line end
        b"a,b\r\n1,2\r\n3,4\r\n",
    ],
)
@pytest.mark.parametrize("block_bytes", [1, 2, 5, 1 << 20])
def test_every_data_row_after_a_header_ended_by_a_lone_cr(tmp_path, content, block_bytes):
    """The csv module (and pandas) end a record at \\r too: the rows after a header so ended
    were parsed with it and dropped without a word."""
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    blocks = CsvBlocks(path, block_bytes=block_bytes)
    expected = _csv_module_rows(content)
    assert [blocks.header] + [row for o, b in blocks for row in parse_block(b, path, o)] == expected
    viewed = [row for o, view in blocks.views() for row in parse_block(view, path, o)]
    assert [blocks.header] + viewed == expected


def test_a_file_with_lone_cr_line_ends_is_cut_into_blocks(tmp_path):
    """A classic-Mac (\\r only) export was read as one block, however big."""
    rows = [["id", "text"]] + [[str(i), f"row {i}\rwith a quoted line end"] for i in range(200)]
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r").writerows(rows)
    path = tmp_path / "mac.csv"
    path.write_bytes(buffer.getvalue().encode())
    blocks = CsvBlocks(path, block_bytes=256)
    spans = list(blocks.spans())
    assert len(spans) > 20 and max(length for _, length in spans) < 512
    assert [blocks.header] + [row for o, b in blocks for row in parse_block(b, path, o)] == rows


# quoted cells longer than the 16 bytes split_records copies at a time up to a quote
_long_cell = st.text(alphabet=st.sampled_from(list('ab"é{}:,\n 1')), min_size=0, max_size=70)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(st.lists(_long_cell, min_size=1, max_size=3), min_size=1, max_size=4),
    st.sampled_from(["\n", "\r\n"]),
    st.integers(0, 40),
)
def test_split_records_reads_long_quoted_cells(rows, ending, cut):
    """Long quoted cells (JSON), whole or cut anywhere near the end (an unterminated quote)."""
    from tally._csv_compiled import split_records

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending, quoting=csv.QUOTE_ALL).writerows(rows)
    block = buffer.getvalue().encode("utf-8")
    for data in (block, block[: max(len(block) - cut, 0)]):
        found = split_records(data)
        if data == block or found is not None:
            assert found == _csv_module_rows(data)


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32), st.integers(4000, 20000), st.integers(0, 40))
def test_count_byte_counts_past_255_blocks_of_16(seed, size, start):
    """count_byte sums its 16 byte lanes every 255 blocks: runs longer than that, too."""
    import random

    from tally._csv_compiled import count_byte

    data = random.Random(seed).choices(b'"""ab\n', k=size)
    data = bytes(data)
    assert count_byte(data, 34, start) == data.count(b'"', start)
    assert count_byte(data, 10, start, size - start) == data.count(b"\n", start, size - start)


# unquoted cells longer than the 16 bytes split_records looks at a time for a cell's end, in
# blocks of ASCII text only (cells copied without the decoder) and not
_long_plain_cell = st.text(alphabet=st.sampled_from(list("ab1 :{}[]'.-")), max_size=50)


@settings(max_examples=500, deadline=None)
@given(
    st.lists(st.lists(_long_plain_cell | _text, min_size=1, max_size=4), min_size=1, max_size=5),
    st.sampled_from(["\n", "\r\n", "\r"]),
    st.integers(0, 40),
)
def test_split_records_reads_long_unquoted_cells(rows, ending, cut):
    from tally._csv_compiled import split_records

    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=ending).writerows(rows)
    block = buffer.getvalue().encode("utf-8")
    for data in (block, block[: max(len(block) - cut, 0)]):
        found = split_records(data)
        if found is not None or (data == block and b"\x00" not in data):
            assert found == _csv_module_rows(data)


def test_spans_are_the_same_with_the_python_byte_counter(tmp_path, monkeypatch):
    """CsvBlocks.spans counts quotes in a reused bytearray, with the compiled counter or its
    Python form (machines without the extension): the same block ends."""
    import random

    from tally import tables

    rng = random.Random(4)
    rows = [
        [f"{i}", rng.choice(['a "quoted", text', "two\nlines", "plain", ""])] for i in range(400)
    ]
    path = tmp_path / "x.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([["h1", "h2"], *rows])

    def sizes(index, left):
        return rng.choice([7, 64, 300, 1000])

    rng.seed(1)
    compiled = list(CsvBlocks(path, block_bytes=256).spans(sizes))
    monkeypatch.setattr(tables, "count_byte", tables._count_byte_py)
    rng.seed(1)
    assert list(CsvBlocks(path, block_bytes=256).spans(sizes)) == compiled
    parsed = [
        row for o, n in compiled for row in parse_block(tables.read_span(path, o, n), path, o)
    ]
    assert parsed == rows
