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
    PyObject *xs  # the x values, a list owned by point_cells' ``lists``
    PyObject *ys
    Py_ssize_t marks_with_details
    Buffer details  # the text of the details list, without its brackets


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
    cdef object value, label
    cdef PyObject *found
    cdef Py_ssize_t n
    cdef const char *chars
    if type(answer) is not dict:
        return 0
    found = _get(answer, "value")
    if found == NULL:
        return 0
    value = <object>found
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
    cdef Slot slots[MAX_SLOTS]
    cdef Py_ssize_t n_slots = 0, n_frames = 0, s, f, position, n_answers, n_codes
    cdef long long frame_values[MAX_SLOTS]
    cdef long long frame_value, tool_value
    cdef int overflow = 0, points_seen = 0, details_seen = 0
    cdef Py_ssize_t pos = 0
    cdef PyObject *key_ptr
    cdef PyObject *items_ptr
    cdef PyObject *found
    cdef PyObject *found_y
    cdef object marks, mark, tool, frame, annotation, answers, codes, names, task_type, items
    cdef object code, x, y, xs, ys
    cdef list lists = []  # the x and y lists of every slot with points, in order of first point
    cdef list number_texts
    cdef str prefix = task + "."
    cdef bint filtered, written
    cdef Slot *slot
    cdef Buffer *out
    cdef list keys, texts

    # for_task(task) is annotations[task] unless a FEM subtask key "task.i.j" adds to it
    while PyDict_Next(annotations, &pos, &key_ptr, &items_ptr):
        if PyUnicode_Tailmatch(<object>key_ptr, prefix, 0, PY_SSIZE_T_MAX, -1):
            return None
    found = _get(annotations, task)
    items = [] if found == NULL else <object>found
    if type(items) is not list:
        return None
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
                slot = NULL
                for s in range(n_slots):
                    if slots[s].frame == frame_value and slots[s].tool == tool_value:
                        slot = &slots[s]
                        break
                if slot == NULL:
                    if n_slots == MAX_SLOTS:
                        return None
                    names = slot_names.get((frame, tool))
                    if names is None:
                        names = slot_names[(frame, tool)] = make_slot_names(frame, tool)
                    if names is False:  # details that _one_pass declines
                        return None
                    slot = &slots[n_slots]
                    slot.names = <PyObject *>names
                    slot.frame = frame_value
                    slot.tool = tool_value
                    slot.frame_index = -1
                    for f in range(n_frames):
                        if frame_values[f] == frame_value:
                            slot.frame_index = f
                            break
                    if slot.frame_index == -1:
                        frame_values[n_frames] = frame_value
                        slot.frame_index = n_frames
                        n_frames += 1
                    slot.points_order = -1
                    slot.details_order = -1
                    slot.xs = slot.ys = NULL
                    slot.marks_with_details = 0
                    slot.details.data = NULL
                    slot.details.size = slot.details.capacity = 0
                    n_slots += 1
                found = _get(mark, "x")
                found_y = _get(mark, "y")
                if found != NULL and found_y != NULL:
                    x = <object>found
                    y = <object>found_y
                    if (type(x) is not float and type(x) is not int) or (
                        type(y) is not float and type(y) is not int
                    ):
                        return None
                    if slot.points_order == -1:
                        slot.points_order = points_seen
                        points_seen += 1
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
                if slot.details_order == -1:
                    slot.details_order = details_seen
                    details_seen += 1
                out = &slot.details
                if slot.marks_with_details:
                    _put(out, b", [", 3)
                else:
                    _put_char(out, b'[')
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
        # the cells: the version, then frame by frame its point lists (x, y) in order of first
        # point, then its details lists in order of first subtask
        number_texts = _number_texts(lists) if lists else []
        keys = []
        texts = []
        if version is not None:
            keys.append("aggregation_version")
            texts.append(version)
        for f in range(n_frames):
            for order in range(points_seen):
                for s in range(n_slots):
                    if slots[s].frame_index == f and slots[s].points_order == order:
                        names = <object>slots[s].names
                        keys.append(names[0])
                        keys.append(names[1])
                        texts.append(number_texts[2 * order])
                        texts.append(number_texts[2 * order + 1])
            for order in range(details_seen):
                for s in range(n_slots):
                    if slots[s].frame_index == f and slots[s].details_order == order:
                        keys.append((<object>slots[s].names)[2])
                        texts.append(_list(&slots[s].details))
        return tuple(keys), tuple(texts)
    finally:
        for s in range(n_slots):
            PyMem_Free(slots[s].details.data)


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
        names = <tuple>(<tuple>result)[0]
        n = len(names)
        found = PyDict_GetItemWithError(self.flags, n)
        if found == NULL:
            row_flags = self.flags[n] = (4,) * n  # every cell is text (render_cells' flag)
        else:
            row_flags = <object>found
        return names, row_flags, (<tuple>result)[1]
