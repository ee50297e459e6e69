"""``slider_extractor``: the value a volunteer set on a slider."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.extractors._common import annotation_value, first_annotation
from core.params import Params
from core.registry import extractor

__all__ = ["SliderParams", "slider_extractor"]


class SliderParams(Params):
    task: str = "all"


@extractor("slider_extractor", params=SliderParams)
def slider_extractor(classification: Classification, params: SliderParams) -> dict[str, Any]:
    """The first annotation's value, unchanged, as ``slider_value``; ``{}`` if not answered.

    PFE stores the value as a string (``"0.3"``); it is passed through as written.

    Parameters
    ----------
    classification : Classification
    params : SliderParams
        ``task``: the slider task id.

    Examples
    --------
    >>> c = Classification.from_export([{"task": "T5", "value": "0.3"}])
    >>> slider_extractor(c, SliderParams(task="T5"))
    {'slider_value': '0.3'}
    """
    annotation = first_annotation(classification, params.task)
    if annotation is None:
        return {}
    return {"slider_value": annotation_value(classification, annotation, params.task)}
