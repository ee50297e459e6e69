# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled ``point_reducer_hdbscan`` for well-formed point extracts (same output, in one pass).

``point_reducer_hdbscan`` groups a subject's marks by frame and tool (``_points.point_groups``:
tuples per mark, a numpy array per tool), clusters each tool (``run_hdbscan``), summarises the
clusters (``_summarise``) and counts the marks' subtask answers per cluster
(``_subtasks.add_subtask_reductions``). For the extracts ``point_extractor_by_frame`` writes,
:func:`point_clusters` does all of it here: the coordinates go straight from the extracts' lists
into a C array, and the HDBSCAN and summary steps are the C functions of
``_hdbscan_compiled.pyx`` that the Python path calls too. The output is the Python path's
(keys, their order, value types, the same doubles): this module mirrors those functions, and
``tests/core/reducers/test_points_compiled.py`` compares the two.

Anything unusual (other value types, NaN, lists of unequal length, details that do not line up
with the marks, a tool without complete marks, HDBSCAN's or the summaries' special cases)
returns None and the caller takes the Python path, which alone raises or handles those.
"""

from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.object cimport PyObject
from cpython.unicode cimport Py_UCS1, PyUnicode_1BYTE_DATA, PyUnicode_GET_LENGTH, PyUnicode_New
from libc.math cimport isfinite
from libc.string cimport memcpy

from core._members cimport (
    _Member,
    _distinct_ids,
    _p_list,
    _p_plain_id,
    _p_tuple,
    _sort_members,
)
from core.reducers._hdbscan_compiled cimport hdbscan_core, summaries_core

# On borrowed pointers: reading a cell of a row must not write to it (see PointCells._cell)
from core._borrowed cimport (
    _is_str,
    _list_item,
    _text_copy,
    _text_data,
    _text_kind,
    _text_length,
    _tuple_item,
)

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    Py_ssize_t _p_length "PyObject_Length"(PyObject *o) except -1

from cpython.float cimport PyFloat_FromDouble
from cpython.list cimport PyList_Append
from cpython.long cimport PyLong_FromLongLong

from core._json_numbers cimport Number, _number_double, _read_number


#: Above this many marks the Python path hands the tool to scikit-learn (``_hdbscan.MAX_POINTS``).
DEF MAX_POINTS = 2000
#: Integers this large may not be exact as doubles; numpy would also type huge ones differently.
DEF EXACT_INT = 9007199254740992  # 2 ** 53

cdef str VERSION_KEY = "aggregation_version"
#: Distinct subtask cells (values and texts) a PointCells keeps before it starts afresh.
DEF SUBTASK_CELLS_KEPT = 4096
cdef dict _TOOL_OF = {}  # extract key -> (tool, suffix); the same few keys in every extract
cdef dict _NATURAL = {}  # frame or tool -> its natural_key (the same few names again and again)


cdef list _naturally(set names, object natural_key):
    """``sorted(names, key=natural_key)``, each name's key computed once per process."""
    if len(_NATURAL) > 10000:
        _NATURAL.clear()
    for name in names:
        if name not in _NATURAL:
            _NATURAL[name] = natural_key(name)
    return sorted(names, key=_NATURAL.__getitem__)


cdef tuple _tool_and_suffix(str key):
    """``("T0_tool0", "x")`` for ``"T0_tool0_x"`` (``_points._tool_of``: all but the last part)."""
    cdef object found = _TOOL_OF.get(key)
    if found is None:
        head, _, tail = key.rpartition("_")  # "_".join(key.split("_")[:-1]), and the rest
        found = (head, tail)
        if len(_TOOL_OF) < 10000:
            _TOOL_OF[key] = found
    return <tuple> found


