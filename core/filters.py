"""Caesar's per-reducer extract filters and grouping (``filters:`` and ``grouping:`` in a reducer
config), parsed strictly and applied as pure functions.

A reducer config may carry, next to ``reducer_config``::

    filters:
      repeated_classifications: keep_first   # keep_first (default) | keep_last | keep_all
      extractor_keys: [pluck]                # which extractor's extracts the reducer reads
      empty_extracts: ignore_empty           # keep_all (default) | ignore_empty
      training_behavior: experiment_only     # ignore_training (default) | training_only | experiment_only
      from: 0                                # first classification kept (default 0)
      to: -1                                 # last classification kept, inclusive (default -1)
    grouping:
      field_name: pluck.species              # <extractor key>.<field>
      if_missing: ignore                     # error (default) | ignore

The semantics are Caesar's ``ExtractFilter`` and ``ExtractGrouping`` (caesar.md §2.5-2.6), applied
over the subject's *whole* history in ``(created_at, classification_id)`` order (Caesar's
default reduction mode), so the result never depends on arrival order. ``docs/rules.md``
("Filters and grouping") is the user-facing description; this module is the reference the
engine and the tests share.

>>> f = parse_filters({"repeated_classifications": "keep_last", "from": 1}, "reducer config #1")
>>> f.repeated, f.start, f.stop, f.empty, f.training
('keep_last', 1, -1, 'keep_all', 'ignore_training')
>>> subrange(["a", "b", "c", "d"], 1, -2)
['b', 'c']
>>> subgroup_text(True), subgroup_text(2.0), subgroup_text("lion")
('true', '2.0', 'lion')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from core import ruby
from core.errors import TallyError

__all__ = [
    "EMPTY_MODES",
    "REPEATED_MODES",
    "TRAINING_MODES",
    "batch_refusal",
    "ExtractFilters",
    "FilterError",
    "Grouping",
    "is_blank",
    "is_training_subject",
    "parse_filters",
    "parse_grouping",
    "select_repeated",
    "subgroup_text",
    "subrange",
]

REPEATED_MODES = ("keep_first", "keep_last", "keep_all")
EMPTY_MODES = ("keep_all", "ignore_empty")
TRAINING_MODES = ("ignore_training", "training_only", "experiment_only")
IF_MISSING = ("error", "ignore")
TRAINING_KEY = "#training_subject"

_FILTER_KEYS = (
    "repeated_classifications",
    "extractor_keys",
    "empty_extracts",
    "training_behavior",
    "from",
    "to",
)
_GROUPING_KEYS = ("field_name", "if_missing")


class FilterError(TallyError, ValueError):
    """A reducer config's ``filters:`` or ``grouping:`` is malformed."""


# Named tuples, not frozen dataclasses: as immutable, without 1 ms a class at every start.


class ExtractFilters(NamedTuple):
    """A reducer's ``filters:``, with Caesar's defaults for what it leaves out."""

    repeated: str = "keep_first"
    extractor_keys: tuple[str, ...] | None = None
    empty: str = "keep_all"
    training: str = "ignore_training"
    start: int = 0  # Caesar's `from`
    stop: int = -1  # Caesar's `to` (inclusive)

    @property
    def whole_range(self) -> bool:
        """True when ``from``/``to`` keep every classification."""
        return self.start == 0 and self.stop == -1

    @property
    def foldable(self) -> bool:
        """True when each extract is kept or dropped on its own (keep_all, no training or range
        filter): an incremental reducer can then fold new extracts in instead of recomputing."""
        return (
            self.repeated == "keep_all" and self.training == "ignore_training" and self.whole_range
        )

    def keeps_extract(self, data: Any) -> bool:
        """The per-extract part of the chain (the emptiness filter)."""
        return not (self.empty == "ignore_empty" and is_blank(data))


class Grouping(NamedTuple):
    """A reducer's ``grouping:``: one reduction per value of ``extractor_key``'s ``field``."""

    extractor_key: str
    field: str
    if_missing: str = "error"

    @property
    def field_name(self) -> str:
        return f"{self.extractor_key}.{self.field}"

    def value(self, data: Any) -> str | None:
        """The subgroup an extract's data puts its classification in; None when missing.

        >>> Grouping("pluck", "species").value({"species": "lion"}), Grouping("p", "x").value({})
        ('lion', None)
        """
        if not isinstance(data, Mapping):
            return None
        found = data.get(self.field)
        return None if found is None else subgroup_text(found)


