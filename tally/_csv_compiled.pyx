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

cimport cython
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.unicode cimport PyUnicode_GET_LENGTH
from libc.stdint cimport uint64_t
from libc.string cimport memchr, memcmp, memcpy
from cpython.list cimport PyList_Append, PyList_GET_SIZE, PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF


cdef extern from "Python.h":
    int PyList_SetSlice(object, Py_ssize_t, Py_ssize_t, void *) except -1
    object PyUnicode_DecodeUTF8(const char *s, Py_ssize_t size, const char *errors)
    object PyUnicode_New(Py_ssize_t size, unsigned int maxchar)
    bint PyUnicode_IS_COMPACT_ASCII(object text)
    void *PyUnicode_DATA(object text)


cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* How many of p[0:16 * blocks] are `byte` (blocks <= 255: a byte lane counts at most 255). */
    static inline Py_ssize_t _tally_count16(const unsigned char *p, Py_ssize_t blocks, unsigned char byte) {
        __m128i want = _mm_set1_epi8((char)byte), counts = _mm_setzero_si128(), sums;
        Py_ssize_t b;
        for (b = 0; b < blocks; b++)  /* a match is -1: subtracting it adds 1 to its lane */
            counts = _mm_sub_epi8(counts, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * b)), want));
        sums = _mm_sad_epu8(counts, _mm_setzero_si128());  /* two sums of 8 lanes */
        return (Py_ssize_t)(_mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4));
    }
    /* _quoting of p[0:16]: 2 if one is '"', else 1 if one is ',' or a line feed, else 0. */
    static inline int _tally_quoting16(const unsigned char *p) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(34))))
            return 2;
        return _mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, _mm_set1_epi8(44)), _mm_cmpeq_epi8(v, _mm_set1_epi8(10)))) != 0;
    }
    /* Where the first of p[0:16] that is ',', '"', a line feed or a carriage return is
       (16: none of them), for the splitter's unquoted cells. */
    static inline int _tally_cell_end16(const unsigned char *p) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        int found = _mm_movemask_epi8(_mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(44)), _mm_cmpeq_epi8(v, _mm_set1_epi8(34))),
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(10)), _mm_cmpeq_epi8(v, _mm_set1_epi8(13)))));
        return found ? __builtin_ctz((unsigned int)found) : 16;
    }
    #define _TALLY_SSE2 1
    #else
    static inline int _tally_cell_end16(const unsigned char *p) { return 0; }
    static inline int _tally_quoting16(const unsigned char *p) { return -1; }
    static inline Py_ssize_t _tally_count16(const unsigned char *p, Py_ssize_t blocks, unsigned char byte) { return -1; }
    #define _TALLY_SSE2 0
    #endif
    """
    Py_ssize_t _count16 "_tally_count16"(const unsigned char *p, Py_ssize_t blocks, unsigned char byte) nogil
    bint _SSE2 "_TALLY_SSE2"
    int _quoting16 "_tally_quoting16"(const unsigned char *p) nogil
    int _cell_end16 "_tally_cell_end16"(const unsigned char *p) nogil


class _Fallback(Exception):
    pass


cdef inline object _cell(const char *start, Py_ssize_t size, bint ascii):
    """The cell's text; ``ascii``: the block has no byte above 127, so that a cell of two
    bytes or more is a copy of them (no decoder; shorter ones are the interpreter's shared
    strings, as the decoder returns them)."""
    cdef object text
    if ascii and size > 1:
        text = PyUnicode_New(size, 127)
        memcpy(PyUnicode_DATA(text), start, size)
        return text
    try:
        return PyUnicode_DecodeUTF8(start, size, NULL)
    except UnicodeDecodeError:
        raise _Fallback()


cdef inline object _cell_after(
    const char *start, Py_ssize_t size, list previous, Py_ssize_t column, bint ascii
):
    """The cell, as the previous record's cell of the same column when the bytes are the same
    (workflow, task, extractor and version columns, repeated answers): no new string, and its
    hash, once computed, serves every later lookup of it."""
    cdef object same
    if previous is not None and column < len(previous):
        same = previous[column]
        if (
            PyUnicode_IS_COMPACT_ASCII(same)
            and PyUnicode_GET_LENGTH(same) == size
            and memcmp(PyUnicode_DATA(same), start, size) == 0
        ):
            return same
    return _cell(start, size, ascii)


cdef bint _all_ascii(const char *data, Py_ssize_t n) noexcept nogil:
    """Whether no byte of ``data[:n]`` is above 127 (eight at a time)."""
    cdef Py_ssize_t k = 0
    cdef uint64_t word, high = 0
    while k + 8 <= n:
        memcpy(&word, data + k, 8)
        high |= word
        k += 8
    while k < n:
        high |= <unsigned char> data[k]
        k += 1
    return (high & 0x8080808080808080ULL) == 0


cdef inline int _put_cell(list row, Py_ssize_t column, object cell) except -1:
    """``row[column] = cell`` in a row made with as many empty (NULL) slots as the record
    before has cells, or appended past them: most rows are made at their size, not grown."""
    if column < PyList_GET_SIZE(row):
        Py_INCREF(cell)
        PyList_SET_ITEM(row, column, cell)
    else:
        PyList_Append(row, cell)
    return 0


def split_records(const unsigned char[::1] block not None):
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
    >>> split_records(memoryview(bytearray(b'1,T0\\n2,T1\\n'))[:5])  # any bytes-like block
    [['1', 'T0']]
    """
    cdef Py_ssize_t n = block.shape[0]
    cdef const char *data = NULL
    cdef Py_ssize_t i = 0, start, m, column
    cdef int skip
    cdef char c
    cdef list rows = []
    cdef list row
    cdef list previous = None  # the record before, whose equal cells are reused
    cdef char *unescaped
    cdef const char *quote
    cdef object cell
    cdef bint ascii
    if n == 0:
        return rows
    data = <const char *> &block[0]
    if memchr(data, 0, n) != NULL:
        return None
    ascii = _all_ascii(data, n)
    unescaped = <char *>PyMem_Malloc(n)  # a quoted cell without its doubled quotes
    if unescaped == NULL:
        raise MemoryError()
    try:
        while i < n:
            c = data[i]
            if c == b'\n' or c == b'\r':  # a blank line: the csv module's [] row, dropped
                i += 1
                continue
            row = PyList_New(0 if previous is None else PyList_GET_SIZE(previous))
            column = 0
            while True:  # the record's cells
                if i < n and data[i] == b'"':
                    i += 1
                    start = i
                    m = -1  # the cell's bytes in unescaped once a doubled quote was seen
                    while True:  # up to the closing quote (memchr), a doubled quote as one
                        quote = <const char *> memchr(data + i, b'"', n - i)
                        if quote == NULL:
                            return None  # unterminated: the csv module's end-of-data rules
                        if quote + 1 < data + n and quote[1] == b'"':
                            if m < 0:
                                m = 0
                                i = start
                            memcpy(unescaped + m, data + i, quote + 1 - (data + i))
                            m += quote + 1 - (data + i)
                            i = quote + 2 - data
                            continue
                        if m >= 0:
                            memcpy(unescaped + m, data + i, quote - (data + i))
                            m += quote - (data + i)
                        i = quote - data
                        break
                    if m < 0:  # no doubled quote: the cell is the bytes between the quotes
                        cell = _cell_after(data + start, i - start, previous, column, ascii)
                    else:
                        cell = _cell_after(unescaped, m, previous, column, ascii)
                    _put_cell(row, column, cell)
                    column += 1
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
                if _SSE2:  # sixteen bytes at a time while they hold none of the four
                    while i + 16 <= n:
                        skip = _cell_end16(<const unsigned char *> data + i)
                        i += skip
                        if skip < 16:
                            break
                while i < n:  # the rest one by one (and the byte found, again)
                    c = data[i]
                    if c == b',' or c == b'\n' or c == b'\r':
                        break
                    if c == b'"':
                        return None  # a quote inside an unquoted cell
                    i += 1
                _put_cell(row, column, _cell_after(data + start, i - start, previous, column, ascii))
                column += 1
                if i < n and data[i] == b',':
                    i += 1
                    continue
                break
            if column < PyList_GET_SIZE(row):  # fewer cells than the record before: no NULLs
                PyList_SetSlice(row, column, PyList_GET_SIZE(row), NULL)
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


