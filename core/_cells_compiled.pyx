# cython: language_level=3, boundscheck=False, wraparound=False
"""Compiled forms of cell-text steps of ``core/csv_layout.py`` (the same results).

Reading a point extraction file back means turning tens of thousands of coordinate lists and
subtask cells into values, and writing one means turning them back into text; the Python forms
(``_plain_json_py`` and ``_list_text_py`` in ``core/csv_layout.py``) spend most of their time
in regular expressions, a set of types and ``str`` scans. These do one C pass over the
characters instead. ``tests/cli/test_csv_layout.py`` checks that both forms agree.
"""


from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.list cimport PyList_GET_SIZE
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from cpython.set cimport PySet_Add
from libc.string cimport memchr, memcpy
from cpython.unicode cimport (
    Py_UCS1,
    PyUnicode_1BYTE_DATA,
    PyUnicode_GET_LENGTH,
    PyUnicode_New,
)


from core._borrowed cimport (
    _is_str,
    _list_item,
    _text_copy,
    _text_data,
    _text_kind,
    _text_length,
    _tuple_item,
)
from core._members cimport (
    _Member,
    _distinct_ids,
    _export_form,
    _p_plain_id,
    _sort_members,
)


cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)

# orjson, imported at first use (_import_orjson): its import, with the uuid, platform and
# datetime modules it loads, is 12 M instructions of every reduce's start, and the question and
# shortcut reduces never read or write a JSON cell.
cdef object _dumps = None
cdef object _loads = None
cdef object _DecodeError = None
cdef object _EncodeError = None


cdef int _import_orjson() except -1:
    global _dumps, _loads, _DecodeError, _EncodeError
    import orjson

    _dumps, _loads = orjson.dumps, orjson.loads
    _DecodeError, _EncodeError = orjson.JSONDecodeError, orjson.JSONEncodeError
    return 0

# More digits in a row than this and orjson reads an integer as a float: such text is not plain
cdef enum:
    MAX_DIGIT_RUN = 18


def plain_json(str text):
    """``text`` as JSON text if it is made of brackets, numbers and plainly quoted strings.

    The text qualifies if it has only the characters ``[]{}:,.+-'``, spaces, digits (at most 18
    in a row) and, inside single-quoted strings, ASCII letters: without letters, exactly the
    language of ``_plain_json_py``. The result is ``text`` with every ``'`` turned into ``"``:
    what ``csv_layout._as_json`` gives for it when that is valid JSON (subtask counts such as
    ``[[{'None': 1}]]`` included). Anything else gives None. Whether the result is valid JSON is
    orjson's to say; where it is not, neither is ``_as_json``'s (or that is None), and the cell
    is read by ``python_literal`` either way. Letter-free text is ``_plain_json_py``'s language.

    >>> plain_json("[[{'0': 1}], [{'None': 2}]]"), plain_json("[1.5, -2]"), plain_json("[a]")
    ('[[{"0": 1}], [{"None": 2}]]', '[1.5, -2]', None)
    >>> plain_json("[1234567890123456789]") is None, plain_json("['a]") is None
    (True, True)
    """
    return _plain_json(text)


cdef object _plain_json(str text):
    if not PyUnicode_IS_ASCII(text):
        return None
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(text)
    cdef const Py_UCS1 *chars = PyUnicode_1BYTE_DATA(text)
    cdef Py_ssize_t i, run = 0, quotes = 0
    cdef Py_UCS1 c
    cdef bint in_string = False, letters = False
    for i in range(n):
        c = chars[i]
        if c >= b'0' and c <= b'9':
            run += 1
            if run > MAX_DIGIT_RUN:
                return None
            continue
        run = 0
        if c == b"'":
            quotes += 1
            in_string = not in_string
        elif in_string and ((c >= b'a' and c <= b'z') or (c >= b'A' and c <= b'Z')):
            letters = True
        elif not (
            c == b'[' or c == b']' or c == b'{' or c == b'}' or c == b':' or c == b','
            or c == b' ' or c == b'.' or c == b'+' or c == b'-'
        ):
            return None
    if quotes == 0:
        return text
    if in_string and letters:  # _as_json's tokens would not match an unclosed string
        return None
    cdef str out = PyUnicode_New(n, 127)
    cdef Py_UCS1 *dest = PyUnicode_1BYTE_DATA(out)
    for i in range(n):
        c = chars[i]
        dest[i] = b'"' if c == b"'" else c
    return out


