"""Errors the command line reports as "bad input" (exit status 1)."""

from __future__ import annotations

from core.errors import TallyError

__all__ = ["InputError", "separator_problem", "with_article"]


class InputError(TallyError, ValueError):
    """An input file cannot be used: missing, empty, not UTF-8, not a Panoptes export, no match.

    The message says what was expected, what was found and how to fix it; the CLI prints it
    after ``tally <command>: error:`` and exits with status 1.
    """


def separator_problem(header: list[str], path: object, what: str) -> InputError | None:
    """An error for a header that is one cell holding ``;`` or tabs: not a comma-separated file.

    Spreadsheet programs in many locales save "CSV" with semicolons; the missing-columns message
    alone would list one long column name. :func:`tally.tables.require_columns` asks this first.

    >>> print(separator_problem(["classification_id;user_name"], "e.csv", "Panoptes export"))
    e.csv is separated by ';', not commas, so it is not a Panoptes export: use the original file (as downloaded or written by tally), or save it again as CSV with ',' as the separator
    >>> separator_problem(["classification_id", "user_name"], "e.csv", "Panoptes export") is None
    True
    """
    if len(header) != 1:
        return None
    for separator, name in ((";", "';'"), ("\t", "tabs")):
        if separator in header[0]:
            return InputError(
                f"{path} is separated by {name}, not commas, so it is not {with_article(what)}: "
                "use the original file (as downloaded or written by tally), or save it again as "
                "CSV with ',' as the separator"
            )
    return None


def with_article(noun: str) -> str:
    """``noun`` with "a" or "an" in front, for messages.

    >>> with_article("extraction CSV"), with_article("Panoptes export")
    ('an extraction CSV', 'a Panoptes export')
    """
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