cdef uint64_t _LOW7 = 0x7F7F7F7F7F7F7F7FULL
cdef uint64_t _QUOTES = 0x2222222222222222ULL  # '"' in every byte
cdef uint64_t _BYTE_PAIRS = 0x00FF00FF00FF00FFULL
cdef uint64_t _SUM_PAIRS = 0x0001000100010001ULL
cdef uint64_t _ONES = 0x0101010101010101ULL


cdef inline uint64_t _byte_flags(uint64_t word, uint64_t pattern):
    """1 in each byte of ``word`` that is ``pattern``'s byte (in all 8), 0 in the others (exact:
    no carries between bytes, as the low 7 bits are added apart from the top one)."""
    cdef uint64_t x = word ^ pattern  # the byte sought becomes 0
    cdef uint64_t y = (x & _LOW7) + _LOW7  # top bit set where the low 7 bits are not all 0
    return (~(y | x | _LOW7)) >> 7


def count_byte(const unsigned char[::1] data, unsigned char byte, Py_ssize_t start=0, end=None):
    """``data.count(bytes([byte]), start, end)`` for ``0 <= start``, ``end`` None or ``>= 0``
    (``data``: bytes, or a bytearray that ``CsvBlocks.spans`` reads blocks into).
    ``bytes.count`` looks at one byte at a time: the parent of ``tally extract`` counts every
    quote of the export to find record ends (``tally.tables.CsvBlocks.spans``, 40 ms for a
    50 MB export), the workers the line ends of what they write. This reads 16 at a time
    (SSE2; else 8).

    >>> count_byte(b'a"b""c"', 34), count_byte(b'a"b""c"', 34, 2), count_byte(bytearray(b'a"b""c"'), 34, 2, 4)
    (4, 3, 1)
    """
    cdef Py_ssize_t stop = data.shape[0], i, words, w, run
    cdef const unsigned char *chars = &data[0] if stop else NULL
    cdef Py_ssize_t found = 0
    cdef uint64_t word, counts, pattern = _ONES * byte
    if end is not None and <Py_ssize_t>end < stop:
        stop = end
    if start < 0 or stop < 0:
        raise ValueError("count_byte takes positions from the start of the data")
    i = start
    if _SSE2:  # 16 bytes at a time, up to 255 blocks of 16 per sum
        words = (stop - start) // 16 if stop > start else 0
        while words:
            run = 255 if words > 255 else words
            found += _count16(chars + i, run, byte)
            i += 16 * run
            words -= run
    words = (stop - i) // 8 if stop > i else 0
    while words:
        run = 255 if words > 255 else words  # per byte at most 255 before the bytes are summed
        counts = 0
        for w in range(run):
            memcpy(&word, chars + i, 8)
            counts += _byte_flags(word, pattern)
            i += 8
        counts = (counts & _BYTE_PAIRS) + ((counts >> 8) & _BYTE_PAIRS)  # 4 sums of 2 bytes
        found += <Py_ssize_t>((counts * _SUM_PAIRS) >> 48)
        words -= run
    while i < stop:
        found += chars[i] == byte
        i += 1
    return found


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
    cdef int found = 0, found16
    if PyUnicode_KIND(text) == PyUnicode_1BYTE_KIND:
        chars = PyUnicode_1BYTE_DATA(text)
        i = 0
        while i + 16 <= n:  # 16 at a time (SSE2; -1: without it, the byte loop)
            found16 = _quoting16(chars + i)
            if found16 < 0:
                break
            if found16 == 2:
                return 2
            found |= found16
            i += 16
        for i in range(i, n):
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
    cdef Py_ssize_t i, j, n_texts
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
            _append_field(pieces, <str>texts[j], field)
        PyList_Append(pieces, _NEWLINE)
    return _EMPTY.join(pieces)