def list_text(list value):
    """``str(value)``, for a list of plain ints and floats from orjson's digits in one C pass.

    orjson writes the shortest round-trip digits as ``repr`` does; a text with an ``e``, an
    ``n`` or ``0.0000`` (exponents, NaN, infinities, numbers below 1e-4, where the spellings
    differ) and any other list take ``str()``, as in ``_list_text_py``.

    Lists of lists and dicts (subtask details such as ``[[{'0': 1, 'None': 2}]]``) are written
    from orjson's text too, when ``str()`` would write the same characters: see ``_tree_text``.

    >>> list_text([1436.6048727342159, 2, -0.5]), list_text([1e-05, float("nan")]), list_text([])
    ('[1436.6048727342159, 2, -0.5]', '[1e-05, nan]', '[]')
    >>> list_text([[{'0': 1, 'None': 2.5}], [], [{}]]), list_text([["a, b"], (1,), None])
    ("[[{'0': 1, 'None': 2.5}], [], [{}]]", "[['a, b'], (1,), None]")
    """
    cdef Py_ssize_t n = len(value), i
    if n == 0:
        return str(value)
    cdef object cls
    for i in range(n):
        cls = type(value[i])
        if cls is not float and cls is not int:
            return _tree_text(value)
    if _dumps is None:
        _import_orjson()
    try:
        encoded = _dumps(value)
    except _EncodeError:  # integers beyond 64 bits
        return str(value)
    # orjson writes n - 1 commas for n numbers, each to become ", ". Spellings that differ
    # from str()'s (a letter: exponents, null; "0.0000": below 1e-4) and the commas are found
    # with memchr, the digits between them copied: a few instructions a number rather than
    # tests of every character (14 instructions a character before).
    cdef Py_ssize_t m = PyBytes_GET_SIZE(encoded)
    cdef const char *b = PyBytes_AS_STRING(encoded)
    if memchr(b, b'e', m) != NULL or memchr(b, b'n', m) != NULL:
        return str(value)
    if _below_1e_4(b, m):
        return str(value)
    cdef Py_ssize_t size = m + n - 1, j = 0, run
    cdef str out = PyUnicode_New(size, 127)
    cdef Py_UCS1 *dest = PyUnicode_1BYTE_DATA(out)
    cdef const char *at = b
    cdef const char *end = b + m
    cdef const char *comma
    while True:
        comma = <const char *> memchr(at, b',', end - at)
        run = (end if comma == NULL else comma) - at
        if j + run + (0 if comma == NULL else 2) > size:  # cannot happen; never write past the end
            return str(value)
        memcpy(dest + j, at, run)
        j += run
        if comma == NULL:
            break
        dest[j] = b','
        dest[j + 1] = b' '
        j += 2
        at = comma + 1
    return out if j == size else str(value)


cdef bint _below_1e_4(const char *b, Py_ssize_t m) noexcept:
    """Whether orjson's text ``b`` has ``0.0000`` followed by a character (a number it spells
    out below 1e-4, or a false alarm such as ``10.00001``), the test ``_tree_text`` makes."""
    cdef const char *end = b + m
    cdef const char *dot = b
    while True:
        dot = <const char *> memchr(dot, b'.', end - dot)
        if dot == NULL:
            return False
        if dot > b and (dot - 1)[0] == b'0' and end - dot > 4 and (
            dot[1] == b'0' and dot[2] == b'0' and dot[3] == b'0' and dot[4] == b'0'
        ):
            return True
        dot += 1


cdef bint _plain_tree(object value, int depth):
    """True for exact ints, floats, strs, and lists and str-keyed dicts of them (``str()``
    and orjson then write the same structure; bools, None, tuples, subclasses are excluded)."""
    cdef object cls = type(value)
    if cls is int or cls is float or cls is str:
        return True
    if depth > 64:  # orjson's own limit is 255; deeper cells are not worth a fast path
        return False
    if cls is list:
        for item in <list> value:
            if not _plain_tree(item, depth + 1):
                return False
        return True
    if cls is dict:
        for key, item in (<dict> value).items():
            if type(key) is not str or not _plain_tree(item, depth + 1):
                return False
        return True
    return False


