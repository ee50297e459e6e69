"""Loading the oracle's golden cases (tests/golden/functions/*.json) and comparing results.

A golden case is produced by tests/golden/regenerate.py from panoptes-aggregation 5.3.1; see
tests/golden/README.md for the format. NaN is stored as the string "NaN".
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from core.classification import Classification
from core.registry import ExtractRecord, get_extractor, get_reducer

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden" / "functions"
TOLERANCE = 1e-6


def golden_files() -> list[Path]:
    return sorted(GOLDEN_DIR.glob("*.json"))


def load_cases(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))


def case_input(case: dict[str, Any]) -> tuple[Any, Any]:
    """The registered spec a golden case names and the input it describes.

    The input is a :class:`Classification` for extractor cases and a list of
    :class:`ExtractRecord` for reducer cases.
    """
    if case["kind"] == "extractor":
        spec = get_extractor(case["name"])
        raw = case["classification"]
        classification = Classification.from_export(
            raw.get("annotations"),
            raw.get("metadata") or {},
            classification_id=raw.get("classification_id"),
            gold_standard=raw.get("gold_standard", False),
        )
        return spec, classification
    spec = get_reducer(case["name"])
    extracts = case["extracts"]
    user_ids = case.get("user_id") or [None] * len(extracts)
    created = case.get("created_at") or [None] * len(extracts)
    records = [
        ExtractRecord(data=e, user_id=u, created_at=t)
        for e, u, t in zip(extracts, user_ids, created, strict=True)
    ]
    return spec, records


def run_case(case: dict[str, Any]) -> Any:
    """Run our registered function on a golden case's input."""
    spec, argument = case_input(case)
    return spec(argument, spec.parse_params(case.get("kwargs") or {}))


def to_plain(value: Any) -> Any:
    """JSON round trip, with NaN written as "NaN" the way the goldens store it."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, dict):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str | bytes):  # numpy scalar
        return to_plain(value.item())
    return value


#: Reducers whose oracle dict key order comes from iterating Python sets of strings (frames,
#: tools, v2 subtask ``_clusters`` keys), so it depends on the hash seed and carries no meaning
#: (tests/golden/README.md, "Dict key order"); their dicts are compared without key order.
UNORDERED_KEYS = frozenset(
    {
        "point_reducer",
        "point_reducer_dbscan",
        "point_reducer_hdbscan",
        "rectangle_reducer",
        "shape_reducer_dbscan",
        "shape_reducer_hdbscan",
        "shape_reducer_optics",
        "temporal_point_reducer_dbscan",
        "temporal_point_reducer_hdbscan",
    }
)


def differences(
    actual: Any, expected: Any, path: str = "$", *, key_order: bool = True
) -> list[str]:
    """Every place where ``actual`` differs from ``expected`` (numbers to 1e-6, key order too
    unless ``key_order`` is False)."""
    actual = to_plain(actual)
    out: list[str] = []
    _diff(actual, expected, path, out, key_order)
    return out


def _diff(a: Any, e: Any, path: str, out: list[str], key_order: bool = True) -> None:
    if isinstance(e, dict):
        if not isinstance(a, dict):
            out.append(f"{path}: expected an object, got {a!r}")
            return
        if (list(a) != list(e)) if key_order else (sorted(a) != sorted(e)):
            out.append(f"{path}: keys {list(a)} != expected {list(e)}")
        for key in e:
            if key in a:
                _diff(a[key], e[key], f"{path}.{key}", out, key_order)
        return
    if isinstance(e, list):
        if not isinstance(a, list) or len(a) != len(e):
            out.append(f"{path}: expected {e!r}, got {a!r}")
            return
        for i, (x, y) in enumerate(zip(a, e, strict=True)):
            _diff(x, y, f"{path}[{i}]", out, key_order)
        return
    if isinstance(e, bool) or isinstance(a, bool):
        if a is not e:
            out.append(f"{path}: expected {e!r}, got {a!r}")
        return
    if isinstance(e, int | float) and isinstance(a, int | float):
        if not math.isclose(a, e, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
            out.append(f"{path}: expected {e!r}, got {a!r}")
        return
    if a != e or type(a) is not type(e):
        out.append(f"{path}: expected {e!r} ({type(e).__name__}), got {a!r} ({type(a).__name__})")