cdef inline int _append_field(list pieces, str text, object field) except -1:
    """``csv_field(text)`` onto ``pieces``, the text itself not copied where it needs no
    doubled quotes."""
    cdef int quoting = _quoting(text)
    if quoting == 0:
        PyList_Append(pieces, text)
    elif quoting == 1:
        PyList_Append(pieces, _QUOTE)
        PyList_Append(pieces, text)
        PyList_Append(pieces, _QUOTE)
    else:
        PyList_Append(pieces, field(text))
    return 0


def reduction_text(
    object rows, list names, list formatters, str workflow_cell, str reducer, object field
):
    """The CSV text of reduction rows: the compiled form of ``tally.reduce._csv_text(
    _reduction_lines(rows, list(zip(names, formatters)), workflow_cell, reducer))`` (the same
    text), for Python 3.11's csv module, as :func:`extract_lines`. ``rows``: ``(subject cell,
    task cell, flattened reduction)``; ``formatters``: ``csv_layout.cell_formatter``'s, one
    per column: each gives a ``str`` value as it is and None as an empty cell, so that only
    other values go through it. One join of the pieces: the cells are copied once.
    """
    cdef list pieces = []
    cdef object row, value, flat_get
    cdef Py_ssize_t c, n_columns = len(names)
    if len(formatters) != n_columns:
        raise ValueError("one formatter per column")
    for row in rows:
        _append_field(pieces, <str?> row[0], field)
        PyList_Append(pieces, _COMMA)
        _append_field(pieces, workflow_cell, field)
        PyList_Append(pieces, _COMMA)
        _append_field(pieces, <str?> row[1], field)
        PyList_Append(pieces, _COMMA)
        _append_field(pieces, reducer, field)
        flat_get = (<dict?> row[2]).get
        for c in range(n_columns):
            PyList_Append(pieces, _COMMA)
            value = flat_get(names[c])
            if value is None:
                continue  # an empty cell
            if type(value) is not str:
                value = formatters[c](value)
            _append_field(pieces, <str?> value, field)
        PyList_Append(pieces, _NEWLINE)
    return _EMPTY.join(pieces)


