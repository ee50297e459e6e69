# cython: language_level=3, boundscheck=False, wraparound=False
"""The compiled form of ``point_extractor_by_frame``'s cells (``point_cells_py``, the same texts).

A 20k-classification export holds 160,000 point marks; the Python form reads each mark into a
dict of lists (``_one_pass``), then writes every list back with ``str()``
(``csv_layout.render_cells``). This reads the marks once, gathers the coordinates of each frame and tool,
writes all of a classification's coordinate lists from one ``orjson.dumps`` text (the digits of
``repr``, ~20x faster than ``repr`` itself) and the subtask lists straight into a C buffer
(``{'label': 1}`` per answer).

It mirrors ``point_extractor_by_frame._one_pass`` followed by ``render_cells`` and declines
(returns None) wherever that pair would do anything but the plainest work: values other than
ints and floats, frames or tools that are not ints, subtasks other than counted questions and
unconfigured names, FEM subtask keys, and whatever ``_one_pass`` itself declines. The caller then
runs the Python form. ``tests/core/extractors/test_point_cells.py`` checks that whenever it
gives texts they are the Python form's.
"""

from cpython.dict cimport PyDict_GetItemWithError, PyDict_Next
from cpython.long cimport PyLong_AsLongLongAndOverflow
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
import orjson

from cpython.list cimport PyList_Append
from cpython.unicode cimport Py_UCS1, PyUnicode_1BYTE_DATA, PyUnicode_New, PyUnicode_Tailmatch
from libc.string cimport memchr, memcpy

cdef extern from *:
    Py_ssize_t PY_SSIZE_T_MAX


cdef extern from "Python.h":
    const char *PyUnicode_AsUTF8AndSize(object o, Py_ssize_t *size) except NULL
    bint PyUnicode_IS_ASCII(object o)


# ------------------------------------------------------------------------------------------
# a growable text buffer

cdef struct Buffer:
    char *data
    Py_ssize_t size
    Py_ssize_t capacity


cdef int _reserve(Buffer *b, Py_ssize_t more) except -1:
    cdef Py_ssize_t want = b.size + more
    cdef char *grown
    if want <= b.capacity:
        return 0
    want = max(want, 2 * b.capacity, 64)
    grown = <char *>PyMem_Realloc(b.data, want)
    if grown == NULL:
        raise MemoryError()
    b.data = grown
    b.capacity = want
    return 0


cdef inline int _put(Buffer *b, const char *text, Py_ssize_t n) except -1:
    _reserve(b, n)
    memcpy(b.data + b.size, text, n)
    b.size += n
    return 0


cdef inline int _put_char(Buffer *b, char c) except -1:
    _reserve(b, 1)
    b.data[b.size] = c
    b.size += 1
    return 0


cdef int _put_int(Buffer *b, object value) except -1:
    """``str(value)`` for an exact int of 64 bits; 0 (nothing written) for a larger one."""
    cdef int overflow = 0
    cdef long long whole = PyLong_AsLongLongAndOverflow(value, &overflow)
    cdef char digits[24]
    if overflow:
        return 0
    _put(b, digits, _decimal(whole, digits))
    return 1


cdef Py_ssize_t _decimal(long long value, char *out):
    """``value`` in decimal into ``out`` (24 bytes); its length."""
    cdef char reversed_digits[24]
    cdef Py_ssize_t n = 0, i = 0
    cdef unsigned long long magnitude
    if value < 0:
        out[0] = b'-'
        i = 1
        magnitude = <unsigned long long>(-(value + 1)) + 1
    else:
        magnitude = <unsigned long long>value
    while True:
        reversed_digits[n] = <char>(48 + magnitude % 10)  # '0' + digit
        n += 1
        magnitude //= 10
        if magnitude == 0:
            break
    while n:
        n -= 1
        out[i] = reversed_digits[n]
        i += 1
    return i


cdef list _number_texts(list lists):
    """``str(numbers)`` for each list of ints and floats in ``lists``, from one orjson text.

    orjson writes the shortest round-trip digits as ``repr`` does (and ~20x faster); its text
    differs from ``str()`` only in the separators and where it has an ``e`` or an ``n``
    (exponents, NaN, infinities) or ``0.0000`` (numbers below 1e-4): those lists take ``str()``,
    exactly as ``core._cells_compiled.list_text`` does for one list.
    """
    cdef list texts = []
    cdef bytes encoded
    cdef const char *b
    cdef Py_ssize_t m, i = 1, start, end, j, k = 0, size, commas
    cdef bint plain
    cdef char c
    cdef const char *dot
    cdef str text
    cdef Py_UCS1 *dest
    try:
        encoded = _dumps(lists)
    except _EncodeError:  # integers beyond 64 bits
        return [str(numbers) for numbers in lists]
    b = encoded
    m = len(encoded)
    # "[[1.5,2],[3]]": each inner list up to its "]" (numbers have no brackets)
    while k < len(lists):
        start = i  # at the inner "["
        end = <const char *>memchr(b + i, b']', m - i) - b
        size = end + 1 - start
        # (memchr looks at many bytes at a time: most lists are plain)
        plain = memchr(b + start, b'e', size) == NULL and memchr(b + start, b'n', size) == NULL
        dot = <const char *>memchr(b + start, b'.', size)
        while plain and dot != NULL:  # "0.0000"
            j = dot - b
            if b[j - 1] == b'0' and j + 4 < m and b[j + 1] == b'0' and b[j + 2] == b'0' and (
                b[j + 3] == b'0' and b[j + 4] == b'0'
            ):
                plain = False
            dot = <const char *>memchr(dot + 1, b'.', end - j)
        if not plain:
            texts.append(str(lists[k]))
        else:
            commas = 0
            for j in range(start, end):
                commas += b[j] == b','
            text = PyUnicode_New(size + commas, 127)  # ", " for each ","
            dest = PyUnicode_1BYTE_DATA(text)
            size = 0
            while start <= end:
                c = b[start]
                dest[size] = c
                size += 1
                if c == b',':
                    dest[size] = b' '
                    size += 1
                start += 1
            texts.append(text)
        i = end + 2  # past "]" and the "," between lists (or the final "]")
        k += 1
    return texts


