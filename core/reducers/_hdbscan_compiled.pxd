# The C-level steps of _hdbscan_compiled.pyx, for other compiled modules (_points_compiled.pyx).

cdef int hdbscan_core(
    const double *points,
    Py_ssize_t n,
    Py_ssize_t dims,
    Py_ssize_t min_cluster_size,
    Py_ssize_t min_samples,
    bint leaf,
    Py_ssize_t *labels,
    double *probabilities,
) except -1

cdef int summaries_core(
    const double *points,
    const Py_ssize_t *labels,
    const double *probabilities,
    Py_ssize_t n,
    Py_ssize_t k,
    Py_ssize_t *count,
    double *results,
) except -1
