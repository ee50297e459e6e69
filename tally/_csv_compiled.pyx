# cython: language_level=3, boundscheck=False, wraparound=False
"""A compiled CSV record splitter for :func:`tally.tables.parse_block` (the same rows, faster),
and the compiled form of ``tally extract``'s line writer (:func:`extract_lines`).

Parsing the 50 MB classification export of a 20k-classification project with the csv module
costs about 0.5 s: the block is decoded to one string, cut into lines, and every character of
every cell is copied through the reader's state machine. :func:`split_records` makes one pass
over the bytes in C and decodes each cell once.

It covers the CSV that exports and ``tally extract`` write: cells separated by ``,``, records
ended by ``\\n``, ``\\r\\n`` or ``\\r``, quoted cells with doubled quotes inside. For anything
else (a quote inside an unquoted cell, text after a closing quote, an unterminated quote, a NUL
byte, bytes that are not UTF-8) it returns None and the caller runs the csv module, which gives
the rows or the error. ``tests/cli/test_tables.py`` checks that whenever it returns rows they
are the csv module's.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.string cimport memchr, memcmp


cdef extern from "Python.h":
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    void *PyUnicode_DATA(object text)


class _Fallback(Exception):
    pass


cdef inline object _cell(const char *start, Py_ssize_t size):
    try:
        return PyUnicode_DecodeUTF8(start, size, NULL)
    except UnicodeDecodeError:
        raise _Fallback()


cdef inline object _cell_after(const char *start, Py_ssize_t size, list previous, list row):
    """The cell, as the previous record's cell of the same column when the bytes are the same
    (workflow, task, extractor and version columns, repeated answers): no new string, and its
    hash, once computed, serves every later lookup of it."""
    cdef Py_ssize_t column = len(row)
    cdef object same
    if previous is not None and column < len(previous):
        same = previous[column]
        if (
            PyUnicode_IS_COMPACT_ASCII(same)
            and PyUnicode_GET_LENGTH(same) == size
            and memcmp(PyUnicode_DATA(same), start, size) == 0
        ):
            return same
    return _cell(start, size)


def split_records(bytes block):
    """The non-blank records of ``block`` as lists of cells, as the csv module reads them
    (``[row for row in csv.reader(io.StringIO(block.decode(), newline="")) if row]``), or
    None where that needs the csv module.

    >>> split_records(b'a,"b,""c"" d",\\r\\n\\n"x\\ny",2\\n')
    [['a', 'b,"c" d', ''], ['x\\ny', '2']]
    >>> split_records(b'a"b,c\\n') is None, split_records(b'"a"b\\n') is None
    (True, True)
    >>> rows = split_records(b'1,T0\\n2,T0\\n')  # a cell as the record before: the same str
    >>> rows[0][1] is rows[1][1]
    True
    """
    cdef const char *data = PyBytes_AS_STRING(block)
    cdef Py_ssize_t n = PyBytes_GET_SIZE(block)
    cdef Py_ssize_t i = 0, start, m
    cdef char c
    cdef list rows = []
    cdef list row
    cdef list previous = None  # the record before, whose equal cells are reused
    cdef char *unescaped
    if n == 0:
        return rows
    if memchr(data, 0, n) != NULL:
        return None
    unescaped = <char *>PyMem_Malloc(n)  # a quoted cell without its doubled quotes
    if unescaped == NULL:
        raise MemoryError()
    try:
        while i < n:
            c = data[i]
            if c == b'\n' or c == b'\r':  # a blank line: the csv module's [] row, dropped
                i += 1
                continue
            row = []
            while True:  # the record's cells
                if i < n and data[i] == b'"':
                    i += 1
                    m = 0
                    while True:  # copy up to the closing quote, a doubled quote as one
                        if i >= n:
                            return None  # unterminated: the csv module's end-of-data rules
                        c = data[i]
                        if c == b'"':
                            if i + 1 < n and data[i + 1] == b'"':
                                unescaped[m] = c
                                m += 1
                                i += 2
                                continue
                            break
                        unescaped[m] = c
                        m += 1
                        i += 1
                    row.append(_cell_after(unescaped, m, previous, row))
                    i += 1
                    if i < n:
                        c = data[i]
                        if c == b',':
                            i += 1
                            continue
                        if c != b'\n' and c != b'\r':
                            return None  # text after the closing quote
                    break
                start = i
                while i < n:
                    c = data[i]
                    if c == b',' or c == b'\n' or c == b'\r':
                        break
                    if c == b'"':
                        return None  # a quote inside an unquoted cell
                    i += 1
                row.append(_cell_after(data + start, i - start, previous, row))
                if i < n and data[i] == b',':
                    i += 1
                    continue
                break
            rows.append(row)
            previous = row
            if i < n:  # the record's end: \r\n, \n or \r
                if data[i] == b'\r' and i + 1 < n and data[i + 1] == b'\n':
                    i += 2
                else:
                    i += 1
    except _Fallback:
        return None
    finally:
        PyMem_Free(unescaped)
    return rows


# ------------------------------------------------------------------------------------------
# writing extraction rows

from cpython.list cimport PyList_Append
from cpython.unicode cimport (
    Py_UCS1,
    PyUnicode_1BYTE_DATA,
    PyUnicode_1BYTE_KIND,
    PyUnicode_GET_LENGTH,
    PyUnicode_KIND,
)


cdef extern from "Python.h":
    Py_ssize_t PyUnicode_FindChar(object text, Py_UCS4 ch, Py_ssize_t start, Py_ssize_t end, int direction) except -2


cdef str _EMPTY = ""
cdef str _COMMA = ","
cdef str _QUOTE = '"'
cdef str _NEWLINE = "\n"


cdef int _quoting(str text):
    """0: written as is; 1: inside quotes; 2: holds a quote (``csv_field`` doubles it)."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i
    cdef const Py_UCS1 *chars
    cdef Py_UCS1 c
    cdef int found = 0
    if PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND:
        chars = PyUnicode_1BYTE_DATA(text)
        for i in range(n):
            c = chars[i]
            if c == b'"':
                return 2
            if c == b',' or c == b'\n':
                found = 1
        return found
    if PyUnicode_FindChar(text, 34, 0, n, 1) >= 0:  # '"'
        return 2
    if PyUnicode_FindChar(text, 44, 0, n, 1) >= 0 or PyUnicode_FindChar(text, 10, 0, n, 1) >= 0:
        return 1
    return 0


