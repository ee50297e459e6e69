# cython: language_level=3
"""A subject's members ``(row order, row)`` sorted as ``tally reduce`` sorts them, in C, shared by
the compiled reduce steps (``cimport``-ed, inlined): ``core/_cells_compiled.pyx``
(``rows_by_created``, ``SubjectCounter``) and ``core/reducers/_points_compiled.pyx``
(``PointCells.from_members``).

Everything is read through borrowed pointers, never counted: a forked worker shares its parent's
members, rows and cells, and a count (or a cached hash) is a write to the object's page, which
the kernel then copies for the worker (~5 us a page on a VM; the members of both workers'
subjects share pages).
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc
from cpython.object cimport PyObject
from libc.stdlib cimport qsort
from libc.string cimport memcmp

from core._borrowed cimport _is_str, _list_item, _text_data, _text_length, _tuple_item


cdef extern from "Python.h":
    bint _p_tuple "PyTuple_CheckExact"(PyObject *o)
    bint _p_list "PyList_CheckExact"(PyObject *o)
    bint _p_int "PyLong_CheckExact"(PyObject *o)
    bint _p_ascii "PyUnicode_IS_ASCII"(PyObject *o)
    Py_ssize_t _p_size "Py_SIZE"(PyObject *o)
    Py_ssize_t _p_ssize "PyLong_AsSsize_t"(PyObject *o) except? -1


cdef extern from *:
    """
    /* Whether t[0:23] is "dddd-dd-dd dd:dd:dd UTC" with ASCII digits for d: every byte
       checked, without a branch per byte. */
    #define _TALLY_D(k) ((unsigned int)(unsigned char)(t[k] - '0') > 9)
    static inline int _tally_export_form(const unsigned char *t) {
        return !(_TALLY_D(0) | _TALLY_D(1) | _TALLY_D(2) | _TALLY_D(3) | (t[4] != '-')
                 | _TALLY_D(5) | _TALLY_D(6) | (t[7] != '-') | _TALLY_D(8) | _TALLY_D(9)
                 | (t[10] != ' ') | _TALLY_D(11) | _TALLY_D(12) | (t[13] != ':')
                 | _TALLY_D(14) | _TALLY_D(15) | (t[16] != ':') | _TALLY_D(17) | _TALLY_D(18)
                 | (t[19] != ' ') | (t[20] != 'U') | (t[21] != 'T') | (t[22] != 'C'));
    }
    #undef _TALLY_D
    """
    bint _export_form "_tally_export_form"(const unsigned char *text) nogil


cdef inline bint _p_export_time(PyObject *cell):
    """Whether ``cell`` is a str ``YYYY-MM-DD HH:MM:SS UTC`` in ASCII digits."""
    return (
        _is_str(cell)
        and _p_ascii(cell)
        and _text_length(cell) == 23
        and _export_form(<const unsigned char *> _text_data(cell))
    )


cdef inline bint _p_small_int(PyObject *item, Py_ssize_t *out):
    """``*out = int(item)`` for an int that fits; False for anything else."""
    if not _p_int(item):
        return False
    try:
        out[0] = _p_ssize(item)
    except OverflowError:
        return False
    return True


cdef inline bint _p_plain_id(PyObject *cell, unsigned long long *value):
    """Whether ``cell`` is ASCII digits without a leading zero (nor ``0``), at most 19 of them
    (``*value``: the integer): distinct such texts are distinct integers
    (``_plain_texts("int")`` in ``tally/reduce.py``)."""
    cdef const char *text
    cdef Py_ssize_t k, size
    cdef unsigned long long number = 0
    if not _is_str(cell) or not _p_ascii(cell):
        return False
    size = _text_length(cell)
    text = <const char *> _text_data(cell)
    if size == 0 or size > 19 or text[0] == b'0':
        return False
    for k in range(size):
        if text[k] < b'0' or text[k] > b'9':
            return False
        number = 10 * number + <unsigned long long> (text[k] - 48)  # the digit's value
    value[0] = number
    return True


cdef struct _Member:
    const char *created  # the created_at text: 23 ASCII bytes in the export's form
    Py_ssize_t block, row  # the member's row order, (block, row in block); 0 until needed
    Py_ssize_t position  # in the subject's members (the sort is stable: last tie-break)
    PyObject *cells  # the row
    PyObject *row_order  # (block, row in block)
    unsigned long long cid  # the classification id's value


cdef inline int _id_order(const void *a, const void *b) noexcept nogil:
    cdef unsigned long long x = (<const unsigned long long *> a)[0]
    cdef unsigned long long y = (<const unsigned long long *> b)[0]
    return -1 if x < y else (1 if x > y else 0)


cdef inline bint _distinct_ids(_Member *order, Py_ssize_t n) except -1:
    """Whether the members' ``cid`` values are distinct (pairs compared, or sorted)."""
    cdef Py_ssize_t k, j
    cdef unsigned long long *ids
    cdef bint distinct = True
    if n <= 32:
        for k in range(1, n):
            for j in range(k):
                if order[j].cid == order[k].cid:
                    return False
        return True
    ids = <unsigned long long *> PyMem_Malloc(n * sizeof(unsigned long long))
    if ids == NULL:
        raise MemoryError()
    for k in range(n):
        ids[k] = order[k].cid
    qsort(ids, n, sizeof(unsigned long long), _id_order)
    for k in range(1, n):
        if ids[k - 1] == ids[k]:
            distinct = False
            break
    PyMem_Free(ids)
    return distinct


