"""The contract every registered extractor and reducer honours: one test per (function, check).

Test ids read ``<name>:<check>`` (``pytest -k "question_reducer:check_pure"``). Functions are
found by iterating the registry, so a new module is covered as soon as it registers itself.

Sample inputs come from the oracle's golden cases, ``tests/golden/functions/<name>.json``: the
first ``EXAMPLES_PER_FUNCTION`` cases the function is expected to answer (no ``expected_error``,
no documented divergence, keywords our params accept). A function without golden cases needs an
entry in ``FALLBACK_EXAMPLES``; otherwise its example-based checks fail, so none is forgotten.
A known, explained failure goes in ``EXPECTED_FAILURES`` and runs as a strict xfail.
"""

from __future__ import annotations

import copy
import doctest
import functools
import inspect
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest

from core.classification import Classification
from core.csv_layout import AGGREGATION_VERSION, flatten, with_version
from core.errors import InvalidParameterError, TallyError
from core.params import Params, param_fields
from core.reducers.summary_stats import OPERATIONS
from core.registry import EXTRACTORS, REDUCERS, ExtractRecord, get_extractor
from tests.core.golden_divergences import DIVERGENCES
from tests.core.golden_support import GOLDEN_DIR, case_input, load_cases, to_plain

get_extractor("question_extractor")  # load the registry

EXAMPLES_PER_FUNCTION = 3

#: Every name the reference (panoptes-aggregation 5.3.1, plus survey_whitelist_extractor from
#: its HEAD) registers; Tally registers a subset of these, under the same names.
REFERENCE_NAMES = {
    "extractor": {
        "all_tasks_empty_extractor", "bezier_extractor", "dropdown_extractor", "i2a_extractor",
        "line_text_extractor", "nfn_extractor", "pluck_and_split_extractor", "point_extractor",
        "point_extractor_by_frame", "poly_line_text_extractor", "polygon_extractor",
        "question_extractor", "rectangle_extractor", "shape_extractor", "shortcut_extractor",
        "slider_extractor", "survey_extractor", "survey_whitelist_extractor", "sw_extractor",
        "sw_graphic_extractor", "sw_variant_extractor", "text_extractor",
    },
    "reducer": {
        "dropdown_reducer", "first_n_false_reducer", "first_n_true_reducer",
        "optics_line_text_reducer", "point_reducer", "point_reducer_dbscan",
        "point_reducer_hdbscan", "poly_line_text_reducer", "polygon_reducer",
        "polygon_reducer_contours", "question_consensus_reducer", "question_reducer",
        "rectangle_reducer", "shape_reducer_dbscan", "shape_reducer_hdbscan",
        "shape_reducer_optics", "shortcut_reducer", "slider_reducer", "subject_difficulty_reducer",
        "survey_reducer", "sw_variant_reducer", "temporal_point_reducer_dbscan",
        "temporal_point_reducer_hdbscan", "tess_gold_standard_reducer", "tess_reducer_column",
        "text_reducer", "user_skill_reducer",
    },
}  # fmt: skip

#: Caesar's extractor and reducer type keys (caesar.md §1.5, §2.2) that Tally implements under
#: Caesar's own names, so Caesar pipelines and rules can be copied over unchanged.
CAESAR_NAMES = {
    "extractor": {"blank", "who", "pluck_field"},
    "reducer": {"count", "stats", "unique_count", "consensus", "first_extract", "summary_stats"},
}

#: Functions whose output is not an object, in the reference's own shape (Caesar's
#: ``unique_count`` returns a bare integer).
NON_OBJECT_OUTPUT = {"unique_count": int}


def _records(*extracts: dict) -> list[ExtractRecord]:
    return [ExtractRecord(e, user_id=i + 1) for i, e in enumerate(extracts)]