# ------------------------------------------------------------------------------------------
# the metadata of a classification: checked, not parsed

cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object text, Py_ssize_t *size) except NULL

from core._json_scan cimport _blank_end, _string_end, _value_end

cdef const char *_VERSION_KEY = b"classifier_version"
cdef Py_ssize_t _VERSION_KEY_SIZE = 18


def metadata_stand_in(str text):
    """For a classification's metadata text that is plainly a JSON object (RFC 8259, without
    exponents or NaN), the part of it that extractors' cells forms read, without parsing the
    rest: ``{"classifier_version": text}``, or ``{}`` when it has none. None where not sure
    (the caller parses the text, which then decides: invalid JSON, a number, an escaped key...).

    The metadata of an export row is ~1 KB of which the batch extract's cells forms read only
    ``classifier_version`` (is the classification FEM?); orjson builds all of it (~2.5 µs).

    >>> metadata_stand_in('{"source": "api", "n": [1.5, {"a": null}], "classifier_version": "2.0"}')
    {'classifier_version': '2.0'}
    >>> metadata_stand_in('{"a": -0.5}'), metadata_stand_in('{"a": 1e5}'), metadata_stand_in('[1]')
    ({}, None, None)
    >>> metadata_stand_in('{"classifier_\\\\u0076ersion": "2.0"}') is None  # an escaped key
    True
    """
    return _stand_in(text)