cdef bint _plain_label(object label):
    """True if ``repr(label)`` is ``'label'``: printable ASCII without quotes or backslashes."""
    if type(label) is not str or not PyUnicode_IS_ASCII(label):
        return False
    cdef Py_ssize_t n, i
    cdef const char *chars = PyUnicode_AsUTF8AndSize(label, &n)
    cdef char c
    for i in range(n):
        c = chars[i]
        if c < 32 or c > 126 or c == b"'" or c == b'\\':
            return False
    return True


# ------------------------------------------------------------------------------------------
# one (frame, tool) of a classification: its key names and the texts of its three lists

cdef enum:
    MAX_SLOTS = 64  # (frame, tool) pairs of one classification; more: the Python form

cdef struct Slot:
    PyObject *names  # (frame, tool) -> see SlotNames, a borrowed tuple kept alive by the cache
    long long frame
    long long tool
    int frame_index  # in order of first use
    int points_order  # -1: no point yet
    int details_order  # -1: no subtask yet
    PyObject *xs  # point_cells: the x values, a list owned by its ``lists``
    PyObject *ys
    Buffer xs_text  # RowCells: the x values' text, without the list's brackets
    Buffer ys_text
    Py_ssize_t marks_with_details
    Buffer details  # the text of the details list, without its brackets


cdef struct Marks:  # the (frame, tool) slots of one classification's marks, in order of first use
    Slot slots[MAX_SLOTS]
    Py_ssize_t n_slots
    long long frame_values[MAX_SLOTS]
    Py_ssize_t n_frames
    int points_seen
    int details_seen


cdef inline void _start_marks(Marks *g):
    g.n_slots = g.n_frames = 0
    g.points_seen = g.details_seen = 0


cdef void _free_marks(Marks *g):
    cdef Py_ssize_t s
    for s in range(g.n_slots):
        PyMem_Free(g.slots[s].details.data)
        PyMem_Free(g.slots[s].xs_text.data)
        PyMem_Free(g.slots[s].ys_text.data)


cdef Slot *_slot_of(
    Marks *g, long long frame_value, long long tool_value, dict slot_names, object make_slot_names
) except? NULL:
    """The slot of (frame, tool), added at its first mark; NULL: decline (more than MAX_SLOTS,
    or details that ``_one_pass`` declines)."""
    cdef Py_ssize_t s, f
    cdef Slot *slot
    cdef object names, key
    for s in range(g.n_slots):
        if g.slots[s].frame == frame_value and g.slots[s].tool == tool_value:
            return &g.slots[s]
    if g.n_slots == MAX_SLOTS:
        return NULL
    key = (frame_value, tool_value)  # (Python ints, as the marks' own)
    names = slot_names.get(key)
    if names is None:
        names = slot_names[key] = make_slot_names(key[0], key[1])
    if names is False:  # details that _one_pass declines
        return NULL
    slot = &g.slots[g.n_slots]
    slot.names = <PyObject *>names
    slot.frame = frame_value
    slot.tool = tool_value
    slot.frame_index = -1
    for f in range(g.n_frames):
        if g.frame_values[f] == frame_value:
            slot.frame_index = f
            break
    if slot.frame_index == -1:
        g.frame_values[g.n_frames] = frame_value
        slot.frame_index = g.n_frames
        g.n_frames += 1
    slot.points_order = -1
    slot.details_order = -1
    slot.xs = slot.ys = NULL
    slot.marks_with_details = 0
    slot.details.data = slot.xs_text.data = slot.ys_text.data = NULL
    slot.details.size = slot.details.capacity = 0
    slot.xs_text.size = slot.xs_text.capacity = 0
    slot.ys_text.size = slot.ys_text.capacity = 0
    g.n_slots += 1
    return slot


cdef inline bint _first_point(Marks *g, Slot *slot):
    """Note a point of the slot; True if it is its first."""
    if slot.points_order == -1:
        slot.points_order = g.points_seen
        g.points_seen += 1
        return True
    return False


cdef inline int _open_details(Marks *g, Slot *slot) except -1:
    """Start a mark's details list in the slot's text."""
    if slot.details_order == -1:
        slot.details_order = g.details_seen
        g.details_seen += 1
    if slot.marks_with_details:
        _put(&slot.details, b", [", 3)
    else:
        _put_char(&slot.details, b'[')
    return 0


