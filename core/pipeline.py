"""A workflow's aggregation pipeline: which extractors and reducers run, parsed and validated.

The inputs are the YAML documents ``tally config`` (or ``panoptes_aggregation config``) writes:
an extractor config and one reducer config per extractor key. Parsing resolves every name and
keyword up front, so a typo fails at load time with a message naming the file's entry, not on
the millionth classification.

>>> pipeline = Pipeline.from_configs(
...     {"workflow_id": 10, "workflow_version": "16.55",
...      "extractor_config": {"question_extractor": [{"task": "T0"}, {"task": "T1"}]}},
...     [{"reducer_config": {"question_reducer": {}}}],
... )
>>> [(e.key, e.task) for e in pipeline.extractors]
[('question_extractor', 'T0'), ('question_extractor', 'T1')]
>>> pipeline.reducers[0].extractor_key
'question_extractor'
>>> pipeline.accepts_version("16.55"), pipeline.accepts_version("16.6")
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import orjson

from core.classification import version_tuple
from core.errors import TallyError
from core.filters import ExtractFilters, FilterError, Grouping, parse_filters, parse_grouping
from core.params import param_fields
from core.registry import ExtractorSpec, ReducerSpec, get_extractor, get_reducer

__all__ = [
    "ConfigError",
    "ExtractorEntry",
    "Pipeline",
    "ReducerBinding",
    "VersionRange",
    "extractor_name_for_key",
]

# Which extractor keys a reducer can consume when a reducer config does not say.
_REDUCER_INPUTS: dict[str, tuple[str, ...]] = {
    "question_reducer": ("question_extractor", "shortcut_extractor"),
    "question_consensus_reducer": ("question_extractor", "shortcut_extractor"),
    "shortcut_reducer": ("shortcut_extractor", "question_extractor"),
    "survey_reducer": ("survey_extractor",),
    "slider_reducer": ("slider_extractor",),
    "dropdown_reducer": ("dropdown_extractor",),
    "text_reducer": ("text_extractor",),
    "point_reducer_dbscan": ("point_extractor_by_frame",),
    "point_reducer_hdbscan": ("point_extractor_by_frame",),
    "first_n_true_reducer": ("all_tasks_empty_extractor",),
    "first_n_false_reducer": ("all_tasks_empty_extractor",),
}


_TOPICS = {"reduce_by_subject": "subject", "reduce_by_user": "user"}


class ConfigError(TallyError, ValueError):
    """An extractor or reducer config document is malformed."""


def extractor_name_for_key(key: str) -> str:
    """The registered extractor an extractor-config key runs (``shape_extractor_circle`` ->
    ``shape_extractor``), as the reference resolves it.

    >>> extractor_name_for_key("shape_extractor_rectangle")
    'shape_extractor'
    """
    return "shape_extractor" if "shape_extractor" in key else key


# The pipeline's parts are named tuples, not frozen dataclasses: as immutable, and a start of
# `tally extract` does not pay 1 ms to create each class (see core/registry.py).


class VersionRange(NamedTuple):
    """Inclusive range of workflow versions, compared part by part (14.55 > 14.6).

    ``version in versions`` tests a version, not the tuple's two fields.

    >>> "14.55" in VersionRange.from_config("14"), "15.1" in VersionRange.from_config("14")
    (True, False)
    """

    minimum: tuple[int, ...] = ()
    maximum: tuple[int, ...] | None = None

    @classmethod
    def from_config(cls, spec: Any) -> VersionRange:
        """From the extractor config's ``workflow_version``: ``'16.55'`` (exactly), ``'16'``
        (16.x up to and including 17, as the reference reads it), ``{min, max}`` or nothing."""
        if spec is None or spec == "":
            return cls()
        if isinstance(spec, Mapping):
            low = version_tuple(spec.get("min")) if spec.get("min") is not None else ()
            high_raw = spec.get("max")
            high = None
            if high_raw is not None:
                high = version_tuple(high_raw)
                if len(high) == 1:
                    high = (high[0] + 1,)
            return cls(low, high)
        parts = version_tuple(spec)
        if len(parts) == 1:
            return cls(parts, (parts[0] + 1,))
        return cls(parts, parts)

    def __contains__(self, version: Any) -> bool:
        parts = version_tuple(version)
        if self.minimum and _pad(parts) < _pad(self.minimum):
            return False
        return not (self.maximum is not None and _pad(parts) > _pad(self.maximum))


def _pad(parts: tuple[int, ...]) -> tuple[int, ...]:
    return parts + (0,) * (3 - len(parts))


class ExtractorEntry(NamedTuple):
    """One task entry of the extractor config, resolved."""

    key: str
    task: str
    spec: ExtractorSpec
    params: Any
    raw: Mapping[str, Any]


class ReducerBinding(NamedTuple):
    """One reducer config, bound to the extractor key whose extracts it reduces."""

    name: str
    extractor_key: str
    spec: ReducerSpec
    params: Any
    raw: Mapping[str, Any]
    key: str | None = None  # the reducer config's optional top-level `key:` (for rules)
    #: ``subject`` (reduce each subject's extracts) or ``user`` (each volunteer's; Caesar's
    #: ``topic: reduce_by_user``), from the reducer config's optional top-level ``topic:``.
    topic: str = "subject"
    #: Caesar's per-reducer extract filters (``filters:``); None: the engine's ``-F`` applies.
    filters: ExtractFilters | None = None
    #: Caesar's ``grouping:``: one reduction per value of an extract field; None: one reduction.
    grouping: Grouping | None = None

    @property
    def recomputes(self) -> bool:
        """True when this reducer's filters or grouping need the whole history on every update
        (no incremental fold; see core/filters.py)."""
        return self.grouping is not None or (self.filters is not None and not self.filters.foldable)


def _config_digest(
    extractor_config: Mapping[str, Any], reducer_configs: Sequence[Mapping[str, Any]]
) -> str:
    """The pipeline's ``config_version``: 12 hex digits of the configs' SHA-256.

    >>> _config_digest({"extractor_config": {}}, [])
    'ea417d589a31'
    """
    import hashlib  # here: batch extract never needs it (its import loads OpenSSL)

    return hashlib.sha256(
        orjson.dumps(
            {"e": extractor_config, "r": list(reducer_configs)},
            option=orjson.OPT_SORT_KEYS,
            default=str,
        )
    ).hexdigest()[:12]


class Pipeline(NamedTuple):
    workflow_id: int
    versions: VersionRange
    extractors: tuple[ExtractorEntry, ...]
    reducers: tuple[ReducerBinding, ...]
    config_version: str

    @classmethod
    def from_configs(
        cls,
        extractor_config: Mapping[str, Any],
        reducer_configs: Sequence[Mapping[str, Any]],
        *,
        reducer_keys: Sequence[str | None] | None = None,
        digest: bool = True,
    ) -> Pipeline:
        """Parse an extractor config and reducer configs (each with one reducer).

        ``reducer_keys[i]`` names the extractor key reducer config ``i`` consumes; ``None``
        (or no list) picks the one compatible extractor key in the extractor config.
        ``digest=False`` leaves ``config_version`` empty, for callers that keep no state
        between runs (batch extract): they need not import hashlib (OpenSSL, ~4 ms a start).
        """
        if not isinstance(extractor_config, Mapping) or "extractor_config" not in extractor_config:
            raise ConfigError(
                "an extractor config must be a mapping with 'extractor_config' "
                "(and 'workflow_id'), as written by `tally config`"
            )
        try:
            workflow_id = int(extractor_config["workflow_id"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(
                "the extractor config needs an integer 'workflow_id', got "
                f"{extractor_config.get('workflow_id')!r}"
            ) from None
        entries: list[ExtractorEntry] = []
        for key, tasks in (extractor_config["extractor_config"] or {}).items():
            spec = get_extractor(extractor_name_for_key(key))
            if not isinstance(tasks, list):
                raise ConfigError(f"extractor_config.{key} must be a list of task entries")
            for position, raw in enumerate(tasks):
                if not isinstance(raw, Mapping) or "task" not in raw:
                    raise ConfigError(
                        f"extractor_config.{key}[{position}] must be a mapping with a 'task' key"
                    )
                # Caesar's extractors (who, pluck_field) read no task: the entry's task only
                # names their reductions, so it is not one of their keywords.
                keywords = (
                    raw
                    if "task" in param_fields(spec.params)
                    else {k: v for k, v in raw.items() if k != "task"}
                )
                entries.append(
                    ExtractorEntry(key, str(raw["task"]), spec, spec.parse_params(keywords), raw)
                )
        keys = list(dict.fromkeys(e.key for e in entries))
        bindings: list[ReducerBinding] = []
        for index, document in enumerate(reducer_configs):
            section = document.get("reducer_config") if isinstance(document, Mapping) else None
            if not isinstance(section, Mapping) or len(section) != 1:
                raise ConfigError(
                    f"reducer config #{index + 1} must have 'reducer_config' with exactly one "
                    "reducer, as written by `tally config`"
                )
            ((name, raw),) = section.items()
            spec = get_reducer(name)
            where = f"reducer config #{index + 1} ({name})"
            try:
                filters = (
                    parse_filters(document["filters"], where) if "filters" in document else None
                )
                grouping = parse_grouping(document.get("grouping"), where)
            except FilterError as exc:
                raise ConfigError(str(exc)) from None
            wanted = reducer_keys[index] if reducer_keys else None
            key = _bind(name, wanted, keys, filters, where)
            if grouping is not None:
                _check_grouping(grouping, key, keys, entries, where)
            rule_key = document.get("key")
            if rule_key is not None and (not isinstance(rule_key, str) or "." in rule_key):
                raise ConfigError(
                    f"reducer config #{index + 1}: 'key' must be a name without dots "
                    f"(rules read it as key.field), got {rule_key!r}"
                )
            topic = _TOPICS.get(document.get("topic", "reduce_by_subject"))
            if topic is None:
                raise ConfigError(
                    f"reducer config #{index + 1}: 'topic' must be reduce_by_subject or "
                    f"reduce_by_user, got {document.get('topic')!r}"
                )
            bindings.append(
                ReducerBinding(
                    name,
                    key,
                    spec,
                    spec.parse_params(raw or {}),
                    raw or {},
                    rule_key,
                    topic,
                    filters,
                    grouping,
                )
            )
        return cls(
            workflow_id,
            VersionRange.from_config(extractor_config.get("workflow_version")),
            tuple(entries),
            tuple(bindings),
            _config_digest(extractor_config, reducer_configs) if digest else "",
        )

    def accepts_version(self, workflow_version: Any) -> bool:
        return workflow_version in self.versions

    def entries_for(self, key: str) -> list[ExtractorEntry]:
        return [e for e in self.extractors if e.key == key]

    def rule_key(self, reducer_index: int, task: str) -> str:
        """The name rules use for reducer ``reducer_index``'s reduction of ``task``.

        The reducer config's ``key:`` (default: the reducer's name), suffixed with ``_<task>``
        when its extractor runs on more than one task, so every reduction has its own name:
        ``["lookup", "shortcut_reducer.nothing-here", 0]``.
        """
        binding = self.reducers[reducer_index]
        base = binding.key or binding.name
        if len(self.entries_for(binding.extractor_key)) > 1:
            return f"{base}_{task}"
        return base

    def rule_keys(self, topic: str = "subject", *, grouped: bool = False) -> set[str]:
        """Every reduction name subject (or user) rules can read.

        A grouped reducer's reductions are read as ``<name>/<subgroup>``; ``grouped=True``
        lists the ``<name>`` of those instead of the ungrouped ones.
        """
        return {
            self.rule_key(i, e.task)
            for i, b in enumerate(self.reducers)
            if b.topic == topic and (b.grouping is not None) == grouped
            for e in self.entries_for(b.extractor_key)
        }

    def has_topic(self, topic: str) -> bool:
        return any(b.topic == topic for b in self.reducers)


def _bind(
    reducer_name: str,
    wanted: str | None,
    keys: Sequence[str],
    filters: ExtractFilters | None = None,
    where: str = "",
) -> str:
    listed = filters.extractor_keys if filters is not None else None
    if listed is not None:
        absent = [k for k in listed if k not in keys]
        if absent:
            raise ConfigError(
                f"{where}: filters.extractor_keys names {', '.join(map(repr, absent))}, which "
                f"the extractor config does not have; it has {', '.join(keys) or 'none'}"
            )
        if len(listed) > 1:
            raise ConfigError(
                f"{where}: filters.extractor_keys lists {', '.join(listed)}; a Tally reducer "
                "reduces one extractor's extracts (one reduction per task), so list one key "
                "and use one reducer config per extractor"
            )
        if wanted is not None and wanted != listed[0]:
            raise ConfigError(
                f"{where}: the reducer is bound to extractor key {wanted!r} (by its file name "
                f"or FILE:KEY) but filters.extractor_keys says {listed[0]!r}; make them agree"
            )
        wanted = listed[0]
    if wanted is not None:
        if wanted not in keys:
            raise ConfigError(
                f"{reducer_name} is bound to extractor key {wanted!r}, which the extractor "
                f"config does not have; it has {', '.join(keys) or 'none'}"
            )
        return wanted
    candidates = [
        k for k in keys if extractor_name_for_key(k) in _REDUCER_INPUTS.get(reducer_name, ())
    ]
    if reducer_name.startswith("shape_reducer"):
        candidates = [k for k in keys if "shape_extractor" in k]
    if len(candidates) == 1:
        return candidates[0]
    raise ConfigError(
        f"cannot tell which extractor's output {reducer_name} reduces "
        f"(candidates: {', '.join(candidates) or 'none'} of {', '.join(keys) or 'none'}); "
        "name the reducer config file ..._<extractor_key>.yaml as `tally config` does, "
        "or pass it as FILE:EXTRACTOR_KEY"
    )


def _check_grouping(
    grouping: Grouping,
    reduced_key: str,
    keys: Sequence[str],
    entries: Sequence[ExtractorEntry],
    where: str,
) -> None:
    if grouping.extractor_key not in keys:
        raise ConfigError(
            f"{where}: grouping.field_name {grouping.field_name!r} names extractor key "
            f"{grouping.extractor_key!r}, which the extractor config does not have; it has "
            f"{', '.join(keys) or 'none'}"
        )
    tasks = [e.task for e in entries if e.key == grouping.extractor_key]
    if grouping.extractor_key != reduced_key and len(tasks) > 1:
        raise ConfigError(
            f"{where}: grouping.field_name {grouping.field_name!r}: extractor "
            f"{grouping.extractor_key!r} runs on tasks {', '.join(tasks)}, so a classification "
            "has several of its extracts; group by an extractor with one task entry, or by the "
            "reduced extractor itself (each task is then grouped by its own extract)"
        )
