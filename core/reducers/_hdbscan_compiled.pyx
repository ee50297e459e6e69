# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: initializedcheck=False, nonecheck=False
"""Compiled form of the HDBSCAN steps in ``core/reducers/_hdbscan.py`` (same results, bit for bit).

The Python module documents the algorithm (scikit-learn's, step by step, ties included); this one
repeats those steps with C loops over arrays, because clustering every frame of every subject is
most of a point reduce. Every floating-point operation is the one the Python steps perform, in
the same order: the build turns off contraction into fused multiply-adds (``-ffp-contract=off``
in setup.py), which would change the last bit of a distance. The edge order still comes from
``numpy.argsort``, the function the Python steps and scikit-learn use, so tied edges merge in
the same order.

``tests/core/reducers/test_hdbscan_fast.py`` runs both forms against scikit-learn.
"""

import numpy as np

from cpython.buffer cimport (
    PyBUF_C_CONTIGUOUS,
    PyBUF_WRITABLE,
    PyBuffer_Release,
    PyObject_GetBuffer,
)
from cpython.mem cimport PyMem_Free, PyMem_Malloc
from libc.math cimport INFINITY, isinf, sqrt


cdef class _Workspace:
    """Scratch arrays of one call, freed together: carved out of one block reserved up front
    (``words`` 8-byte items; no numpy objects and one allocation per call: for a frame of a few
    dozen marks, allocating cost more than the clustering). An array that does not fit gets a
    block of its own."""

    cdef char *block
    cdef size_t used, size
    cdef list extra

    def __cinit__(self, Py_ssize_t words=0):
        self.block = NULL
        self.used = 0
        self.size = 0
        self.extra = None
        if words > 0:
            self.block = <char *> PyMem_Malloc(<size_t> words * 8)
            if self.block == NULL:
                raise MemoryError()
            self.size = <size_t> words * 8

    cdef void *take(self, Py_ssize_t count, size_t item) except NULL:
        cdef size_t wanted = <size_t> (count if count > 0 else 1) * item
        wanted = (wanted + 7) & ~(<size_t> 7)  # every array 8-byte aligned
        cdef void *block
        if self.size - self.used >= wanted:
            block = self.block + self.used
            self.used += wanted
            return block
        block = PyMem_Malloc(wanted)
        if block == NULL:
            raise MemoryError()
        if self.extra is None:
            self.extra = []
        self.extra.append(<size_t> block)
        return block

    cdef double *doubles(self, Py_ssize_t count, double fill) except NULL:
        cdef double *block = <double *> self.take(count, sizeof(double))
        cdef Py_ssize_t i
        for i in range(count):
            block[i] = fill
        return block

    cdef Py_ssize_t *indices(self, Py_ssize_t count, Py_ssize_t fill) except NULL:
        cdef Py_ssize_t *block = <Py_ssize_t *> self.take(count, sizeof(Py_ssize_t))
        cdef Py_ssize_t i
        for i in range(count):
            block[i] = fill
        return block

    def __dealloc__(self):
        PyMem_Free(self.block)
        if self.extra is not None:
            for block in self.extra:
                PyMem_Free(<void *> <size_t> block)


def hdbscan_labels(
    const double[:, ::1] points,
    Py_ssize_t min_cluster_size,
    Py_ssize_t min_samples,
    bint leaf,
):
    """Labels (intp) and membership probabilities (float64) of ``n >= 2`` finite marks.

    ``min_samples`` is the neighbour count of the core distance (``1 <= min_samples <= n``),
    ``min_cluster_size >= 2``; ``leaf`` selects leaf clusters instead of excess of mass.
    OverflowError if distances too large for a double cut the marks apart.

    >>> import numpy as np
    >>> marks = np.array([[0, 0], [0, 1], [1, 0], [9, 9], [9, 10], [10, 9], [50, 50.0]])
    >>> labels, probabilities = hdbscan_labels(marks, 3, 2, False)
    >>> labels.tolist(), probabilities.tolist()
    ([0, 0, 0, 1, 1, 1, -1], [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0])
    """
    cdef Py_ssize_t n = points.shape[0]
    cdef Py_ssize_t dims = points.shape[1]
    if n < 2 or not 1 <= min_samples <= n or min_cluster_size < 2:
        raise ValueError(f"hdbscan_labels: unsupported n={n}, min_samples={min_samples}, "
                         f"min_cluster_size={min_cluster_size}")
    labels_array = np.full(n, -1, dtype=np.intp)
    probabilities_array = np.zeros(n)
    cdef Py_ssize_t[::1] labels = labels_array
    cdef double[::1] probabilities = probabilities_array
    hdbscan_core(&points[0, 0], n, dims, min_cluster_size, min_samples, leaf, &labels[0],
                 &probabilities[0])
    return labels_array, probabilities_array


