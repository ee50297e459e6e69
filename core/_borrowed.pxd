# cython: language_level=3
"""Reading rows' cells through borrowed pointers, shared by the compiled reducers' steps
(``cimport``-ed by ``core/_cells_compiled.pyx`` and ``core/reducers/_points_compiled.pyx``).

A forked worker reads rows its parent made: taking a reference to a cell (or caching its hash)
writes to the cell's page, which the kernel then copies for the worker. These read a cell's
characters without writing to it; ``_text_copy`` makes the worker's own copy where one is kept.
"""

from cpython.object cimport PyObject


cdef extern from "Python.h":
    PyObject *_list_item "PyList_GET_ITEM"(object row, Py_ssize_t i)
    PyObject *_tuple_item "PyTuple_GET_ITEM"(object row, Py_ssize_t i)
    bint _is_str "PyUnicode_CheckExact"(PyObject *o)
    Py_ssize_t _text_length "PyUnicode_GET_LENGTH"(PyObject *o)
    int _text_kind "PyUnicode_KIND"(PyObject *o)
    void *_text_data "PyUnicode_DATA"(PyObject *o)
    str _text_copy "PyUnicode_FromKindAndData"(int kind, const void *data, Py_ssize_t size)
