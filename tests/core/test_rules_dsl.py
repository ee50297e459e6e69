"""Conformance table for Caesar's condition language (caesar.md §3.1-3.3), quirks included."""

from __future__ import annotations

import math

import pytest

from core.rules.conditions import RuleConfigError, RuleEvaluationError, compile_condition

C = lambda v: ["const", v]  # noqa: E731
L = lambda k, d=None: ["lookup", k, d]  # noqa: E731

BINDINGS = {
    "count": {"classifications": 12, "extracts": 14},
    "consensus": {"most_likely": "HUMAN", "num_votes": 5, "agreement": 0.9},
    "survey": {"DUIKEROTHERUNGULATE": 3, "HOG": 2, "ZEBRA": 0},
    "swap": {"likelihood": 0.5},
    "stats": {"1": 6},
    "blank": {"blank": 1},
    "empty": {},
    "unique": 4,
    "subject": {"#training_subject": "TRUE", "priority": "5x", "zooniverse_subject_id": 77},
}

CASES = [
    # const and lookup
    ("const number", C(3), 3),
    ("const null", C(None), None),
    ("lookup field", L("count.classifications", 0), 12),
    ("lookup missing reducer gives default", L("nope.x", 7), 7),
    ("lookup missing field gives default", L("count.nope", 7), 7),
    ("lookup 0 is returned, not the default", L("survey.ZEBRA", 9), 0),
    ("lookup reads one level only", L("count.classifications.extra", 0), 12),
    ("lookup subject metadata", L("subject.zooniverse_subject_id", 0), 77),
    # comparisons
    ("gte", ["gte", L("count.classifications", 0), C(10)], True),
    ("lt chain holds", ["lt", C(0.1), L("swap.likelihood", 0.5), C(0.9)], True),
    ("lt chain breaks", ["lt", C(0.1), C(0.95), C(0.9)], False),
    ("eq strings", ["eq", L("consensus.most_likely", ""), C("HUMAN")], True),
    ("eq false false is false (last operand falsy)", ["eq", C(False), C(False)], False),
    ("eq null null is false", ["eq", C(None), C(None)], False),
    ("eq 0 0 is true (0 is truthy)", ["eq", C(0), C(0)], True),
    ("eq across types is false", ["eq", C(1), C("1")], False),
    ("eq int and float", ["eq", C(1), C(1.0)], True),
    # nested values compare as Ruby's Array#== / Hash#==: element types matter there too
    ("eq nested true and 1", ["eq", C([True]), C([1])], False),
    ("eq nested false and 0", ["eq", C([False]), C([0])], False),
    ("eq nested in an object", ["eq", C({"a": True}), C({"a": 1})], False),
    ("eq nested number and text", ["eq", C([1]), C(["1"])], False),
    ("eq nested int and float", ["eq", C([1, {"b": 2}]), C([1.0, {"b": 2.0}])], True),
    ("eq objects ignore key order", ["eq", C({"a": 1, "b": [2]}), C({"b": [2], "a": 1})], True),
    ("eq arrays of different length", ["eq", C([1, 2]), C([1])], False),
    ("gt strings", ["gt", C("b"), C("a")], True),
    ("single operand comparison returns its truthiness", ["gte", C(0)], True),
    # logic
    ("and returns last truthy", ["and", C(1), C("x")], "x"),
    ("and returns first falsy", ["and", C(1), C(None), C(2)], None),
    ("and empty is true", ["and"], True),
    ("or returns first truthy", ["or", C(None), C(0), C(2)], 0),
    ("or empty is false", ["or"], False),
    ("not of 0 is false", ["not", C(0)], False),
    ("not of null is true", ["not", C(None)], True),
    (
        "caesar example: blank or count",
        ["or", ["gte", L("blank.blank", 0), C(3)], ["gte", L("count.classifications", 0), C(15)]],
        False,
    ),
    (
        "caesar example: consensus",
        [
            "and",
            ["gte", L("consensus.num_votes", 0), C(4)],
            ["gt", L("consensus.agreement", 0), C(0.8)],
        ],
        True,
    ),
    # arithmetic
    ("+ integers stay integers", ["+", C(2), C(3)], 5),
    (
        "+ sums two choices",
        ["gte", ["+", L("survey.DUIKEROTHERUNGULATE", 0), L("survey.HOG", 0)], C(4)],
        True,
    ),
    ("+ strings", ["+", C("a"), C("b")], "ab"),
    ("+ arrays", ["+", C([1]), C([2])], [1, 2]),
    ("- folds left", ["-", C(10), C(3), C(2)], 5),
    ("* mixed", ["*", C(2), C(1.5)], 3.0),
    ("% floor modulo", ["%", C(-7), C(3)], 2),
    ("/ is float division", ["/", C(7), C(2)], 3.5),
    ("/ of ints gives float", ["/", L("stats.1", 0), L("count.classifications", 1)], 0.5),
    ("/ by zero is infinity", ["/", C(1), C(0)], math.inf),
    # strings and conversions
    ("downcase", ["downcase", L("subject.#training_subject", "false")], "true"),
    ("upcase", ["upcase", C("abc")], "ABC"),
    ("int lenient prefix", ["int", L("subject.priority", "0")], 5),
    ("int of letters is 0", ["int", C("abc")], 0),
    ("int negative with junk", ["int", C(" -3x")], -3),
    ("int of int", ["to_i", C(4)], 4),
    ("float lenient", ["float", C("1.5kg")], 1.5),
    ("float exponent", ["to_f", C("1e3")], 1000.0),
    ("float of garbage is 0.0", ["float", C("x")], 0.0),
    ("float of int", ["float", C(2)], 2.0),
    (
        "caesar example: training subject",
        ["not", ["eq", ["downcase", L("subject.#training_subject", "false")], C("true")]],
        False,
    ),
    # quantifiers
    ("any", ["any", "survey", ["gte", L("value", 0), C(3)]], True),
    ("any none", ["any", "survey", ["gte", L("value", 0), C(5)]], False),
    ("all", ["all", "survey", ["gte", L("value", 0), C(0)]], True),
    ("all on empty is true", ["all", "empty", ["const", False]], True),
    ("any on empty is false", ["any", "empty", ["const", True]], False),
    ("any binds key", ["any", "survey", ["eq", L("key", ""), C("HOG")]], True),
]

