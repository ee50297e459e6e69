"""The effect executor: performs the actions rules fired (webhooks, Panoptes calls), each once.

See :mod:`stream.effects.executor` and docs/rules.md; run it with ``tally effects run``.
"""

from stream.effects.executor import Executor, Outcome, RunSummary
from stream.effects.http import EffectFailed, RetryPolicy
from stream.effects.panoptes import PanoptesClient
from stream.effects.state import ExecutorState, StateLockedError

__all__ = [
    "EffectFailed",
    "Executor",
    "ExecutorState",
    "Outcome",
    "PanoptesClient",
    "RetryPolicy",
    "RunSummary",
    "StateLockedError",
]
