"""``RowCells`` (``core/extractors/_point_compiled.pyx``): a row's cells straight from its
annotations' JSON text must be what orjson's parse, ``usual_classification`` and the cells forms
give (or it declines); and a coordinate's text is copied only where it is ``repr`` of its float.

The JSON texts are written here by hand from drawn values, so that they hold what orjson reads
the same but a scanner may not: numbers spelled otherwise than ``repr`` (``1.50``, ``-0``,
``0.00001``, 17 digits that are not the shortest), exponents, big ints, escapes in keys and
texts (lone surrogates too), repeated keys, whitespace.
"""

from __future__ import annotations

import json
import random
import struct

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.classification import usual_classification
from core.extractors._cells_forms import cells_form, row_cells
from core.extractors.point_extractor_by_frame import PointByFrameParams
from core.extractors.question_extractor import QuestionParams
from tests.core.extractors.test_point_extractor_by_frame import _annotation, _details_param

compiled = pytest.importorskip("core.extractors._point_compiled")


class Raw(str):
    """JSON text written as it is (a number's own spelling, an escaped text)."""


# numbers spelled as exports do, and as orjson reads alike but repr spells otherwise
_NUMBER_TEXTS = [
    "-0", "-0.0", "0.0", "0", "1436.0", "1.50", "0.00001", "0.0001", "0.00012345678901234567",
    "10000000000000000.0", "9007199254740993.0", "9007199254740992.5", "0.1",
    "0.10000000000000001", "0.30000000000000004", "1e5", "1E-3", "2.5e-324", "5e-324",
    "123456789012345678901234567890.5", "1436.6048727342159", "1436.60487273421590",
    "12345678901234567890", "-9223372036854775808", "999999999999999999", "1000000000000000000",
    "2048.00000000000001", "4503599627370496.5", "0.00009999999999999999",
]  # fmt: skip
_number_text = st.one_of(
    st.floats(0, 2048).map(repr),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda x, d: f"{x:.{d}f}", st.floats(-3000, 3000), st.integers(1, 22)),
    st.builds(lambda x, d: f"{x:.{d}g}", st.floats(0, 3000), st.integers(15, 19)),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(_NUMBER_TEXTS),
)
_texts = st.sampled_from([
    "Adult", "Clear", "", "Ñandú", "say \"hi\"\n", "tab\there", "a/b", "\u2028", "😀", "a.b",
    "Nothing here", "Standing up", "T0",
])  # fmt: skip
_raw_texts = st.sampled_from([
    '"\\u0041dult"', '"\\ud800"', '"x\\uDC00"', '"\\ud83d\\ude00"', '"\\\\ud800"', '"\\/"',
])  # fmt: skip


def _dump(value, draw) -> str:
    """JSON text of ``value``, each number, text, key and gap spelled as ``draw`` picks."""
    gap = draw(st.sampled_from(["", "", " ", "\n\t "]))
    if isinstance(value, Raw):
        return str(value)
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int | float):
        if draw(st.integers(0, 11)) == 5:  # (not 0: hypothesis favours it)
            return draw(_number_text)
        if isinstance(value, float) and value != value or value in (float("inf"), -float("inf")):
            return draw(st.sampled_from(["NaN", "1e999", "0.5"]))
        return json.dumps(value)
    if isinstance(value, str):
        if draw(st.integers(0, 14)) == 5:
            return draw(_raw_texts)
        return json.dumps(value, ensure_ascii=draw(st.booleans()))
    if isinstance(value, list):
        return "[" + gap + ("," + gap).join(_dump(item, draw) for item in value) + gap + "]"
    members = []
    for key, item in value.items():
        key_text = json.dumps(key)
        if draw(st.integers(0, 59)) == 5:  # the key escaped ("\u0078" is "x")
            key_text = '"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"'
        members.append(f"{key_text}{gap}:{gap}{_dump(item, draw)}")
        if draw(st.integers(0, 59)) == 6:  # the key again (orjson keeps the last)
            members.append(f"{key_text}:{_dump(draw(st.sampled_from([0, 1, 2.5, 'T1'])), draw)}")
    return "{" + gap + ("," + gap).join(members) + gap + "}"


