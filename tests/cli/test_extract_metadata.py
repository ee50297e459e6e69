"""``tally extract``'s metadata check (``tally/_csv_compiled.pyx`` ``metadata_stand_in``):
whenever it answers, the metadata text parses (``tally.extract._loads``) to a JSON object whose
``classifier_version`` is the answer's, so the row takes the same path as with the parsed
metadata."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tally.extract import _loads
from tests.cli.cli_support import answer, export_row, extractor_config, run_tally, write_export

stand_in = pytest.importorskip("tally._csv_compiled").metadata_stand_in

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["2.0", "1.0", "", 'a"b', "\\", "é"]),
    # longer than the 16 bytes the scanner skips at a time, a stop (quote, escape) anywhere
    st.text(alphabet=list('ab "\\\n\x01é😀/'), min_size=12, max_size=60),
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["a", "classifier_version", "é", "x\n"]), inner, max_size=3
        )
    ),
    max_leaves=8,
)
_keys = st.sampled_from(
    ["classifier_version", "source", "session", "classifier_version ", "a_key_of_some_length_é"]
)


@st.composite
def _metadata_texts(draw):
    """JSON objects written with random separators, some with a duplicate key, some broken."""
    pairs = draw(st.lists(st.tuples(_keys, _values), max_size=4))
    blank = draw(st.sampled_from(["", " ", "\n", "\t ", "\r\n"]))
    text = (
        "{"
        + blank
        + ("," + blank).join(
            json.dumps(key)
            + blank
            + ":"
            + blank
            + json.dumps(value, ensure_ascii=draw(st.booleans()))
            for key, value in pairs
        )
        + blank
        + "}"
    )
    if draw(st.booleans()):  # break it somewhere
        cut = draw(st.integers(0, len(text)))
        text = (
            text[:cut]
            + draw(st.sampled_from(["", ",", "]", "}", '"', "1", "\\", "\x01", " x"]))
            + text[cut + 1 :]
        )
    return text


_json_chars = st.text(alphabet=list('{}[]:,"\\ \n01.-+eEtrufalsnNI2abc_éu\x00'), max_size=30)


def _parsed(text: str):
    try:
        return _loads(text)
    except ValueError:
        return ValueError


@settings(max_examples=3000, deadline=None)
@given(st.one_of(_metadata_texts(), _json_chars, _json_chars.map(lambda t: '{"a":' + t + "}")))
def test_an_answer_is_the_parsed_metadatas(text):
    answer = stand_in(text)
    if answer is None:
        return  # the caller parses the text
    parsed = _parsed(text)
    assert isinstance(parsed, dict)
    expected = {k: v for k, v in parsed.items() if k == "classifier_version"}
    assert answer == expected
    assert all(type(v) is str for v in answer.values())


@pytest.mark.parametrize(
    "text",
    [
        '{"source":"api","viewport":{"width":1280,"height":642},"live_project":true,'
        '"subject_dimensions":[{"clientWidth":704,"naturalWidth":2048}],"utc_offset":"-3600"}',
        '{"classifier_version":"2.0","user_language":"é","x":[-0.5,0,null,false,[]]}',
        " { } ",
    ],
)
def test_the_usual_metadata_has_an_answer(text):
    """The export's metadata (one of the simulated rows, FEM's, an empty one) is answered."""
    parsed = json.loads(text)
    assert stand_in(text) == {k: v for k, v in parsed.items() if k == "classifier_version"}


@pytest.mark.parametrize(
    "text",
    [
        '{"classifier_version": "2.0", "classifier_version": "1.0"}',  # the last one counts
        '{"classifier_version": 2.0}',
        '{"classifier_\\u0076ersion": "2.0"}',
        '{"classifier_version": "2.\\u0030"}',
        '{"a": 1e5}',
        '{"a": NaN}',
        '{"a": 1}x',
        '{"a": "\x01"}',
        "[" * 40 + "]" * 40,
        '{"a":' + "[" * 40 + "]" * 40 + "}",
    ],
)
def test_anything_unusual_is_left_to_the_parser(text):
    assert stand_in(text) is None


def _metadata_variety_export(path):
    """Point, question and shortcut rows whose metadata is of every kind: PFE, FEM (its
    point marks make the cells form decline: the extractor needs the parsed metadata), a
    repeated or escaped classifier_version, NaN, invalid JSON, a list."""
    metadatas = [
        {"classifier_version": "1.0", "source": "api"},
        {"source": "api", "viewport": {"width": 1280}},
        {"classifier_version": "2.0"},
        '{"classifier_version": "2.0", "classifier_version": "1.0"}',
        '{"classifier_\\u0076ersion": "2.0"}',
        '{"a": NaN, "classifier_version": "2.0"}',
        '{"a": 1e400}',
        '{"a": ',
        "[1]",
        "",
    ]
    rows = []
    for cid, metadata in enumerate(metadatas * 3, start=1):
        fem = cid % 2 == 0
        mark = {"x": 1.5 * cid, "y": 2.0, "frame": 0}
        mark.update({"toolIndex": 0} if fem else {"tool": 0, "details": [{"value": 1}]})
        annotations = (
            [{"task": "T0", "value": [mark]}]
            + answer("T1", "Yes" if cid % 3 else "No")
            + answer("T2", ["Nothing here"] if cid % 4 == 0 else [])
        )
        rows.append(export_row(cid, 10 + cid % 4, annotations, metadata=metadata))
    return write_export(path, rows)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_extract_writes_the_same_with_the_metadata_parsed(monkeypatch, tmp_path, workers):
    import tally.extract as extract_module

    export = _metadata_variety_export(tmp_path / "export.csv")
    config = extractor_config(
        tmp_path / "c.yaml",
        {
            "point_extractor_by_frame": [
                {"task": "T0", "details": {"T0_tool0": ["question_extractor"]}}
            ],
            "question_extractor": [{"task": "T1"}],
            "shortcut_extractor": [{"task": "T2"}],
        },
    )
    outputs = []
    for stand_in_of in (stand_in, None):
        monkeypatch.setattr(extract_module, "_metadata_stand_in", stand_in_of)
        out = tmp_path / f"out-{stand_in_of is None}"
        out.mkdir()
        result = run_tally("extract", export, config, "-d", out, "-hb", "-c", workers)
        assert result.code == 0, result.err
        files = {p.name: p.read_bytes() for p in sorted(out.glob("*.csv"))}
        outputs.append((files, result.err))
    assert outputs[0] == outputs[1]
    assert b"2.0" in outputs[0][0]["point_extractor_by_frame_extractions.csv"]  # FEM rows extracted