ERRORS = [
    ("ordering number vs string", ["gt", C(1), C("1")]),
    ("ordering with null", ["lt", C(None), C(1)]),
    ("downcase a number", ["downcase", C(1)]),
    ("int of float", ["int", C(1.5)]),
    ("any over a missing reduction", ["any", "nope", C(True)]),
    ("lookup with a dot on non-object data", L("unique.x", 0)),
    ("+ number and string", ["+", C(1), C("a")]),
]

CONFIG_ERRORS = [
    (
        "one-argument lookup (the docs' wrong form)",
        ["lookup", "count.classifications"],
        "exactly 2",
    ),
    ("unknown operator", ["gtee", C(1), C(2)], "did you mean 'gte'"),
    ("not an array", {"gte": 1}, "expected a JSON array"),
    ("not with two args", ["not", C(1), C(2)], "exactly 1"),
    ("nested error names its position", ["and", C(1), ["lookup", "x"]], r"condition\[2\]"),
    ("const without value", ["const"], "exactly 1"),
]


@pytest.mark.parametrize(("name", "condition", "expected"), CASES, ids=[c[0] for c in CASES])
def test_condition_semantics(name, condition, expected):
    result = compile_condition(condition)(BINDINGS)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize(("name", "condition"), ERRORS, ids=[c[0] for c in ERRORS])
def test_condition_errors_at_evaluation(name, condition):
    check = compile_condition(condition)
    with pytest.raises(RuleEvaluationError):
        check(BINDINGS)


@pytest.mark.parametrize(
    ("name", "condition", "message"), CONFIG_ERRORS, ids=[c[0] for c in CONFIG_ERRORS]
)
def test_condition_errors_at_load(name, condition, message):
    with pytest.raises(RuleConfigError, match=message):
        compile_condition(condition)


def test_lookup_without_field_is_the_reduction_which_equals_nothing():
    check = compile_condition(["eq", ["lookup", "count", 0], ["const", 12]])
    assert check(BINDINGS) is False