cdef tuple _cells_of(Marks *g, list point_texts, object version):
    """The cells' names and texts: the version, then frame by frame its point lists (x, y;
    ``point_texts[2 * order]`` and ``[2 * order + 1]``) in order of first point, then its
    details lists in order of first subtask."""
    cdef list keys = [], texts = []
    cdef Py_ssize_t f, s
    cdef int order
    cdef object names
    if version is not None:
        keys.append("aggregation_version")
        texts.append(version)
    for f in range(g.n_frames):
        for order in range(g.points_seen):
            for s in range(g.n_slots):
                if g.slots[s].frame_index == f and g.slots[s].points_order == order:
                    names = <object>g.slots[s].names
                    keys.append(names[0])
                    keys.append(names[1])
                    texts.append(point_texts[2 * order])
                    texts.append(point_texts[2 * order + 1])
        for order in range(g.details_seen):
            for s in range(g.n_slots):
                if g.slots[s].frame_index == f and g.slots[s].details_order == order:
                    keys.append((<object>g.slots[s].names)[2])
                    texts.append(_list(&g.slots[s].details))
    return tuple(keys), tuple(texts)


cdef inline PyObject *_get(object mapping, object key) except? NULL:
    """``PyDict_GetItem`` (NULL: no such key) without its saving and restoring of the error
    state on every call (~1/3 of a lookup): an error (none with text keys) is raised."""
    return PyDict_GetItemWithError(mapping, key)


cdef object _dumps = orjson.dumps
cdef object _EncodeError = orjson.JSONEncodeError
cdef bytes _NO_EXTRACTOR_TEXT = b"'No extractor for this subtask type'"  # NO_EXTRACTOR's repr

# subtask codes, per configured name (see point_extractor_by_frame._slot_names)
cdef enum:
    QUESTION = 0
    NO_EXTRACTOR = 1


cdef int _put_answer(Buffer *b, object answer, dict labels, object slug) except -1:
    """``{'label': 1}`` for a question subtask answer as ``_one_pass`` counts it; 1: written,
    0: decline."""
    cdef PyObject *found
    if type(answer) is not dict:
        return 0
    found = _get(answer, "value")
    if found == NULL:
        return 0
    return _put_value(b, <object>found, labels, slug)


cdef int _put_value(Buffer *b, object value, dict labels, object slug) except -1:
    """``{'label': 1}`` for a question subtask answer's ``value``; 1: written, 0: decline."""
    cdef object label
    cdef Py_ssize_t n
    cdef const char *chars
    if type(value) is int:
        _put(b, b"{'", 2)
        if not _put_int(b, value):
            return 0
        _put(b, b"': 1}", 5)
        return 1
    if value is None:
        label = "None"
    elif value is True:
        label = "True"
    elif value is False:
        label = "False"
    elif type(value) is str:
        label = labels.get(value)
        if label is None:
            label = slug(value)
            if not _plain_label(label):
                return 0
            labels[value] = label
    else:
        return 0
    chars = PyUnicode_AsUTF8AndSize(label, &n)
    _put(b, b"{'", 2)
    _put(b, chars, n)
    _put(b, b"': 1}", 5)
    return 1


def point_cells(
    dict annotations,
    str task,
    tuple tools,
    dict slot_names,
    object make_slot_names,
    dict labels,
    object slug,
    object version,
):
    """``render_cells(_one_pass(...), version)`` from a PFE classification's grouped
    ``annotations``, or None where this form declines (see the module's docstring).

    ``tools``: the tools to keep (None: all). ``slot_names``: a cache, ``(frame, tool)`` ->
    ``(x key, y key, details key, subtask codes or None)`` or False (decline), filled by
    ``make_slot_names(frame, tool)``; ``labels``: a cache of answer text -> ``slug(text)``.
    Returns the column names and texts (every cell is text: ``render_cells``' flag 4).
    """
    return _point_cells(annotations, task, tools, slot_names, make_slot_names, labels, slug, version)


cdef object _point_cells(
    dict annotations,
    str task,
    tuple tools,
    dict slot_names,
    object make_slot_names,
    dict labels,
    object slug,
    object version,
):
    # point_cells (also called by PointCells without a Python call)
    cdef Marks g
    cdef Py_ssize_t position, n_answers, n_codes
    cdef long long frame_value, tool_value
    cdef int overflow = 0
    cdef Py_ssize_t pos = 0
    cdef PyObject *key_ptr
    cdef PyObject *items_ptr
    cdef PyObject *found
    cdef PyObject *found_y
    cdef object marks, mark, tool, frame, annotation, answers, codes, task_type, items
    cdef object code, x, y, xs, ys
    cdef list lists = []  # the x and y lists of every slot with points, in order of first point
    cdef str prefix = task + "."
    cdef bint filtered
    cdef Slot *slot
    cdef Buffer *out

    # for_task(task) is annotations[task] unless a FEM subtask key "task.i.j" adds to it
    while PyDict_Next(annotations, &pos, &key_ptr, &items_ptr):
        if PyUnicode_Tailmatch(<object>key_ptr, prefix, 0, PY_SSIZE_T_MAX, -1):
            return None
    found = _get(annotations, task)
    items = [] if found == NULL else <object>found
    if type(items) is not list:
        return None
    _start_marks(&g)
    try:
        for annotation in items:
            if type(annotation) is not dict or "task" not in annotation:
                return None
            if type(annotation["task"]) is not str or annotation["task"] != task:
                return None
            marks = annotation.get("value")
            if type(marks) is not list:
                return None
            filtered = False
            if tools is not None:
                task_type = annotation.get("taskType", "drawing")
                filtered = task_type == "drawing"
            for mark in marks:
                # (PyDict_GetItem: one lookup where `in` and [] make two; NULL: no such key)
                if type(mark) is not dict or _get(mark, "toolIndex") != NULL:
                    return None
                found = _get(mark, "tool")
                if found == NULL:
                    return None
                tool = <object>found
                if filtered and tool not in tools:
                    continue
                found = _get(mark, "frame")
                if found == NULL:
                    return None
                frame = <object>found
                if type(frame) is not int or type(tool) is not int:
                    return None
                frame_value = PyLong_AsLongLongAndOverflow(frame, &overflow)
                if overflow:
                    return None
                tool_value = PyLong_AsLongLongAndOverflow(tool, &overflow)
                if overflow:
                    return None
                slot = _slot_of(&g, frame_value, tool_value, slot_names, make_slot_names)
                if slot == NULL:
                    return None
                found = _get(mark, "x")
                found_y = _get(mark, "y")
                if found != NULL and found_y != NULL:
                    x = <object>found
                    y = <object>found_y
                    if (type(x) is not float and type(x) is not int) or (
                        type(y) is not float and type(y) is not int
                    ):
                        return None
                    if _first_point(&g, slot):
                        xs = []
                        ys = []
                        lists.append(xs)
                        lists.append(ys)
                        slot.xs = <PyObject *>xs
                        slot.ys = <PyObject *>ys
                    PyList_Append(<object>slot.xs, x)
                    PyList_Append(<object>slot.ys, y)
                codes = (<tuple>slot.names)[3]
                if codes is None:
                    continue
                found = _get(mark, "details")
                answers = None if found == NULL else <object>found
                if type(answers) is not list:
                    return None
                n_answers = len(answers)
                n_codes = len(<tuple>codes)
                if n_answers > n_codes:
                    return None
                _open_details(&g, slot)
                out = &slot.details
                for position in range(n_answers):
                    if position:
                        _put(out, b", ", 2)
                    code = (<tuple>codes)[position]
                    if code == QUESTION:
                        if not _put_answer(out, answers[position], labels, slug):
                            return None
                    elif code == NO_EXTRACTOR:
                        _put(out, _NO_EXTRACTOR_TEXT, len(_NO_EXTRACTOR_TEXT))
                    else:
                        return None
                _put_char(out, b']')
                slot.marks_with_details += 1
        return _cells_of(&g, _number_texts(lists) if lists else [], version)
    finally:
        _free_marks(&g)


