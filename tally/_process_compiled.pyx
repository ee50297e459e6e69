# cython: language_level=3
"""``prctl(PR_SET_PDEATHSIG)`` for :func:`tally.parallel.exit_with_parent`, without ctypes.

Importing ctypes and looking ``prctl`` up in the program cost ~2.5 ms of every parallel batch
command's serial start (the parent does it before forking its workers, which then need not);
this module is a small shared object. Linux only: elsewhere importing it raises ImportError, and
``tally.parallel`` asks ctypes, which finds no ``prctl`` there either.
"""

cdef extern from *:
    """
    #ifdef __linux__
    #include <sys/prctl.h>
    #define _TALLY_PRCTL 1
    static int _tally_set_pdeathsig(int sig) {
        return prctl(PR_SET_PDEATHSIG, (unsigned long)sig, 0UL, 0UL, 0UL);
    }
    static int _tally_get_pdeathsig(void) {
        int sig = 0;
        return prctl(PR_GET_PDEATHSIG, (unsigned long)&sig, 0UL, 0UL, 0UL) ? -1 : sig;
    }
    #else
    #define _TALLY_PRCTL 0
    static int _tally_set_pdeathsig(int sig) { return -1; }
    static int _tally_get_pdeathsig(void) { return -1; }
    #endif
    """
    bint _PRCTL "_TALLY_PRCTL"
    int _set_pdeathsig "_tally_set_pdeathsig"(int sig)
    int _get_pdeathsig "_tally_get_pdeathsig"()


if not _PRCTL:
    raise ImportError("prctl(PR_SET_PDEATHSIG) is Linux's")


def set_parent_death_signal(int sig) -> int:
    """Have this process get ``sig`` when the thread that forked it ends; ``prctl``'s result
    (0, or -1 for an invalid signal), as ``ctypes.CDLL(None).prctl(1, sig)`` returns it."""
    return _set_pdeathsig(sig)


def parent_death_signal() -> int:
    """The signal :func:`set_parent_death_signal` set (0: none; ``PR_GET_PDEATHSIG``)."""
    return _get_pdeathsig()