cdef inline int _member_order(const void *a, const void *b) noexcept nogil:
    cdef const _Member *x = <const _Member *> a
    cdef const _Member *y = <const _Member *> b
    cdef int by_text = memcmp(x.created, y.created, 23)
    if by_text != 0:
        return by_text
    if x.block != y.block:
        return -1 if x.block < y.block else 1
    if x.row != y.row:
        return -1 if x.row < y.row else 1
    return -1 if x.position < y.position else (1 if x.position > y.position else 0)


cdef inline bint _sort_members(
    list members, Py_ssize_t i_created, Py_ssize_t width, _Member *order
) except -1:
    """Fill ``order`` (room for every member) with ``members`` sorted as ``_rows_by_created``
    sorts them (``created_at`` text, row order, then members order), and say True; False where
    that needs the general path: a member that is not a ``(row order, row)`` tuple, a row that
    is not a list of at least ``width`` cells or whose ``created_at`` is not in the export's
    form in ASCII digits, or (where two rows have the same ``created_at``) a row order that is
    not two ints. ``cid`` is left to the caller."""
    cdef Py_ssize_t n = _p_size(<PyObject *> members)
    cdef Py_ssize_t k, j
    cdef PyObject *member
    cdef PyObject *row
    cdef PyObject *row_order
    for k in range(n):
        member = _list_item(members, k)
        if not _p_tuple(member) or _p_size(member) != 2:
            return False
        row = _tuple_item(<object> member, 1)
        if not _p_list(row) or _p_size(row) < width or not 0 <= i_created < _p_size(row):
            return False
        if not _p_export_time(_list_item(<object> row, i_created)):
            return False
        order[k].created = <const char *> _text_data(_list_item(<object> row, i_created))
        order[k].block = order[k].row = 0
        order[k].position = k
        order[k].cells = row
        order[k].row_order = _tuple_item(<object> member, 0)
    # by created_at (and members order); the row orders are read only where two rows have the
    # same created_at (few do: they are objects the sort would otherwise fetch for every row)
    qsort(order, n, sizeof(_Member), _member_order)
    for k in range(1, n):
        if memcmp(order[k - 1].created, order[k].created, 23) == 0:
            for j in range(n):
                row_order = order[j].row_order
                if not _p_tuple(row_order) or _p_size(row_order) != 2:
                    return False
                if not (
                    _p_small_int(_tuple_item(<object> row_order, 0), &order[j].block)
                    and _p_small_int(_tuple_item(<object> row_order, 1), &order[j].row)
                ):
                    return False
            qsort(order, n, sizeof(_Member), _member_order)
            break
    return True