cdef class _Marks:
    """One frame's and tool's marks over the extracts: values as given, and as C doubles."""

    cdef list xs, ys, details
    cdef list detail_texts  # the marks' text in each subtask cell (None: not their list_text)
    cdef double *points  # x, y of mark i at 2i, 2i+1
    cdef Py_ssize_t n, capacity
    cdef bint has_int, has_float
    cdef list labels  # set once clustered: HDBSCAN's labels 0 .. clusters - 1, -1 for noise
    cdef Py_ssize_t clusters
    # PointCells: the x and y cells (borrowed from the rows) of each extract added, 2 apiece,
    # while every one is str() of its list (verbatim; see PointCells._cell)
    cdef PyObject **cells
    cdef Py_ssize_t n_cells, cells_capacity
    cdef bint verbatim

    def __cinit__(self):
        self.xs = []
        self.ys = []
        self.details = []
        self.detail_texts = []
        self.points = NULL
        self.n = 0
        self.capacity = 0
        self.labels = None
        self.clusters = 0
        self.cells = NULL
        self.n_cells = 0
        self.cells_capacity = 0
        self.verbatim = True

    def __dealloc__(self):
        PyMem_Free(self.points)
        PyMem_Free(self.cells)

    cdef int add_cells(self, PyObject *x, PyObject *y) except -1:
        """Keep the x and y cells of the extract just added (NULL: not verbatim)."""
        cdef PyObject **grown
        if not self.verbatim:
            return 0
        if x == NULL or y == NULL:
            self.verbatim = False
            PyMem_Free(self.cells)
            self.cells = NULL
            return 0
        if self.n_cells + 2 > self.cells_capacity:
            grown = <PyObject **> PyMem_Realloc(
                self.cells, (2 * self.cells_capacity + 16) * sizeof(PyObject *)
            )
            if grown == NULL:
                raise MemoryError()
            self.cells = grown
            self.cells_capacity = 2 * self.cells_capacity + 16
        self.cells[self.n_cells] = x
        self.cells[self.n_cells + 1] = y
        self.n_cells += 2
        return 0

    cdef str joined_cells(self, Py_ssize_t which):
        """``str()`` of the x (``which`` 0) or y (1) values of the verbatim cells kept: their
        texts without brackets, joined by ``", "`` in brackets (``[]`` cells add nothing)."""
        cdef Py_ssize_t k, length, size = 2, j = 1
        cdef bint first = True
        cdef const char *text
        for k in range(which, self.n_cells, 2):
            length = _text_length(self.cells[k])
            if length > 2:
                size += length - 2 + (0 if first else 2)
                first = False
        cdef str out = PyUnicode_New(size, 127)
        cdef Py_UCS1 *dest = PyUnicode_1BYTE_DATA(out)
        dest[0] = b'['
        first = True
        for k in range(which, self.n_cells, 2):
            length = _text_length(self.cells[k])
            if length > 2:
                if not first:
                    dest[j] = b','
                    dest[j + 1] = b' '
                    j += 2
                text = <const char *> _text_data(self.cells[k])
                memcpy(dest + j, text + 1, length - 2)
                j += length - 2
                first = False
        dest[j] = b']'
        return out

    cdef int add(self, list xs, list ys) except -1:
        """Append one extract's marks; 1 if a value is not a finite float or an exact int."""
        cdef Py_ssize_t m = len(xs), i, wanted
        cdef double *grown
        if self.n + m > self.capacity:
            wanted = 2 * (self.n + m) + 16
            grown = <double *> PyMem_Malloc(2 * wanted * sizeof(double))
            if grown == NULL:
                raise MemoryError()
            for i in range(2 * self.n):
                grown[i] = self.points[i]
            PyMem_Free(self.points)
            self.points = grown
            self.capacity = wanted
        for i in range(m):
            if self._number(xs[i], 2 * (self.n + i)) or self._number(ys[i], 2 * (self.n + i) + 1):
                return 1
        self.xs.extend(xs)
        self.ys.extend(ys)
        self.n += m
        return 0

    cdef inline int _number(self, object value, Py_ssize_t at) except -1:
        cdef double d
        if type(value) is float:
            d = <double> value
            if not isfinite(d):
                return 1
            self.has_float = True
        elif type(value) is int:  # not bool: numpy would type a mix of the two differently
            if not -EXACT_INT < value < EXACT_INT:
                return 1
            d = <double> value
            self.has_int = True
        else:
            return 1
        self.points[at] = d
        return 0