cdef str _list(Buffer *b):
    """The buffer's items (ASCII) as a list's text: ``[`` items ``]``."""
    cdef str text = PyUnicode_New(b.size + 2, 127)
    cdef Py_UCS1 *chars = PyUnicode_1BYTE_DATA(text)
    chars[0] = b'['
    if b.size:
        memcpy(chars + 1, b.data, b.size)
    chars[b.size + 1] = b']'
    return text


#: at most this many distinct classifier_version texts are remembered (an export has a few)
cdef Py_ssize_t FEM_TEXTS = 64


cdef class PointCells:
    """``point_extractor_by_frame.point_cells``' function for the compiled form: a
    classification -> ``(names, flags, texts)`` of its cells, or None (a FEM classification,
    or where ``point_cells`` declines). The same as the Python closure it replaces (which reads
    ``is_fem`` and calls ``point_cells``), without a Python frame per call: ``is_fem`` depends
    only on the metadata's ``classifier_version`` text, so it is asked once per distinct text.
    """

    cdef str task
    cdef tuple tools
    cdef dict slot_names, labels, flags, fem_of_text
    cdef object make_slot_names, slug, version

    def __init__(self, str task, tuple tools, object make_slot_names, object slug, object version):
        self.task = task
        self.tools = tools
        self.slot_names = {}
        self.make_slot_names = make_slot_names
        self.labels = {}
        self.slug = slug
        self.version = version
        self.flags = {}
        self.fem_of_text = {}

    def __call__(self, classification):
        cdef PyObject *found
        cdef object metadata = classification.metadata
        cdef object text
        cdef tuple names
        if type(metadata) is dict:
            found = PyDict_GetItemWithError(metadata, "classifier_version")
            text = "1.0" if found == NULL else <object>found  # Classification.is_fem's default
            if type(text) is str:
                found = PyDict_GetItemWithError(self.fem_of_text, text)
                if found == NULL:
                    fem = classification.is_fem
                    if len(self.fem_of_text) < FEM_TEXTS:
                        self.fem_of_text[text] = fem
                else:
                    fem = <object>found
            else:
                fem = classification.is_fem
        else:
            fem = classification.is_fem
        if fem:
            return None
        result = _point_cells(
            classification.annotations,
            self.task,
            self.tools,
            self.slot_names,
            self.make_slot_names,
            self.labels,
            self.slug,
            self.version,
        )
        if result is None:
            return None
        return self._with_flags(<tuple>result)

    cdef tuple _with_flags(self, tuple names_texts):
        """``(names, flags, texts)`` of ``(names, texts)``: every cell is text."""
        cdef tuple names = <tuple>names_texts[0]
        cdef Py_ssize_t n = len(names)
        cdef PyObject *found = PyDict_GetItemWithError(self.flags, n)
        if found == NULL:
            row_flags = self.flags[n] = (4,) * n  # (render_cells' flag for a text)
        else:
            row_flags = <object>found
        return names, row_flags, names_texts[1]


# ------------------------------------------------------------------------------------------
# a row's cells straight from its annotations' JSON text

from cpython.long cimport PyLong_FromLongLong
from cpython.sequence cimport PySequence_Contains
from cpython.unicode cimport PyUnicode_DecodeUTF8
from libc.string cimport memcmp, strlen

from core._json_scan cimport _blank_end, _number_end, _string_end, _value_end


