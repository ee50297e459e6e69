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

from libc.math cimport INFINITY, isinf, sqrt


def hdbscan_labels(
    const double[:, ::1] points,
    Py_ssize_t min_cluster_size,
    Py_ssize_t min_samples,
    bint leaf,
):
    """Labels (intp) and membership probabilities (float64) of ``n >= 2`` finite marks.

    ``min_samples`` is the neighbour count of the core distance (``1 <= min_samples <= n``),
    ``min_cluster_size >= 2``; ``leaf`` selects leaf clusters instead of excess of mass.
    """
    cdef Py_ssize_t n = points.shape[0]
    cdef Py_ssize_t dims = points.shape[1]
    if n < 2 or not 1 <= min_samples <= n or min_cluster_size < 2:
        raise ValueError(f"hdbscan_labels: unsupported n={n}, min_samples={min_samples}, "
                         f"min_cluster_size={min_cluster_size}")

    # 1. Distances, summed column by column, and core distances (the min_samples-th smallest of
    #    each row, the mark itself included).
    distance_array = np.empty((n, n))
    cdef double[:, ::1] distance = distance_array
    core_array = np.empty(n)
    cdef double[::1] core = core_array
    smallest_array = np.empty(min_samples)
    cdef double[::1] smallest = smallest_array
    cdef Py_ssize_t i, j, c, m, filled
    cdef double total, diff, value
    for i in range(n):
        for j in range(n):
            diff = points[i, 0] - points[j, 0]
            total = diff * diff
            for c in range(1, dims):
                diff = points[i, c] - points[j, c]
                total = total + diff * diff
            distance[i, j] = sqrt(total)
    for i in range(n):
        filled = 0
        for j in range(n):
            value = distance[i, j]
            if filled == min_samples:
                if not value < smallest[min_samples - 1]:
                    continue
                filled -= 1
            m = filled
            while m > 0 and smallest[m - 1] > value:
                smallest[m] = smallest[m - 1]
                m -= 1
            smallest[m] = value
            filled += 1
        core[i] = smallest[min_samples - 1]

    # 2. Prim's spanning tree of the mutual reachability, as _prim_mst builds it.
    best_array = np.full(n, INFINITY)
    cdef double[::1] best = best_array
    source_array = np.zeros(n, dtype=np.intp)
    cdef Py_ssize_t[::1] source = source_array
    outside_array = np.ones(n, dtype=np.uint8)
    cdef unsigned char[::1] outside = outside_array
    sources_array = np.empty(n - 1, dtype=np.intp)
    targets_array = np.empty(n - 1, dtype=np.intp)
    weights_array = np.empty(n - 1)
    cdef Py_ssize_t[::1] sources = sources_array
    cdef Py_ssize_t[::1] targets = targets_array
    cdef double[::1] weights = weights_array
    cdef Py_ssize_t current = 0, nearest
    cdef double reach, own_core, nearest_value
    for i in range(n - 1):
        outside[current] = 0
        best[current] = INFINITY
        own_core = core[current]
        for j in range(n):
            reach = distance[current, j]
            # np.maximum(distance, core) then np.maximum(row, own core): the larger operand,
            # the first one on a tie (equal values: the same double either way)
            if core[j] > reach:
                reach = core[j]
            if own_core > reach:
                reach = own_core
            if reach < best[j] and outside[j]:
                best[j] = reach
                source[j] = current
        nearest = 0
        nearest_value = best[0]
        for j in range(1, n):
            if best[j] < nearest_value:  # argmin: the lowest index among equal minima
                nearest = j
                nearest_value = best[j]
        sources[i] = source[nearest]
        targets[i] = nearest
        weights[i] = nearest_value
        current = nearest

    # 3. Single linkage over the edges in numpy's argsort order (union-find).
    cdef Py_ssize_t[::1] order = np.argsort(weights_array).astype(np.intp, copy=False)
    cdef Py_ssize_t nodes = 2 * n - 1
    parent_array = np.full(nodes, -1, dtype=np.intp)
    cdef Py_ssize_t[::1] parent = parent_array
    size_array = np.zeros(nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] size = size_array
    merge_left_array = np.empty(n - 1, dtype=np.intp)
    merge_right_array = np.empty(n - 1, dtype=np.intp)
    merge_distance_array = np.empty(n - 1)
    cdef Py_ssize_t[::1] merge_left = merge_left_array
    cdef Py_ssize_t[::1] merge_right = merge_right_array
    cdef double[::1] merge_distance = merge_distance_array
    cdef Py_ssize_t a, b, next_label, edge
    for i in range(n):
        size[i] = 1
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
    queue_array = np.empty(nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] queue = queue_array
    below_array = np.empty(nodes, dtype=np.intp)
    cdef Py_ssize_t[::1] below = below_array
    relabel_array = np.full(nodes, -1, dtype=np.intp)
    cdef Py_ssize_t[::1] relabel = relabel_array
    ignored_array = np.zeros(nodes, dtype=np.uint8)
    cdef unsigned char[::1] ignored = ignored_array
    capacity = 3 * n  # n mark rows and at most n cluster rows
    row_parent_array = np.empty(capacity, dtype=np.intp)
    row_child_array = np.empty(capacity, dtype=np.intp)
    row_lambda_array = np.empty(capacity)
    row_size_array = np.empty(capacity, dtype=np.intp)
    cdef Py_ssize_t[::1] row_parent = row_parent_array
    cdef Py_ssize_t[::1] row_child = row_child_array
    cdef double[::1] row_lambda = row_lambda_array
    cdef Py_ssize_t[::1] row_size = row_size_array
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
            child = dropped[d]
            below_count = _breadth_first(merge_left, merge_right, child, n, below)
            for m in range(below_count):
                sub = below[m]
                if sub < n:
                    row_parent[rows] = label
                    row_child[rows] = sub
                    row_lambda[rows] = lam
                    row_size[rows] = 1
                    rows += 1
                ignored[sub] = 1

    return _labels_and_probabilities(
        row_parent[:rows], row_child[:rows], row_lambda[:rows], row_size[:rows],
        n, next_label, leaf,
    )


