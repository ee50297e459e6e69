"""Shape-specific pieces of the shape reducers: symmetry normalisation, angle metric, average.

With the ``euclidean`` metric type a mark is the vector of its shape parameters
(``core.shapes.SHAPE_PARAMS``). Shapes whose last parameter is an angle (ellipse,
rotateRectangle, triangle, fan) measure that component as a circular distance with period
``360 / factor`` and average it with a bounded 1-D minimisation, as the reference does; with
``symmetric=True`` the factor is the shape's rotational symmetry (ellipse 2, rotateRectangle 2,
triangle 3, fan 1) and marks are first normalised (:data:`NORMALISE`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = [
    "ANGLE_FACTOR",
    "NORMALISE",
    "SYMMETRIC_ANGLE_FACTOR",
    "angle_factor",
    "average",
    "distance_matrix",
]

#: Angle period factor per shape with a trailing angle parameter (period = 360 / factor).
ANGLE_FACTOR: dict[str, int] = {"ellipse": 1, "rotateRectangle": 1, "triangle": 1, "fan": 1}
#: The same with ``symmetric=True``: the shape's rotational symmetry.
SYMMETRIC_ANGLE_FACTOR: dict[str, int] = {
    "ellipse": 2,
    "rotateRectangle": 2,
    "triangle": 3,
    "fan": 1,
}


def angle_factor(shape: str, symmetric: bool) -> int | None:
    """The angle factor for ``shape``, or None when the shape has no angle parameter."""
    return (SYMMETRIC_ANGLE_FACTOR if symmetric else ANGLE_FACTOR).get(shape)


def _ellipse(row: tuple) -> tuple:
    x, y, rx, ry, angle = row
    if ry <= rx:
        return (x, y, rx, ry, angle % 180)
    return (x, y, ry, rx, (angle - 90) % 180)


def _line(row: tuple) -> tuple:
    x1, y1, x2, y2 = row
    if x1 < x2 or (x1 == x2 and y1 < y2):
        return (x1, y1, x2, y2)
    return (x2, y2, x1, y1)


def _rotate_rectangle(row: tuple) -> tuple:
    x, y, width, height, angle = row
    if height <= width:
        return (x, y, width, height, angle % 180)
    shift = (height - width) / 2
    return (x - shift, y + shift, height, width, (angle - 90) % 180)


def _triangle(row: tuple) -> tuple:
    x, y, r, angle = row
    return (x, y, r, angle % 120)


#: ``symmetric=True`` rewrites each mark to one canonical form of the same drawn shape.
NORMALISE: dict[str, Callable[[tuple], tuple]] = {
    "ellipse": _ellipse,
    "line": _line,
    "rotateRectangle": _rotate_rectangle,
    "triangle": _triangle,
}


def _circular(diff: np.ndarray, period: float) -> np.ndarray:
    return np.minimum(period - diff, diff)


def distance_matrix(points: np.ndarray, factor: int) -> np.ndarray:
    """Pairwise distances with the last column measured around a circle of period 360/factor.

    >>> float(distance_matrix(np.array([[0.0, 350.0], [0.0, 10.0]]), 1)[0, 1])
    20.0
    """
    period = 360 / factor
    diff = points[:, None, :] - points[None, :, :]
    wrapped = np.mod(points[:, -1], period)
    diff[:, :, -1] = _circular(np.abs(wrapped[:, None] - wrapped[None, :]), period)
    return np.sqrt(np.einsum("ijk,ijk->ij", diff, diff))


def _mean_angle(theta: np.ndarray, factor: int) -> float:
    """The angle minimising the summed squared circular distance, rounded to 3 decimals.

    The objective is summed in plain Python, element by element, exactly as the reference sums
    it: the optimiser's path, and so the last rounded digit, depends on the last bits of it.
    """
    from scipy.optimize import minimize_scalar

    period = 360 / factor
    angles = list(theta)

    def spread(a: float) -> float:
        total = 0
        for t in angles:
            d = abs(a % period - t % period)
            total += min(period - d, d) ** 2
        return total

    best = minimize_scalar(spread, bounds=(0, period), method="bounded")
    return float(np.round(best.x, 3) % period)


def average(members: np.ndarray, factor: int | None) -> np.ndarray:
    """Cluster centre: parameter means, the angle (if any) averaged around the circle."""
    centre = members.mean(axis=0)
    if factor is not None:
        centre[-1] = _mean_angle(members[:, -1], factor)
    return centre
