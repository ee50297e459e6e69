"""Errors the command line reports as "bad input" (exit status 1)."""

from __future__ import annotations

from core.errors import TallyError

__all__ = ["InputError"]


class InputError(TallyError, ValueError):
    """An input file cannot be used: missing, empty, not UTF-8, not a Panoptes export, no match.

    The message says what was expected, what was found and how to fix it; the CLI prints it
    after ``tally <command>: error:`` and exits with status 1.
    """