cdef object _stand_in(str text):
    # metadata_stand_in (also called by extract_rows without a Python call)
    cdef Py_ssize_t n, i, key_start, value_start, found_start = -1, found_end = -1
    cdef const unsigned char *p = <const unsigned char *>PyUnicode_AsUTF8AndSize(text, &n)
    cdef bint escaped
    i = _blank_end(p, 0, n)
    if i >= n or p[i] != b'{':
        return None
    i = _blank_end(p, i + 1, n)
    if i < n and p[i] == b'}':
        i += 1
    else:
        while True:  # the top-level keys, watching for classifier_version
            if i >= n or p[i] != 34:
                return None
            key_start = i + 1
            escaped = False
            i = _string_end(p, i, n, &escaped)
            if i < 0 or escaped:  # (an escaped key might spell classifier_version)
                return None
            is_version = i - 1 - key_start == _VERSION_KEY_SIZE and memcmp(
                p + key_start, _VERSION_KEY, _VERSION_KEY_SIZE
            ) == 0
            i = _blank_end(p, i, n)
            if i >= n or p[i] != b':':
                return None
            i = _blank_end(p, i + 1, n)
            value_start = i
            if is_version:
                if found_start >= 0 or i >= n or p[i] != 34:  # twice, or not a string
                    return None
                i = _string_end(p, i, n, &escaped)
                if i < 0 or escaped:
                    return None
                found_start, found_end = value_start + 1, i - 1
            else:
                i = _value_end(p, i, n, 1, &escaped)  # (escapes in values do not matter)
                if i < 0:
                    return None
            i = _blank_end(p, i, n)
            if i >= n:
                return None
            if p[i] == b',':
                i = _blank_end(p, i + 1, n)
                continue
            if p[i] == b'}':
                i += 1
                break
            return None
    if _blank_end(p, i, n) != n:
        return None
    if found_start < 0:
        return {}
    return {"classifier_version": PyUnicode_DecodeUTF8(
        <const char *>p + found_start, found_end - found_start, NULL
    )}


# ------------------------------------------------------------------------------------------
# the info cells of extraction rows

from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject


cdef enum:
    LOOKED_UP = 0  # a column's cells come from its cache only
    OWN_INT = 1  # "int" column: plain digits without a leading zero are their own cell
    OWN_TEXT = 2  # "str" column: a text that is not NA and needs no quotes is its own cell


cdef inline bint _own_int(str text):
    """Whether ``str(int(text)) == text`` (ASCII digits, no leading zero) and needs no quotes."""
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text), i
    cdef const Py_UCS1 *chars
    if n == 0 or PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
        return False
    chars = PyUnicode_1BYTE_DATA(text)
    if chars[0] == b'0' and n > 1:
        return False
    for i in range(n):
        if chars[i] < b'0' or chars[i] > b'9':
            return False
    return True


cdef inline object _info_cell(str text, object cache, int own, frozenset na):
    cdef PyObject *found
    if own == OWN_INT:
        if _own_int(text):
            return text
    elif own == OWN_TEXT:
        if _quoting(text) == 0 and text not in na:
            return text
    found = PyDict_GetItem(cache, text)  # (a dict subclass: no __missing__ here)
    if found != NULL:
        return <object>found
    return cache[text]  # made by the cache's __missing__


def info_heads(list infos, tuple caches, tuple own, frozenset na):
    """Per classification's info cells (``classification_id, user_name, user_id, workflow_id,
    created_at, subject_ids``), its extraction rows' text before and after the task cell:
    ``("cid,name,uid,workflow,", ",created,subject,")``; the compiled form of the list made
    in ``tally.extract._format_rows`` (the same texts).

    ``caches``: per column, cells by raw text, made on a miss (``tally.extract._InfoCells``);
    ``own``: per column, which raw texts are their own cell without a look-up (``OWN_INT``
    for an "int" column, ``OWN_TEXT`` for a "str" one, else ``LOOKED_UP``); ``na``: the texts
    that are an empty cell (``core.csv_layout.NA_STRINGS``). The usual cell of a unique column
    (ids, times) is then not made in Python and kept.
    """
    cdef list heads = []
    cdef tuple info
    cdef int own0 = own[0], own1 = own[1], own2 = own[2], own3 = own[3], own4 = own[4]
    cdef int own5 = own[5]
    cdef object c0 = caches[0], c1 = caches[1], c2 = caches[2], c3 = caches[3], c4 = caches[4]
    cdef object c5 = caches[5]
    for info in infos:
        heads.append((
            _EMPTY.join([
                _info_cell(<str>info[0], c0, own0, na), _COMMA,
                _info_cell(<str>info[1], c1, own1, na), _COMMA,
                _info_cell(<str>info[2], c2, own2, na), _COMMA,
                _info_cell(<str>info[3], c3, own3, na), _COMMA,
            ]),
            _EMPTY.join([
                _COMMA, _info_cell(<str>info[4], c4, own4, na),
                _COMMA, _info_cell(<str>info[5], c5, own5, na), _COMMA,
            ]),
        ))
    return heads


