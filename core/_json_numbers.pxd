# cython: language_level=3
"""Reading JSON numbers' text in C, shared by the compiled scanners (``cimport``-ed, inlined).

``core/extractors/_point_compiled.pyx`` reads an annotation's coordinates with these and copies
their text where it is ``repr`` of the double (``_repr_digits``); ``core/reducers/_points_compiled.pyx``
reads coordinate cells into floats and ints (``_number_double``). Each step says where it is
not sure (0 or -1), and the caller then leaves the text to orjson or Python.
"""


cdef extern from *:
    """
    #include <stdint.h>
    /* A JSON number's text as _tally_read_number reads it. */
    typedef struct {
        uint64_t digits;  /* its significant digits (the first 19 of them) */
        int count;  /* how many significant digits */
        int frac;  /* how many digits after the "." */
        int fraction;  /* whether it has a "." part (else an int) */
        int last_zero;  /* whether its last digit is 0 */
    } _tally_number;

    /* Past the digits from p[i] (below n), the first `wanted` of them (at most) added to
       *digits: one test of the digit and one multiply-add each, the count from the positions. */
    static inline Py_ssize_t _tally_digits(const unsigned char *p, Py_ssize_t i, Py_ssize_t n,
                                           int wanted, uint64_t *digits) {
        uint64_t value = *digits;
        unsigned c;
        Py_ssize_t limit = wanted <= 0 ? i : (n - i < wanted ? n : i + wanted);
        for (; i < limit && (c = (unsigned)(p[i] - '0')) <= 9; i++)
            value = value * 10 + c;
        *digits = value;
        if (i == limit)
            while (i < n && (unsigned)(p[i] - '0') <= 9) i++;
        return i;
    }

    /* Past the JSON number at p[i], "-?(0|[1-9][0-9]*)([.][0-9]+)?", read into num; -1 if it
       is not one or has an exponent. */
    static inline Py_ssize_t _tally_read_number(const unsigned char *p, Py_ssize_t i, Py_ssize_t n,
                                                _tally_number *num) {
        uint64_t digits = 0;
        int count = 0, frac = 0;
        Py_ssize_t start;
        num->fraction = 0;
        if (i < n && p[i] == '-') i++;
        if (i >= n || (unsigned)(p[i] - '0') > 9) return -1;
        if (p[i] == '0') i++;
        else {
            start = i;
            i = _tally_digits(p, i, n, 19, &digits);
            count = (int)(i - start);
        }
        if (i < n && p[i] == '.') {
            num->fraction = 1;
            i++;
            if (i >= n || (unsigned)(p[i] - '0') > 9) return -1;
            start = i;
            if (!count)  /* the leading zeros of "0.00ddd" are not significant digits */
                while (i < n && p[i] == '0') i++;
            frac = (int)(i - start);
            start = i;
            i = _tally_digits(p, i, n, 19 - count, &digits);
            count += (int)(i - start);
            frac += (int)(i - start);
        }
        if (i < n && (p[i] == 'e' || p[i] == 'E')) return -1;
        num->digits = digits;
        num->count = count;
        num->frac = frac;
        num->last_zero = p[i - 1] == '0';
        return i;
    }

    #if defined(__SIZEOF_INT128__)
    typedef unsigned __int128 _tally_u128;
    typedef __int128 _tally_i128;

    /* 10^k for k <= 19 */
    static const uint64_t _tally_powers_of_10[20] = {
        1ULL, 10ULL, 100ULL, 1000ULL, 10000ULL, 100000ULL, 1000000ULL, 10000000ULL,
        100000000ULL, 1000000000ULL, 10000000000ULL, 100000000000ULL, 1000000000000ULL,
        10000000000000ULL, 100000000000000ULL, 1000000000000000ULL, 10000000000000000ULL,
        100000000000000000ULL, 1000000000000000000ULL, 10000000000000000000ULL};

    /* shifted / divisor and its remainder, for a quotient below 2^64 */
    static inline uint64_t _tally_divide(_tally_u128 shifted, _tally_u128 divisor, _tally_u128 *rest) {
    #if defined(__x86_64__)
        if ((divisor >> 64) == 0) {  /* one divq instruction (__udivti3 is a long routine) */
            uint64_t quotient, remainder, d = (uint64_t)divisor;
            __asm__("divq %4" : "=a"(quotient), "=d"(remainder)
                    : "a"((uint64_t)shifted), "d"((uint64_t)(shifted >> 64)), "rm"(d));
            *rest = remainder;
            return quotient;
        }
    #endif
        *rest = shifted % divisor;
        return (uint64_t)(shifted / divisor);
    }

    /* Whether 2 |delta| is within half a unit p (i.e. |delta| <= p / 2) as round-half-even
       rounds to m: strictly inside, or on the edge when m is even. */
    static inline int _tally_rounds_to(_tally_i128 delta, _tally_u128 p, uint64_t m) {
        _tally_u128 twice = 2 * (_tally_u128)(delta < 0 ? -delta : delta);
        return twice < p || (twice == p && (m & 1) == 0);
    }
    #endif  /* __SIZEOF_INT128__ */

    #if defined(__SIZEOF_INT128__)
    /* D / 10^frac (D = digits, 16 to 19 of them) as m / 2^s, m of 53 bits rounded half even
       (2^53 when it rounds up to the next power of 2), with error = D 2^s - m 10^frac and
       power = 10^frac: exact, in 128-bit integers, from the quotient and remainder of
       D 2^s / 10^frac. 0 if that is not done here: frac > 38, or |d| from 2^50 or so up
       (s <= 0). */
    static inline int _tally_binary(uint64_t digits, int frac, uint64_t *m_out, int *s_out,
                                    _tally_i128 *error_out, _tally_u128 *power_out) {
        uint64_t m, q;
        int s, bits_p, bits_d;
        _tally_u128 power, shifted, r;
        if (digits == 0 || frac > 38) return 0;
        power = frac <= 19 ? (_tally_u128)_tally_powers_of_10[frac]
                           : (_tally_u128)_tally_powers_of_10[19] * _tally_powers_of_10[frac - 19];
        bits_d = 64 - __builtin_clzll(digits);
        bits_p = (int)(power >> 64) ? 128 - __builtin_clzll((uint64_t)(power >> 64))
                                    : 64 - __builtin_clzll((uint64_t)power);
        s = 52 + bits_p - bits_d;  /* D 2^s / 10^frac is in [2^51, 2^53) */
        if (s <= 0 || bits_d + s + 1 > 127) return 0;  /* |d| >= 2^50 or so (or too wide) */
        shifted = (_tally_u128)digits << s;
        q = _tally_divide(shifted, power, &r);
        if (q < ((uint64_t)1 << 52)) {
            s++;
            shifted <<= 1;
            q = _tally_divide(shifted, power, &r);
        }
        m = q + (2 * r > power || (2 * r == power && (q & 1)));  /* round half even */
        *m_out = m;
        *s_out = s;
        *error_out = m == q ? (_tally_i128)r : -(_tally_i128)(power - r);
        *power_out = power;
        return 1;
    }
    #endif  /* __SIZEOF_INT128__ */

    /* 1 if a JSON number with a fraction and no exponent, read into num, is written as
       repr(float(text)) itself: Python's shortest round-trip digits in its fixed notation; 0 if
       it is not, or not surely (the caller then asks Python).

       repr(d) is the shortest digit string that reads back as d, and of those the nearest to
       d. With D the text's n significant digits (d = D / 10^frac, correctly rounded), the
       text is repr(d) when (a) repr writes no exponent (1e-4 <= |d| < 1e16) and the text has
       no trailing zero; (b) no string of n - 1 digits reads back as d; (c) D is the nearest
       n-digit string to d (strictly: an exact tie is left to Python). Up to 15 digits (b) and
       (c) always hold (DBL_DIG: two strings of 15 digits never read as the same double), so
       only 16 to 19 digits need the arithmetic, done exactly in 128-bit integers
       (_tally_binary). */
    static inline int _tally_repr_shape(const _tally_number *num);
    #if defined(__SIZEOF_INT128__)
    static inline int _tally_repr_near(uint64_t digits, uint64_t m, int s, _tally_i128 error,
                                       _tally_u128 power);
    #endif

    static inline int _tally_repr_digits(const _tally_number *num) {
        if (!_tally_repr_shape(num)) return 0;
        if (num->count <= 15) return 1;
    #if !defined(__SIZEOF_INT128__)
        return 0;  /* (no 128-bit integers: Python writes repr) */
    #else
        uint64_t m;
        int s;
        _tally_u128 power;
        _tally_i128 error;
        /* frac <= 22: below 2^74 */
        if (!_tally_binary(num->digits, num->frac, &m, &s, &error, &power)) return 0;  /* large |d|: Python */
        return _tally_repr_near(num->digits, m, s, error, power);
    #endif
    }

    /* (a) of _tally_repr_digits: a nonzero number of at most 19 digits that repr writes in
       fixed notation, without a trailing zero. */
    static inline int _tally_repr_shape(const _tally_number *num) {
        int count = num->count, lead;
        if (count == 0 || count > 19 || num->last_zero) return 0;  /* zero, "1.0", "2.50" */
        lead = count - num->frac - 1;  /* the decimal exponent of the first digit */
        return lead >= -4 && lead <= 15;  /* else repr writes an exponent */
    }

    #if defined(__SIZEOF_INT128__)
    /* (b) and (c) of _tally_repr_digits for 16 to 19 digits, from _tally_binary's results. */
    static inline int _tally_repr_near(uint64_t digits, uint64_t m, int s, _tally_i128 error,
                                       _tally_u128 power) {
        _tally_u128 off;
        if (m == ((uint64_t)1 << 52) || m >= ((uint64_t)1 << 53)) return 0;  /* at a power of 2 */
        /* error = D 2^s - m 10^frac, the distance of D from d in units of 2^-s / 10^frac */
        off = 2 * (_tally_u128)(error < 0 ? -error : error);
        if (off >= ((_tally_u128)1 << s)) return 0;  /* (c): another n-digit string is nearer, or a tie */
        /* (b): the (n-1)-digit strings on either side of D, L = D - D % 10 and L + 10, in the
           same units: L 2^s - m 10^frac = error + (L - D) 2^s; reads as d if within half an ulp */
        if (_tally_rounds_to(error - ((_tally_i128)(digits % 10) << s), power, m)) return 0;
        if (_tally_rounds_to(error + ((_tally_i128)(10 - digits % 10) << s), power, m)) return 0;
        return 1;
    }
    #endif

    /* 10^k for k <= 22: the powers of 10 that doubles hold exactly */
    static const double _tally_exact_powers_of_10[23] = {
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

    /* 1 and the double of the JSON number with a fraction read into num (its sign aside), in
       *value, correctly rounded as float() and orjson read it; 0 where it is not found here
       (more than 19 significant digits; more than 15 and |d| from 2^50 or so up; no 128-bit
       integers). *is_repr: _tally_repr_digits(num), from the same arithmetic.
       Up to 15 digits and 10^22 both digits and power are exact doubles, and one division
       rounds correctly (Clinger's fast path); 16 to 19 digits: _tally_binary. */
    static inline int _tally_number_double(const _tally_number *num, double *value, int *is_repr) {
        int count = num->count, frac = num->frac;
        *is_repr = 0;
        if (count == 0) {
            *value = 0.0;
            return 1;
        }
        if (count > 19) return 0;
        if (count <= 15 && frac <= 22) {
            *value = (double)num->digits / _tally_exact_powers_of_10[frac];
            *is_repr = _tally_repr_shape(num);
            return 1;
        }
    #if !defined(__SIZEOF_INT128__)
        return 0;
    #else
        uint64_t m;
        int s;
        _tally_i128 error;
        _tally_u128 power;
        union { uint64_t bits; double value; } scale;  /* 2^-s, a normal double */
        if (!_tally_binary(num->digits, frac, &m, &s, &error, &power) || s >= 1023) return 0;
        scale.bits = (uint64_t)(1023 - s) << 52;
        *value = (double)m * scale.value;  /* exact: m is below 2^53, or 2^53; d is normal */
        *is_repr = _tally_repr_shape(num) && _tally_repr_near(num->digits, m, s, error, power);
        return 1;
    #endif
    }

    static inline int _tally_is_float_repr(const unsigned char *p, Py_ssize_t n) {
        _tally_number num;
        return _tally_read_number(p, 0, n, &num) == n && num.fraction && _tally_repr_digits(&num);
    }
    """
    ctypedef struct Number "_tally_number":
        bint fraction
        int count
        int frac
        unsigned long long digits
    Py_ssize_t _read_number "_tally_read_number"(const unsigned char *p, Py_ssize_t i, Py_ssize_t n, Number *number)
    bint _repr_digits "_tally_repr_digits"(const Number *number)
    bint _is_float_repr "_tally_is_float_repr"(const unsigned char *p, Py_ssize_t n)
    bint _number_double "_tally_number_double"(const Number *number, double *value, int *is_repr)