def point_clusters(
    list records,
    Py_ssize_t min_cluster_size,
    Py_ssize_t min_samples,
    bint leaf,
    object details,
    object natural_key,
    str no_reducer,
):
    """``point_reducer_hdbscan``'s output for ``records``, or None to take the Python path.

    ``min_cluster_size >= 2`` and ``min_samples`` as HDBSCAN takes them (euclidean, ``leaf``:
    leaf clusters, else excess of mass); ``details``: None (no subtask output) or a dict of
    v1 subtask reducers per tool, each a list or tuple of None (``no_reducer`` is written) or
    names of reducers that count answers (``count_answers``). ``natural_key`` orders frames and
    tools (``_clustering.natural_key``).
    """
    cdef object record
    cdef dict data, frame_data, out, frame_out
    cdef set frame_names = set()
    for record in records:
        if type(record.data) is not dict:
            return None
        data = <dict> record.data
        for key in data:
            if type(key) is str and (<str> key).startswith("frame"):
                frame_names.add(key)
    cdef dict output = {}
    cdef dict marks_of
    cdef _Marks marks
    cdef Py_ssize_t i
    cdef str frame, tool, suffix
    cdef list datas
    cdef bint with_details
    for frame in _naturally(frame_names, natural_key):
        datas = []
        tools: set = set()
        for record in records:
            frame_data_obj = (<dict> record.data).get(frame)
            if frame_data_obj is None:
                continue
            if type(frame_data_obj) is not dict:
                return None
            frame_data = <dict> frame_data_obj
            for key in frame_data:
                if type(key) is not str:
                    return None
                tool, suffix = _tool_and_suffix(<str> key)
                if suffix != "x" and suffix != "y" and suffix != "details":
                    return None
                tools.add(tool)
            datas.append(frame_data)
        frame_out = {}
        marks_of = {}
        for tool in _naturally(tools, natural_key):
            with_details = details is not None and tool in details
            marks = _Marks()
            key_x, key_y, key_details = tool + "_x", tool + "_y", tool + "_details"
            for frame_data in datas:
                xs = frame_data.get(key_x)
                ys = frame_data.get(key_y)
                answers = frame_data.get(key_details)
                if xs is None and ys is None:
                    if answers is not None and with_details:
                        return None  # details of no marks: they would not line up
                    continue
                if type(xs) is not list or type(ys) is not list or len(<list> xs) != len(<list> ys):
                    return None
                if with_details:
                    if type(answers) is not list or len(<list> answers) != len(<list> xs):
                        return None
                    marks.details.extend(<list> answers)
                if marks.add(<list> xs, <list> ys):
                    return None
            if marks.n == 0:  # the Python path raises: a tool without complete marks
                return None
            if not _cluster(frame_out, tool, marks, min_cluster_size, min_samples, leaf):
                return None
            marks_of[tool] = marks
        output[frame] = (frame_out, marks_of)
    if not _add_details(output, details, no_reducer):
        return None
    return {frame: pair[0] for frame, pair in output.items()}


cdef bint _add_details(dict output, object details, str no_reducer) except -1:
    """The subtask keys of every frame of ``output`` (frame -> ``(frame_out, marks_of)``):
    ``_subtasks.add_subtask_reductions`` for v1 counting reducers; False: take the Python path."""
    cdef dict frame_out, marks_of
    if details is None:
        return True
    for frame_out, marks_of in output.values():
        for tool in details:  # _subtasks._collect: every frame gets every tool's key
            marks = marks_of.get(tool)
            frame_out[tool + "_details"] = [] if marks is None else (<_Marks> marks).details
        for tool, functions in details.items():
            marks = marks_of.get(tool)
            if not _subtasks(frame_out, tool, marks, functions, no_reducer):
                return False
    return True


