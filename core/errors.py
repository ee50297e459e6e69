"""Error types for bad input, bad configuration and bad state.

Every message says what was expected, what was received (as a ``repr``) and how to fix it.
Choices are listed sorted, so messages are stable from run to run.

>>> err = UnknownNameError("extractor", "question_extracter", ["question_extractor", "slider_extractor"])
>>> print(err)
unknown extractor 'question_extracter'; did you mean 'question_extractor'? Valid extractors: question_extractor, slider_extractor
"""

from __future__ import annotations

from collections.abc import Iterable

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3-4 ms of tally config)
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "AnnotationParseError",
    "DuplicateNameError",
    "InvalidParameterError",
    "MalformedExtractError",
    "StateSerializationError",
    "TallyError",
    "UnknownExtractorError",
    "UnknownNameError",
    "UnknownReducerError",
    "WorkflowConfigError",
    "WorkflowVersionError",
]


class TallyError(Exception):
    """Root of every error Tally raises on purpose."""


class InvalidParameterError(TallyError, ValueError, TypeError):
    """A keyword in an extractor or reducer config has a value the function cannot use."""


class DuplicateNameError(TallyError):
    """Two registered functions share a name (raised at import time)."""


class UnknownNameError(TallyError, KeyError):
    """A config names an extractor or reducer that is not registered."""

    def __init__(self, kind: str, name: str, choices: Iterable[str]) -> None:
        self.kind = kind
        self.name = name
        self.choices = sorted(choices)
        import difflib  # here: every command imports this module, few raise this error

        close = difflib.get_close_matches(str(name), self.choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ";"
        message = f"unknown {kind} {name!r}{hint} Valid {kind}s: {', '.join(self.choices)}"
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:  # KeyError would otherwise repr() the message
        return self.message


class UnknownExtractorError(UnknownNameError):
    def __init__(self, name: str, choices: Iterable[str]) -> None:
        super().__init__("extractor", name, choices)


class UnknownReducerError(UnknownNameError):
    def __init__(self, name: str, choices: Iterable[str]) -> None:
        super().__init__("reducer", name, choices)


class AnnotationParseError(TallyError, ValueError):
    """A classification's annotations do not have the shape an extractor needs.

    Carries the classification id, the task and the index of the offending annotation, so the
    CLI can report the row and the stream can route the record to the dead-letter topic.
    """

    def __init__(
        self,
        reason: str,
        *,
        classification_id: Any = None,
        task: str | None = None,
        index: int | None = None,
    ) -> None:
        self.reason = reason
        self.classification_id = classification_id
        self.task = task
        self.index = index
        where = [f"classification {classification_id}"]
        if task is not None:
            where.append(f"task {task}")
        if index is not None:
            where.append(f"annotation #{index}")
        super().__init__(f"{', '.join(where)}: {reason}")


class MalformedExtractError(TallyError, ValueError):
    """An extract handed to a reducer lacks a key the reducer needs, or has a value it cannot use.

    Names the reducer and, when known, the classification the extract came from.
    """

    def __init__(self, reason: str, *, reducer: str, classification_id: Any = None) -> None:
        self.reason = reason
        self.reducer = reducer
        self.classification_id = classification_id
        where = (
            reducer
            if classification_id is None
            else f"{reducer}, classification {classification_id}"
        )
        super().__init__(f"{where}: {reason}")


class StateSerializationError(TallyError):
    """A stored state value could not be encoded or decoded; names the key."""


class WorkflowConfigError(TallyError, ValueError):
    """A workflow export row cannot be turned into extractor and reducer configs.

    The message names the workflow id and version (and the task or key at fault).
    """


class WorkflowVersionError(WorkflowConfigError):
    """No workflow export row matches the requested workflow id and version(s), or a version is malformed.

    The message lists the workflow ids, or that workflow's versions, that do exist.
    """