# what exports hold: point marks with subtask answers, a question, a shortcut
_answer_value = st.one_of(
    st.integers(-2, 3), st.none(), st.booleans(), _texts, st.integers(-2, 3), _texts,
    st.one_of(st.integers(2**62, 2**65), st.floats(0, 3), st.lists(_texts, max_size=2),
              st.just({"a": 1})),  # (what the point form declines)
)  # fmt: skip
_mark = st.fixed_dictionaries(
    {"x": st.floats(0, 2048), "y": st.floats(0, 2048), "tool": st.integers(0, 1),
     "frame": st.integers(0, 1)},
    optional={
        "details": st.lists(
            st.fixed_dictionaries({"value": _answer_value}, optional={"other": _texts}),
            max_size=2,
        ),
        "tool_label": _texts,
    },
)  # fmt: skip
_question_value = st.one_of(
    _texts, st.lists(_texts, max_size=3), st.none(), st.integers(0, 2), st.just([1])
)
_usual_annotation = st.one_of(
    st.fixed_dictionaries(
        {"task": st.just("T0"), "value": st.lists(_mark, max_size=8)},
        optional={"task_label": _texts},
    ),
    st.fixed_dictionaries(
        {"task": st.just("T0"), "value": st.lists(_mark, max_size=2)},
        optional={"taskType": st.just("drawing")},
    ),
    st.fixed_dictionaries(
        {"task": st.sampled_from(["T1", "T2", "T1.0.0", "T0.0.0", "T3", "T0.", "T1.", "T10"])},
        optional={"value": _question_value, "task_label": _texts},
    ),
)
_annotations = st.one_of(
    st.lists(_usual_annotation, max_size=4),
    st.lists(_usual_annotation, max_size=4),
    st.lists(_usual_annotation, max_size=4),
    st.lists(_annotation, max_size=3) | st.just({"T0": []}),  # the point extractor's odd cases
)
_details_config = st.one_of(
    st.just({"T0_tool0": ["question_extractor"]}),
    st.just({"T0_tool0": ["question_extractor", "no_such_extractor"]}),
    st.just({"T0_tool1": ["no_such_extractor", "question_extractor"]}),
    st.just({"T0_tool0": ["question_extractor"]}) | _details_param,
)
_metadata = st.one_of(
    st.just({}),
    st.just({}),
    st.sampled_from([{"classifier_version": "2.0"}, {"classifier_version": "1.9"}]),
)


def _forms(tools, details, version):
    point = PointByFrameParams(task="T0", tools=tools, details=details)
    return [
        cells_form("point_extractor_by_frame", point, version),
        cells_form("question_extractor", QuestionParams(task="T1"), version),
        cells_form("shortcut_extractor", QuestionParams(task="T2"), version),
    ]


def _parsed_path(forms, text, metadata):
    """What the batch extract does without RowCells: orjson, the classification, the forms."""
    try:
        annotations = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    classification = usual_classification(annotations, metadata, "1")
    if classification is None:
        return None
    cells = tuple(form(classification) for form in forms)
    return None if None in cells else cells


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    annotations=_annotations,
    metadata=_metadata,
    tools=st.sampled_from([(0, 1), None, (1,)]),
    details=_details_config,
    version=st.sampled_from(["5.3.1", None]),
)
def test_row_cells_are_the_parsed_rows_or_decline(
    data, annotations, metadata, tools, details, version
):
    text = _dump(annotations, data.draw)
    forms = _forms(tools, details, version)
    scan = row_cells(forms)
    assert scan is not None
    expected = _parsed_path(forms, text, metadata)  # (also fills the forms' caches)
    got = scan(text, metadata)
    if got is not None:
        assert got == expected, text