cdef bint _cluster(
    dict out,
    str tool,
    _Marks marks,
    Py_ssize_t min_cluster_size,
    Py_ssize_t min_samples,
    bint leaf,
) except -1:
    """The tool's keys of ``point_reducer_hdbscan`` into ``out``; False: take the Python path."""
    cdef Py_ssize_t n = marks.n, i, k = 0
    if marks.has_int and marks.has_float:  # one float64 array: the ints become floats
        out[tool + "_points_x"] = [float(v) for v in marks.xs]
        out[tool + "_points_y"] = [float(v) for v in marks.ys]
    else:
        out[tool + "_points_x"] = marks.xs
        out[tool + "_points_y"] = marks.ys
    if n < min_cluster_size:
        out[tool + "_cluster_labels"] = [-1] * n
        out[tool + "_cluster_probabilities"] = [0] * n
        return True
    if min_samples > n or n > MAX_POINTS:
        return False  # the Python path raises, or runs scikit-learn
    cdef Py_ssize_t *labels = <Py_ssize_t *> PyMem_Malloc(n * sizeof(Py_ssize_t))
    cdef double *probabilities = <double *> PyMem_Malloc(n * sizeof(double))
    cdef Py_ssize_t *count = NULL
    cdef double *results = NULL
    try:
        if labels == NULL or probabilities == NULL:
            raise MemoryError()
        try:
            hdbscan_core(marks.points, n, 2, min_cluster_size, min_samples, leaf, labels,
                         probabilities)
        except OverflowError:
            return False
        label_list = [labels[i] for i in range(n)]
        for i in range(n):
            if labels[i] >= k:
                k = labels[i] + 1
        marks.labels = label_list
        out[tool + "_cluster_labels"] = label_list
        out[tool + "_cluster_probabilities"] = [probabilities[i] for i in range(n)]
        marks.clusters = k
        if k == 0:
            return True
        count = <Py_ssize_t *> PyMem_Malloc(k * sizeof(Py_ssize_t))
        results = <double *> PyMem_Malloc(5 * k * sizeof(double))
        if count == NULL or results == NULL:
            raise MemoryError()
        if summaries_core(marks.points, labels, probabilities, n, k, count, results):
            return False  # weights leaving nothing to divide by: numpy's warning and values
        out[tool + "_clusters_count"] = [count[i] for i in range(k)]
        out[tool + "_clusters_x"] = [results[i] for i in range(k)]
        out[tool + "_clusters_y"] = [results[k + i] for i in range(k)]
        out[tool + "_clusters_var_x"] = [results[2 * k + i] for i in range(k)]
        out[tool + "_clusters_var_y"] = [results[3 * k + i] for i in range(k)]
        out[tool + "_clusters_var_x_y"] = [results[4 * k + i] for i in range(k)]
        return True
    finally:
        PyMem_Free(labels)
        PyMem_Free(probabilities)
        PyMem_Free(count)
        PyMem_Free(results)


cdef bint _subtasks(dict out, str tool, _Marks marks, object functions, str no_reducer) except -1:
    """``_subtasks._add_v1`` for one frame and tool: ``<tool>_clusters_details`` into ``out``,
    each cluster's answers counted per subtask; False: take the Python path."""
    cdef list answers = [] if marks is None else marks.details
    cdef Py_ssize_t width = 0, i, column, label
    cdef object mark, answer, key
    cdef dict counts
    # _subtasks._shape's common case (every mark a list of as many answer dicts), else decline:
    # numpy's shape of anything else may abort the whole subtask step
    for i, mark in enumerate(answers):
        if type(mark) is not list or (i and len(<list> mark) != width):
            return False
        width = len(<list> mark)
        for answer in <list> mark:
            if type(answer) is not dict:
                return False
    if marks is None or marks.clusters == 0:
        return True
    if len(answers) != marks.n or width > len(functions):
        return False  # the Python path raises
    cdef list members = [[] for label in range(marks.clusters)]
    cdef list labels = marks.labels
    for i in range(marks.n):
        label = labels[i]
        if label >= 0:
            (<list> members[label]).append(i)
    cdef list clusters_details = []
    cdef list per_subtask
    for label in range(marks.clusters):
        per_subtask = []
        for column in range(width):
            name = functions[column]
            if name is None:
                per_subtask.append(no_reducer)
                continue
            counts = {}  # question_reducer.count_answers
            for i in <list> members[label]:
                for key in <dict> (<list> answers[i])[column]:
                    if key != VERSION_KEY:
                        counts[key] = counts.get(key, 0) + 1
            per_subtask.append(counts)
        clusters_details.append(per_subtask)
    out[tool + "_clusters_details"] = clusters_details
    return True


# ------------------------------------------------------------------------------------------
# straight from the cells of an extraction file (``tally reduce``)


