"""Progress bars on stderr (tqdm): counts, rate and ETA; silent with ``-hb`` or off a terminal."""

from __future__ import annotations

import sys
from typing import Any

from tqdm import tqdm

__all__ = ["progress_bar"]


def progress_bar(
    description: str, *, total: float | None, unit: str, hide: bool, **options: Any
) -> tqdm:
    """A tqdm bar on stderr, disabled when ``hide`` or stderr is not a terminal (CI, pipes)."""
    disabled = hide or not sys.stderr.isatty()
    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        disable=disabled,
        dynamic_ncols=True,
        mininterval=0.5,
        **options,
    )
