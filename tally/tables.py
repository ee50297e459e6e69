"""File I/O for the batch commands: reading CSV exports row by row, spilling, writing CSVs.

Everything here is plumbing; the layout rules (columns, cell text) live in core/csv_layout.py.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import pickle
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from tally.errors import InputError

__all__ = [
    "CsvSource",
    "Spill",
    "atomic_csv_writer",
    "atomic_text_file",
    "load_yaml",
    "missing_columns_error",
]

# Panoptes annotations and metadata cells can be megabytes long.
csv.field_size_limit(2**31 - 1)


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
            raise InputError(f"{self.path} is empty; expected a {what} with a header row")
        header = self._next_row()
        if header is None:
            self.close()
            raise InputError(f"{self.path} has no header row; expected a {what}")
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


def missing_columns_error(
    path: Path, missing: Sequence[str], header: Sequence[str], what: str
) -> InputError:
    found = ", ".join(header[:20]) + (", ..." if len(header) > 20 else "")
    return InputError(
        f"{path} is not a {what}: missing column(s) {', '.join(missing)}; "
        f"found columns: {found or '(none)'}"
    )


def load_yaml(path: str | os.PathLike[str], what: str) -> Any:
    """A YAML config document; unreadable or unparsable files raise :class:`InputError`."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from exc
    except UnicodeDecodeError:
        raise InputError(f"{what} {str(path)!r} is not UTF-8 text") from None
    try:
        document = yaml.safe_load(text)
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

    def size(self) -> int:
        self.close()
        return self.path.stat().st_size if self.path.exists() else 0


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