# ------------------------------------------------------------------------------------------
# ``tally extract``'s two row loops (``_extract_block``'s filter, ``_extract_chunk``'s
# extraction), the usual rows in C. Each mirrors its Python form in tally/extract.py and hands
# every other row to it (``filter_row``, ``extract_row``) before doing anything with that row,
# so the side effects come in the Python form's order; ``tests/cli/test_extract_rows.py``
# compares the two loops' outcomes.

from cpython.dict cimport PyDict_GetItem, PyDict_SetItem
from cpython.object cimport PyObject
from cpython.tuple cimport PyTuple_New, PyTuple_SET_ITEM
from cpython.ref cimport Py_INCREF


cdef inline void _count(object counter, object key) except *:
    # counter[key] += 1 for a collections.Counter (a dict whose missing keys count 0)
    cdef PyObject *found = PyDict_GetItem(counter, key)
    PyDict_SetItem(counter, key, 1 if found == NULL else <object>found + 1)


cdef class KindsAdder:
    """``ReadKinds.add`` of one ``ReadKinds`` (``core.csv_layout``), for ``filter_rows``: the
    same observations, made in C for the usual cells (a text repeated from the row before, an NA
    text, plain ASCII digits); ``ReadKinds.add_cell`` gets every other one. ``na``: its
    ``NA_STRINGS``. It reads and writes the ``ReadKinds``' own lists, so calls of its ``add``
    may come in between (``filter_row`` takes the unusual rows).

    >>> from core.csv_layout import NA_STRINGS, ReadKinds
    >>> kinds = ReadKinds(["a", "b", "c", "d"])
    >>> add = KindsAdder(kinds, NA_STRINGS)
    >>> for row in (("1", "1", "True", "x"), ("2", "", "false", "1")):
    ...     add(row)
    >>> kinds.kinds()
    {'a': 'int', 'b': 'float', 'c': 'bool', 'd': 'str'}
    """

    cdef object kinds
    cdef frozenset na
    cdef bint digits_na  # an NA text of plain digits: test NA first, as ReadKinds.add does
    cdef list is_na, not_int, not_float, not_bool, last

    def __init__(self, kinds, frozenset na):
        self.kinds = kinds
        self.na = na
        self.digits_na = any(_ascii_digits(text) for text in na)
        self.is_na = kinds.na
        self.not_int = kinds.not_int
        self.not_float = kinds.not_float
        self.not_bool = kinds.not_bool
        self.last = kinds._last
        n = len(kinds.names)
        if not all(len(flags) == n for flags in (self.is_na, self.not_int, self.not_float,
                                                 self.not_bool, self.last)):
            raise ValueError("a ReadKinds whose lists do not match its names")

    def __call__(self, tuple cells):
        self.add(cells)

    @cython.boundscheck(False)
    @cython.wraparound(False)
    cdef add(self, tuple cells):
        cdef list open_columns = self.kinds._open
        cdef bint settled = False
        cdef Py_ssize_t i
        for column in open_columns:
            i = column
            text = cells[i]
            previous = self.last[i]
            if text is previous or text == previous:
                continue
            self.last[i] = text
            # (plain digits are no NA text unless digits_na: the set lookup only for the others)
            if not self.digits_na and _ascii_digits(text):
                if self.not_int[i]:
                    self.kinds.add_cell(i, text)
                    settled = settled or (self.not_float[i] and self.not_bool[i])
                else:
                    self.not_bool[i] = True
            elif text in self.na:
                self.is_na[i] = True
            elif self.not_int[i] or not _ascii_digits(text):
                self.kinds.add_cell(i, text)
                settled = settled or (self.not_float[i] and self.not_bool[i])
            else:  # plain digits: an int
                self.not_bool[i] = True
        if settled:  # text columns: nothing can change their kind any more
            self.kinds._open = [
                i for i in open_columns if not (self.not_float[i] and self.not_bool[i])
            ]