cdef extern from "Python.h":
    double PyOS_string_to_double(const char *s, char **endptr, PyObject *overflow_exception) except? -1.0
    char *PyOS_double_to_string(double val, char format_code, int precision, int flags, int *ptype) except NULL
    int Py_DTSF_ADD_DOT_0


from core._json_numbers cimport Number, _is_float_repr, _read_number, _repr_digits


def float_text_is_repr(str text):
    """Whether the JSON number ``text`` (with a fraction, no exponent) is found to be
    ``repr(float(text))`` by the check ``RowCells`` makes before copying a coordinate's text
    (False also where it is not sure). For tests.

    >>> float_text_is_repr("1436.6048727342159"), float_text_is_repr("0.1"), float_text_is_repr("1.0")
    (True, True, False)
    >>> float_text_is_repr("0.10000000000000001")  # repr(0.1) is '0.1'
    False
    """
    cdef Py_ssize_t n
    cdef const unsigned char *p = <const unsigned char *>PyUnicode_AsUTF8AndSize(text, &n)
    return _is_float_repr(p, n)


cdef enum:
    LONGEST_NUMBER = 40  # a longer number text: the Python path


cdef inline bint _is_digit(unsigned char c):
    return 48 <= c <= 57


cdef Py_ssize_t _int_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, long long *value):
    """Past the JSON integer (no fraction or exponent) at ``i``, its value in ``value``; -1
    if it is not one or has more than 18 digits (an int of 64 bits, as orjson reads it)."""
    cdef bint fraction
    cdef Py_ssize_t start, end = _number_end(p, i, n, &fraction)
    cdef long long whole = 0
    cdef bint negative = p[i] == b'-'
    if end < 0:
        return -1
    start = i + negative
    if end - start > 18 or fraction:
        return -1
    for i in range(start, end):
        whole = whole * 10 + (p[i] - 48)
    value[0] = -whole if negative else whole
    return end


cdef int _put_number(Buffer *b, const unsigned char *p, Py_ssize_t i, Py_ssize_t end, Number *number) except -1:
    """Write ``str()`` of the number orjson reads from the JSON number text p[i:end] (read
    into ``number``); 1, or 0 to decline (more than 18 digits of int or LONGEST_NUMBER
    characters)."""
    cdef Py_ssize_t size = end - i
    cdef char text[LONGEST_NUMBER + 1]
    cdef char *written
    cdef double value
    if size > LONGEST_NUMBER:
        return 0
    if not number.fraction:  # an int: its digits ("-0" is 0)
        if number.count > 18:
            return 0
        if size == 2 and p[i] == b'-' and p[i + 1] == b'0':
            _put_char(b, b'0')
        else:
            _put(b, <const char *>p + i, size)
        return 1
    if _repr_digits(number):
        _put(b, <const char *>p + i, size)
        return 1
    # repr(float(text)), as Python makes it (both parsers round correctly)
    memcpy(text, p + i, size)
    text[size] = 0
    value = PyOS_string_to_double(text, NULL, NULL)
    written = PyOS_double_to_string(value, b'r', 0, Py_DTSF_ADD_DOT_0, NULL)
    try:
        _put(b, written, strlen(written))
    finally:
        PyMem_Free(written)
    return 1


cdef Py_ssize_t _member(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t n, Py_ssize_t *key_start, Py_ssize_t *key_end
):
    """At an object member's key: the position of its value (past the colon and blanks), the
    key's text from ``key_start`` to ``key_end`` (its closing quote); -1 if the key is not plain
    (an escape: it may spell one of the keys looked for) or no colon follows."""
    cdef bint escaped = False
    if i >= n or p[i] != 34:
        return -1
    key_start[0] = i + 1
    i = _string_end(p, i, n, &escaped)
    if i < 0 or escaped:
        return -1
    key_end[0] = i - 1
    i = _blank_end(p, i, n)
    if i >= n or p[i] != b':':
        return -1
    return _blank_end(p, i + 1, n)


cdef inline bint _is(const unsigned char *p, Py_ssize_t start, Py_ssize_t end, const char *word, Py_ssize_t size):
    return end - start == size and memcmp(p + start, word, size) == 0


cdef inline Py_ssize_t _next_member(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, unsigned char close, bint *closed):
    """After a member of an object or array: past the "," and blanks (``closed`` False) or
    past ``close`` (``closed`` True); -1 for anything else."""
    i = _blank_end(p, i, n)
    if i >= n:
        return -1
    if p[i] == b',':
        closed[0] = False
        return _blank_end(p, i + 1, n)
    if p[i] == close:
        closed[0] = True
        return i + 1
    return -1


cdef bint _has_surrogate_escape(const unsigned char *p, Py_ssize_t i, Py_ssize_t end):
    """Whether the string text p[i:end] holds a ``\\uD800``-``\\uDFFF`` escape (orjson refuses
    lone surrogates; the Python path decides)."""
    while i < end:
        if p[i] == 92:
            if p[i + 1] == b'u' and (p[i + 2] == b'd' or p[i + 2] == b'D') and (
                p[i + 3] in b'89abAB'
            ):
                return True
            i += 2
        else:
            i += 1
    return False


cdef inline Py_ssize_t _skip_value(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, int depth):
    """``_value_end``, and -1 for a string with a surrogate escape anywhere in the value."""
    cdef bint escaped = False
    cdef Py_ssize_t end = _value_end(p, i, n, depth, &escaped)
    if escaped and end > 0 and _has_surrogate_escape(p, i, end):
        return -1
    return end


cdef object _NOT_SEEN = object()  # RowCells: no annotation of the question's task yet
cdef object _NO = object()  # _text_answer: not an answer the question cells cover


