"""File I/O for the batch commands: reading CSV exports row by row, spilling, writing CSVs.

Everything here is plumbing; the layout rules (columns, cell text) live in core/csv_layout.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from tally.errors import InputError, separator_problem, with_article

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "CsvBlocks",
    "CsvSource",
    "Spill",
    "append_span",
    "atomic_binary_file",
    "atomic_csv_writer",
    "atomic_text_file",
    "csv_field",
    "load_yaml",
    "parse_block",
    "read_span",
    "require_columns",
]

# Panoptes annotations and metadata cells can be megabytes long.
csv.field_size_limit(2**31 - 1)


def _written_field(text: str) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([text, ""])
    return buffer.getvalue()[:-2]  # without the second, empty field's "," and the line end


# The characters besides '"' that make csv.writer(f, lineterminator="\n") quote a field, as
# this Python's csv module decides (asked once; no other character is special to it).
_QUOTE_CHARS = "".join(c for c in map(chr, range(128)) if c != '"' and _written_field(c) != c)
_QUOTE_SEARCH = re.compile(f"[{re.escape(_QUOTE_CHARS)}]").search


def csv_field(text: str) -> str:
    r"""``text`` as ``csv.writer(f, lineterminator="\n")`` writes it as one field of a row.

    Fields joined with ``,``, lines ended with ``\n``: the writer's text, several times faster
    for long rows (the writer copies character by character). Only a row of one empty field
    differs: the writer writes ``""``.

    >>> print(csv_field('a "b" c'), csv_field("[1.5, 2]"), csv_field("plain"))
    "a ""b"" c" "[1.5, 2]" plain
    """
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    return '"' + text + '"' if _QUOTE_SEARCH(text) else text


if _QUOTE_CHARS == "\n,":  # Python 3.11's csv module: two substring tests beat the regex

    def _csv_field_3_11(text: str) -> str:
        if '"' in text:
            return '"' + text.replace('"', '""') + '"'
        if "," in text or "\n" in text:
            return '"' + text + '"'
        return text

    _csv_field_3_11.__doc__ = csv_field.__doc__
    csv_field = _csv_field_3_11  # noqa: F811


class CsvSource:
    """A CSV file read row by row (UTF-8, optional BOM), reporting the bytes read for progress.

    ``header`` is the first row; iterating yields the remaining non-blank rows as lists of
    strings. Decoding and quoting problems become :class:`InputError` naming the line.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str = "CSV file") -> None:
        self.path = Path(path)
        self.what = what
        try:
            self._raw = open(self.path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        except OSError as exc:
            raise InputError(f"cannot open {what} {str(self.path)!r}: {exc.strerror}") from exc
        self.size = os.fstat(self._raw.fileno()).st_size
        self._text = io.TextIOWrapper(self._raw, encoding="utf-8-sig", newline="")
        self._reader = csv.reader(self._text)
        if self.size == 0:
            self.close()
            raise InputError(
                f"{self.path} is empty; expected {with_article(what)} with a header row"
            )
        header = self._next_row()
        if header is None:
            self.close()
            raise InputError(f"{self.path} has no header row; expected {with_article(what)}")
        self.header: list[str] = header

    def _next_row(self) -> list[str] | None:
        while True:
            try:
                row = next(self._reader)
            except StopIteration:
                return None
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{self.path} is not UTF-8 text (byte {exc.object[exc.start : exc.start + 1]!r} "
                    f"near line {self._reader.line_num + 1}); Panoptes exports are UTF-8: re-save "
                    "the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"
                ) from None
            except csv.Error as exc:
                raise InputError(f"{self.path}, line {self._reader.line_num}: {exc}") from None
            if row:
                return row

    def __iter__(self) -> Iterator[list[str]]:
        while True:
            row = self._next_row()
            if row is None:
                return
            yield row

    @property
    def line_number(self) -> int:
        return self._reader.line_num

    def position(self) -> int:
        """Bytes consumed so far (a little ahead of the current row: read-ahead buffer)."""
        return self._raw.tell()

    def close(self) -> None:
        self._text.close()

    def __enter__(self) -> CsvSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class CsvBlocks:
    """A CSV file cut into blocks of whole records, for parsing in worker processes.

    The header is parsed here (UTF-8, optional BOM); iterating yields ``(offset, bytes)`` blocks
    of about ``block_bytes`` that start and end on record boundaries: a line end outside quotes,
    found by counting ``"`` (every quoted field holds an even number of them). Workers decode
    and parse a block with :func:`parse_block`.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, what: str = "CSV file", block_bytes: int = 4 << 20
    ) -> None:
        self.path = Path(path)
        self.what = what
        self.block_bytes = block_bytes
        try:
            with open(self.path, "rb") as f:
                stat = os.fstat(f.fileno())
                self.size = stat.st_size
                #: which file this is: blocks are read by opening the path again (read_span)
                self.identity = (stat.st_dev, stat.st_ino)
                # (the header only: a whole block's read allocated and faulted in 4 MB, ~3 ms)
                step = min(block_bytes, 1 << 16)
                head = f.read(step)
                while True:
                    end = _first_record_end(head)
                    if end is not None:
                        break
                    more = f.read(step)
                    if not more:
                        end = len(head)
                        break
                    head += more
        except OSError as exc:
            raise InputError(f"cannot open {what} {str(self.path)!r}: {exc.strerror}") from exc
        if self.size == 0:
            raise InputError(
                f"{self.path} is empty; expected {with_article(what)} with a header row"
            )
        start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
        rows = parse_block(head[start:end], self.path, 0)
        if not rows:
            raise InputError(f"{self.path} has no header row; expected {with_article(what)}")
        self.header: list[str] = rows[0]
        self.data_start = end

    def __iter__(self) -> Iterator[tuple[int, bytes]]:
        for offset, length in self.spans():
            yield offset, read_span(self.path, offset, length, self.identity)

    def views(self) -> Iterator[tuple[int, memoryview]]:
        """``(offset, bytes)`` of each block, read once, as a view of one buffer that the next
        block reuses: a caller done with each block before asking for the next (a scan in this
        process) reads the file once, into memory the kernel zeroes once. Iterating the blocks
        reads it twice (here to find the ends, then each block), each block into fresh memory:
        the page faults alone cost ~4 ms per 4 MB block on a VM.

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as tmp:
        ...     _ = Path(tmp, "x.csv").write_bytes(b'h\\n1\\n"2\\n3"\\n4')
        ...     [(offset, bytes(view)) for offset, view in CsvBlocks(Path(tmp, "x.csv"), block_bytes=4).views()]
        [(2, b'1\\n'), (4, b'"2\\n3"\\n'), (10, b'4')]
        """
        with open(self.path, "rb") as f:
            _check_same_file(self.path, f.fileno(), self.identity)
            f.seek(self.data_start)
            offset = self.data_start
            # (no larger than the data: bytearray() writes every byte of it, faulting its pages in)
            buffer = bytearray(max(1, min(self.block_bytes, self.size - self.data_start)))
            held = 0  # bytes at the buffer's start: the unfinished record after the last block
            while True:
                if held == len(buffer):  # one record longer than the buffer: a larger one (the
                    # views given out keep the old one alive, which cannot be resized)
                    buffer = buffer[:held] + bytearray(len(buffer))
                with memoryview(buffer) as view:
                    got = f.readinto(view[held:])
                size = held + got
                if not got:
                    if offset + held < self.size:  # as read_span says it
                        raise InputError(
                            f"{self.path} changed while it was read (it is shorter than before)"
                        )
                    if held:
                        yield offset, memoryview(buffer)[:held]
                    return
                end = _last_record_end(buffer, 0, size)
                if end is None:  # no record ends in it yet: read on
                    held = size
                    continue
                yield offset, memoryview(buffer)[:end]
                offset += end
                held = size - end
                buffer[:held] = buffer[end:size]  # (the same size: allowed under views)

    def spans(self, sizes: Callable[[int, int], int] | None = None) -> Iterator[tuple[int, int]]:
        """``(offset, length)`` of each block, without keeping its bytes.

        A worker given a span reads the block itself (:func:`read_span`), so the blocks are not
        copied through the parent and a pipe. The file is read here only to find the ends.
        ``sizes(index, bytes left)`` gives each block's target size (default: ``block_bytes``).
        """
        with open(self.path, "rb") as f:
            _check_same_file(self.path, f.fileno(), self.identity)
            f.seek(self.data_start)
            offset = self.data_start
            carried = 0  # bytes of the unfinished record since offset
            carried_quotes = 0
            index = 0
            # one buffer for every read: a fresh 4 MB bytes per block cost more in page faults
            # (~2 ms, the first few blocks) than reading and counting it
            buffer = bytearray()
            while True:
                if sizes is None:
                    want = self.block_bytes
                else:  # (the carried bytes hold no record end: read at least half a block)
                    target = max(1, sizes(index, self.size - offset))
                    want = max(target - carried, (target + 1) // 2)
                if len(buffer) < want:
                    buffer = bytearray(want)
                with memoryview(buffer) as view:
                    got = f.readinto(view[:want])
                if not got:
                    if carried:
                        yield offset, carried
                    return
                end = _last_record_end(buffer, carried_quotes, got)
                if end is None:  # one record longer than a block: read on
                    carried += got
                    carried_quotes += _count_quotes(buffer, 0, got)
                    continue
                yield offset, carried + end
                index += 1
                offset += carried + end
                carried = got - end
                carried_quotes = _count_quotes(buffer, end, got)


def read_span(
    path: str | os.PathLike[str],
    offset: int,
    length: int,
    identity: tuple[int, int] | None = None,
) -> bytes:
    """The ``length`` bytes of ``path`` at ``offset`` (a block from :meth:`CsvBlocks.spans`).

    ``identity`` (:attr:`CsvBlocks.identity`): the file the spans were found in. The path is
    opened again here, so a file renamed over it meanwhile (a fresh export moved into place)
    would give another file's bytes at these offsets: an error instead.
    """
    with open(path, "rb") as f:
        if identity is not None:
            _check_same_file(path, f.fileno(), identity)
        data = os.pread(f.fileno(), length, offset)
    if len(data) != length:
        raise InputError(f"{path} changed while it was read (it is shorter than before)")
    return data


def append_span(target: io.BufferedWriter, source: int, offset: int, length: int) -> None:
    """Append the ``length`` bytes at ``offset`` of the file open as ``source`` (a descriptor)
    to ``target``.

    The kernel copies them where it can (``os.copy_file_range``: Linux, one file system), so
    they never pass through this process's memory; elsewhere they are read and written.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     Path(tmp, "part").write_bytes(b"0123456789")
    ...     with open(Path(tmp, "out"), "wb") as out, open(Path(tmp, "part"), "rb") as part:
    ...         _ = out.write(b"head:")
    ...         append_span(out, part.fileno(), 2, 5)
    ...         _ = out.write(b":tail")
    ...     Path(tmp, "out").read_bytes()
    10
    b'head:23456:tail'
    """
    if length and _copy_file_range is not None:
        target.flush()
        try:
            while length:
                copied = _copy_file_range(source, target.fileno(), length, offset)
                if not copied:  # the source ends early: what is left is read (and is short)
                    break
                offset += copied
                length -= copied
        except OSError:  # not between these files (another file system, an old kernel)
            pass
        # (the writer's next bytes go where the copy ended: it writes, and tells, at the file's
        # own position)
    if length:
        target.write(os.pread(source, length, offset))


_copy_file_range = getattr(os, "copy_file_range", None)


def _check_same_file(path: str | os.PathLike[str], fd: int, identity: tuple[int, int]) -> None:
    stat = os.fstat(fd)
    if (stat.st_dev, stat.st_ino) != identity:
        raise InputError(
            f"{path} was replaced by another file while it was read; run again once nothing "
            "writes to it (or on a copy)"
        )


def _first_record_end(buffer: bytes) -> int | None:
    r"""Just past the first line end outside quotes: ``\n``, ``\r\n`` or a lone ``\r``.

    The csv module ends a record at a lone ``\r`` too: a header so ended must not take the
    rows after it along (None: no line end yet, or a ``\r`` that a ``\n`` may follow).

    >>> _first_record_end(b'a,"b\rc"\r1,2\r'), _first_record_end(b"a\r\n1")
    (8, 3)
    >>> _first_record_end(b"a\r") is None  # the next read may start with \n
    True
    """
    quotes = 0
    start = 0
    while True:
        newline = buffer.find(b"\n", start)
        cr = buffer.find(b"\r", start, None if newline == -1 else newline)
        end = newline if cr == -1 else cr
        if end == -1:
            return None
        quotes += buffer.count(b'"', start, end)
        if quotes % 2 == 0:
            if end == cr:
                if end + 1 == len(buffer):
                    return None
                if buffer[end + 1] == 10:  # \r\n
                    end += 1
            return end + 1
        start = end + 1


def _line_end_before(buffer: bytes | bytearray, stop: int, size: int | None = None) -> int:
    r"""Position of the last line end before ``stop`` (-1: none): a ``\n``, or a lone ``\r``.

    A ``\r`` counts only when the byte after it is in ``buffer[:size]`` (default: all of it)
    and is not ``\n``: files with ``\n`` or ``\r\n`` line ends are cut exactly where they
    always were, and classic-Mac files (``\r`` only) are cut too, rather than read as one block.

    >>> _line_end_before(b"a\r\nb\rc\r", 8), _line_end_before(b"a\r\nb", 5), _line_end_before(b"a\r", 2)
    (4, 2, -1)
    >>> _line_end_before(b"a\rb\r\n", 2, 2)  # the byte after the \r is not read yet
    -1
    """
    if size is None:
        size = len(buffer)
    newline = buffer.rfind(b"\n", 0, stop)
    # no \n between newline and stop: a \r there is lone unless the next byte is unknown or \n
    cr = buffer.rfind(b"\r", newline + 1, stop)
    while cr != -1 and (cr + 1 == size or buffer[cr + 1] == 10):
        cr = buffer.rfind(b"\r", newline + 1, cr)
    return newline if cr == -1 else cr


def _last_record_end(
    buffer: bytes | bytearray, quotes_before: int = 0, size: int | None = None
) -> int | None:
    r"""Just past the last line end outside quotes in ``buffer[:size]`` (default: all of it;
    ``quotes_before``: ``"`` already open).

    >>> _last_record_end(b'a\n"b\nc"\nd'), _last_record_end(b'a\r"b\rc"\rd'), _last_record_end(b"ab")
    (8, 8, None)
    >>> _last_record_end(bytearray(b'a\nb\nc\n'), 0, 3)  # the bytes read so far: "a\nb"
    2
    """
    if size is None:
        size = len(buffer)
    end = _line_end_before(buffer, size, size)
    if end == -1:
        return None
    quotes = quotes_before + _count_quotes(buffer, 0, end)
    while quotes % 2:  # that line end is inside a quoted field: step back one line
        previous = _line_end_before(buffer, end, size)
        if previous == -1:
            return None
        quotes -= _count_quotes(buffer, previous, end)
        end = previous
    return end + 1


def parse_block(block: bytes | memoryview, path: Path, offset: int) -> list[list[str]]:
    """The non-blank records of a block from :class:`CsvBlocks` (``offset``: where it starts).

    The compiled splitter reads the usual CSV; the csv module reads the rest (and names what
    is wrong with a block that is not CSV).

    >>> parse_block(b'1,"a ""b"" c"\\n\\n2,c\\n', Path("x.csv"), 0)
    [['1', 'a "b" c'], ['2', 'c']]
    >>> parse_block(b'1,a"b\\n', Path("x.csv"), 0)  # a quote inside a cell: the csv module
    [['1', 'a"b']]
    """
    if _split_records is not None:
        rows = _split_records(block)
        if rows is not None:
            return rows
    block = bytes(block)  # (a view of a buffer: CsvBlocks.views)
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path} is not UTF-8 text (byte {block[exc.start : exc.start + 1]!r} at byte "
            f"{offset + exc.start}); Panoptes exports are UTF-8: re-save the file as UTF-8 "
            "(e.g. iconv -f latin1 -t utf-8)"
        ) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return [row for row in reader if row]
    except csv.Error as exc:
        raise InputError(f"{path}, near byte {offset}: {exc}") from None


def _count_byte_py(data: bytes, byte: int, start: int = 0, end: int | None = None) -> int:
    """How many ``byte`` in ``data[start:end]`` (the compiled ``count_byte`` reads 8 at a time).

    >>> _count_byte_py(b'a"b""c"', ord('"'), 2)
    3
    """
    return data.count(byte, start, end)


try:  # built by `pip install` (setup.py); optional, for machines without a C compiler
    from tally._csv_compiled import count_byte
    from tally._csv_compiled import split_records as _split_records
except ImportError:  # pragma: no cover - depends on the install
    _split_records = None
    count_byte = _count_byte_py


def _count_quotes(data: bytes | bytearray, start: int = 0, end: int | None = None) -> int:
    return count_byte(data, 34, start, end)  # '"'


def require_columns(
    header: Sequence[str],
    required: Sequence[str],
    *,
    path: str | os.PathLike[str],
    what: str,
) -> dict[str, int]:
    """Check that ``header`` has every ``required`` column; return each column name's position
    (the first, where a name repeats).

    A header without them is not a ``what`` (e.g. "Panoptes classification export"):
    :class:`InputError` names ``path``, the missing columns and the columns found, so the user
    can see which file they gave instead; or says the file is separated by ``;`` or tabs.

    >>> require_columns(["id", "name", "id"], ["id"], path="a.csv", what="test file")
    {'id': 0, 'name': 1}
    >>> require_columns(["id"], ["id", "x", "y"], path="a.csv", what="test file")
    Traceback (most recent call last):
    tally.errors.InputError: a.csv is not a test file: missing column(s) x, y; found columns: id
    """
    missing = [name for name in required if name not in header]
    if missing:
        wrong_separator = separator_problem(list(header), path, what)
        if wrong_separator is not None:
            raise wrong_separator
        found = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
        raise InputError(
            f"{path} is not {with_article(what)}: missing column(s) {', '.join(missing)}; "
            f"found columns: {found or '(none)'}"
        )
    positions: dict[str, int] = {}
    for i, name in enumerate(header):
        positions.setdefault(name, i)
    return positions


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """A UTF-8 text file (a config); unreadable or undecodable files raise :class:`InputError`
    naming ``what`` and the path."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"{what} {str(path)!r} is not UTF-8 text") from None


def load_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """A YAML config document; unreadable or unparsable files raise :class:`InputError`."""
    import yaml  # here: only commands that read a config need it

    text = read_text(path, what)
    stream = io.StringIO(text)
    stream.name = str(path)  # YAML's error marks name it (else "<unicode string>")
    try:
        document = yaml.safe_load(stream)
    except yaml.YAMLError as exc:
        raise InputError(f"{what} {str(path)!r} is not valid YAML: {exc}") from None
    return document


class Spill:
    """A temporary file of pickled chunks (lists of rows), written once and read back in order."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._file: io.BufferedWriter | None = None
        self.chunks = 0

    def append(self, chunk: list[Any]) -> None:
        if not chunk:
            return
        if self._file is None:
            self._file = open(self.path, "ab", buffering=1 << 20)  # noqa: SIM115
        import pickle  # here, as in __iter__: commands that do not spill do not need it

        pickle.dump(chunk, self._file, protocol=pickle.HIGHEST_PROTOCOL)
        self.chunks += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __iter__(self) -> Iterator[list[Any]]:
        """Chunks in the order they were appended (closes the writer first)."""
        self.close()
        if not self.path.exists():
            return
        import pickle

        with open(self.path, "rb", buffering=1 << 20) as f:
            while True:
                try:
                    chunk = pickle.load(f)  # noqa: S301 - our own temporary file
                except EOFError:
                    return
                yield chunk

    def rows(self) -> Iterator[Any]:
        for chunk in self:
            yield from chunk


@contextlib.contextmanager
def atomic_text_file(path: str | os.PathLike[str]) -> Iterator[io.TextIOWrapper]:
    """A UTF-8 text file that replaces ``path`` only when the block finishes cleanly."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            yield f
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


@contextlib.contextmanager
def atomic_binary_file(
    path: str | os.PathLike[str], size: int | None = None
) -> Iterator[io.BufferedWriter]:
    """A file opened for bytes that replaces ``path`` only when the block finishes cleanly.

    ``size``: the bytes the block will write, where known. If ``path`` exists, they are
    allocated before writing: a rename over an existing file waits for ext4 to allocate and
    start writing out the new file's blocks (its ``auto_da_alloc``), ~10 ms for 15 MB, unless
    they are allocated already. The file then ends where the writing ended, whatever ``size``.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     target = Path(tmp, "x.csv")
    ...     _ = target.write_bytes(b"old")
    ...     with atomic_binary_file(target, size=100) as f:
    ...         _ = f.write(b"new")
    ...     target.read_bytes()
    b'new'
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb", buffering=1 << 20) as f:
            allocated = size is not None and _allocate(f.fileno(), size, path)
            yield f
            if allocated:
                f.truncate()  # where the writing ended
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _allocate(fd: int, size: int, replaced: Path) -> bool:
    """Allocate ``size`` bytes of the file ``fd`` if it will replace an existing ``replaced``
    (see :func:`atomic_binary_file`); whether it did."""
    if size <= 0 or not hasattr(os, "posix_fallocate") or not replaced.exists():
        return False
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError:  # e.g. no room for it (the writes would say so); where the file system
        return False  # has no fallocate, glibc allocates by writing a byte per block
    return True


@contextlib.contextmanager
def atomic_csv_writer(path: str | os.PathLike[str], header: Sequence[str]) -> Iterator[Any]:
    """A ``csv.writer`` whose file replaces ``path`` only when the block finishes cleanly.

    Written as pandas' ``to_csv`` writes: ``\\n`` line ends, minimal quoting, UTF-8.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(header)
            yield writer
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