cdef object _DECLINE = object()  # a cell the records path must read: take that path

#: Digits in a row ``plain_json`` takes (``_cells_compiled.MAX_DIGIT_RUN``): a longer run is not
#: a plain cell, and this reader leaves it to the path that declines it.
DEF MAX_DIGIT_RUN = 18


def number_list(str text):
    """``orjson.loads(plain_json(text))`` for a coordinate cell that is a flat list of JSON
    numbers written as ``str()`` writes lists (``[`` number (``, `` number)* ``]`` or
    ``[]``), read in one pass here; None for any other text (then read as before). For tests.

    >>> number_list("[512.25, -87.5, 13, -0]"), number_list("[]"), number_list("[1e5]")
    ([512.25, -87.5, 13, 0], [], None)
    """
    cdef bint verbatim
    if not PyUnicode_IS_ASCII(text):
        return None
    return _number_list(<const unsigned char *> PyUnicode_1BYTE_DATA(text),
                        PyUnicode_GET_LENGTH(text), &verbatim)


def number_list_is_str(str text):
    """Whether ``number_list`` reads ``text`` and finds it to be ``str()`` of its list: each
    int in its digits (not ``-0``), each float proven ``repr`` of its double (the check extract
    makes before copying a coordinate's text, ``_repr_digits``); False where not sure. For tests.

    >>> number_list_is_str("[512.25, -87, 1436.6048727342159]"), number_list_is_str("[2048.0]")
    (True, False)
    >>> number_list_is_str("[0.10000000000000001]"), number_list_is_str("[-0]")
    (False, False)
    """
    cdef bint verbatim = False
    if not PyUnicode_IS_ASCII(text):
        return False
    value = _number_list(<const unsigned char *> PyUnicode_1BYTE_DATA(text),
                         PyUnicode_GET_LENGTH(text), &verbatim)
    return value is not None and verbatim


cdef list _number_list(const unsigned char *p, Py_ssize_t n, bint *verbatim):
    """The ints and floats of the cell text ``p[0:n]`` as orjson reads them, or None if it is
    not ``[`` number (``, `` number)* ``]`` or ``[]`` with every number in JSON's syntax
    without an exponent (``-?(0|[1-9][0-9]*)(.[0-9]+)?``), runs of at most 18 digits (those
    ``plain_json`` passes unchanged) and, for a float, at most 19 significant digits.

    plain_json's scan and orjson's were two passes and a call over each of the ~300,000
    coordinate cells of the 20k point reduce; this is one. Ints: their value (``-0`` is 0);
    floats: the correctly rounded double (``_number_double``), as orjson and ``float()`` read
    them (-0.0 included). Anything else, even where orjson would read it, is left to orjson.
    ``verbatim`` is set to whether the text is proven to be ``str()`` of the list
    (``number_list_is_str``), which ``list_text`` writes: then it is written as it is.
    """
    cdef Number number
    cdef Py_ssize_t i = 1, start, end, whole
    cdef bint negative
    cdef int is_repr
    cdef double value
    cdef list out
    verbatim[0] = True
    if n < 2 or p[0] != b'[' or p[n - 1] != b']':
        return None
    out = []
    if n == 2:
        return out
    while True:
        start = i
        negative = p[i] == b'-'
        end = _read_number(p, i, n - 1, &number)  # (never past the closing "]")
        if end < 0:
            return None
        whole = end - start - negative - (number.frac + 1 if number.fraction else 0)
        if whole > MAX_DIGIT_RUN or number.frac > MAX_DIGIT_RUN:
            return None
        if number.fraction:
            if not _number_double(&number, &value, &is_repr):
                return None
            PyList_Append(out, PyFloat_FromDouble(-value if negative else value))
            if not is_repr:
                verbatim[0] = False
        else:  # at most 18 digits: a long long
            if negative and number.digits == 0:  # "-0": str() writes 0
                verbatim[0] = False
            PyList_Append(out, PyLong_FromLongLong(
                -<long long> number.digits if negative else <long long> number.digits))
        if end == n - 1:
            return out
        if p[end] != b',' or p[end + 1] != b' ':  # (p[end + 1] is at most the "]")
            return None
        i = end + 2