cdef int hdbscan_core(
    const double *points,
    Py_ssize_t n,
    Py_ssize_t dims,
    Py_ssize_t min_cluster_size,
    Py_ssize_t min_samples,
    bint leaf,
    Py_ssize_t *labels,
    double *probabilities,
) except -1:
    """:func:`hdbscan_labels` on C arrays: ``points`` row by row (``n`` rows of ``dims``),
    results into ``labels`` (set to -1 first) and ``probabilities`` (set to 0 first)."""
    # one block for the distance matrix and the arrays below: at most n * min_samples + 64 n
    # items (clusters < 2 n); fewer numpy objects and allocations per fit (a third of a small fit)
    cdef _Workspace space = _Workspace(n * n + n * min_samples + 64 * n + 64)
    cdef Py_ssize_t i, j, c

    # 1. Distances, summed column by column, and core distances (the min_samples-th smallest of
    #    each row, the mark itself included), found as the pairs are computed: reading the
    #    matrix again for them cost a quarter of the time (it outgrows the caches).
    cdef double *distance = <double *> space.take(n * n, sizeof(double))  # all set below
    cdef double *core = space.doubles(n, 0.0)
    # each row's min_samples smallest values so far, ascending (the mark itself: 0.0), and the
    # largest of them: the core distance once every pair of the row is in (the order
    # statistic of the row, whichever way it is found)
    cdef double *smallest = space.doubles(n * min_samples, INFINITY)
    cdef double *largest = space.doubles(n, INFINITY)
    cdef double total, diff, value, row_largest
    for i in range(n):
        smallest[i * min_samples] = 0.0
        largest[i] = smallest[i * min_samples + min_samples - 1]
    for i in range(n):
        distance[i * n + i] = 0.0
        row_largest = largest[i]
        # (a - b)**2 == (b - a)**2 exactly, so each pair is computed once
        for j in range(i + 1, n):
            diff = points[i * dims] - points[j * dims]
            total = diff * diff
            for c in range(1, dims):
                diff = points[i * dims + c] - points[j * dims + c]
                total = total + diff * diff
            value = sqrt(total)
            distance[i * n + j] = distance[j * n + i] = value
            if value < row_largest:
                row_largest = _keep_smallest(smallest + i * min_samples, min_samples, value)
            if value < largest[j]:
                largest[j] = _keep_smallest(smallest + j * min_samples, min_samples, value)
        core[i] = row_largest  # the pairs with earlier marks came in their rows

    # 2. Prim's spanning tree of the mutual reachability, as _prim_mst builds it. Only the marks
    #    still outside the tree are visited (``remaining``, ascending: memory is read in order),
    #    and the nearest one is found in the same pass.
    cdef double *best = space.doubles(n, INFINITY)
    cdef Py_ssize_t *source = space.indices(n, 0)
    cdef Py_ssize_t *remaining = space.indices(n, 0)
    cdef Py_ssize_t *sources = space.indices(n, 0)
    cdef Py_ssize_t *targets = space.indices(n, 0)
    weights_array = np.empty(n - 1)
    cdef Py_buffer weights_view, order_view
    PyObject_GetBuffer(weights_array, &weights_view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
    cdef double *weights = <double *> weights_view.buf
    PyBuffer_Release(&weights_view)  # weights_array keeps the memory
    cdef Py_ssize_t current = 0, nearest, t, kept, left_over = n - 1
    cdef double reach, own_core, nearest_value, known
    cdef double *row
    for j in range(1, n):
        remaining[j - 1] = j
    for i in range(n - 1):
        own_core = core[current]
        row = distance + current * n
        nearest = -1
        nearest_value = INFINITY
        # ``remaining`` stays in ascending order: the mark added last is dropped in this pass,
        # and the first of equal minima found is the lowest index (argmin's)
        kept = 0
        for t in range(left_over):
            j = remaining[t]
            if j == current:
                continue
            remaining[kept] = j
            kept += 1
            reach = row[j]
            # np.maximum(distance, core) then np.maximum(row, own core): the larger operand
            # (equal operands are the same double either way)
            if core[j] > reach:
                reach = core[j]
            if own_core > reach:
                reach = own_core
            known = best[j]
            if reach < known:  # strictly: on a tie the earlier source stays
                known = reach
                best[j] = reach
                source[j] = current
            if known < nearest_value:
                nearest = j
                nearest_value = known
        left_over = kept
        if nearest == -1:  # every mark left is infinitely far (distances overflow): no tree
            # (scikit-learn adds a self-loop here and then fails or never returns; going on
            # would merge a node with itself and overrun the arrays below)
            raise OverflowError("hdbscan_labels: distances overflow: no finite spanning tree")
        sources[i] = source[nearest]
        targets[i] = nearest
        weights[i] = nearest_value
        current = nearest

    # 3. Single linkage over the edges in numpy's argsort order (union-find).
    # np.argsort(weights_array) is this method call with its defaults (quicksort, last axis)
    order_array = weights_array.argsort()
    PyObject_GetBuffer(order_array, &order_view, PyBUF_C_CONTIGUOUS)
    cdef const Py_ssize_t *order = <const Py_ssize_t *> order_view.buf
    if (order_view.itemsize != sizeof(Py_ssize_t)
            or order_view.len != (n - 1) * <Py_ssize_t> sizeof(Py_ssize_t)):
        PyBuffer_Release(&order_view)
        order_array = order_array.astype(np.intp)  # intp is Py_ssize_t: never, in practice
        PyObject_GetBuffer(order_array, &order_view, PyBUF_C_CONTIGUOUS)
        order = <const Py_ssize_t *> order_view.buf
    PyBuffer_Release(&order_view)  # order_array keeps the memory
    cdef Py_ssize_t nodes = 2 * n - 1
    cdef Py_ssize_t *parent = space.indices(nodes, -1)
    cdef Py_ssize_t *size = space.indices(nodes, 1)
    cdef Py_ssize_t *merge_left = space.indices(n, 0)
    cdef Py_ssize_t *merge_right = space.indices(n, 0)
    cdef double *merge_distance = space.doubles(n, 0.0)
    cdef Py_ssize_t a, b, next_label, edge
    next_label = n
    for i in range(n - 1):
        edge = order[i]
        a = _find(parent, sources[edge])
        b = _find(parent, targets[edge])
        merge_left[i] = a
        merge_right[i] = b
        merge_distance[i] = weights[edge]
        parent[a] = next_label
        parent[b] = next_label
        size[next_label] = size[a] + size[b]
        next_label += 1

    # 4. The condensed tree, rows in _condense's order.
    cdef Py_ssize_t root = nodes - 1
    cdef Py_ssize_t *queue = space.indices(nodes, 0)
    cdef Py_ssize_t *below = space.indices(nodes, 0)
    cdef Py_ssize_t *relabel = space.indices(nodes, -1)
    cdef Py_ssize_t *ignored = space.indices(nodes, 0)
    cdef Py_ssize_t capacity = 3 * n  # n mark rows and at most n cluster rows
    cdef Py_ssize_t *row_parent = space.indices(capacity, 0)
    cdef Py_ssize_t *row_child = space.indices(capacity, 0)
    cdef double *row_lambda = space.doubles(capacity, 0.0)
    cdef Py_ssize_t *row_size = space.indices(capacity, 0)
    cdef Py_ssize_t rows = 0, visited, node, left, right, label, left_count, right_count
    cdef Py_ssize_t dropped[2]
    cdef Py_ssize_t dropped_count, d, child, sub, below_count, k
    cdef double lam
    visited = _breadth_first(merge_left, merge_right, root, n, queue)
    relabel[root] = n
    next_label = n + 1
    for k in range(visited):
        node = queue[k]
        if node < n or ignored[node]:
            continue
        left = merge_left[node - n]
        right = merge_right[node - n]
        lam = 1.0 / merge_distance[node - n] if merge_distance[node - n] > 0.0 else INFINITY
        left_count = size[left]
        right_count = size[right]
        label = relabel[node]
        if left_count >= min_cluster_size and right_count >= min_cluster_size:
            relabel[left] = next_label
            row_parent[rows] = label
            row_child[rows] = next_label
            row_lambda[rows] = lam
            row_size[rows] = left_count
            rows += 1
            relabel[right] = next_label + 1
            row_parent[rows] = label
            row_child[rows] = next_label + 1
            row_lambda[rows] = lam
            row_size[rows] = right_count
            rows += 1
            next_label += 2
            continue
        if left_count >= min_cluster_size:
            relabel[left] = label  # the cluster goes on in its large child
            dropped[0] = right
            dropped_count = 1
        elif right_count >= min_cluster_size:
            relabel[right] = label
            dropped[0] = left
            dropped_count = 1
        else:
            dropped[0] = left
            dropped[1] = right
            dropped_count = 2
        for d in range(dropped_count):
            below_count = _breadth_first(merge_left, merge_right, dropped[d], n, below)
            for m in range(below_count):
                sub = below[m]
                if sub < n:
                    row_parent[rows] = label
                    row_child[rows] = sub
                    row_lambda[rows] = lam
                    row_size[rows] = 1
                    rows += 1
                ignored[sub] = 1

    # 5. Cluster selection, labels and probabilities, as _labels_and_probabilities computes.
    #    Clusters are labelled n (the root) .. next_label - 1; arrays are indexed by label - n.
    cdef Py_ssize_t clusters = next_label - n
    cdef double *birth = space.doubles(clusters, 0.0)
    cdef double *stability = space.doubles(clusters, 0.0)
    cdef Py_ssize_t *has_rows = space.indices(clusters, 0)
    cdef Py_ssize_t *first_child = space.indices(clusters, -1)  # cluster children in row order
    cdef Py_ssize_t *last_child = space.indices(clusters, -1)
    cdef Py_ssize_t *next_sibling = space.indices(clusters, -1)
    cdef Py_ssize_t *up = space.indices(next_label, -1)
    cdef Py_ssize_t r
    for r in range(rows):
        if row_size[r] > 1:
            birth[row_child[r] - n] = row_lambda[r]
    for r in range(rows):
        label = row_parent[r] - n
        child = row_child[r]
        stability[label] = stability[label] + (row_lambda[r] - birth[label]) * <double> row_size[r]
        has_rows[label] = 1
        up[child] = row_parent[r]
        if row_size[r] > 1:
            if first_child[label] == -1:
                first_child[label] = child
            else:
                next_sibling[last_child[label] - n] = child
            last_child[label] = child

    # every cluster with rows but the root (the smallest label), largest label first
    cdef Py_ssize_t *descending = space.indices(clusters, 0)
    cdef Py_ssize_t count = 0
    for c in range(clusters - 1, 0, -1):
        if has_rows[c]:
            descending[count] = c
            count += 1
    cdef Py_ssize_t *selected = space.indices(clusters, 0)
    cdef Py_ssize_t *stack = space.indices(clusters, 0)
    cdef Py_ssize_t top
    cdef double below_total
    if not leaf:  # excess of mass: children before parents
        for r in range(count):
            selected[descending[r]] = 1
        for r in range(count):
            c = descending[r]
            below_total = 0.0
            child = first_child[c]
            while child != -1:
                below_total = below_total + stability[child - n]
                child = next_sibling[child - n]
            if below_total > stability[c]:
                selected[c] = 0
                stability[c] = below_total
            else:  # this cluster stays: none below it does
                top = 0
                child = first_child[c]
                while child != -1:
                    stack[top] = child - n
                    top += 1
                    child = next_sibling[child - n]
                while top > 0:
                    top -= 1
                    node = stack[top]
                    selected[node] = 0
                    child = first_child[node]
                    while child != -1:
                        stack[top] = child - n
                        top += 1
                        child = next_sibling[child - n]
    else:  # leaf clusters: no cluster children
        for r in range(count):
            if first_child[descending[r]] == -1:
                selected[descending[r]] = 1
    cdef Py_ssize_t *label_of = space.indices(clusters, -1)
    cdef Py_ssize_t chosen = 0
    for c in range(1, clusters):  # ascending labels
        if selected[c]:
            label_of[c] = chosen
            chosen += 1

    # the largest lambda of each cluster's last contiguous run of rows
    cdef double *death = space.doubles(clusters, 0.0)
    cdef Py_ssize_t previous = -1
    for r in range(rows):
        label = row_parent[r] - n
        if label != previous:
            death[label] = row_lambda[r]
            previous = label
        elif row_lambda[r] > death[label]:
            death[label] = row_lambda[r]

    cdef double max_lambda
    for i in range(n):
        labels[i] = -1
        probabilities[i] = 0.0
    for r in range(rows):
        if row_size[r] > 1:
            continue
        child = row_child[r]
        lam = row_lambda[r]
        node = up[child] - n
        while node != 0 and label_of[node] == -1:
            node = up[node + n] - n
        if node == 0:
            continue
        labels[child] = label_of[node]
        max_lambda = death[node]
        if max_lambda == 0.0 or isinf(lam):
            probabilities[child] = 1.0
        else:
            probabilities[child] = (max_lambda if max_lambda < lam else lam) / max_lambda
    return 0


cdef inline double _keep_smallest(double *kept, Py_ssize_t count, double value) noexcept:
    """Insert ``value`` into ``kept`` (``count`` ascending values, the last one larger than
    ``value``), dropping the last; return the new last."""
    cdef Py_ssize_t m = count - 1
    while m > 0 and kept[m - 1] > value:
        kept[m] = kept[m - 1]
        m -= 1
    kept[m] = value
    return kept[count - 1]


cdef inline Py_ssize_t _find(Py_ssize_t *parent, Py_ssize_t node) noexcept:
    cdef Py_ssize_t root = node, step
    while parent[root] != -1:
        root = parent[root]
    while parent[node] != -1 and parent[node] != root:
        step = parent[node]
        parent[node] = root
        node = step
    return root


cdef Py_ssize_t _breadth_first(
    Py_ssize_t *merge_left,
    Py_ssize_t *merge_right,
    Py_ssize_t start,
    Py_ssize_t n,
    Py_ssize_t *out,
) noexcept:
    """Nodes below ``start`` (itself included) level by level, left before right, into ``out``."""
    cdef Py_ssize_t head = 0, tail = 1, node
    out[0] = start
    while head < tail:
        node = out[head]
        head += 1
        if node >= n:
            out[tail] = merge_left[node - n]
            out[tail + 1] = merge_right[node - n]
            tail += 2
    return tail


def cluster_summaries(
    const double[:, ::1] points,
    const Py_ssize_t[::1] labels,
    const double[::1] probabilities,
    Py_ssize_t k,
):
    """Count, mean and probability-weighted covariance of clusters ``0 .. k-1`` as lists, or None.

    The numpy steps of ``point_reducer_hdbscan._summarise`` (``np.bincount`` sums in mark order,
    then element-wise arithmetic) as one C pass each, the same operations in the same order, so
    the same doubles. ``labels`` hold -1 (noise) or ``0 .. k-1``. None when a cluster's
    weights leave nothing to divide by (``fact <= 0``): the caller then takes numpy's path, with
    its warning and inf/nan values.

    >>> import numpy as np
    >>> points = np.array([[0.0, 0.0], [2.0, 2.0], [9.0, 9.0], [10.0, 12.0]])
    >>> out = cluster_summaries(points, np.array([0, 0, -1, 0]), np.array([1.0, 0.5, 0.0, 1.0]), 1)
    >>> out[0], out[1], out[2]
    ([3], [4.0], [4.666666666666667])
    """
    cdef Py_ssize_t n = labels.shape[0], c
    if points.shape[1] != 2 or points.shape[0] != n or probabilities.shape[0] != n:
        raise ValueError("cluster_summaries: expected n marks of x, y with n labels and weights")
    if n == 0:
        return [], [], [], [], [], []  # (k is 0: labels hold no cluster)
    cdef _Workspace space = _Workspace()
    cdef Py_ssize_t *count = space.indices(k, 0)
    cdef double *results = space.doubles(5 * k, 0.0)
    if summaries_core(&points[0, 0], &labels[0], &probabilities[0], n, k, count, results):
        return None
    return (
        [count[c] for c in range(k)],
        [results[c] for c in range(k)],
        [results[k + c] for c in range(k)],
        [results[2 * k + c] for c in range(k)],
        [results[3 * k + c] for c in range(k)],
        [results[4 * k + c] for c in range(k)],
    )


cdef int summaries_core(
    const double *points,
    const Py_ssize_t *labels,
    const double *probabilities,
    Py_ssize_t n,
    Py_ssize_t k,
    Py_ssize_t *count,
    double *results,
) except -1:
    """:func:`cluster_summaries` on C arrays (``points`` as ``n`` rows of x, y): ``count`` and
    ``results`` (``k`` means x, ``k`` means y, then variances x, y and x-y) filled; 1 where
    :func:`cluster_summaries` gives None (nothing filled then), else 0."""
    cdef Py_ssize_t i, c
    cdef _Workspace space = _Workspace(9 * k)
    for c in range(k):
        count[c] = 0
    cdef double *sums = space.doubles(8 * k, 0.0)
    cdef double *sum_x = sums
    cdef double *sum_y = sums + k
    cdef double *total = sums + 2 * k
    cdef double *mean_x = sums + 3 * k  # probability-weighted means
    cdef double *mean_y = sums + 4 * k
    cdef double *square = sums + 5 * k  # sums of squared weights, then ``fact``
    cdef double *var_x = sums + 6 * k
    cdef double *var_y = sums + 7 * k
    cdef double *var_xy = space.doubles(k, 0.0)
    cdef double x, y, w, dx, dy, dxw, dyw
    for i in range(n):
        c = labels[i]
        if c < 0:
            continue
        x = points[2 * i]
        y = points[2 * i + 1]
        w = probabilities[i]
        count[c] += 1
        sum_x[c] = sum_x[c] + x
        sum_y[c] = sum_y[c] + y
        total[c] = total[c] + w
        mean_x[c] = mean_x[c] + x * w
        mean_y[c] = mean_y[c] + y * w
        square[c] = square[c] + w * w
    for c in range(k):
        mean_x[c] = mean_x[c] / total[c]
        mean_y[c] = mean_y[c] / total[c]
        square[c] = total[c] - square[c] / total[c]
        if not square[c] > 0.0:  # also NaN (a total of 0)
            return 1
    for i in range(n):
        c = labels[i]
        if c < 0:
            continue
        w = probabilities[i]
        dx = points[2 * i] - mean_x[c]
        dy = points[2 * i + 1] - mean_y[c]
        dxw = dx * w
        dyw = dy * w
        var_x[c] = var_x[c] + dx * dxw
        var_y[c] = var_y[c] + dy * dyw
        var_xy[c] = var_xy[c] + dx * dyw
    for c in range(k):
        results[c] = sum_x[c] / <double> count[c]
        results[k + c] = sum_y[c] / <double> count[c]
        results[2 * k + c] = var_x[c] / square[c]
        results[3 * k + c] = var_y[c] / square[c]
        results[4 * k + c] = var_xy[c] / square[c]
    return 0
