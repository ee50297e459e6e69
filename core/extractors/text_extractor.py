"""``text_extractor``: the text a volunteer typed into a text task."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.extractors._common import annotation_value, first_annotation
from core.params import Params
from core.registry import extractor

__all__ = ["TextParams", "text_extractor"]


class TextParams(Params):
    task: str = "all"


@extractor("text_extractor", params=TextParams)
def text_extractor(classification: Classification, params: TextParams) -> dict[str, Any]:
    """The first annotation's text and the classification's gold-standard flag.

    ``gold_standard`` is the classification's own flag; exports do not carry it, so it is
    ``False`` for classifications read from a CSV (as in the reference). ``{}`` if not answered.

    Parameters
    ----------
    classification : Classification
    params : TextParams
        ``task``: the text task id.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T7", "value": "hello world"}])
    >>> text_extractor(c, TextParams(task="T7"))
    {'text': 'hello world', 'gold_standard': False}
    """
    annotation = first_annotation(classification, params.task)
    if annotation is None:
        return {}
    return {
        "text": annotation_value(classification, annotation, params.task),
        "gold_standard": classification.gold_standard,
    }