cdef class PointCells:
    """``rows -> flatten(point_reducer_hdbscan(records of the rows), version)`` from the cells.

    ``tally reduce`` reads each extraction row into a record (``csv_layout.data_reader``: a dict
    of frames of ``{<tool>_x: [...], ...}``), the reducer groups the records' marks again, and
    ``flatten`` turns the result into cells. For a file whose ``data.*`` columns are all
    ``data.<frame>.<tool>_x|_y|_details`` (and ``aggregation_version``), this goes from the
    rows' cells to the flattened reduction directly: the marks of each frame and tool are the
    cells of three known columns, read in row order as :func:`point_clusters` reads them from
    the records, then clustered, summarised and counted by the same functions (``_cluster``,
    ``_add_details``); every list is written with ``list_text`` as ``flatten`` writes it.

    ``frames``: ``[(frame, [(tool, x, y, details), ...]), ...]`` in output order
    (``natural_key``, no ties), each a column position (``-1``: no such column); ``text``:
    per column position, whether cells are read as text (``literal_cell``) or are numbers.
    A cell is read as ``RowReader`` reads it when ``plain_json`` takes it (orjson), with
    subtask cells (which repeat) read once per distinct text; any other cell, and anything
    :func:`point_clusters` would decline, gives None: the caller takes the records path, which
    alone raises or handles it. ``tests/cli/test_reduce_fast_paths.py`` compares the two.
    """

    cdef list frames
    cdef list text
    cdef frozenset missing
    cdef Py_ssize_t longest_missing  # characters of the longest text in missing
    cdef Py_ssize_t min_cluster_size, min_samples
    cdef bint leaf
    cdef object details, no_reducer, version, list_text, plain_json, loads, decode_error
    cdef dict subtask_cells, subtask_texts
    cdef object subtask_text  # of the subtask cell read last (see _keep)
    cdef PyObject *verbatim_cell  # the cell read last if str() of its list, else NULL
    cdef dict flat_keys  # frame -> key -> "frame.key", one str object per column

    def __init__(
        self,
        list frames,
        list text,
        frozenset missing,
        Py_ssize_t min_cluster_size,
        Py_ssize_t min_samples,
        bint leaf,
        object details,
        str no_reducer,
        object version,
        object list_text,
        object plain_json,
    ):
        import orjson

        self.frames = frames
        self.text = text
        self.missing = missing
        self.longest_missing = max(map(len, missing), default=-1)
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.leaf = leaf
        self.details = details
        self.no_reducer = no_reducer
        self.version = version
        self.list_text = list_text
        self.plain_json = plain_json
        self.loads = orjson.loads
        self.decode_error = orjson.JSONDecodeError
        self.subtask_cells = {}
        self.subtask_texts = {}
        self.flat_keys = {}

    cdef object _cell(self, PyObject *row, Py_ssize_t i, bint subtasks):
        """The list in cell ``i`` of ``row``, None if missing, ``_DECLINE`` for anything else.

        Subtask cells are kept with their text (:meth:`_keep`), in ``self.subtask_text``; a
        coordinate cell that is ``str()`` of its list (``number_list_is_str``) is pointed to by
        ``self.verbatim_cell`` (the row's own cell, only read), which is NULL otherwise."""
        self.verbatim_cell = NULL
        if i < 0:
            return None
        if i >= _p_length(row):  # (tally reduce refuses short rows before; never read past one)
            return _DECLINE
        # A copy of the cell's text, read through a borrowed pointer: forked workers share the
        # rows with the parent, and taking a reference to a cell (or hashing it, which caches
        # the hash in it) would write to its page, which the kernel then copies for the worker
        # (~5 us a page here, most of the pages of the rows); a copy is ~0.1 us.
        cdef PyObject *cell
        cdef object text, value
        cdef bint verbatim
        if _p_list(row):
            cell = _list_item(<object> row, i)
        elif _p_tuple(row):
            cell = _tuple_item(<object> row, i)
        else:
            cell = NULL
        if cell == NULL:
            text = (<object> row)[i]
            if type(text) is not str:
                return _DECLINE
        elif not _is_str(cell):
            return _DECLINE
        elif _text_length(cell) == 0:
            return None
        else:
            # A coordinate cell ("[512.25, 87.5]") read straight from the row's characters,
            # without a copy (longer than every missing mark, so not one of them); any other
            # cell is copied and read as below.
            if not subtasks and _text_kind(cell) == 1 and self.text[i] and (
                _text_length(cell) > self.longest_missing
            ):
                value = _number_list(
                    <const unsigned char *> _text_data(cell), _text_length(cell), &verbatim
                )
                if value is not None:
                    if verbatim:
                        self.verbatim_cell = cell
                    return value
            text = _text_copy(_text_kind(cell), _text_data(cell), _text_length(cell))
        # (a text longer than every missing mark, e.g. coordinates, is not hashed to tell)
        cdef Py_ssize_t length = PyUnicode_GET_LENGTH(text)
        if length == 0 or (length <= self.longest_missing and text in self.missing):
            return None
        if not self.text[i]:
            return _DECLINE  # a number column's value: not a list
        if subtasks:  # the same few texts again and again; the values are only read
            value = self.subtask_cells.get(text)
            if value is not None:
                self.subtask_text = self.subtask_texts[text]
                return value
        fast = self.plain_json(text)
        if fast is None:
            return _DECLINE
        try:
            value = self.loads(fast)
        except self.decode_error:
            return _DECLINE
        if type(value) is not list:
            return _DECLINE
        if subtasks:
            self._keep(text, value)
        return value

    cdef int _keep(self, str text, list value) except -1:
        """Keep a subtask cell's value, and the text of its marks when ``flatten`` would write the
        value as the cell's own text (``list_text(value) == text``): ``"[[{'0': 1}], [{'1': 1}]]"``
        -> ``"[{'0': 1}], [{'1': 1}]"`` (None otherwise), in ``self.subtask_text`` too."""
        # Bounded small: a cell with many marks is nearly unique to its classification, and a
        # hundred thousand of them (values and texts) held 200 MB per worker at 1M
        # classifications; the texts that repeat (one or two marks) come back after a clear.
        if len(self.subtask_cells) >= SUBTASK_CELLS_KEPT:
            self.subtask_cells.clear()
            self.subtask_texts.clear()
        self.subtask_cells[text] = value
        inner = text[1 : len(text) - 1] if self.list_text(value) == text else None
        self.subtask_texts[text] = self.subtask_text = inner
        return 0

    def __call__(self, list rows):
        cdef Py_ssize_t k, n = len(rows)
        cdef PyObject **cells = <PyObject **> PyMem_Malloc(max(n, 1) * sizeof(PyObject *))
        if cells == NULL:
            raise MemoryError()
        try:
            for k in range(n):
                cells[k] = _list_item(rows, k)
            return self._reduce(cells, n)
        finally:
            PyMem_Free(cells)

    def from_members(self, list members not None, Py_ssize_t i_created, Py_ssize_t i_cid):
        """``self(drop_duplicates(_sorted_rows(members)))`` of ``tally/reduce.py`` for a subject's
        members ``(row order, row)`` that need neither step's general path: sorted by
        ``_sort_members`` (``created_at`` in the export's form), and (for two rows or more) with
        distinct classification ids of plain digits (``i_cid``: that column in a file where it
        is of kind int, else -1), which ``drop_duplicates`` keeps as they are. None otherwise,
        as where the call gives None.

        Members, rows and cells are only read, through borrowed pointers: a forked worker writes
        nothing to the pages it shares with its parent (the sorted rows' list counted each row,
        and the duplicate check took and hashed each id: 1,200-1,300 page copies in a worker's
        first bucket of the 20k point reduce).
        """
        cdef Py_ssize_t k, n = len(members)
        cdef PyObject **cells
        cdef _Member *order
        if n == 0:
            return self._reduce(NULL, 0)
        if n > 1 and i_cid < 0:
            return None
        order = <_Member *> PyMem_Malloc(n * sizeof(_Member))
        cells = <PyObject **> PyMem_Malloc(n * sizeof(PyObject *))
        try:
            if order == NULL or cells == NULL:
                raise MemoryError()
            if not _sort_members(members, i_created, max(i_cid, 0) + 1, order):
                return None
            if n > 1:
                for k in range(n):
                    if not _p_plain_id(_list_item(<object> order[k].cells, i_cid), &order[k].cid):
                        return None
                if not _distinct_ids(order, n):
                    return None
            for k in range(n):
                cells[k] = order[k].cells
            return self._reduce(cells, n)
        finally:
            PyMem_Free(order)
            PyMem_Free(cells)

    cdef object _reduce(self, PyObject **rows, Py_ssize_t n):
        """The call's result for the ``n`` rows (borrowed: only read)."""
        cdef dict output = {}
        cdef dict frame_out, marks_of, flat
        cdef str frame, tool
        cdef list tools
        cdef tuple entry
        cdef Py_ssize_t ix, iy, idetails
        cdef _Marks marks
        cdef bint with_details, present
        cdef Py_ssize_t k
        cdef object xs, ys, answers
        cdef PyObject *x_cell
        cdef PyObject *y_cell
        for frame, tools in self.frames:
            frame_out = {}
            marks_of = {}
            for entry in tools:
                tool = entry[0]
                ix, iy, idetails = entry[1], entry[2], entry[3]
                with_details = self.details is not None and tool in self.details
                marks = _Marks()
                present = False
                for k in range(n):
                    xs = self._cell(rows[k], ix, False)
                    x_cell = self.verbatim_cell
                    ys = self._cell(rows[k], iy, False)
                    y_cell = self.verbatim_cell
                    answers = self._cell(rows[k], idetails, True)
                    if xs is _DECLINE or ys is _DECLINE or answers is _DECLINE:
                        return None
                    if xs is None and ys is None:
                        if answers is not None:
                            if with_details:
                                return None  # details of no marks: they would not line up
                            present = True
                        continue
                    present = True
                    if xs is None or ys is None or len(<list> xs) != len(<list> ys):
                        return None
                    if with_details:
                        if answers is None or len(<list> answers) != len(<list> xs):
                            return None
                        marks.details.extend(<list> answers)
                        if marks.detail_texts is not None:
                            if self.subtask_text is None:
                                marks.detail_texts = None
                            elif self.subtask_text:  # not "" (no marks)
                                marks.detail_texts.append(self.subtask_text)
                    if marks.add(<list> xs, <list> ys):
                        return None
                    marks.add_cells(x_cell, y_cell)
                if not present:  # no record has the tool in this frame
                    continue
                if marks.n == 0:  # the Python path raises: a tool without complete marks
                    return None
                if not _cluster(frame_out, tool, marks, self.min_cluster_size,
                                self.min_samples, self.leaf):
                    return None
                marks_of[tool] = marks
            if marks_of or frame_out:
                output[frame] = (frame_out, marks_of)
        if not _add_details(output, self.details, self.no_reducer):
            return None
        flat = {}  # flatten: the version first, then each frame's keys
        if self.version is not None:
            flat["aggregation_version"] = self.version
        list_text = self.list_text
        cdef dict names, texts
        for frame, (frame_out, marks_of) in output.items():
            names = self.flat_keys.get(frame)
            if names is None:
                names = self.flat_keys[frame] = {}
            # <tool>_details: the cells' own texts joined, where each is the list_text of its
            # value (the list_text of the concatenation, without writing it again)
            texts = {}
            # <tool>_points_x|y: likewise the coordinate cells' own texts where every one is
            # str() of its list, and no int of them becomes a float (_cluster: ints and floats)
            for tool, marks in marks_of.items():
                if marks.verbatim and not (marks.has_int and marks.has_float):
                    texts[tool + "_points_x"] = marks.joined_cells(0)
                    texts[tool + "_points_y"] = marks.joined_cells(1)
            if self.details is not None:
                for tool in self.details:
                    marks = marks_of.get(tool)
                    if marks is not None and marks.detail_texts is not None:
                        texts[tool + "_details"] = "[" + ", ".join(marks.detail_texts) + "]"
            for key, value in frame_out.items():
                # the same str object for a column in every row: pickled once per bucket
                name = names.get(key)
                if name is None:
                    name = names[key] = frame + "." + key
                text = texts.get(key) if texts else None
                flat[name] = list_text(value) if text is None else text
        return flat