cdef str _tree_text(list value):
    """``str(value)`` for a list of lists, dicts, strs and numbers, from orjson's text.

    Outside strings ``"`` becomes ``'``, ``,`` and ``:`` get a space after them; inside strings
    the characters are copied. ``str()`` is used instead whenever the two could differ: a
    value that is not a plain tree, a quote, backslash (orjson's escapes), control or non-ASCII
    character in a string (``repr`` would switch quotes or escape it), or a number spelled with
    a letter or as ``0.0000...`` (see ``list_text``).
    """
    if not _plain_tree(value, 0):
        return str(value)
    if _dumps is None:
        _import_orjson()
    try:
        encoded = _dumps(value)
    except _EncodeError:  # integers beyond 64 bits, nesting too deep
        return str(value)
    cdef Py_ssize_t m = PyBytes_GET_SIZE(encoded), i, extra = 0
    cdef const unsigned char *b = <const unsigned char *> PyBytes_AS_STRING(encoded)
    cdef unsigned char c
    cdef bint in_string = False
    for i in range(m):  # check, and count the spaces to add
        c = b[i]
        if in_string:
            if c == b'"':
                in_string = False
            elif c == b'\\' or c == b"'" or c < 0x20 or c >= 0x7f:
                return str(value)
        elif c == b'"':
            in_string = True
        elif c == b',' or c == b':':
            extra += 1
        elif (c >= b'a' and c <= b'z') or (c >= b'A' and c <= b'Z'):
            return str(value)  # exponents, null (NaN, infinities)
        elif c == b'.' and b[i - 1] == b'0' and i + 4 < m and b[i + 1] == b'0' and (
            b[i + 2] == b'0' and b[i + 3] == b'0' and b[i + 4] == b'0'
        ):
            return str(value)
    cdef str out = PyUnicode_New(m + extra, 127)
    cdef Py_UCS1 *dest = PyUnicode_1BYTE_DATA(out)
    cdef Py_ssize_t j = 0
    in_string = False
    for i in range(m):
        c = b[i]
        if c == b'"':
            in_string = not in_string
            dest[j] = b"'"
            j += 1
        elif not in_string and (c == b',' or c == b':'):
            dest[j] = c
            dest[j + 1] = b' '
            j += 2
        else:
            dest[j] = c
            j += 1
    return out


cdef class RowReader:
    """``csv_layout.data_reader``'s ``read`` (row -> extract dict), the same steps in C.

    ``plan`` holds ``(position, keys, converter, column)`` per ``data.*`` column, as
    ``data_reader`` builds it; ``literal_cell`` cells that are plain JSON (``plain_json``) are
    read here with orjson, anything else by ``literal_cell`` itself. ``read_float`` is the
    converter whose None means NaN (a missing cell); ``nested_set`` sets deeper keys and raises
    on clashing columns. ``tests/cli/test_csv_layout.py`` compares the two forms.
    """

    cdef list plan
    cdef frozenset missing
    cdef object literal_cell, read_float, nested_set

    def __init__(self, list plan, frozenset missing, literal_cell, read_float, nested_set):
        self.plan = plan
        self.missing = missing
        self.literal_cell = literal_cell
        self.read_float = read_float
        self.nested_set = nested_set

    def __call__(self, row):
        cdef dict out = {}
        cdef tuple entry, keys
        cdef object text, value, convert, node
        cdef Py_ssize_t depth
        for entry in self.plan:
            text = row[<Py_ssize_t> entry[0]]
            if type(text) is str and PyUnicode_GET_LENGTH(text) == 0:
                continue  # "" is a missing-value mark: the most common cell by far
            if text in self.missing:
                continue
            convert = entry[2]
            if convert is self.literal_cell:
                value = self._literal(text)
            else:
                value = convert(text)
                if value is None and convert is self.read_float:
                    continue  # NaN: missing
            keys = <tuple> entry[1]
            depth = len(keys)
            if depth == 2:  # data.frame0.T0_tool0_x: most cells of a point file
                node = out.get(keys[0])
                if type(node) is dict:
                    (<dict> node)[keys[1]] = value
                elif node is None and keys[0] not in out:
                    out[keys[0]] = {keys[1]: value}
                else:
                    self.nested_set(out, keys, value, entry[3])  # raises, unless a dict subclass
            elif depth == 1:
                out[keys[0]] = value
            else:
                self.nested_set(out, keys, value, entry[3])
        return out

    cdef object _literal(self, object text):
        """``literal_cell(text)``: plain JSON read here, the rest by ``literal_cell``."""
        if type(text) is not str:
            return self.literal_cell(text)
        if "[" not in <str> text and "{" not in <str> text:
            return text
        fast = _plain_json(<str> text)
        if fast is not None:
            if _loads is None:
                _import_orjson()
            try:
                return _loads(fast)
            except _DecodeError:
                pass
        return self.literal_cell(text)