#: Inputs for functions without golden cases: name -> [(input, params mapping), ...].
FALLBACK_EXAMPLES: dict[str, list[tuple[Any, dict]]] = {
    "question_reducer": [(_records({"a": 1, "b": 1}, {"a": 1}, {}), {"track_user_ids": True})],
    "shortcut_reducer": [(_records({"nothing-here": 1}, {}), {"pairs": True})],
    "question_consensus_reducer": [(_records({"yes": 1}, {"no": 1}, {"yes": 1}), {})],
    "survey_reducer": [(_records({"choice": "lion", "answers_howmany": {"1": 1}}), {})],
    "dropdown_reducer": [(_records({"value": [{"a": 1}]}, {}, {"value": [{"b": 1}]}), {})],
    "slider_reducer": [(_records({"slider_value": 0.5}, {"slider_value": 2}), {})],
    "first_n_true_reducer": [(_records({"result": True}, {"result": True}), {"n": 2})],
    "first_n_false_reducer": [(_records({"result": False}, {}), {"n": 1})],
    # Caesar's reducers and extractors (no oracle goldens: the oracle is panoptes-aggregation)
    "count": [(_records({"a": 1}, {"b": 1}), {})],
    "stats": [(_records({"LION": 1, "blank": False}, {"LION": 1, "HOG": 2.5}), {})],
    "unique_count": [(_records({"c": ["b", "a"]}, {"c": ["a", "b"]}, {"c": "x"}), {"field": "c"})],
    "consensus": [
        (_records({"LION": 1}, {"HOG": 1}, {"LION": 1}), {"ignore_empty_extracts": True})
    ],
    "first_extract": [(_records({"choice": "LION"}, {"choice": "HOG"}), {})],
    "summary_stats": [
        (
            _records({"v": 1}, {"v": "2.5"}, {"v": ""}, {"v": 4}),
            {"summarize_field": "slider.v", "operations": list(OPERATIONS)},
        )
    ],
    "blank": [(Classification.from_export([{"task": "T0", "value": ""}]), {"task": "T0"})],
    "who": [(Classification.from_export([], user_id=42), {})],
    "pluck_field": [
        (
            Classification.from_export(
                [{"task": "T0", "value": "Yes"}], {"session": "s1"}, classification_id=3
            ),
            {"field_map": {"answer": "$.annotations.T0[0].value", "session": "$.metadata.session"}},
        )
    ],
}

#: (name, check) -> reason; such a check runs as a strict xfail until it is fixed.
EXPECTED_FAILURES: dict[tuple[str, str], str] = {}


# --- examples -------------------------------------------------------------------------------


@functools.cache
def _examples(kind: str, name: str) -> tuple[tuple[Any, Any], ...]:
    """Up to EXAMPLES_PER_FUNCTION (input, parsed params) pairs for ``name``."""
    spec = EXTRACTORS[name] if kind == "extractor" else REDUCERS[name]
    out = []
    path = GOLDEN_DIR / f"{name}.json"
    if path.exists():
        for case in load_cases(path):
            if case["kind"] != kind or "expected_error" in case or case["id"] in DIVERGENCES:
                continue
            try:
                params = spec.parse_params(case.get("kwargs") or {})
            except InvalidParameterError:
                continue
            out.append((case_input(case)[1], params))
            if len(out) == EXAMPLES_PER_FUNCTION:
                break
    if not out:
        out = [(arg, spec.parse_params(raw)) for arg, raw in FALLBACK_EXAMPLES.get(name, [])]
    if not out:
        if not GOLDEN_DIR.exists():
            pytest.skip("tests/golden/functions/ has not been generated in this checkout")
        pytest.fail(
            f"{name} has no usable golden case in {path.name}; add one to FALLBACK_EXAMPLES"
        )
    return tuple(out)


def _empty_input(kind: str) -> Any:
    if kind == "extractor":
        return Classification.from_export([], {}, classification_id=0)
    return []


# --- checks ---------------------------------------------------------------------------------


def check_deterministic(kind: str, spec: Any) -> None:
    """Two runs on the same input give the same output, key order included."""
    for argument, params in _examples(kind, spec.name):
        first = spec(argument, params)
        second = spec(argument, params)
        assert json.dumps(to_plain(first)) == json.dumps(to_plain(second))


def check_pure(kind: str, spec: Any) -> None:
    """The function leaves its input unchanged."""
    for argument, params in _examples(kind, spec.name):
        before = copy.deepcopy(argument)
        spec(argument, params)
        assert argument == before


def check_output_json_serialisable(kind: str, spec: Any) -> None:
    """The output is plain JSON data: orjson encodes it without a ``default`` hook."""
    for argument, params in _examples(kind, spec.name):
        out = spec(argument, params)
        expected = NON_OBJECT_OUTPUT.get(spec.name, list if spec.returns_list else dict)
        assert isinstance(out, expected), type(out)
        orjson.dumps(out)