def extract_lines(
    list rows,
    list layouts,
    list heads,
    dict task_cells,
    object task_cell,
    dict float_texts,
    object float_text,
    str key_cell,
    object field,
):
    """The CSV lines of one extractor key's rows of a chunk, each ended by ``\\n``; the
    compiled form of ``tally.extract._extract_lines_py`` (the same text), for Python 3.11's
    csv module, which quotes a field holding ``,``, ``\\n`` or ``"`` (``field``, that is
    ``tally.tables.csv_field``, writes the last kind).

    ``rows``: ``FlatRows.rows``, ``((where, task), shape, texts)``; ``layouts``:
    ``FlatRows.layouts``; ``heads[where]``: the cells before and after the task cell;
    ``task_cells`` and ``float_texts``: caches filled by ``task_cell(task)`` and
    ``float_text(text)`` (an integer's text in a float column).
    """
    cdef list pieces = []
    cdef tuple info, layout, source, to_float, texts, head
    cdef object row, where, task, cell, text
    cdef list fixed
    cdef Py_ssize_t i, j, n_texts, quoting
    for row in rows:
        info = <tuple>(<tuple>row)[0]
        texts = <tuple>(<tuple>row)[2]
        layout = <tuple>layouts[<Py_ssize_t>(<tuple>row)[1]]
        source = <tuple>layout[0]
        to_float = <tuple>layout[1]
        where = info[0]
        task = info[1]
        head = <tuple>heads[<Py_ssize_t>where]
        cell = task_cells.get(task)
        if cell is None:
            cell = task_cells[task] = task_cell(task)
        PyList_Append(pieces, head[0])
        PyList_Append(pieces, cell)
        PyList_Append(pieces, head[1])
        PyList_Append(pieces, key_cell)
        if to_float:
            fixed = list(texts)
            for j in to_float:
                text = fixed[j]
                cell = float_texts.get(text)
                if cell is None:
                    cell = float_texts[text] = float_text(text)
                fixed[j] = cell
            texts = tuple(fixed)
        n_texts = len(texts)
        for i in range(len(source)):
            if i:
                PyList_Append(pieces, _COMMA)
            j = <Py_ssize_t>source[i]
            if j == n_texts:  # the empty cell
                continue
            text = texts[j]
            quoting = _quoting(<str>text)
            if quoting == 0:
                PyList_Append(pieces, text)
            elif quoting == 1:
                PyList_Append(pieces, _QUOTE)
                PyList_Append(pieces, text)
                PyList_Append(pieces, _QUOTE)
            else:
                PyList_Append(pieces, field(text))
        PyList_Append(pieces, _NEWLINE)
    return _EMPTY.join(pieces)