# ------------------------------------------------------------------------------------------
# grouped rows of ``tally reduce`` (compiled forms of steps in ``tally/reduce.py``)


def rows_by_created(list members, Py_ssize_t i_created):
    """The rows of ``members`` (``(row order, row)``) sorted by their ``created_at`` text, then
    row order: ``[row for _, row in sorted(members, key=lambda m: (m[1][i_created], m[0]))]``
    (``_rows_by_created_py`` in ``tally/reduce.py``), the keys made in C. Row orders are
    unique, so rows are never compared.

    >>> rows_by_created([(0, ["b"]), (1, ["a"]), (2, ["b"])], 0)
    [['a'], ['b'], ['b']]
    """
    cdef list rows = _rows_by_export_time(members, i_created)
    if rows is not None:
        return rows
    cdef list decorated = []
    cdef object member, row, created
    cdef PyObject *cell
    for member in members:
        row = member[1]
        if type(row) is list and 0 <= i_created < len(<list> row):
            # a copy, read through a borrowed pointer: a reference to the parent's cell would
            # make a forked worker copy its page (see PointCells._cell)
            cell = _list_item(row, i_created)
            if _is_str(cell):
                created = _text_copy(_text_kind(cell), _text_data(cell), _text_length(cell))
            else:
                created = row[i_created]
        else:
            created = row[i_created]
        decorated.append((created, member[0], row))
    decorated.sort()
    return [(<tuple> item)[2] for item in decorated]


cdef extern from "Python.h":
    void _p_incref "Py_INCREF"(PyObject *o)
    void _p_set_item "PyList_SET_ITEM"(object list, Py_ssize_t i, PyObject *o)
    list _p_new_list "PyList_New"(Py_ssize_t size)


cdef list _rows_by_export_time(list members, Py_ssize_t i_created):
    """``rows_by_created(members, i_created)`` where ``_sort_members`` sorts them; None
    otherwise.

    The members, their rows and row orders are read through borrowed pointers and sorted in C:
    a forked worker then writes only to the rows it returns (their counts), not to the members'
    tuples, which it counted and decorated before (half of a worker's copy-on-write faults in
    its first buckets: the members of both workers' subjects share pages).
    """
    cdef Py_ssize_t k, n = PyList_GET_SIZE(members)
    cdef _Member *order
    cdef list rows
    if n == 0:
        return []
    order = <_Member *> PyMem_Malloc(n * sizeof(_Member))
    if order == NULL:
        raise MemoryError()
    try:
        if not _sort_members(members, i_created, 0, order):
            return None
        rows = _p_new_list(n)
        for k in range(n):
            _p_incref(order[k].cells)
            _p_set_item(rows, k, order[k].cells)
        return rows
    finally:
        PyMem_Free(order)


def count_held(object rows, list columns, list held, object holds):
    """``{key: rows holding it}`` in first-seen order (the first row holding a key, then column
    order): ``_count_held_py`` in ``tally/reduce.py``. ``columns``: ``(cell index, key)``
    per column; ``held``: per column, a dict of cell text -> whether the row holds the key,
    filled by ``holds(column, text)`` for texts not in it yet.

    >>> count_held([["", "1"], ["1", "1"]], [(0, "a"), (1, "b")], [{}, {}],
    ...     lambda column, text: text != "")
    {'b': 2, 'a': 1}
    """
    cdef dict counts = {}
    cdef Py_ssize_t c, n_columns = len(columns)
    cdef list indices = [entry[0] for entry in columns]
    cdef list keys = [entry[1] for entry in columns]
    cdef object row, text, present, key, count
    cdef dict seen
    for row in rows:
        for c in range(n_columns):
            text = row[<Py_ssize_t> indices[c]]
            seen = <dict> held[c]
            present = seen.get(text)
            if present is None:
                present = seen[text] = holds(c, text)
            if present is True:
                key = keys[c]
                count = counts.get(key)
                counts[key] = 1 if count is None else count + 1
    return counts


