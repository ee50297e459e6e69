"""``tally extract``'s row loops: the compiled forms (``tally/_csv_compiled.pyx``
``filter_rows``, ``extract_rows``) and the Python loops of ``_extract_block`` and
``_extract_chunk`` write the same files and say the same on exports of usual and unusual rows
(other workflows and versions, invalid ones, missing ids, malformed rows, annotations and
metadata the forms decline)."""

from __future__ import annotations

import csv

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tally.extract as extract_module
from tests.cli.cli_support import EXPORT_COLUMNS, export_row, extractor_config, run_tally

pytest.importorskip("tally._csv_compiled")

_POINT = [{"x": 1.5, "y": 2.0, "frame": 0, "tool": 0, "details": [{"value": 1}]}]
_FEM_POINT = [{"x": 1.5, "y": 2.0, "frame": 0, "toolIndex": 0}]
_ANNOTATIONS = [
    [{"task": "T0", "value": _POINT}, {"task": "T1", "value": "Yes"}],
    [{"task": "T0", "value": _POINT * 2}, {"task": "T2", "value": ["Nothing here"]}],
    [{"task": "T1", "value": ["a", "b"]}],
    [{"task": "T0", "value": _FEM_POINT}],  # FEM: the point form declines
    [{"task": "T0", "value": [{"x": "a", "y": 1, "frame": 0, "tool": 0}]}],
    '[{"task": "T0", "value": [{"x": 1.50, "y": -0, "frame": 0, "tool": 0}]}, {"task": "T1", "value": "Yes"}]',
    '[{"task": "T0", "value": [{"x": 0.00001, "y": 1e3, "frame": 0, "tool": 0}]}]',
    '[{"task": "T1", "value": "\\ud800"}]',
    [{"task": "T1"}],  # no value: the extractor's error
    [],
    {"T0": 1},
    '[{"task": "T1", "value": NaN}]',
    "not json",
    "",
]
_METADATA = [
    None,
    {"classifier_version": "2.0"},
    '{"a": 1e5}',
    "[1]",
    '{"a": ',
    "",
]


@st.composite
def _exports(draw):
    rows = []
    for cid in range(draw(st.integers(0, 12))):
        row = export_row(
            cid + 1,
            draw(st.integers(1, 3)),
            draw(st.sampled_from(_ANNOTATIONS)),
            workflow=draw(st.sampled_from([7, 7, 7, 8])),
            version=draw(st.sampled_from(["1.1", "1.1", "1.2", "bad"])),
            metadata=draw(st.sampled_from(_METADATA)),
        )
        row["classification_id"] = draw(
            st.sampled_from([row["classification_id"]] * 5 + ["", " ", "nan"])
        )
        row["subject_ids"] = draw(st.sampled_from([row["subject_ids"]] * 5 + ["", "NA"]))
        cells = [row.get(c, "") for c in EXPORT_COLUMNS]
        shape = draw(st.sampled_from(["usual"] * 12 + ["short", "long"]))
        if shape == "short":
            cells = cells[:-1]
        elif shape == "long":
            cells = [*cells, "x"]
        rows.append(cells)
    return rows


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=_exports())
def test_the_compiled_loops_write_what_the_python_loops_write(monkeypatch, tmp_path_factory, rows):
    tmp = tmp_path_factory.mktemp("rows")
    export = tmp / "export.csv"
    with open(export, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        writer.writerows(rows)
    config = extractor_config(
        tmp / "c.yaml",
        {
            "point_extractor_by_frame": [
                {"task": "T0", "details": {"T0_tool0": ["question_extractor"]}}
            ],
            "question_extractor": [{"task": "T1"}],
            "shortcut_extractor": [{"task": "T2"}],
        },
        version="1.1",
    )
    outputs = []
    # compiled loops reading the annotations' text (RowCells), then parsing it, then Python
    for compiled in ("text", "parsed", "python"):
        if compiled == "parsed":
            monkeypatch.setattr(extract_module, "row_cells", lambda forms: None)
        if compiled == "python":
            monkeypatch.setattr(extract_module, "_filter_rows_compiled", None)
            monkeypatch.setattr(extract_module, "_extract_rows_compiled", None)
        out = tmp / f"out-{compiled}"
        out.mkdir()
        result = run_tally("extract", export, config, "-d", out, "-hb", "-c", "1")
        files = {p.name: p.read_bytes() for p in sorted(out.glob("*.csv"))}
        outputs.append((result.code, files, result.err))
    monkeypatch.undo()
    assert outputs[0] == outputs[1] == outputs[2]


_KIND_TEXTS = ["", "NA", "nan", "1", "01", "12", "-3", "1.5", "1e3", "True", "false", "x", "\u00b2"]


@given(
    st.lists(
        st.tuples(
            *[st.sampled_from(_KIND_TEXTS).map(lambda text: (text + "!")[:-1])] * 4  # new objects
        ),
        max_size=30,
    ),
    st.lists(st.booleans(), max_size=30),
)
def test_kinds_adder_observes_as_read_kinds(rows, by_python):
    """``KindsAdder`` (what the compiled ``filter_rows`` calls per row) leaves a ``ReadKinds`` as
    its ``add`` does, also with ``add`` called in between (``filter_row``'s rows)."""
    from tally._csv_compiled import KindsAdder

    from core.csv_layout import NA_STRINGS, ReadKinds

    names = ["a", "b", "c", "d"]
    expected, got = ReadKinds(names), ReadKinds(names)
    add = KindsAdder(got, NA_STRINGS)
    for row, python in zip(rows, (by_python + [False] * len(rows))[: len(rows)], strict=True):
        expected.add(row)
        (got.add if python else add)(row)
    assert vars(got) == vars(expected)
