"""Progress bars on stderr (tqdm): counts, rate and ETA; silent with ``-hb`` or off a terminal.

A hidden bar is a :class:`HiddenBar`, so runs without a bar (``-hb``, CI, pipes) do not import
tqdm at all (about 20 ms of start-up, most of it ``importlib.metadata``).

>>> with progress_bar("Reading", total=10, unit="B", hide=True) as bar:
...     bar.update(4)
...     bar.set_postfix(rows=2)
>>> bar.n
4
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

__all__ = ["HiddenBar", "progress_bar"]


class HiddenBar:
    """The part of tqdm's interface the commands use, counting but showing nothing."""

    def __init__(self, total: float | None = None) -> None:
        self.total = total
        self.n: float = 0

    def update(self, n: float = 1) -> None:
        self.n += n

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> HiddenBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(
    description: str, *, total: float | None, unit: str, hide: bool, **options: Any
) -> tqdm | HiddenBar:
    """A tqdm bar on stderr; a :class:`HiddenBar` when ``hide`` or stderr is not a terminal."""
    if hide or not sys.stderr.isatty():
        return HiddenBar(total)
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=description,
        unit=unit,
        file=sys.stderr,
        dynamic_ncols=True,
        mininterval=0.5,
        **options,
    )