cdef inline bint _ascii_digits(object text):
    """``text.isdigit() and text.isascii()`` for a str."""
    cdef Py_ssize_t n, i
    cdef const Py_UCS1 *chars
    if type(text) is not str:
        return text.isdigit() and text.isascii()
    n = PyUnicode_GET_LENGTH(text)
    if n == 0 or PyUnicode_KIND(text) != PyUnicode_1BYTE_KIND:
        return False
    chars = PyUnicode_1BYTE_DATA(text)
    for i in range(n):
        if chars[i] < b'0' or chars[i] > b'9':
            return False
    return True


def filter_rows(
    list rows,
    Py_ssize_t width,
    tuple info_index,
    tuple columns,
    dict workflow_match,
    dict version_match,
    object kinds_add,
    object workflows,
    object versions,
    list keep,
    object filter_row,
    object na,
    Py_ssize_t subject_info,
):
    """``_extract_block``'s row filter (``filter_row`` on each row, numbered from 0) for rows
    whose workflow and version were seen before, with a classification and a subject id:
    ``kinds_add`` their info cells (at ``info_index``, every one there; a ``KindsAdder`` is called
    from C), count their workflow and
    version, ``keep`` those of the workflow (``workflow_match``) and versions
    (``version_match``) as (row number, info cells, annotations, metadata) (``columns``:
    workflow, version, annotations, metadata). ``filter_row`` gets every other row.

    >>> from collections import Counter
    >>> keep, kinds, w, v = [], [], Counter(), Counter()
    >>> filter_rows([["1", "7", "2", "[]", "{}", "9"], ["2", "8", "2", "[]", "{}", "9"], ["3"]],
    ...     6, (0, 5), (1, 2, 3, 4), {"7": True, "8": False}, {"2": True}, kinds.append,
    ...     w, v, keep, lambda n, row: print("the Python form gets row", n), {""}, 1)
    the Python form gets row 2
    >>> keep, kinds, w, v
    ([(0, ('1', '9'), '[]', '{}')], [('1', '9'), ('2', '9')], Counter({'7': 1, '8': 1}), Counter({'2': 1}))
    """
    cdef Py_ssize_t row_number, n_info = len(info_index), k
    cdef Py_ssize_t workflow_column = columns[0], version_column = columns[1]
    cdef Py_ssize_t annotations_column = columns[2], metadata_column = columns[3]
    cdef Py_ssize_t *where = <Py_ssize_t *>PyMem_Malloc(max(n_info, 1) * sizeof(Py_ssize_t))
    cdef list row
    cdef tuple info
    cdef PyObject *hit
    cdef PyObject *ok
    cdef str cid
    if where == NULL:
        raise MemoryError()
    try:
        for k in range(n_info):
            where[k] = info_index[k]
            if where[k] < 0 or where[k] >= width:
                raise ValueError("an info column beyond the header")
        for row_number in range(len(rows)):
            row = <list>rows[row_number]
            if len(row) != width:
                filter_row(row_number, row)
                continue
            workflow = row[workflow_column]
            hit = PyDict_GetItem(workflow_match, workflow)
            if hit == NULL or <object>hit is None:
                filter_row(row_number, row)
                continue
            ok = NULL
            if <object>hit:
                version = row[version_column]
                ok = PyDict_GetItem(version_match, version)
                if ok == NULL or <object>ok is None:
                    filter_row(row_number, row)
                    continue
                if <object>ok:
                    cid = <str>row[where[0]]
                    if cid in na or cid.isspace() or row[where[subject_info]] in na:
                        filter_row(row_number, row)
                        continue
            info = PyTuple_New(n_info)
            for k in range(n_info):
                cell = row[where[k]]
                Py_INCREF(cell)
                PyTuple_SET_ITEM(info, k, cell)
            if type(kinds_add) is KindsAdder:
                (<KindsAdder>kinds_add).add(info)
            else:
                kinds_add(info)
            _count(workflows, workflow)
            if ok != NULL:
                _count(versions, version)
                if <object>ok:
                    keep.append((row_number, info, row[annotations_column], row[metadata_column]))
    finally:
        PyMem_Free(where)


