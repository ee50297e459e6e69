"""Reading a rules file's YAML (or JSON) text: duplicate keys refused, line numbers kept.

A research team's rules file is hand-written YAML, where two mistakes pass silently with a plain
``yaml.safe_load``: a key written twice in one mapping (``condition:`` twice, or two
``subject_rules:`` sections) keeps only the last one, so a rule quietly loses its condition or
half the rules vanish; and errors found later (an unknown action, a reduction the pipeline does
not make) cannot say where in the file the rule is. :func:`parse_rules_yaml` refuses the first
with the line of both keys, and gives every mapping a ``line`` (see :func:`line_of`) that the
rule book puts in its errors. The document is otherwise what ``yaml.safe_load`` returns: its
mappings are ``dict`` subclasses, equal to plain dicts and serialised as JSON objects.

>>> doc = parse_rules_yaml("subject_rules:\\n  - id: a\\n    condition: [const, true]\\n", "r.yaml")
>>> doc == {"subject_rules": [{"id": "a", "condition": ["const", True]}]}, line_of(doc["subject_rules"][0])
(True, 2)
>>> parse_rules_yaml("subject_rules:\\n  - id: a\\n    condition: [const, true]\\n    condition: [const, false]\\n", "r.yaml")
Traceback (most recent call last):
...
core.rules.conditions.RuleConfigError: r.yaml, line 4: key 'condition' is written twice in one mapping (also on line 3); YAML would keep only the last one: remove or rename one
"""

from __future__ import annotations

import io
from typing import Any

import yaml

from core.rules.conditions import RuleConfigError

__all__ = ["line_of", "parse_rules_yaml"]

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Located(dict):
    """A mapping of a rules file that knows the line it starts on (1-based)."""

    __slots__ = ("line",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line: int | None = None

    def __reduce__(self) -> Any:  # copies and pickles keep the line
        return (_located, (dict(self), self.line))


def _located(items: dict, line: int | None) -> _Located:
    mapping = _Located(items)
    mapping.line = line
    return mapping


def line_of(value: Any) -> int | None:
    """The line a mapping of a rules file starts on, or None (a document not read from text,
    e.g. one that came as JSON over the workflows topic).

    >>> line_of({"id": "a"}) is None
    True
    """
    return getattr(value, "line", None)


class _RulesLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose mappings refuse repeated keys and remember their line."""


def _construct_mapping(loader: _RulesLoader, node: yaml.MappingNode) -> _Located:
    source = getattr(loader, "rules_source", "rules file")
    seen: dict[tuple[type, Any], int] = {}
    for key_node, _ in node.value:
        if key_node.tag == _MERGE_TAG:
            continue  # `<<: *defaults` may be overridden by the keys written next to it
        key = loader.construct_object(key_node, deep=True)
        try:
            identity = (type(key), key)
            hash(identity)
        except TypeError:
            continue  # an unhashable key: the constructor below reports it
        line = key_node.start_mark.line + 1
        if identity in seen:
            raise RuleConfigError(
                f"{source}, line {line}: key {key!r} is written twice in one mapping (also on "
                f"line {seen[identity]}); YAML would keep only the last one: remove or rename one"
            )
        seen[identity] = line
    return _located(loader.construct_mapping(node, deep=True), node.start_mark.line + 1)


_RulesLoader.add_constructor("tag:yaml.org,2002:map", _construct_mapping)


def parse_rules_yaml(text: str, source: str = "rules.yaml") -> Any:
    """The document of a rules file's text (YAML, or JSON, which is YAML), for
    :meth:`core.rules.rulebook.RuleBook.from_document`.

    Raises :class:`RuleConfigError` naming ``source`` for text that is not YAML (with YAML's
    line and column) and for a key repeated in one mapping (with both lines).
    """
    stream = io.StringIO(text)
    stream.name = source  # YAML's error marks name it (else "<unicode string>")
    loader = _RulesLoader(stream)
    loader.rules_source = source
    try:
        return loader.get_single_data()
    except yaml.YAMLError as exc:
        raise RuleConfigError(f"{source}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
