"""An extract as a reducer sees it in batch mode, for the incremental engine.

``tally reduce`` (like panoptes_aggregation) reads extracts back from the extraction CSV: number
strings become numbers, lists and dicts written with Python ``str()`` are parsed back, ints may
become floats. The engine never writes that CSV, so it applies the same write-then-read to each
extract here, cell by cell, which makes embedded, Kafka and batch modes reduce the same values.

The one thing a single extract cannot know is its whole CSV column: in a file, a column of
integers with gaps is read back as floats (``1`` -> ``1.0``). Reducers treat ``1`` and ``1.0``
alike, and the reduction CSVs compare equal as numbers; docs/compatibility.md notes it.

>>> read_back({"slider_value": "0.3"})
{'slider_value': 0.3}
>>> read_back({"frame0": {"T0_tool0_x": [1.5, 2], "T0_tool0_details": [[{"0": 1}]]}})
{'frame0': {'T0_tool0_x': [1.5, 2], 'T0_tool0_details': [[{'0': 1}]]}}
>>> read_back({"yes": 1, "text": "[not a list"})
{'yes': 1, 'text': '[not a list'}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.csv_layout import (
    DATA_PREFIX,
    ReadKinds,
    convert_cell,
    flatten,
    format_cell,
    literal_cell,
    unflatten,
)

__all__ = ["read_back"]


def _written_kind(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "object"
    return "int" if isinstance(value, int) else "float"


def read_back(data: Any) -> Any:
    """``data`` after one trip through an extraction CSV cell-by-cell (see module docstring)."""
    if not isinstance(data, Mapping):
        return data
    if all(type(v) is int for v in data.values()) and not any(
        isinstance(k, str) and "." in k for k in data
    ):
        # Answer counts ({"yes": 1}) read back as they are: the common case. (A dotted key
        # would be split into nested columns by the CSV layout.)
        return dict(data)
    cells = []
    for key, value in flatten(data).items():
        text = format_cell(value, _written_kind(value))
        kinds = ReadKinds([key])
        kinds.add_cell(0, text)
        kind = kinds.kinds()[key]
        parsed = convert_cell(text, kind)
        if kind == "str" and parsed is not None:
            parsed = literal_cell(parsed)
        cells.append((DATA_PREFIX + key, parsed))
    return unflatten(cells)