def extract_rows(
    list rows,
    list infos,
    tuple targets,
    object extract_row,
    object loads,
    object classification_of,
    Py_ssize_t na_longest,
    object na,
    object row_cells=None,
):
    """``_extract_chunk``'s row loop (``extract_row`` on each of ``rows``) where every entry
    has a cells form: for a row whose annotations ``loads`` reads, whose metadata
    ``metadata_stand_in`` checks, whose ``classification_of`` (annotations, metadata stand-in,
    classification id) is not None and whose cells every form gives, the info cells go to
    ``infos`` and the cells to each target's rows, as ``FlatRows.add_cells`` adds them
    (``targets``: per entry, its cells form, task and ``FlatRows``' shapes, counts and rows).
    ``extract_row`` gets every other row. ``row_cells`` (optional: a
    ``core.extractors._point_compiled.RowCells`` of the targets' forms) gives a row's cells
    from its annotations' text and metadata stand-in, or None (then the row is parsed).

    >>> import orjson
    >>> shapes, counts, added, infos = {}, [], [], []
    >>> form = lambda c: None if c == [0] else (("n",), (1,), (str(c[0]),))
    >>> extract_rows([(0, ("5",), "[1]", "{}"), (1, ("6",), "[0]", "{}"), (2, ("7",), "[2]", "{}")],
    ...     infos, ((form, "T0", shapes, counts, added),), lambda *row: print("Python:", row),
    ...     orjson.loads, lambda a, m, cid: a, 5, {""})
    Python: (1, ('6',), '[0]', '{}')
    >>> infos, shapes, counts, added
    ([('5',), ('7',)], {(('n',), (1,)): 0}, [2], [((0, 'T0'), 0, ('1',)), ((1, 'T0'), 0, ('2',))])
    """
    cdef Py_ssize_t n_targets = len(targets), k
    cdef list found = [None] * n_targets
    cdef str annotations_text, metadata_text
    for row in rows:
        row_number, info, annotations_text, metadata_text = <tuple>row
        # (the length test first, as in the Python form: hashing a long cell costs ~0.5 us)
        if (len(annotations_text) <= na_longest and annotations_text in na) or (
            len(metadata_text) <= na_longest and metadata_text in na
        ):
            extract_row(row_number, info, annotations_text, metadata_text)
            continue
        metadata = _stand_in(metadata_text)
        if metadata is None:
            extract_row(row_number, info, annotations_text, metadata_text)
            continue
        if row_cells is not None:  # the cells straight from the text, without parsing it
            scanned = row_cells(annotations_text, metadata)
            if scanned is not None:
                _add_row_cells(infos, info, targets, <tuple>scanned)
                continue
        try:
            annotations = loads(annotations_text)
        except ValueError:  # orjson's JSONDecodeError is one
            extract_row(row_number, info, annotations_text, metadata_text)
            continue
        classification = classification_of(annotations, metadata, (<tuple>info)[0])
        if classification is None:
            extract_row(row_number, info, annotations_text, metadata_text)
            continue
        for k in range(n_targets):
            value = (<tuple>targets[k])[0](classification)
            if value is None:  # the form declines: the Python form runs the extractor
                break
            if value.__class__ is not tuple or len(<tuple>value) != 3:  # (not a form's own)
                break
            found[k] = value
        else:
            _add_row_cells(infos, info, targets, tuple(found))
            continue
        extract_row(row_number, info, annotations_text, metadata_text)


cdef void _add_row_cells(list infos, object info, tuple targets, tuple found) except *:
    """A row's info cells to ``infos`` and its cells (per target) to the targets' rows, as
    ``FlatRows.add_cells`` adds them."""
    cdef Py_ssize_t where_index = len(infos), k
    cdef tuple target, cells
    cdef dict shapes
    cdef list counts
    cdef PyObject *shape
    infos.append(info)
    for k in range(len(targets)):
        target = <tuple>targets[k]
        cells = <tuple>found[k]
        shapes = <dict>target[2]
        counts = <list>target[3]
        shape_key = (cells[0], cells[1])
        shape = PyDict_GetItem(shapes, shape_key)
        if shape == NULL:
            index = len(counts)
            shapes[shape_key] = index
            counts.append(1)
        else:
            index = <object>shape
            counts[index] += 1
        (<list>target[4]).append(((where_index, target[1]), index, cells[2]))