cdef object _text_answer(const unsigned char *p, Py_ssize_t i, Py_ssize_t n):
    """A question annotation's ``value`` as ``question_extractor._answer_key`` gives it: a
    text (without escapes), a tuple of texts, None; ``_NO`` for anything else."""
    cdef Py_ssize_t end, start
    cdef bint escaped = False, closed = False
    cdef list texts
    if p[i] == 34:
        end = _string_end(p, i, n, &escaped)
        if end < 0 or escaped:
            return _NO
        return PyUnicode_DecodeUTF8(<const char *>p + i + 1, end - i - 2, NULL)
    if p[i] == b'n':
        return None  # (the value's text was checked: "null")
    if p[i] != b'[':
        return _NO
    texts = []
    i = _blank_end(p, i + 1, n)
    if i < n and p[i] == b']':
        return ()
    while not closed:
        if i >= n or p[i] != 34:
            return _NO
        end = _string_end(p, i, n, &escaped)
        if end < 0 or escaped:
            return _NO
        texts.append(PyUnicode_DecodeUTF8(<const char *>p + i + 1, end - i - 2, NULL))
        i = _next_member(p, end, n, b']', &closed)
        if i < 0:
            return _NO
    return tuple(texts)


cdef Py_ssize_t _text_value(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t n, dict labels, object slug, Buffer *b
) except -2:
    """``_put_value`` of a subtask answer's ``value`` at ``i`` (an int, a text without escapes,
    null, true, false): past it, or -1 to decline."""
    cdef long long whole
    cdef Py_ssize_t end
    cdef bint escaped = False
    cdef object value
    if p[i] == 34:
        end = _string_end(p, i, n, &escaped)
        if end < 0 or escaped:
            return -1
        value = PyUnicode_DecodeUTF8(<const char *>p + i + 1, end - i - 2, NULL)
    elif p[i] == b'-' or _is_digit(p[i]):
        end = _int_end(p, i, n, &whole)
        if end < 0:
            return -1
        value = PyLong_FromLongLong(whole)
    else:
        end = _value_end(p, i, n, 0, &escaped)
        if end < 0:
            return -1
        if p[i] == b'n':
            value = None
        elif p[i] == b't':
            value = True
        elif p[i] == b'f':
            value = False
        else:
            return -1
    if not _put_value(b, value, labels, slug):
        return -1
    return end


cdef Py_ssize_t _question_answer(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t n, dict labels, object slug, Buffer *b
) except -2:
    """``_put_answer`` of a subtask answer's JSON object at ``i``: past it, or -1."""
    cdef Py_ssize_t key_start, key_end, value_at = -1
    cdef bint closed = False
    if i >= n or p[i] != b'{':
        return -1
    i = _blank_end(p, i + 1, n)
    if i < n and p[i] == b'}':
        return -1  # no value
    while not closed:
        i = _member(p, i, n, &key_start, &key_end)
        if i < 0:
            return -1
        if _is(p, key_start, key_end, b"value", 5):
            if value_at >= 0:  # twice: orjson keeps the last
                return -1
            value_at = i
        i = _skip_value(p, i, n, 4)
        if i < 0:
            return -1
        i = _next_member(p, i, n, b'}', &closed)
        if i < 0:
            return -1
    if value_at < 0 or _text_value(p, value_at, n, labels, slug, b) < 0:
        return -1
    return i


cdef enum:
    # a mark's keys that _point_cells reads
    KEY_X = 0
    KEY_Y = 1
    KEY_TOOL = 2
    KEY_FRAME = 3
    KEY_DETAILS = 4
    N_KEYS = 5


