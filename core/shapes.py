"""The drawing-tool shapes and the parameters that describe one mark of each.

One table, shared by ``shape_extractor`` (which keys it reads from a mark and writes to the
extract) and the shape reducers (which columns they cluster on). The parameter order is the
reference's (panoptes_aggregation ``shape_tools.SHAPE_LUT``): it fixes the order of the output keys
and, for shapes with an angle, puts the angle last (``fan``'s ``rotation``).

>>> shape_params("circle")
('x', 'y', 'r')
>>> shape_params("circel")
Traceback (most recent call last):
...
core.errors.InvalidParameterError: unknown shape 'circel'; did you mean 'circle'? Valid shapes: circle, column, ...
"""

from __future__ import annotations

import difflib

from core.errors import InvalidParameterError

__all__ = ["SHAPES", "SHAPE_PARAMS", "shape_params"]

SHAPE_PARAMS: dict[str, tuple[str, ...]] = {
    "circle": ("x", "y", "r"),
    "column": ("x", "width"),
    "ellipse": ("x", "y", "rx", "ry", "angle"),
    "fullWidthLine": ("y",),
    "fullHeightLine": ("x",),
    "line": ("x1", "y1", "x2", "y2"),
    "point": ("x", "y"),
    "rectangle": ("x", "y", "width", "height"),
    "rotateRectangle": ("x", "y", "width", "height", "angle"),
    "triangle": ("x", "y", "r", "angle"),
    "fan": ("x", "y", "radius", "spread", "rotation"),
    "temporalRotateRectangle": ("x_center", "y_center", "width", "height", "angle", "displayTime"),
    "temporalPoint": ("x", "y", "displayTime"),
}

#: Every shape name, in the table's order (usable as ``field_with(choices=SHAPES)``).
SHAPES: tuple[str, ...] = tuple(SHAPE_PARAMS)


def shape_params(shape: str) -> tuple[str, ...]:
    """The parameters of one mark of ``shape``, in output order; unknown names suggest the nearest."""
    try:
        return SHAPE_PARAMS[shape]
    except KeyError:
        close = difflib.get_close_matches(str(shape), SHAPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        raise InvalidParameterError(
            f"unknown shape {shape!r}{hint} Valid shapes: {', '.join(sorted(SHAPES))}"
        ) from None
