"""Shared parts of ``first_n_true_reducer`` and ``first_n_false_reducer``.

Both look only at the ``result`` flags of the first ``n`` extracts, in the order the records
arrive (the engine feeds them in ``created_at`` order), so their incremental form is
order-sensitive and its state is just those first ``n`` flags.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from core.params import Params, field_with
from core.registry import ExtractRecord

__all__ = ["FirstNFlags", "FirstNParams", "first_flags"]


class FirstNParams(Params):
    """Keywords of the first-n reducers.

    n
        How many of the first extracts must agree; ``0`` (the default) always gives False.
    """

    n: int = field_with(0, minimum=0)


def _flag(record: ExtractRecord) -> bool:
    # An extract without ``result`` counts as False, as in the reference.
    return bool(record.data.get("result", False))


def first_flags(records: Sequence[ExtractRecord], n: int) -> list[bool]:
    """The ``result`` flags of the first ``n`` records (fewer if there are fewer records)."""
    return [_flag(r) for r in records[:n]]


class FirstNFlags:
    """Incremental base: state ``{"first": [flag, ...]}``, at most ``n`` flags.

    ``merge(a, b)`` treats a's records as earlier than b's. Subclasses define ``result``.
    The state only holds ``n`` flags, so it is tied to the ``n`` it was built with: after a
    config change to a larger ``n`` it must be rebuilt from the subject's stored extracts.
    """

    state_version = 1
    order_sensitive = True

    @staticmethod
    def init(params: FirstNParams) -> dict[str, Any]:
        return {"first": []}

    @staticmethod
    def add(state: dict, record: ExtractRecord, params: FirstNParams) -> dict:
        if len(state["first"]) >= params.n:
            return {"first": list(state["first"])}
        return {"first": [*state["first"], _flag(record)]}

    @staticmethod
    def merge(a: dict, b: dict, params: FirstNParams) -> dict:
        return {"first": [*a["first"], *b["first"]][: params.n]}