cdef Py_ssize_t _find(Py_ssize_t[::1] parent, Py_ssize_t node) noexcept:
    cdef Py_ssize_t root = node, step
    while parent[root] != -1:
        root = parent[root]
    while parent[node] != -1 and parent[node] != root:
        step = parent[node]
        parent[node] = root
        node = step
    return root


cdef Py_ssize_t _breadth_first(
    Py_ssize_t[::1] merge_left,
    Py_ssize_t[::1] merge_right,
    Py_ssize_t start,
    Py_ssize_t n,
    Py_ssize_t[::1] out,
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


cdef _labels_and_probabilities(
    Py_ssize_t[::1] row_parent,
    Py_ssize_t[::1] row_child,
    double[::1] row_lambda,
    Py_ssize_t[::1] row_size,
    Py_ssize_t n,
    Py_ssize_t end_label,
    bint leaf,
):
    """Cluster selection, labels and probabilities, as ``_labels_and_probabilities`` computes."""
    cdef Py_ssize_t rows = row_parent.shape[0]
    cdef Py_ssize_t clusters = end_label - n  # labels n (the root) .. end_label - 1
    cdef Py_ssize_t root = n, r, parent, child, node, c, count, chosen_count, top
    cdef double below_total
    birth_array = np.zeros(clusters)
    cdef double[::1] birth = birth_array
    stability_array = np.zeros(clusters)
    cdef double[::1] stability = stability_array
    has_rows_array = np.zeros(clusters, dtype=np.uint8)
    cdef unsigned char[::1] has_rows = has_rows_array
    # cluster children in row order, as linked lists
    first_child_array = np.full(clusters, -1, dtype=np.intp)
    last_child_array = np.full(clusters, -1, dtype=np.intp)
    next_sibling_array = np.full(clusters, -1, dtype=np.intp)
    cdef Py_ssize_t[::1] first_child = first_child_array
    cdef Py_ssize_t[::1] last_child = last_child_array
    cdef Py_ssize_t[::1] next_sibling = next_sibling_array
    up_array = np.full(end_label, -1, dtype=np.intp)
    cdef Py_ssize_t[::1] up = up_array

    for r in range(rows):
        if row_size[r] > 1:
            birth[row_child[r] - n] = row_lambda[r]
    for r in range(rows):
        parent = row_parent[r]
        child = row_child[r]
        stability[parent - n] = stability[parent - n] + (
            (row_lambda[r] - birth[parent - n]) * <double> row_size[r]
        )
        has_rows[parent - n] = 1
        up[child] = parent
        if row_size[r] > 1:
            if first_child[parent - n] == -1:
                first_child[parent - n] = child
            else:
                next_sibling[last_child[parent - n] - n] = child
            last_child[parent - n] = child

    # every cluster with rows but the root (the smallest label), largest label first
    order_array = np.empty(clusters, dtype=np.intp)
    cdef Py_ssize_t[::1] order = order_array
    count = 0
    for c in range(clusters - 1, -1, -1):
        if has_rows[c]:
            order[count] = c + n
            count += 1
    count -= 1

    selected_array = np.zeros(clusters, dtype=np.uint8)
    cdef unsigned char[::1] selected = selected_array
    stack_array = np.empty(clusters, dtype=np.intp)
    cdef Py_ssize_t[::1] stack = stack_array
    if not leaf:
        for r in range(count):
            selected[order[r] - n] = 1
        for r in range(count):
            node = order[r]
            below_total = 0.0
            child = first_child[node - n]
            while child != -1:
                below_total = below_total + stability[child - n]
                child = next_sibling[child - n]
            if below_total > stability[node - n]:
                selected[node - n] = 0
                stability[node - n] = below_total
            else:
                top = 0
                child = first_child[node - n]
                while child != -1:
                    stack[top] = child
                    top += 1
                    child = next_sibling[child - n]
                while top > 0:
                    top -= 1
                    node = stack[top]
                    selected[node - n] = 0
                    child = first_child[node - n]
                    while child != -1:
                        stack[top] = child
                        top += 1
                        child = next_sibling[child - n]
    else:
        for r in range(count):
            if first_child[order[r] - n] == -1:
                selected[order[r] - n] = 1

    label_of_array = np.full(clusters, -1, dtype=np.intp)
    cdef Py_ssize_t[::1] label_of = label_of_array
    chosen_count = 0
    for c in range(1, clusters):  # ascending labels; the root is never chosen
        if selected[c]:
            label_of[c] = chosen_count
            chosen_count += 1

    # the largest lambda of each cluster's last contiguous run of rows
    death_array = np.zeros(clusters)
    cdef double[::1] death = death_array
    cdef Py_ssize_t previous = -1
    for r in range(rows):
        parent = row_parent[r]
        if parent != previous:
            death[parent - n] = row_lambda[r]
            previous = parent
        elif row_lambda[r] > death[parent - n]:
            death[parent - n] = row_lambda[r]

    labels_array = np.full(n, -1, dtype=np.intp)
    probabilities_array = np.zeros(n)
    cdef Py_ssize_t[::1] labels = labels_array
    cdef double[::1] probabilities = probabilities_array
    cdef double lam, max_lambda
    for r in range(rows):
        if row_size[r] > 1:
            continue
        child = row_child[r]
        lam = row_lambda[r]
        node = up[child]
        while node != root and label_of[node - n] == -1:
            node = up[node]
        if node == root:
            continue
        labels[child] = label_of[node - n]
        max_lambda = death[node - n]
        if max_lambda == 0.0 or isinf(lam):
            probabilities[child] = 1.0
        else:
            probabilities[child] = (max_lambda if max_lambda < lam else lam) / max_lambda
    return labels_array, probabilities_array
