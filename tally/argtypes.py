"""Argument types shared by the subcommands' parsers (``type=`` callables for argparse).

Only the standard library: every parser is built at start-up, so this must stay cheap to import.

>>> positive_int("3"), positive_float("0.5"), whole_number("-2")
(3, 0.5, -2)
>>> positive_int("0")
Traceback (most recent call last):
...
argparse.ArgumentTypeError: must be at least 1, got 0
"""

from __future__ import annotations

import argparse
import os

__all__ = [
    "base_name",
    "existing_dir",
    "positive_float",
    "positive_int",
    "swapped_order",
    "whole_number",
    "writable_dir",
]


def existing_dir(text: str) -> str:
    """An existing directory, as an absolute path."""
    if not os.path.exists(text):
        raise argparse.ArgumentTypeError(f"path does not exist: {text!r}")
    if not os.path.isdir(text):
        raise argparse.ArgumentTypeError(f"path is not a directory: {text!r}")
    return os.path.abspath(text)


def writable_dir(text: str) -> str:
    """An existing directory this process may create files in, as an absolute path."""
    path = existing_dir(text)
    if not os.access(path, os.W_OK | os.X_OK):
        raise argparse.ArgumentTypeError(
            f"cannot write into {text!r} (permission denied); choose another directory or "
            "change its permissions"
        )
    return path


def base_name(text: str) -> str:
    """A file base name without a directory part (``-o``; the directory is ``-d``).

    >>> base_name("extractions.csv")
    'extractions.csv'
    >>> base_name("out/extractions")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a base name without a directory, got 'out/extractions'; put the directory in -d (e.g. -d out -o extractions)
    """
    head, tail = os.path.split(text)
    if head or os.sep in text or (os.altsep and os.altsep in text):
        raise argparse.ArgumentTypeError(
            f"expected a base name without a directory, got {text!r}; put the directory in -d "
            f"(e.g. -d {head or '.'} -o {tail or 'extractions'})"
        )
    return text


def swapped_order(command: str, table: tuple[str, str], config: tuple[str, str]) -> str | None:
    """The usage error for a CSV and a YAML positional argument given in the wrong order, or None.

    ``table`` and ``config`` are ``(metavar, value)``.

    >>> print(swapped_order("extract", ("CSV", "c.yaml"), ("CONFIG", "e.csv")))
    tally extract: error: the arguments are in the wrong order: CSV first, then CONFIG (got 'c.yaml', then 'e.csv')
    >>> swapped_order("extract", ("CSV", "e.csv"), ("CONFIG", "c.yaml")) is None
    True
    """
    (table_name, table_value), (config_name, config_value) = table, config
    if not (
        table_value.lower().endswith((".yaml", ".yml")) and config_value.lower().endswith(".csv")
    ):
        return None
    return (
        f"tally {command}: error: the arguments are in the wrong order: {table_name} first, "
        f"then {config_name} (got {table_value!r}, then {config_value!r})"
    )


def whole_number(text: str) -> int:
    """Any integer."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    """An integer of at least 1."""
    value = whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_float(text: str) -> float:
    """A number greater than 0 (e.g. seconds or a rate)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:  # also rejects nan
        raise argparse.ArgumentTypeError(f"must be greater than 0, got {text!r}")
    return value
