# cython: language_level=3
"""Checking JSON text in C, shared by the compiled scanners (``cimport``-ed, inlined).

``tally/_csv_compiled.pyx`` checks an export row's metadata with these (``metadata_stand_in``),
``core/extractors/_point_compiled.pyx`` its annotations (``RowCells``). Each step says where it
is not sure the text is what orjson reads (-1), and the scanner then leaves the row to orjson.
"""

from libc.stdint cimport uint64_t
from libc.string cimport memcpy


cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    /* The number of bytes of p[0:16] before the first '"', backslash or control character
       (below 32) among them (16: none). */
    static inline int _tally_string_stop16(const unsigned char *p) {
        __m128i v = _mm_loadu_si128((const __m128i *)p);
        __m128i stops = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(34)), _mm_cmpeq_epi8(v, _mm_set1_epi8(92))),
            _mm_cmpeq_epi8(_mm_min_epu8(v, _mm_set1_epi8(31)), v));
        int mask = _mm_movemask_epi8(stops);
        return mask ? __builtin_ctz((unsigned)mask) : 16;
    }
    #else
    static inline int _tally_string_stop16(const unsigned char *p) { return -1; }
    #endif
    """
    int _string_stop16 "_tally_string_stop16"(const unsigned char *p) nogil


cdef enum:
    MAX_DEPTH = 32  # deeper JSON: the parser decides


cdef inline Py_ssize_t _blank_end(const unsigned char *p, Py_ssize_t i, Py_ssize_t n):
    """Past JSON's whitespace (space, tab, line ends) from ``i``."""
    while i < n and (p[i] == 32 or p[i] == 9 or p[i] == 10 or p[i] == 13):
        i += 1
    return i


cdef inline bint _hex(unsigned char c):
    return (48 <= c <= 57) or (65 <= c <= 70) or (97 <= c <= 102)


cdef inline bint _string_stops(uint64_t word):
    """Whether one of 8 bytes is ``"``, a backslash or below 32 (then a string's bytes need
    a look one by one). Exact for bytes below 128; a byte of 128 or more may give a false
    True, which only means the slower look."""
    cdef uint64_t ones = 0x0101010101010101ULL
    cdef uint64_t quotes = word ^ 0x2222222222222222ULL  # '"' in every byte
    cdef uint64_t backslashes = word ^ 0x5C5C5C5C5C5C5C5CULL
    # (x - 0x01..) & ~x & 0x80..: a byte of x is 0; (x - 0x20..) & ~x & 0x80..: one is < 32
    return (
        ((quotes - ones) & ~quotes) | ((backslashes - ones) & ~backslashes)
        | ((word - 0x2020202020202020ULL) & ~word)
    ) & 0x8080808080808080ULL != 0


cdef inline Py_ssize_t _string_end(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t n, bint *escaped
):
    """Past the JSON string whose ``"`` is at ``i`` (-1: not one, or not sure); ``escaped``
    set if it holds a backslash escape."""
    cdef unsigned char c
    cdef uint64_t word
    i += 1
    cdef int k
    while i < n:
        # 16 (else 8) bytes at a time past plain text (no '"', no backslash, no control character)
        k = _string_stop16(p + i) if i + 16 <= n else -1
        if k == 16:
            i += 16
            continue
        if k >= 0:  # at a stop
            i += k
        else:  # (no SSE2, or the last 15 bytes)
            while i + 8 <= n:
                memcpy(&word, p + i, 8)
                if _string_stops(word):
                    break
                i += 8
        c = p[i]
        if c == 34:  # '"'
            return i + 1
        if c == 92:  # '\\'
            escaped[0] = True
            if i + 1 >= n:
                return -1
            c = p[i + 1]
            if c == b'u':
                if i + 5 >= n or not (
                    _hex(p[i + 2]) and _hex(p[i + 3]) and _hex(p[i + 4]) and _hex(p[i + 5])
                ):
                    return -1
                i += 6
                continue
            if c == 34 or c == 92 or c == b'/' or c == b'b' or c == b'f' or c == b'n' or (
                c == b'r' or c == b't'
            ):
                i += 2
                continue
            return -1
        if c < 32:  # a control character: not JSON
            return -1
        i += 1
    return -1


cdef inline Py_ssize_t _value_end(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t n, int depth, bint *escaped
):
    """Past the JSON value at ``i`` (after its leading whitespace), -1 where not sure it is
    one: numbers with an exponent, NaN and the infinities, nesting deeper than MAX_DEPTH.
    ``escaped`` is set if a string in it (a key or a value) holds a backslash escape."""
    cdef unsigned char c, close
    cdef bint fraction
    if i >= n:
        return -1
    c = p[i]
    if c == b'{' or c == b'[':
        if depth >= MAX_DEPTH:
            return -1
        close = b'}' if c == b'{' else b']'
        i = _blank_end(p, i + 1, n)
        if i < n and p[i] == close:
            return i + 1
        while True:
            if c == b'{':  # a key and ":"
                if i >= n or p[i] != 34:
                    return -1
                i = _string_end(p, i, n, escaped)
                if i < 0:
                    return -1
                i = _blank_end(p, i, n)
                if i >= n or p[i] != b':':
                    return -1
                i = _blank_end(p, i + 1, n)
            i = _value_end(p, i, n, depth + 1, escaped)
            if i < 0:
                return -1
            i = _blank_end(p, i, n)
            if i >= n:
                return -1
            if p[i] == b',':
                i = _blank_end(p, i + 1, n)
                continue
            if p[i] == close:
                return i + 1
            return -1
    if c == 34:
        return _string_end(p, i, n, escaped)
    if c == b'-' or 48 <= c <= 57:  # -?(0|[1-9][0-9]*)(.[0-9]+)?, without an exponent
        return _number_end(p, i, n, &fraction)
    if c == b't' and i + 4 <= n and p[i + 1] == b'r' and p[i + 2] == b'u' and p[i + 3] == b'e':
        return i + 4
    if c == b'n' and i + 4 <= n and p[i + 1] == b'u' and p[i + 2] == b'l' and p[i + 3] == b'l':
        return i + 4
    if c == b'f' and i + 5 <= n and p[i + 1] == b'a' and p[i + 2] == b'l' and (
        p[i + 3] == b's' and p[i + 4] == b'e'
    ):
        return i + 5
    return -1


cdef inline Py_ssize_t _number_end(
    const unsigned char *p, Py_ssize_t i, Py_ssize_t n, bint *fraction
):
    """Past the JSON number at ``i``, -1 if not one or if not sure: an exponent, or more than
    300 digits before the ``.`` (orjson refuses a number beyond the doubles' range):
    ``-?(0|[1-9][0-9]*)(.[0-9]+)?``; ``fraction`` says whether it has the ``.`` part."""
    cdef Py_ssize_t start
    fraction[0] = False
    if i < n and p[i] == b'-':
        i += 1
    if i >= n or not (48 <= p[i] <= 57):
        return -1
    if p[i] == b'0':
        i += 1
    else:
        start = i
        while i < n and 48 <= p[i] <= 57:
            i += 1
        if i - start > 300:
            return -1
    if i < n and p[i] == b'.':
        fraction[0] = True
        i += 1
        if i >= n or not (48 <= p[i] <= 57):
            return -1
        while i < n and 48 <= p[i] <= 57:
            i += 1
    if i < n and (p[i] == b'e' or p[i] == b'E'):
        return -1
    return i