def check_output_writes_as_csv_cells(kind: str, spec: Any) -> None:
    """Every output item becomes CSV cells, as tally extract/reduce and the snapshot write them
    (a bare value, e.g. unique_count's integer, is the one column data.value)."""
    for argument, params in _examples(kind, spec.name):
        out = spec(argument, params)
        for item in out if isinstance(out, list) else [out]:
            cells = flatten(item, AGGREGATION_VERSION)
            assert cells["aggregation_version"] == AGGREGATION_VERSION
            assert all(isinstance(key, str) for key in cells)
        with_version(out)


def check_empty_input(kind: str, spec: Any) -> None:
    """No extracts (reducer) or no annotations (extractor) give a plain result or a TallyError."""
    params = _examples(kind, spec.name)[0][1]
    try:
        out = spec(_empty_input(kind), params)
    except TallyError:
        return
    assert isinstance(out, dict | list | NON_OBJECT_OUTPUT.get(spec.name, dict)), type(out)
    orjson.dumps(out)


def check_docstring_example_runs(kind: str, spec: Any) -> None:
    """The docstring has an Examples section whose doctest passes."""
    doc = inspect.getdoc(spec.func) or ""
    assert "Examples\n--------" in doc, "add a numpydoc Examples section"
    assert ">>>" in doc, "the Examples section needs a doctest"
    module = inspect.getmodule(spec.func)
    test = doctest.DocTestParser().get_doctest(
        spec.func.__doc__, dict(vars(module)), spec.name, module.__file__, 0
    )
    report: list[str] = []
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False
    )
    result = runner.run(test, out=report.append)
    assert result.failed == 0, "".join(report)


def check_params_frozen_with_defaults(kind: str, spec: Any) -> None:
    """Params are a frozen, keyword-only :class:`Params` class with a default for every field."""
    assert issubclass(spec.params, Params), "declare the keywords as a core.params.Params class"
    fields = param_fields(spec.params)
    for name, f in fields.items():  # Params refuses a keyword without a default at class creation
        assert getattr(spec.params, name) == f.default, f"{name}: the class holds its default"
    with pytest.raises(TypeError):
        spec.params(None)  # keywords only
    try:
        params = spec.params()
    except TallyError:  # a required keyword (e.g. pluck_field's field_map): not made bare
        return
    assert params == spec.params() and repr(params).startswith(spec.params.__name__ + "(")
    for name in fields:
        with pytest.raises(AttributeError):
            setattr(params, name, getattr(params, name))


def check_rejects_unknown_keyword(kind: str, spec: Any) -> None:
    """An unknown keyword raises InvalidParameterError listing the valid keywords."""
    with pytest.raises(InvalidParameterError) as info:
        spec.parse_params({"no_such_keyword": 1})
    valid = ", ".join(sorted(param_fields(spec.params))) or "(none)"
    assert f"Valid keywords: {valid}" in str(info.value)


def check_reference_name(kind: str, spec: Any) -> None:
    """The registered name is one of the reference's (or Caesar's), and the function carries it."""
    assert spec.name in REFERENCE_NAMES[kind] | CAESAR_NAMES[kind]
    assert spec.func.__name__ == spec.name


CHECKS: tuple[Callable[[str, Any], None], ...] = (
    check_deterministic,
    check_pure,
    check_output_json_serialisable,
    check_output_writes_as_csv_cells,
    check_empty_input,
    check_docstring_example_runs,
    check_params_frozen_with_defaults,
    check_rejects_unknown_keyword,
    check_reference_name,
)


def _cases():
    for kind, registry in (("extractor", EXTRACTORS), ("reducer", REDUCERS)):
        for name in sorted(registry):
            for check in CHECKS:
                marks = []
                reason = EXPECTED_FAILURES.get((name, check.__name__))
                if reason:
                    marks.append(pytest.mark.xfail(reason=reason, strict=True))
                yield pytest.param(kind, name, check, id=f"{name}:{check.__name__}", marks=marks)


@pytest.mark.parametrize(("kind", "name", "check"), list(_cases()))
def test_contract(kind: str, name: str, check: Callable[[str, Any], None]) -> None:
    registry = EXTRACTORS if kind == "extractor" else REDUCERS
    check(kind, registry[name])


def test_expected_failures_name_registered_functions():
    for name, check in EXPECTED_FAILURES:
        assert name in EXTRACTORS or name in REDUCERS, name
        assert check in {c.__name__ for c in CHECKS}, check