def _suggest(word: str, choices: Sequence[str]) -> str:
    import difflib  # here: only a misspelt filter needs it

    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _choice(
    raw: Mapping[str, Any], key: str, choices: Sequence[str], where: str, default: str
) -> str:
    value = raw.get(key, default)
    if value not in choices:
        hint = _suggest(value, choices) if isinstance(value, str) else ""
        raise FilterError(
            f"{where}: {key} must be one of {', '.join(choices)}, got {value!r}{hint}"
        )
    return value


def _integer(raw: Mapping[str, Any], key: str, where: str, default: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise FilterError(
            f"{where}: {key} must be an integer (a classification position; negative counts "
            f"from the end), got {value!r}"
        )
    return value


def parse_filters(raw: Any, where: str) -> ExtractFilters:
    """Validate a reducer config's ``filters:`` mapping; ``where`` names the config in errors.

    >>> parse_filters({"extractor_keys": "who"}, "r.yaml").extractor_keys
    ('who',)
    >>> parse_filters({"repeated_classification": "keep_all"}, "r.yaml")
    Traceback (most recent call last):
    ...
    core.filters.FilterError: r.yaml: filters: unknown key 'repeated_classification' (did you mean 'repeated_classifications'?); ...
    """
    if raw is None:
        raw = {}
    _check_keys(raw, _FILTER_KEYS, where, "filters")
    here = f"{where}: filters"
    keys = raw.get("extractor_keys")
    extractor_keys: tuple[str, ...] | None
    if keys is None:
        extractor_keys = None
    elif isinstance(keys, str):
        extractor_keys = (keys,)
    elif isinstance(keys, list) and keys and all(isinstance(k, str) for k in keys):
        extractor_keys = tuple(dict.fromkeys(keys))
    else:
        raise FilterError(
            f"{here}: extractor_keys must be an extractor key or a non-empty list of them, "
            f"got {keys!r}"
        )
    return ExtractFilters(
        repeated=_choice(raw, "repeated_classifications", REPEATED_MODES, here, "keep_first"),
        extractor_keys=extractor_keys,
        empty=_choice(raw, "empty_extracts", EMPTY_MODES, here, "keep_all"),
        training=_choice(raw, "training_behavior", TRAINING_MODES, here, "ignore_training"),
        start=_integer(raw, "from", here, 0),
        stop=_integer(raw, "to", here, -1),
    )


def _check_keys(raw: Any, known: Sequence[str], where: str, section: str) -> None:
    """``raw`` must be a mapping of known keys (an unknown one gets the nearest suggestion)."""
    if not isinstance(raw, Mapping):
        raise FilterError(f"{where}: {section} must be a mapping, got {raw!r}")
    for key in raw:
        if key not in known:
            raise FilterError(
                f"{where}: {section}: unknown key {key!r}{_suggest(str(key), known)}; "
                f"the keys are {', '.join(known)}"
            )


def parse_grouping(raw: Any, where: str) -> Grouping | None:
    """Validate a reducer config's ``grouping:`` mapping (``{}`` or null: no grouping).

    >>> parse_grouping({"field_name": "pluck.species", "if_missing": "ignore"}, "r.yaml")
    Grouping(extractor_key='pluck', field='species', if_missing='ignore')
    >>> parse_grouping({"field_name": "species"}, "r.yaml")
    Traceback (most recent call last):
    ...
    core.filters.FilterError: r.yaml: grouping: field_name must be <extractor key>.<field> ...
    """
    if raw is None or raw == {}:
        return None
    _check_keys(raw, _GROUPING_KEYS, where, "grouping")
    name = raw.get("field_name")
    extractor_key, dot, field = name.partition(".") if isinstance(name, str) else ("", "", "")
    if not dot or not extractor_key or not field:
        raise FilterError(
            f"{where}: grouping: field_name must be <extractor key>.<field> (e.g. "
            f"pluck_field.species), got {name!r}"
        )
    if_missing = _choice(raw, "if_missing", IF_MISSING, f"{where}: grouping", "error")
    return Grouping(extractor_key, field, if_missing)


def is_blank(data: Any) -> bool:
    """Caesar's ``ignore_empty`` test: the extract's data is blank in Rails' sense (null,
    ``{}``, ``""``, ``[]``, ``false``).

    >>> is_blank({}), is_blank(None), is_blank({"a": 0}), is_blank(0)
    (True, True, False, False)
    """
    return ruby.blank(data)


def is_training_subject(metadata: Mapping[str, Any] | None) -> bool:
    """``#training_subject`` is ``"true"`` (any case; a JSON ``true`` too) in the metadata.

    >>> is_training_subject({"#training_subject": "TRUE"}), is_training_subject({})
    (True, False)
    >>> is_training_subject({"#training_subject": "false"})
    False
    """
    if not metadata:
        return False
    value = metadata.get(TRAINING_KEY)
    if value is True:
        return True
    return isinstance(value, str) and value.strip().lower() == "true"


def subgroup_text(value: Any) -> str:
    """A group value as the text Caesar stores in ``subgroup`` (Ruby's ``to_s``; lists and
    objects as JSON text)."""
    if isinstance(value, list | tuple | Mapping):
        import orjson  # here: a batch reduce imports this module but never groups

        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    return ruby.to_s(value)


def subrange(items: Sequence[Any], start: int, stop: int) -> list[Any]:
    """Ruby's ``items[start..stop]`` (inclusive, negative positions from the end), with Ruby's
    ``nil`` (a start past the end) as an empty list.

    >>> subrange([1, 2, 3], 0, 1), subrange([1, 2, 3], -2, -1), subrange([1, 2, 3], 3, 5)
    ([1, 2], [2, 3], [])
    >>> subrange([1, 2, 3], -5, -1), subrange([1, 2, 3], 2, 0), subrange([1, 2, 3], 1, 10)
    ([], [], [2, 3])
    """
    n = len(items)
    first = start + n if start < 0 else start
    last = stop + n if stop < 0 else stop
    if first < 0 or first > n:
        return []
    return list(items[first : last + 1]) if last >= first else []


def select_repeated(classifications: Sequence[tuple[Any, Any]], mode: str) -> set[Any]:
    """Which classifications survive Caesar's repeatedness filter.

    ``classifications`` are ``(classification_id, whose)`` pairs in ``(created_at,
    classification_id)`` order, one per classification; ``whose`` is the volunteer (None for
    anonymous ones, who are always kept). ``keep_first`` keeps each volunteer's first,
    ``keep_last`` the last, ``keep_all`` everything.

    >>> sorted(select_repeated([(1, "a"), (2, "b"), (3, "a"), (4, None), (5, None)], "keep_first"))
    [1, 2, 4, 5]
    >>> sorted(select_repeated([(1, "a"), (2, "b"), (3, "a")], "keep_last"))
    [2, 3]
    """
    if mode == "keep_all":
        return {cid for cid, _ in classifications}
    chosen: dict[Any, Any] = {}
    kept: set[Any] = set()
    for cid, whose in classifications:
        if whose is None:
            kept.add(cid)
        elif mode == "keep_last" or whose not in chosen:
            chosen[whose] = cid
    return kept | set(chosen.values())


def batch_refusal(document: Any) -> str | None:
    """Why ``tally reduce`` refuses a reducer config, or None when it can run it.

    Caesar's filters and grouping need what an extraction CSV does not hold (subject metadata
    for the training filter, every extractor's extracts for repeatedness and grouping), so the
    batch reducer refuses them instead of silently reducing without them.

    >>> batch_refusal({"reducer_config": {"count": {}}}) is None
    True
    >>> print(batch_refusal({"reducer_config": {"count": {}}, "filters": {}})[:39])
    filters: is one of Caesar's per-reducer
    """
    if not isinstance(document, Mapping):
        return None
    present = [key for key in ("filters", "grouping") if key in document]
    if not present:
        return None
    return (
        f"{' and '.join(k + ':' for k in present)} is one of Caesar's per-reducer settings, "
        "applied by the incremental engine (tally aggregate, tally worker); an extraction CSV "
        "lacks what they need (subject metadata, the other extractors' extracts), so "
        "tally reduce does not run them. Remove them to reduce here, or use tally aggregate "
        "(docs/rules.md, 'Filters and grouping')"
    )
