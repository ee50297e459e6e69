"""Helpers shared by extractors."""

from __future__ import annotations

from typing import Any

from core.classification import Classification

__all__ = ["first_annotation_value"]


def first_annotation_value(classification: Classification, task: str) -> Any:
    """``value`` of the first annotation of ``task``; None when the task was not answered."""
    annotations = classification.for_task(task)
    if not annotations:
        return None
    return annotations[0].get("value")