_usual_mark = st.fixed_dictionaries(
    {"x": st.floats(0, 2048), "y": st.floats(0, 2048), "tool": st.integers(0, 1),
     "frame": st.integers(0, 1),
     "details": st.lists(st.fixed_dictionaries({"value": st.integers(0, 1) | _texts}), max_size=1)},
    optional={"tool_label": _texts},
)  # fmt: skip


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    marks=st.lists(_usual_mark, max_size=6),
    more=st.lists(_usual_annotation, max_size=2),
)
def test_row_cells_read_odd_spellings_of_usual_rows(data, marks, more):
    # usual rows, their numbers, texts, keys and gaps spelled in every way orjson reads
    annotations = [{"task": "T0", "task_label": "Mark", "value": marks}, *more]
    text = _dump(annotations, data.draw)
    forms = _forms((0, 1), {"T0_tool0": ["question_extractor"]}, "5.3.1")
    scan = row_cells(forms)
    expected = _parsed_path(forms, text, {})
    got = scan(text, {})
    if got is not None:
        assert got == expected, text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    marks=st.lists(_mark, max_size=8),
    answer=_texts | st.lists(_texts, max_size=2),
    spaced=st.booleans(),
)
def test_row_cells_take_the_usual_rows(marks, answer, spaced):
    # json.dumps spells every float as repr: nothing here needs the parsed path (once the
    # forms have met the answer: _parsed_path first)
    for mark in marks:
        mark["details"] = [{"value": mark["tool"]}]
    annotations = [
        {"task": "T0", "task_label": 'Mark "every" penguin', "value": marks},
        {"task": "T1", "value": answer},
    ]
    # (ensure_ascii=False: an escaped answer is left to the parsed path)
    separators = (", ", ": ") if spaced else (",", ":")
    text = json.dumps(annotations, separators=separators, ensure_ascii=False)
    forms = _forms((0, 1), {"T0_tool0": ["question_extractor"]}, "5.3.1")
    scan = row_cells(forms)
    expected = _parsed_path(forms, text, {})
    assert expected is not None
    got = scan(text, {})
    if "e" in text.replace("details", "").replace("value", "").replace("every", ""):
        assert got in (None, expected)  # an exponent (below 1e-4): the parsed path
    else:
        assert got == expected


def test_row_cells_decline_until_the_forms_have_met_the_answer_and_version():
    forms = _forms((0, 1), None, "5.3.1")
    scan = row_cells(forms)
    text = '[{"task": "T0", "value": [{"x": 1.5, "y": 2, "tool": 0, "frame": 0}]}, {"task": "T1", "value": "Clear"}]'
    assert scan(text, {}) is None  # neither "Clear" nor version "1.0" met yet
    expected = _parsed_path(forms, text, {})
    assert scan(text, {}) == expected
    assert scan(text, {"classifier_version": "2.0"}) is None  # FEM? not asked yet
    assert scan(text.replace("Clear", "Dark"), {}) is None


def test_row_cells_cover_only_point_and_question_forms():
    point = PointByFrameParams(task="T0")
    two_points = [cells_form("point_extractor_by_frame", point, None)] * 2
    assert row_cells(two_points) is None
    assert row_cells([None]) is None


# ------------------------------------------------------------------------------------------
# a coordinate's text is copied only where it is repr of its float


@settings(max_examples=3000, deadline=None)
@given(
    x=st.floats(allow_nan=False, allow_infinity=False),
    digits=st.integers(1, 21),
    style=st.sampled_from("efg"),
)
def test_float_texts_are_copied_only_where_they_are_repr(x, digits, style):
    for text in (repr(x), format(x, f".{digits}f"), format(x, f".{digits}{style}")):
        if "e" in text or "." not in text or text.lstrip("-").startswith("00"):
            continue
        if compiled.float_text_is_repr(text):
            assert repr(float(text)) == text


def _random_doubles(n, seed):
    rng = random.Random(seed)
    for _ in range(n):
        x = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if x == x and abs(x) != float("inf"):
            yield x
            yield x * 1e-300 * 1e300 if abs(x) < 1 else x
        yield rng.uniform(0, 2048)
        yield rng.uniform(1e-4, 1e-2)
        yield float(rng.getrandbits(53)) / 2 ** rng.randint(0, 60)