cdef bint _export_time(object cell):
    """Whether ``cell`` is ``YYYY-MM-DD HH:MM:SS UTC`` in ASCII digits."""
    if type(cell) is not str or not PyUnicode_IS_ASCII(cell) or PyUnicode_GET_LENGTH(cell) != 23:
        return False
    return _export_form(<const unsigned char *> PyUnicode_1BYTE_DATA(cell))


def group_rows(list rows, Py_ssize_t column, object block, dict groups, Py_ssize_t i_created):
    """Append ``((block, n), row)`` for each row ``n`` to ``groups[row[column]]`` (a new list
    for a new cell), in row order; return whether every ``row[i_created]`` is
    ``YYYY-MM-DD HH:MM:SS UTC`` in ASCII digits: ``_group_rows_py`` in ``tally/reduce.py``.

    >>> groups = {"7": []}
    >>> group_rows([["7", "2024-02-01 00:00:08 UTC"], ["8", "x"], ["7", ""]], 0, 3, groups, 1)
    False
    >>> groups["7"]
    [((3, 0), ['7', '2024-02-01 00:00:08 UTC']), ((3, 2), ['7', ''])]
    """
    cdef Py_ssize_t n
    cdef object row, cell, members
    cdef bint export_times = True
    for n in range(len(rows)):
        row = rows[n]
        cell = row[column]
        members = groups.get(cell)
        if members is None:
            groups[cell] = [((block, n), row)]
        else:
            (<list> members).append(((block, n), row))
        if export_times:
            export_times = _export_time(row[i_created])
    return export_times




cdef extern from "Python.h":
    # a borrowed reference to a list's or tuple's item
    PyObject *_sequence_item "PySequence_Fast_GET_ITEM"(object, Py_ssize_t)


cdef inline bint _plain_digits(object cell):
    """Whether ``cell`` is a str of ASCII digits, at least one (``text.isdigit() and
    text.isascii()``)."""
    cdef const char *text
    cdef Py_ssize_t k, size
    if type(cell) is not str or not PyUnicode_IS_ASCII(cell):
        return False
    size = PyUnicode_GET_LENGTH(cell)
    text = <const char *> PyUnicode_1BYTE_DATA(cell)
    for k in range(size):
        if text[k] < b'0' or text[k] > b'9':
            return False
    return size > 0


def column_texts(list rows, list columns):
    """Per column of ``columns``: ``(its distinct cells other than plain digits, its first
    cell of plain digits or None)``, in one pass over the rows; a cell that is the same object
    as the row before's in its column (``split_records`` reuses them) is not looked at again.
    ``_column_texts_py`` in ``tally/reduce.py``.

    >>> column_texts([["a", "1"], ["b", "12"], ["a", "x"]], [1, 0]) == [({"x"}, "1"), ({"a", "b"}, None)]
    True
    """
    cdef Py_ssize_t k, n_columns = len(columns)
    cdef list texts = [set() for _ in range(n_columns)]
    cdef list digits = [None] * n_columns
    cdef Py_ssize_t *index = <Py_ssize_t *> PyMem_Malloc(max(n_columns, 1) * sizeof(Py_ssize_t))
    cdef PyObject **last = <PyObject **> PyMem_Malloc(max(n_columns, 1) * sizeof(PyObject *))
    cdef PyObject *p
    cdef object row, cell
    cdef bint fast
    try:
        if index == NULL or last == NULL:
            raise MemoryError()
        for k in range(n_columns):
            index[k] = columns[k]
            last[k] = NULL
        for row in rows:
            fast = type(row) is list or type(row) is tuple
            for k in range(n_columns):
                if fast:
                    if not 0 <= index[k] < len(row):
                        raise IndexError("column index out of range")
                    p = _sequence_item(row, index[k])
                    if p == last[k]:
                        continue
                    last[k] = p
                    cell = <object> p
                else:
                    cell = row[index[k]]
                if _plain_digits(cell):
                    if digits[k] is None:
                        digits[k] = cell
                else:
                    PySet_Add(texts[k], cell)
    finally:
        PyMem_Free(index)
        PyMem_Free(last)
    return list(zip(texts, digits))


