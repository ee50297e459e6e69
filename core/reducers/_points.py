"""What ``point_reducer_dbscan`` and ``point_reducer_hdbscan`` share: grouping points by frame and tool.

Extract layout (``point_extractor_by_frame``): ``{"frame0": {"T0_tool0_x": [...], "T0_tool0_y":
[...], "T0_tool0_details": [...]}}``. A key's tool is everything before its last ``_``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from core.reducers._clustering import frame_keys, group_rows, mark_array
from core.registry import ExtractRecord

__all__ = ["point_groups"]


def _tool_of(key: str) -> str:
    return "_".join(key.split("_")[:-1])


def point_groups(
    records: Sequence[ExtractRecord], *, reducer: str
) -> dict[str, dict[str, np.ndarray]]:
    """``{frame: {tool: array of (x, y) rows}}``; points with a ``None`` coordinate are dropped."""
    grouped = group_rows(
        records, frame_keys(records), _tool_of, lambda t: (f"{t}_x", f"{t}_y"), reducer=reducer
    )
    return {
        frame: {
            tool: mark_array(
                [xy for xy in rows if None not in xy], reducer=reducer, where=f"{frame} {tool}"
            )
            for tool, rows in tools.items()
        }
        for frame, tools in grouped.items()
    }