def test_float_texts_of_repr_are_found_and_others_refused():
    found = candidates = 0
    for x in _random_doubles(20000, 5):
        text = repr(x)
        # the neighbours of repr: one digit more or less, the last digit moved
        for other in (text, text[:-1], text + "1", text[:-1] + str((int(text[-1]) + 1) % 10)):
            if "e" in other or other.endswith(".") or "." not in other or other == "-":
                continue
            if compiled.float_text_is_repr(other):
                assert repr(float(other)) == other, other
        # (from 2^30 up, doubles with few fraction bits are often exactly halfway between two
        # texts of 17 digits: such ties are left to Python, as are exact powers of 2)
        if "e" not in text and not text.endswith(".0") and 2**-60 < abs(x) < 2**30:
            candidates += 1
            found += compiled.float_text_is_repr(text)
    assert found >= 0.999 * candidates


@pytest.mark.parametrize(
    "x",
    ["1436.6048727342159", "0.1", "1.50", "1436.0", "-0", "-0.0", "0.0", "7", "-12",
     "0.00001", "0.0001", "9007199254740993.0", "0.10000000000000001", "2048.00000000000001",
     "999999999999999999", "0.00012345678901234567", "1234567890123456.7"],
)  # fmt: skip
def test_row_cells_write_coordinates_as_str_of_the_parsed_number(x):
    # the copied text (repr proven), Python's repr (not proven), an int's digits
    text = f'[{{"task": "T0", "value": [{{"tool": 0, "frame": 0, "x": {x}, "y": 1.5}}]}}]'
    forms = _forms(None, None, "5.3.1")
    scan = row_cells(forms)
    expected = _parsed_path(forms, text, {})
    assert expected[0][2][1] == str([orjson.loads(x)])
    assert scan(text, {}) == expected


@pytest.mark.parametrize(
    "x", ["1e5", "1E-3", "12345678901234567890", "NaN", "01", "1.", ".5", "+1", '"1"']
)
def test_row_cells_leave_other_numbers_to_the_parsed_path(x):
    text = f'[{{"task": "T0", "value": [{{"tool": 0, "frame": 0, "x": {x}, "y": 1.5}}]}}]'
    forms = _forms(None, None, "5.3.1")
    _parsed_path(forms, '[{"task": "T0", "value": []}]', {})  # (the version met)
    assert row_cells(forms)(text, {}) is None


def test_the_compiled_module_s_examples():
    import doctest

    assert doctest.testmod(compiled).failed == 0


@pytest.mark.parametrize(
    "text",
    [
        '[{"task": "T0.", "value": "x"}]',  # the point form declines "T0." as a FEM subtask
        '[{"task": "T1.", "value": "Clear"}]',  # the question form reads it as T1's
        '[{"task": "T1", "value": "Clear"}, {"task": "T0."}]',
        '[{"task": "T10", "value": "Clear"}, {"task": "T1.0.0", "value": "Dark"}]',
        '[{"value": "Clear", "task": "T1"}, {"value": [], "task": "T0"}]',
        '[{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": 1, "y": 2}]}, {"task": "T0"}]',
    ],
)
def test_row_cells_read_tasks_as_the_forms_do(text):
    forms = _forms((0, 1), None, "5.3.1")
    scan = row_cells(forms)
    expected = _parsed_path(forms, text, {})
    _parsed_path(forms, text.replace("Clear", "Dark"), {})  # (both answers met,
    _parsed_path(forms, "[]", {})  # and no answer)
    got = scan(text, {})
    assert got is None or got == expected


@pytest.mark.parametrize("skipped", ["1" + "0" * 400, '"\\ud800"', "1e400", "[" * 40 + "]" * 40])
def test_row_cells_decline_what_orjson_refuses_or_may_refuse(skipped):
    # (in a field no form reads: the row is still orjson's to refuse)
    text = f'[{{"task": "T1", "value": "Clear", "other": {skipped}}}]'
    forms = _forms((0, 1), None, "5.3.1")
    _parsed_path(forms, '[{"task": "T1", "value": "Clear"}]', {})  # (the answer met)
    assert row_cells(forms)(text, {}) is None