# ------------------------------------------------------------------------------------------
# one subject of a counting reduce (question_reducer, shortcut_reducer) in one step



cdef extern from *:
    """
    #define _tally_prefetch(p) __builtin_prefetch((const void *)(p))
    """
    void _prefetch "_tally_prefetch"(const void *p) nogil
    PyObject **_list_items "PySequence_Fast_ITEMS"(object)


cdef void _prefetch_members(list members, Py_ssize_t n, Py_ssize_t *columns, Py_ssize_t m):
    """Ask for the memory that reading ``members`` (``(row order, row)``) and their rows'
    ``columns`` (``m`` of them) takes, a level at a time for all members: the members' tuples,
    the rows, the rows' items, the cells. A subject's rows lie far apart in memory, and reading
    them one after the other waited for each in turn (two thirds of the count's time)."""
    cdef Py_ssize_t k, c
    cdef object member, row
    cdef PyObject **items
    for k in range(n):
        _prefetch(_list_item(members, k))
    for k in range(n):
        member = <object> _list_item(members, k)
        if type(member) is tuple and len(<tuple> member) == 2:
            _prefetch(_tuple_item(member, 1))
    for k in range(n):
        member = <object> _list_item(members, k)
        if type(member) is tuple and len(<tuple> member) == 2:
            row = <object> _tuple_item(member, 1)
            if type(row) is list:
                _prefetch(_list_items(row))
    for k in range(n):
        member = <object> _list_item(members, k)
        if type(member) is tuple and len(<tuple> member) == 2:
            row = <object> _tuple_item(member, 1)
            if type(row) is list:
                items = _list_items(row)
                for c in range(m):
                    if columns[c] < PyList_GET_SIZE(row):
                        _prefetch(items[columns[c]])


cdef int _add_counted(object stats, dict flat) except -1:
    """``stats.add(flat)`` (``core.csv_layout.ColumnStats``) for a flat reduction of int and
    str values, its steps for those: a key first seen gets flag 0 and count 0, then each value
    sets its type's flag (``_INT`` 1, ``_OTHER`` 4) and counts."""
    cdef dict flags = stats.flags
    cdef dict present = stats.present
    cdef object key, value, flag
    stats.rows += 1
    for key, value in flat.items():
        flag = flags.get(key)
        if flag is None:
            flags[key] = flag = 0
            present[key] = 0
        if type(value) is int:
            flags[key] = flag | 1
        elif type(value) is str:
            flags[key] = flag | 4
        else:
            raise TypeError(f"a counted value is int or str, not {type(value).__name__}")
        present[key] += 1
    return 0


