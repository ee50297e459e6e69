"""Answer labels as the reference writes them: lower-case ASCII slugs joined by '-'.

>>> slug("Nothing here")
'nothing-here'
>>> slug(0), slug(None), slug(True)
('0', 'none', 'true')
>>> slug("Ñandú")
'nandu'
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from slugify import slugify

__all__ = ["slug"]


@lru_cache(maxsize=65536)
def _slug_text(text: str) -> str:
    return slugify(text, separator="-")


def slug(value: Any) -> str:
    """Slug of an answer label; non-strings are first written with ``str()``."""
    return _slug_text(value if isinstance(value, str) else str(value))
