"""``who`` (Caesar's ``WhoExtractor``): which volunteer made the classification."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.params import Params
from core.registry import extractor

__all__ = ["WhoParams", "who"]


class WhoParams(Params):
    """``who`` takes no keywords."""


@extractor("who", params=WhoParams)
def who(classification: Classification, params: WhoParams) -> dict[str, Any]:
    """``{"user_id": the volunteer's Panoptes id}``; null for an anonymous volunteer.

    The id comes from :attr:`Classification.user_id`, which the engine and the CLI set from the
    classification's ``links.user`` (or the export's ``user_id`` column). Panoptes events carry
    ids as text; like Caesar (which stores ``links.user.to_i``) a numeric text id becomes an
    integer. Combined with
    ``unique_count`` (``field: user_id``) it counts distinct volunteers.

    Parameters
    ----------
    classification : Classification
    params : WhoParams

    Examples
    --------
    >>> who(Classification.from_export([], user_id=1234), WhoParams())
    {'user_id': 1234}
    >>> who(Classification.from_export([], user_id="1234"), WhoParams())
    {'user_id': 1234}
    >>> who(Classification.from_export([]), WhoParams())
    {'user_id': None}
    """
    user_id = classification.user_id
    if isinstance(user_id, str) and user_id.strip().isdigit():
        user_id = int(user_id)
    return {"user_id": user_id}