cdef class SubjectCounter:
    """One subject's counting reduction (``question_reducer``'s default form under ``-F all``)
    straight from its members ``((block, row in block), row)``, for the usual case:
    ``count(members)`` is ``flatten(count_answers(drop_duplicates(_sorted_rows(members))),
    version)`` of ``_reduce_subjects`` in ``tally/reduce.py`` for a file of one task, or None
    where the general path is needed. Declined: a ``created_at`` not in the export's form in
    ASCII digits; where two rows have the same ``created_at``, a row order that is not two
    integers; and (for two rows or more) a classification id that is not plain digits (at most
    19) or occurs twice (rows that may be duplicates).

    The rows are sorted as ``_rows_by_created`` sorts them (``created_at`` text, row order,
    then members order) and counted as ``count_held`` counts them, in that order, with the same
    ``held`` dicts and ``holds`` calls; the keys in first-seen order (the first row holding a
    key, then column order). ``i_cid``: the ``classification_id`` column of an int column,
    else -1. ``tests/cli/test_reduce_fast_paths.py`` compares it with the general path.
    """

    cdef Py_ssize_t i_created, i_cid, width, n_columns
    cdef Py_ssize_t *indices
    cdef Py_ssize_t fetched[2]  # the created_at and classification_id columns
    cdef list keys, held
    cdef object holds, version

    def __cinit__(self):
        self.indices = NULL

    def __init__(
        self, Py_ssize_t i_created, Py_ssize_t i_cid, list columns, list held, holds, version
    ):
        cdef Py_ssize_t c
        self.i_created = i_created
        self.i_cid = i_cid
        self.fetched[0] = i_created
        self.fetched[1] = i_cid
        self.n_columns = len(columns)
        self.indices = <Py_ssize_t *> PyMem_Malloc(max(self.n_columns, 1) * sizeof(Py_ssize_t))
        if self.indices == NULL:
            raise MemoryError()
        self.width = max(i_created, i_cid) + 1  # a row has at least this many cells
        for c in range(self.n_columns):
            self.indices[c] = columns[c][0]
            self.width = max(self.width, self.indices[c] + 1)
        self.keys = [entry[1] for entry in columns]
        self.held = held
        self.holds = holds
        self.version = version

    def __dealloc__(self):
        PyMem_Free(self.indices)

    def __call__(self, list members not None, stats=None):
        # stats: a ColumnStats to add the reduction to (as its add does), if one is made
        cdef Py_ssize_t n = PyList_GET_SIZE(members)
        cdef Py_ssize_t k, c, j, n_columns = self.n_columns
        cdef _Member *order = NULL  # sorted (_sort_members)
        cdef Py_ssize_t *tally = NULL  # rows holding each column's key
        cdef Py_ssize_t *first = NULL  # the first of them, in sorted order
        cdef PyObject **last_cell = NULL  # per column, the cell read last, and whether it holds
        cdef char *last_present = NULL
        cdef PyObject *p
        cdef object cell, present
        cdef bint with_ids = n > 1  # drop_duplicates keeps every row of distinct plain ids
        cdef dict counts, seen
        if n == 0:
            return None
        order = <_Member *> PyMem_Malloc(n * sizeof(_Member))
        tally = <Py_ssize_t *> PyMem_Malloc(2 * max(n_columns, 1) * sizeof(Py_ssize_t))
        last_cell = <PyObject **> PyMem_Malloc(max(n_columns, 1) * sizeof(PyObject *))
        last_present = <char *> PyMem_Malloc(max(n_columns, 1))
        try:
            if order == NULL or tally == NULL or last_cell == NULL or last_present == NULL:
                raise MemoryError()
            first = tally + n_columns
            _prefetch_members(members, n, self.fetched, 2 if self.i_cid >= 0 else 1)
            if with_ids and self.i_cid < 0:
                return None
            if not _sort_members(members, self.i_created, self.width, order):
                return None
            if with_ids:
                for k in range(n):
                    if not _p_plain_id(
                        _list_item(<object> order[k].cells, self.i_cid), &order[k].cid
                    ):
                        return None
                if not _distinct_ids(order, n):
                    return None
            for c in range(n_columns):
                tally[c] = 0
                last_cell[c] = NULL
            for k in range(n):
                for c in range(n_columns):
                    p = _list_item(<object> order[k].cells, self.indices[c])
                    if p != last_cell[c]:  # a text of this column not read just before
                        cell = <object> p
                        seen = <dict> self.held[c]
                        present = seen.get(cell)
                        if present is None:
                            present = seen[cell] = self.holds(c, cell)
                        last_cell[c] = p
                        last_present[c] = present is True
                    if last_present[c]:
                        if tally[c] == 0:
                            first[c] = k
                        tally[c] += 1
            counts = {}
            while True:  # the keys held, by first row then column (few columns: no sort)
                j = -1
                for c in range(n_columns):
                    if tally[c] and (j < 0 or first[c] < first[j]):
                        j = c
                if j < 0:
                    break
                counts[self.keys[j]] = tally[j]
                tally[j] = 0
        finally:
            PyMem_Free(order)
            PyMem_Free(tally)
            PyMem_Free(last_cell)
            PyMem_Free(last_present)
        if self.version is not None:  # flatten(counts, version): the counts, then the version
            counts["aggregation_version"] = self.version
        if stats is not None:
            _add_counted(stats, counts)
        return counts