cdef Py_ssize_t _scan_mark(
    PointCells form, Marks *g, const unsigned char *p, Py_ssize_t i, Py_ssize_t n
) except -2:
    """One mark object at ``i`` into the slots, as ``_point_cells`` reads the dict orjson would
    make of it: past it, or -1 to decline the row."""
    cdef Py_ssize_t at[N_KEYS]
    cdef Py_ssize_t key_start, key_end, k, position, n_codes, end, x_end = 0, y_end = 0
    cdef long long tool_value = 0, frame_value = 0
    cdef bint closed = False
    cdef Number x_number, y_number
    cdef Slot *slot
    cdef object codes, code
    for k in range(N_KEYS):
        at[k] = -1
    if i >= n or p[i] != b'{':
        return -1
    i = _blank_end(p, i + 1, n)
    if i < n and p[i] == b'}':
        return -1  # no tool
    while not closed:
        i = _member(p, i, n, &key_start, &key_end)
        if i < 0:
            return -1
        k = -1
        if _is(p, key_start, key_end, b"x", 1):
            k = KEY_X
        elif _is(p, key_start, key_end, b"y", 1):
            k = KEY_Y
        elif _is(p, key_start, key_end, b"tool", 4):
            k = KEY_TOOL
        elif _is(p, key_start, key_end, b"frame", 5):
            k = KEY_FRAME
        elif _is(p, key_start, key_end, b"details", 7):
            k = KEY_DETAILS
        elif _is(p, key_start, key_end, b"toolIndex", 9):
            return -1
        if k >= 0:
            if at[k] >= 0:  # twice: orjson keeps the last
                return -1
            at[k] = i
        # (the numbers read where they are; a tool, frame, x or y of another type: the
        # Python path, which declines at least where both x and y are given)
        if k == KEY_X:
            i = x_end = _read_number(p, i, n, &x_number)
        elif k == KEY_Y:
            i = y_end = _read_number(p, i, n, &y_number)
        elif k == KEY_TOOL:
            i = _int_end(p, i, n, &tool_value)
        elif k == KEY_FRAME:
            i = _int_end(p, i, n, &frame_value)
        else:
            i = _skip_value(p, i, n, 4)
        if i < 0:
            return -1
        i = _next_member(p, i, n, b'}', &closed)
        if i < 0:
            return -1
    end = i
    # (the order of _point_cells' reading: the tool, its filter, the frame, x and y, details)
    if at[KEY_TOOL] < 0:
        return -1
    if form.tools is not None and not PySequence_Contains(form.tools, PyLong_FromLongLong(tool_value)):
        return end
    if at[KEY_FRAME] < 0:
        return -1
    slot = _slot_of(g, frame_value, tool_value, form.slot_names, form.make_slot_names)
    if slot == NULL:
        return -1
    if at[KEY_X] >= 0 and at[KEY_Y] >= 0:
        if not _first_point(g, slot):
            _put(&slot.xs_text, b", ", 2)
            _put(&slot.ys_text, b", ", 2)
        if not _put_number(&slot.xs_text, p, at[KEY_X], x_end, &x_number):
            return -1
        if not _put_number(&slot.ys_text, p, at[KEY_Y], y_end, &y_number):
            return -1
    codes = (<tuple>slot.names)[3]
    if codes is None:
        return end
    i = at[KEY_DETAILS]
    if i < 0 or p[i] != b'[':
        return -1
    n_codes = len(<tuple>codes)
    _open_details(g, slot)
    i = _blank_end(p, i + 1, n)
    closed = p[i] == b']'
    position = 0
    while not closed:
        if position == n_codes:  # more answers than subtasks
            return -1
        if position:
            _put(&slot.details, b", ", 2)
        code = (<tuple>codes)[position]
        if code == QUESTION:
            i = _question_answer(p, i, n, form.labels, form.slug, &slot.details)
        elif code == NO_EXTRACTOR:
            i = _skip_value(p, i, n, 5)
            _put(&slot.details, _NO_EXTRACTOR_TEXT, len(_NO_EXTRACTOR_TEXT))
        else:
            return -1
        if i < 0:
            return -1
        i = _next_member(p, i, n, b']', &closed)
        if i < 0:
            return -1
        position += 1
    _put_char(&slot.details, b']')
    slot.marks_with_details += 1
    return end


cdef Py_ssize_t _scan_marks(
    PointCells form, Marks *g, const unsigned char *p, Py_ssize_t i, Py_ssize_t n
) except -2:
    """The point annotation's ``value`` at ``i``, a list of marks: past it, or -1."""
    cdef bint closed = False
    if i >= n or p[i] != b'[':
        return -1
    i = _blank_end(p, i + 1, n)
    if i < n and p[i] == b']':
        return i + 1
    while not closed:
        i = _scan_mark(form, g, p, i, n)
        if i < 0:
            return -1
        i = _next_member(p, i, n, b']', &closed)
        if i < 0:
            return -1
    return i


