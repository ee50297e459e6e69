"""Running one extractor on export-form annotations, as the tests need it."""

from __future__ import annotations

from typing import Any

from core.classification import Classification
from core.registry import get_extractor

__all__ = ["FEM", "run"]

#: Metadata of a classification made with the newer front end.
FEM = {"classifier_version": "2.0"}


def run(
    name: str,
    annotations: Any,
    metadata: dict | None = None,
    *,
    classification_id: Any = 42,
    gold_standard: Any = False,
    **kwargs: Any,
) -> Any:
    """``name`` with keywords ``kwargs`` on a classification built from an export's annotations."""
    spec = get_extractor(name)
    classification = Classification.from_export(
        annotations,
        metadata or {},
        classification_id=classification_id,
        gold_standard=gold_standard,
    )
    return spec(classification, spec.parse_params(kwargs))