cdef class RowCells:
    """The cells of every entry of an extract, straight from a row's annotations JSON text,
    for entries whose cells forms are a ``PointCells`` (at most one) and ``QuestionCells``:
    ``(annotations text, metadata stand-in)`` -> per entry ``(names, flags, texts)``, or None
    where it declines, and the caller parses the text and runs the forms (which alone decide
    anything unusual, and fill the caches this reads).

    What it saves is orjson building and freeing a dict per mark (~80 % of its time): it reads
    the text once, in C, as ``usual_classification`` and the forms read the parsed objects,
    copying each coordinate's text where it is ``repr`` of the float (``_is_float_repr``; else
    Python's ``repr`` of it). It declines whatever it does not read exactly as orjson would:
    escapes in keys or in the texts it keeps, lone surrogate escapes anywhere, exponents,
    NaN, ints beyond 18 digits, a key it reads given twice, nesting deeper than MAX_DEPTH, a
    ``taskType`` in the point task, FEM subtask tasks, a FEM classification or one whose
    ``classifier_version`` text the point form has not met yet, an answer the question form
    has not cached yet. ``tests/core/extractors/test_row_cells.py`` compares it with the
    forms on drawn rows.
    """

    cdef PointCells point
    cdef Py_ssize_t point_at  # the point entry's index, -1: none
    cdef bytes point_task, point_prefix  # UTF-8
    cdef tuple questions  # per question entry: (index, task, prefix (UTF-8), its answers dict)
    cdef Py_ssize_t n_entries
    cdef object unanswered

    def __init__(self, tuple forms, type question_type, object unanswered):
        cdef Py_ssize_t k
        questions = []
        self.point = None
        self.point_at = -1
        self.unanswered = unanswered
        self.n_entries = len(forms)
        for k, form in enumerate(forms):
            if type(form) is PointCells and self.point is None:
                self.point = <PointCells>form
                self.point_at = k
                self.point_task = self.point.task.encode()
                self.point_prefix = (self.point.task + ".").encode()
            elif type(form) is question_type:
                questions.append((k, form.task.encode(), form.prefix.encode(), form.answers))
            else:
                raise ValueError(f"RowCells does not cover the cells form {form!r}")
        self.questions = tuple(questions)

    def __call__(self, str annotations, dict metadata):
        cdef Py_ssize_t n
        cdef const unsigned char *p
        cdef Marks g
        cdef list answers
        cdef PyObject *found
        cdef object fem, version_text
        if self.point is not None:  # FEM? (PointCells.__call__'s answer, from its cache)
            found = _get(metadata, "classifier_version")
            version_text = "1.0" if found == NULL else <object>found
            if type(version_text) is not str:
                return None
            found = _get(self.point.fem_of_text, version_text)
            if found == NULL or <object>found:
                return None
        try:
            p = <const unsigned char *>PyUnicode_AsUTF8AndSize(annotations, &n)
        except UnicodeError:
            return None
        answers = [_NOT_SEEN] * len(self.questions)
        _start_marks(&g)
        try:
            if self._scan(&g, p, n, answers) < 0:
                return None
            return self._cells(&g, answers)
        finally:
            _free_marks(&g)

    cdef Py_ssize_t _scan(self, Marks *g, const unsigned char *p, Py_ssize_t n, list answers) except -2:
        """The annotations list: each annotation's task and value, as ``usual_classification``
        groups them and the forms read them; 0, or -1 to decline."""
        cdef Py_ssize_t i, key_start, key_end, task_start, task_end = 0, value_at, q
        cdef bint closed = False, members_closed, typed, escaped, marks_read, is_point
        cdef tuple question
        cdef bytes task_text
        i = _blank_end(p, 0, n)
        if i >= n or p[i] != b'[':
            return -1
        i = _blank_end(p, i + 1, n)
        closed = i < n and p[i] == b']'
        if closed:
            i += 1
        while not closed:
            if i >= n or p[i] != b'{':
                return -1  # (an annotation that is not an object: from_export says what)
            i = _blank_end(p, i + 1, n)
            if i < n and p[i] == b'}':
                return -1  # no task
            task_start = value_at = -1
            typed = marks_read = members_closed = False
            while not members_closed:
                i = _member(p, i, n, &key_start, &key_end)
                if i < 0:
                    return -1
                if _is(p, key_start, key_end, b"task", 4):
                    if task_start >= 0 or i >= n or p[i] != 34:  # twice, or not a text
                        return -1
                    escaped = False
                    task_end = _string_end(p, i, n, &escaped)
                    if task_end < 0 or escaped:
                        return -1
                    task_start = i + 1
                    i = task_end
                    task_end -= 1
                elif _is(p, key_start, key_end, b"value", 5):
                    if value_at >= 0:
                        return -1
                    value_at = i
                    if task_start >= 0 and self.point is not None and _is(
                        p, task_start, task_end, self.point_task, len(self.point_task)
                    ):  # the marks, read as they come (the usual order: task first)
                        i = _scan_marks(self.point, g, p, i, n)
                        marks_read = True
                    else:
                        i = _skip_value(p, i, n, 2)
                else:
                    if _is(p, key_start, key_end, b"taskType", 8):
                        if typed:
                            return -1
                        typed = True
                    i = _skip_value(p, i, n, 2)
                if i < 0:
                    return -1
                i = _next_member(p, i, n, b'}', &members_closed)
                if i < 0:
                    return -1
            if task_start < 0:
                return -1
            is_point = self.point is not None and _is(
                p, task_start, task_end, self.point_task, len(self.point_task)
            )
            if is_point:
                # (a taskType may change the tools filter: the Python path)
                if typed or value_at < 0:
                    return -1
                if not marks_read and _scan_marks(self.point, g, p, value_at, n) < 0:
                    return -1
            elif self.point is not None and task_end - task_start >= len(self.point_prefix) and (
                memcmp(p + task_start, <const char *>self.point_prefix, len(self.point_prefix)) == 0
            ):
                return -1  # a FEM subtask of the point task
            for q in range(len(self.questions)):
                question = <tuple>self.questions[q]
                if answers[q] is not _NOT_SEEN or not self._is_question_task(
                    p, task_start, task_end, question
                ):
                    continue
                if is_point or value_at < 0:
                    return -1
                answer = _text_answer(p, value_at, n)
                if answer is _NO:
                    return -1
                answers[q] = answer
            i = _next_member(p, i, n, b']', &closed)
            if i < 0:
                return -1
        if _blank_end(p, i, n) != n:
            return -1
        return 0

    cdef bint _is_question_task(self, const unsigned char *p, Py_ssize_t start, Py_ssize_t end, tuple question):
        # the task itself or one of its FEM subtasks ("T1.0.0"), as _answer_key finds it
        cdef bytes task = question[1], prefix = question[2]
        if _is(p, start, end, task, len(task)):
            return True
        return end - start >= len(prefix) and memcmp(p + start, <const char *>prefix, len(prefix)) == 0

    cdef object _cells(self, Marks *g, list answers):
        """Per entry, its cells; None if a question's answer has none cached yet."""
        cdef list made = [None] * self.n_entries, point_texts
        cdef Py_ssize_t q, s
        cdef int order
        cdef tuple question, names_texts
        cdef PyObject *found
        for q in range(len(self.questions)):
            question = <tuple>self.questions[q]
            answer = answers[q]
            found = _get(<dict>question[3], self.unanswered if answer is _NOT_SEEN else answer)
            if found == NULL:
                return None
            made[<Py_ssize_t>question[0]] = <object>found
        if self.point is not None:
            point_texts = [None] * (2 * g.points_seen)
            for s in range(g.n_slots):
                order = g.slots[s].points_order
                if order >= 0:
                    point_texts[2 * order] = _list(&g.slots[s].xs_text)
                    point_texts[2 * order + 1] = _list(&g.slots[s].ys_text)
            names_texts = _cells_of(g, point_texts, self.point.version)
            made[self.point_at] = self.point._with_flags(names_texts)
        return tuple(made)
