"""`tally reduce`'s shortcuts past the general path give what the general path gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.reducers.question_reducer import QuestionReducerParams, question_reducer
from tally import reduce as reduce_module
from tally.errors import InputError
from tests.cli.cli_support import run_tally, write_yaml

#: Cells of a data.* column: counts as the extractors write them, and the odd ones.
NUMBERS = ["", "1.0", "1", "2.0", "0", "nan", "NaN", "NA", "null", "-1.5", "inf", "1e3", "-nan"]
ODD = ["x", "[1]", "True", "{}"]
#: Column names (unique, as in any extraction file): plain keys, the version column, nested keys.
COLUMNS = ["data.a", "data.b", "data.None", "data.aggregation_version", "data.x.y", "data.a.z"]


class _RowList(list):
    """A row that is not exactly a list."""


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(st.sampled_from(COLUMNS), max_size=4, unique=True),
    rows=st.lists(st.lists(st.sampled_from(NUMBERS), min_size=4, max_size=4), max_size=12),
    odd=st.lists(st.sampled_from(NUMBERS + ODD), min_size=4, max_size=4) | st.none(),
    reducer=st.sampled_from(["question_reducer", "shortcut_reducer"]),
)
def test_answer_counter_counts_what_the_reducer_counts(names, rows, odd, reducer):
    if odd is not None:  # a row that can make a column text
        rows = [*rows, odd]
    header = ("subject_id", "task", "created_at", "user_id", *names)
    rows = [["1", "T0", "2024-02-01 00:00:00 UTC", "", *row[: len(names)]] for row in rows]
    kinds = reduce_module._column_kinds(rows, len(header)).kinds()
    layout = reduce_module._Layout(
        header=header,
        index={name: i for i, name in enumerate(header)},
        kinds={name: kinds[i] for i, name in enumerate(header)},
        tasks=("T0",),
        reducer=reducer,
        keywords={},
        no_version=False,
        repeat_filter="all",
    )
    params = QuestionReducerParams()
    count = reduce_module._answer_counter(layout, params)
    if count is None:  # declined: a nested key, or a column that is not numbers
        assert any(
            name.count(".") > 1 or layout.kinds[name] not in ("int", "float")
            for name in names
            if name != "data.aggregation_version"
        )
        return
    make_record = reduce_module._record_maker(layout)
    expected = question_reducer([make_record(row) for row in rows], params)
    assert repr(count(rows)) == repr(expected)


def test_answer_counter_declines_what_needs_records():
    header = ("subject_id", "task", "created_at", "data.a")
    kinds = {"subject_id": "int", "task": "str", "created_at": "str", "data.a": "float"}
    layout = reduce_module._Layout(header, {}, kinds, ("T0",), "question_reducer", {}, False, "all")
    assert reduce_module._answer_counter(layout, QuestionReducerParams()) is not None
    for changed in (
        {"repeat_filter": "first"},
        {"repeat_filter": "last"},
        {"reducer": "survey_reducer"},
    ):
        other = layout._replace(**changed)
        assert reduce_module._answer_counter(other, QuestionReducerParams()) is None
    for params in (QuestionReducerParams(pairs=True), QuestionReducerParams(track_user_ids=True)):
        assert reduce_module._answer_counter(layout, params) is None


@pytest.mark.parametrize("reducer", ["question_reducer", "shortcut_reducer"])
@pytest.mark.parametrize("repeats", ["all", "first"])
def test_a_reduce_with_and_without_the_answer_counter_gives_the_same_bytes(
    tmp_path, monkeypatch, reducer, repeats
):
    header = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,"
    header += "extractor,data.clear,data.aggregation_version,data.dark,data.None\n"
    cells = ["1.0,5.3.1,,", ",5.3.1,1.0,", "1.0,5.3.1,1.0,", ",5.3.1,,", ",5.3.1,,1.0"]
    lines = [
        f"{100 + n % 23},u{n % 7},{n % 7 or ''},21434,T{n % 2},2024-02-01 00:00:{n % 60:02d} UTC,"
        f"{n % 11},question_extractor,{cells[n % len(cells)]}\n"
        for n in range(200)
    ]
    extracted = tmp_path / "question_extractor_extractions.csv"
    extracted.write_text(header + "".join(lines))
    config = write_yaml(tmp_path / "red.yaml", {"reducer_config": {reducer: {}}})
    outputs = []
    for counter in (reduce_module._answer_counter, lambda layout, params: None):
        monkeypatch.setattr(reduce_module, "_answer_counter", counter)
        out = tmp_path / f"out{len(outputs)}"
        out.mkdir()
        result = run_tally("reduce", extracted, config, "-d", out, "-hb", "-F", repeats)
        assert result.code == 0, result.err
        outputs.append((out / f"{reducer}_reductions.csv").read_bytes())
    assert outputs[0] == outputs[1]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["2024-02-01 00:00:0" + str(d) + " UTC" for d in range(4)]
                + ["2024-02-01 00:00:0\u00e9 UTC", "2024-02-01 00:00:0\u4e00 UTC", "\U0001f600"]
            ),
            st.sampled_from(["a", "b"]),
        ),
        max_size=20,
    ),
    st.randoms(use_true_random=False),
    st.sampled_from([list, tuple, _RowList]),
    st.booleans(),
    st.sampled_from([lambda n: (n // 7, n % 7), lambda n: n, lambda n: (n // 7, str(n % 7))]),
)
def test_compiled_rows_by_created_is_the_python_form(cells, rng, row_type, numbers, row_order):
    # the compiled form reads a list's created_at cell through a borrowed pointer (a copy); in
    # the export's form, lists and row orders of two ints are sorted in C without references
    from core._cells_compiled import rows_by_created

    if numbers:  # cells that are not str (read as they are)
        cells = [(len(created), other) for created, other in cells]
    members = [
        (row_order(n), row_type([created, other])) for n, (created, other) in enumerate(cells)
    ]
    rng.shuffle(members)  # an alias's rows come after the others
    assert rows_by_created(members, 0) == reduce_module._rows_by_created_py(members, 0)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(NUMBERS), min_size=3, max_size=3), max_size=15),
    st.permutations([(0, "a"), (1, "b"), (2, "c")]).map(lambda c: c[:2]),
    st.booleans(),
)
def test_compiled_count_held_is_the_python_form(rows, columns, as_tuples):
    from core._cells_compiled import count_held

    def holds(column, text):
        return text not in ("", "NA", "null") and text.lower() not in ("nan", "-nan")

    if as_tuples:  # drop_duplicates gives tuples
        rows = [tuple(row) for row in rows]
    compiled = count_held(rows, columns, [{}, {}], holds)
    python = reduce_module._count_held_py(rows, columns, [{}, {}], holds)
    assert repr(compiled) == repr(python)


def test_the_python_forms_give_the_same_bytes(tmp_path, monkeypatch):
    """The reduce with the compiled group steps, and with their Python forms (no compiler)."""
    assert reduce_module._count_held is not reduce_module._count_held_py  # compiled, built
    header = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,"
    header += "extractor,data.clear,data.aggregation_version,data.dark\n"
    lines = [
        f"{100 + n},u{n % 7},,21434,T0,2024-02-01 00:00:{n * 7 % 60:02d} UTC,{n % 9},"
        f"question_extractor,{'1.0' if n % 3 else ''},5.3.1,{'1.0' if n % 4 else ''}\n"
        for n in range(120)
    ]
    extracted = tmp_path / "question_extractor_extractions.csv"
    extracted.write_text(header + "".join(lines))
    config = write_yaml(tmp_path / "red.yaml", {"reducer_config": {"question_reducer": {}}})
    outputs = []
    for python_forms in (False, True):
        if python_forms:
            monkeypatch.setattr(reduce_module, "_count_held", reduce_module._count_held_py)
            monkeypatch.setattr(reduce_module, "_group_rows", reduce_module._group_rows_py)
            monkeypatch.setattr(reduce_module, "_column_texts", reduce_module._column_texts_py)
            monkeypatch.setattr(reduce_module, "_SubjectCounter", None)  # the general path
            monkeypatch.setattr(
                reduce_module, "_rows_by_created", reduce_module._rows_by_created_py
            )
        out = tmp_path / f"out{python_forms}"
        out.mkdir()
        result = run_tally("reduce", extracted, config, "-d", out, "-hb", "-F", "all")
        assert result.code == 0, result.err
        outputs.append((out / "question_reducer_reductions.csv").read_bytes())
    assert outputs[0] == outputs[1]


#: created_at cells: the export's form, and near misses (Arabic-Indic digits match ``\\d``)
CREATED = [
    "2024-02-01 00:00:08 UTC",
    "2024-02-01 00:00:0\u0668 UTC",
    "2024-02-01 00:00:08 UT",
    "2024-02-01T00:00:08 UTC",
    "2024-2-1 0:0:8 UTC",
    "",
    "2024-02-01 00:00:0/ UTC",
    "2024-02-01 00:00:0: UTC",
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.sampled_from(["7", "8", "", "7.0"]), st.sampled_from(CREATED)).map(list)),
    st.dictionaries(st.sampled_from(["7", "9"]), st.just([((0, 0), ["7", CREATED[0]])])),
)
def test_compiled_group_rows_is_the_python_form(rows, earlier):
    from core._cells_compiled import group_rows

    compiled = {k: list(v) for k, v in earlier.items()}
    python = {k: list(v) for k, v in earlier.items()}
    export_times = group_rows(rows, 0, 4, compiled, 1)
    assert export_times == reduce_module._group_rows_py(rows, 0, 4, python, 1)
    assert list(compiled.items()) == list(python.items())
    if export_times:  # the scan's own check then agrees
        assert all(reduce_module._EXPORT_TIME.fullmatch(row[1]) for row in rows)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["", "1", "12", "01", "1.0", "x", "é", "\u0661", "0"]),
            min_size=3,
            max_size=3,
        ).map(lambda row: row if len(row[0]) % 2 else tuple(row))
    ),
    st.lists(st.integers(0, 2), max_size=4),
    st.booleans(),
)
def test_compiled_column_texts_is_the_python_form(rows, columns, shared):
    from core._cells_compiled import column_texts

    if shared:  # a cell equal to the row before's is that very object, as split_records makes
        rows = (
            [
                [a if a == b else b for a, b in zip(before, row, strict=True)]
                for before, row in zip([rows[0], *rows], rows, strict=False)
            ]
            if rows
            else rows
        )
    compiled = column_texts(rows, columns)
    python = reduce_module._column_texts_py(rows, columns)
    assert compiled == python
    assert [type(digits) for _, digits in compiled] == [type(digits) for _, digits in python]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.sampled_from(["", "nan", "1", "12", "01", "-1", "1.0", "True", "x", "\u0661"]),
            min_size=3,
            max_size=3,
        ),
        min_size=1,
    )
)
def test_column_kinds_are_read_kinds_of_every_row(rows):
    from core.csv_layout import ReadKinds

    every_row = ReadKinds([0, 1, 2])
    for row in rows:
        every_row.add(row)
    assert reduce_module._column_kinds(rows, 3).kinds() == every_row.kinds()


# ------------------------------------------------------------------------------------------
# point_reducer_hdbscan straight from the cells (_point_cells)

#: frames and tools of a point extraction file: each has _x, _y and (T0_tool0) _details columns
POINT_TOOLS = ["frame0.T0_tool0", "frame0.T0_tool1", "frame1.T0_tool0", "frame10.T0_tool0"]
ODD_POINT_COLUMNS = ["data.frame01.T0_tool0_x", "data.frame0.T0_tool0_z", "data.other"]
#: Cells that are not a plain list of marks, or lists the reducer treats specially
ODD_MARK_CELLS = [
    "",
    "nan",
    "NA",
    "[]",
    "[1.5,2]",
    "[nan]",
    "[1e5, 2]",
    "[True, 2]",
    "x",
    "[None]",
    "{}",
    "[[1]]",
    "[01, 2]",
    "[-0.0, 0]",
    "[1, 2.5]",
    "[1.]",
    "1.5",
    "[1, 2, 3, 4, 5]",
    "[9007199254740993, 1]",
    "[1234567890123456789, 2]",
    "['1', 2]",
    "[1, 2, 3]",
    "[1.5, 2]\u00e9",
    "[1.5, 2]\u4e00",
]
ODD_DETAIL_CELLS = [
    "",
    "[]",
    "[[]]",
    "[[{}]]",
    "[{'0': 1}]",
    "[[{'0': 1, '1': 1}]]",
    "[[{'None': 1}]]",
    "[[{'a b': 1}]]",
    "x",
    "[[{'0': 1}, {'1': 1}]]",
    '[[{"0": 1}]]',
    "[[{'0': 1}], [{'1': 1}]]",
    "[[{'aggregation_version': 1}]]",
    "[[{'0': 1}], [{'0': 1}], [{'1': 1}]]",
    "[(1,)]",
    "[[{'0':1}]]",  # read as the usual cells are, but not written back as they are
    "[[{'0': 1}],[{'1': 1}]]",
    "[[{'0': 1.50}]]",
    "[[{'\u00e9': 1}]]",
    "[[{'\U0001f600': 1}]]",
]
#: coordinates near three centres (clusters form), ints and floats, a few exact repeats
COORDINATE = st.one_of(
    st.sampled_from([10, 10.0, 10.5, 11, 40, 40.25, 41.0, 200]),
    st.builds(
        lambda centre, offset: centre + offset,
        st.sampled_from([10.0, 40.0, 200.0]),
        st.floats(-3, 3, allow_nan=False, width=64),
    ),
)


@st.composite
def _point_cells_rows(draw):
    """(columns, rows of their cells): marks of matching lengths mostly, odd cells sometimes."""
    columns = ["data.aggregation_version"]
    for tool in draw(st.lists(st.sampled_from(POINT_TOOLS), min_size=1, unique=True)):
        columns += [f"data.{tool}_x", f"data.{tool}_y"]
        if tool.endswith("tool0") or draw(st.booleans()):
            columns.append(f"data.{tool}_details")
    if draw(st.integers(0, 9)) == 0:  # a missing column, an odd one
        columns.remove(draw(st.sampled_from(columns)))
    if draw(st.integers(0, 9)) == 0:
        columns.append(draw(st.sampled_from(ODD_POINT_COLUMNS)))
    columns = draw(st.permutations(columns))
    odd_percent = draw(st.sampled_from([0, 0, 3, 20]))  # of the cells
    rows = []
    for _ in range(draw(st.integers(0, 14))):
        marks = {}  # (frame, tool) -> number of marks in this row
        row = []
        for column in columns:
            if odd_percent and draw(st.integers(0, 99)) < odd_percent:
                odd = ODD_DETAIL_CELLS if column.endswith("details") else ODD_MARK_CELLS
                row.append(draw(st.sampled_from(odd)))
                continue
            if column == "data.aggregation_version":
                row.append("5.3.1")
                continue
            where = column.rpartition("_")[0]
            n = marks.setdefault(where, draw(st.integers(0, 4)))
            if n == 0:
                row.append("")
            elif column.endswith("details"):
                answers = [[{str(draw(st.integers(0, 2))): 1}] for _ in range(n)]
                text = str(answers)
                if draw(st.integers(0, 5)) == 0:  # read the same, written back differently
                    text = text.replace(": ", ":") if draw(st.booleans()) else text + " "
                row.append(text)
            else:
                row.append(str([draw(COORDINATE) for _ in range(n)]))
        rows.append(row)
    return columns, rows


@settings(max_examples=400, deadline=None)
@given(
    drawn=_point_cells_rows(),
    min_cluster_size=st.integers(2, 5),
    min_samples=st.sampled_from([1, 2, 3, 3, 6]),
    leaf=st.booleans(),
    details=st.sampled_from(
        [
            None,
            {"T0_tool0": ["question_reducer"]},
            {"T0_tool0": [None]},
            {"T0_tool0": ["shortcut_reducer", None], "T0_tool1": ["question_reducer"]},
        ]
    ),
    no_version=st.booleans(),
    row_type=st.sampled_from([list, tuple, _RowList]),
)
def test_point_cells_give_the_flattened_reduction_of_the_records(
    drawn, min_cluster_size, min_samples, leaf, details, no_version, row_type
):
    from core.csv_layout import flatten
    from core.errors import TallyError

    names, cells = drawn
    header = ("subject_id", "task", "created_at", "user_id", *names)
    rows = [["1", "T0", "2024-02-01 00:00:00 UTC", str(n % 3), *row] for n, row in enumerate(cells)]
    kinds = reduce_module._column_kinds(rows, len(header)).kinds()
    keywords = {"min_cluster_size": min_cluster_size, "min_samples": min_samples}
    keywords["cluster_selection_method"] = "leaf" if leaf else "eom"
    if details is not None:
        keywords["details"] = details
    layout = reduce_module._Layout(
        header=header,
        index={name: i for i, name in enumerate(header)},
        kinds={name: kinds[i] for i, name in enumerate(header)},
        tasks=("T0",),
        reducer="point_reducer_hdbscan",
        keywords=keywords,
        no_version=no_version,
        repeat_filter="all",
    )
    spec = reduce_module.get_reducer("point_reducer_hdbscan")
    params = spec.parse_params(keywords)
    point_cells = reduce_module._point_cells(layout, params)
    if point_cells is None:  # declined for the file: an odd column
        assert any(name in ODD_POINT_COLUMNS for name in names)
        return
    # rows of any sequence type: PointCells reads lists' and tuples' cells without taking a
    # reference to them, other rows by indexing
    got = point_cells([row_type(row) for row in rows])
    make_record = reduce_module._record_maker(layout)
    try:
        expected = flatten(
            spec.func([make_record(row) for row in rows], params),
            None if no_version else "5.3.1",
        )
    except (TallyError, ValueError):
        assert got is None  # the records path alone raises
        return
    if got is not None:
        assert repr(got) == repr(expected)


def test_point_cells_take_usual_rows():
    """Rows as `tally extract` writes them are not declined (the hypothesis test above would
    pass if every group declined)."""
    header = (
        "subject_id",
        "task",
        "created_at",
        "data.aggregation_version",
        "data.frame0.T0_tool0_x",
        "data.frame0.T0_tool0_y",
        "data.frame0.T0_tool0_details",
    )
    kinds = dict.fromkeys(header, "str")
    layout = reduce_module._Layout(
        header,
        {},
        kinds,
        ("T0",),
        "point_reducer_hdbscan",
        {"min_cluster_size": 2, "min_samples": 1, "details": {"T0_tool0": ["question_reducer"]}},
        False,
        "all",
    )
    spec = reduce_module.get_reducer("point_reducer_hdbscan")
    point_cells = reduce_module._point_cells(layout, spec.parse_params(layout.keywords))
    rows = [
        ("1", "T0", "t", "5.3.1", "[1.5, 2.0]", "[3.25, 4.0]", "[[{'0': 1}], [{'1': 1}]]"),
        ("1", "T0", "t", "5.3.1", "[1.0, 9.5]", "[3.0, 4.5]", "[[{'0': 1}], [{'0': 1}]]"),
    ]
    flat = point_cells(rows)
    assert flat is not None
    assert list(flat)[:3] == [
        "aggregation_version",
        "frame0.T0_tool0_points_x",
        "frame0.T0_tool0_points_y",
    ]
    assert flat["frame0.T0_tool0_details"] == "[[{'0': 1}], [{'1': 1}], [{'0': 1}], [{'0': 1}]]"


def test_point_cells_decline_params_beyond_c_integers_and_short_rows():
    """Found by review: a min_cluster_size of 2**63 stopped the run with a traceback from
    PointCells' constructor (the records path reports it for the subject), and a row shorter
    than the header was read past its end (tally reduce refuses such rows earlier)."""
    from core.reducers.point_reducer_hdbscan import PointHdbscanParams

    header = ("task", "data.frame0.T0_tool0_x", "data.frame0.T0_tool0_y")
    layout = reduce_module._Layout(
        header, {}, dict.fromkeys(header, "str"), ("T0",), "point_reducer_hdbscan", {}, False, "all"
    )
    for params in (
        PointHdbscanParams(min_cluster_size=2**63),
        PointHdbscanParams(min_samples=2**63),
    ):
        assert reduce_module._point_cells(layout, params) is None
    point_cells = reduce_module._point_cells(layout, PointHdbscanParams())
    assert point_cells([["T0"]] * 1000) is None
    assert point_cells([["T0", "[1.5]", "[2.5]"]]) is not None


def test_a_point_reduce_with_and_without_point_cells_gives_the_same_bytes(tmp_path, monkeypatch):
    header = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,"
    header += "extractor,data.aggregation_version,data.frame0.T0_tool0_x,data.frame0.T0_tool0_y,"
    header += "data.frame0.T0_tool0_details,data.frame1.T0_tool1_x,data.frame1.T0_tool1_y\n"
    lines = []
    for n in range(240):
        x, y = 10.0 + (n % 5) * 0.37 + (n % 3) * 40, 20 + (n % 7) * 0.5
        mark = f'"[{x}, {x + 1.5}]","[{y}, {y}]","[[{{\'{n % 2}\': 1}}], [{{\'1\': 1}}]]"'
        other = '"[1.5]","[2]"' if n % 4 else ","
        if n == 17:
            mark = '"[1e1, 11.0]","[1.0, 2.0]","[[{\'0\': 1}], [{\'1\': 1}]]"'  # declines
        lines.append(
            f"{100 + n},u{n % 7},{n % 7 or ''},21434,T0,2024-02-01 00:00:{n % 60:02d} UTC,"
            f"{n % 9},point_extractor_by_frame,5.3.1,{mark},{other}\n"
        )
    extracted = tmp_path / "point_extractor_by_frame_extractions.csv"
    extracted.write_text(header + "".join(lines))
    config = write_yaml(
        tmp_path / "red.yaml",
        {
            "reducer_config": {
                "point_reducer_hdbscan": {
                    "min_cluster_size": 3,
                    "min_samples": 2,
                    "details": {"T0_tool0": ["question_reducer"]},
                }
            }
        },
    )
    outputs = []
    for point_cells in (reduce_module._point_cells, lambda layout, params: None):
        monkeypatch.setattr(reduce_module, "_point_cells", point_cells)
        out = tmp_path / f"out{len(outputs)}"
        out.mkdir()
        result = run_tally("reduce", extracted, config, "-d", out, "-hb", "-F", "all")
        assert result.code == 0, result.err
        outputs.append((out / "point_reducer_hdbscan_reductions.csv").read_bytes())
    assert outputs[0] == outputs[1]


@settings(max_examples=300, deadline=None)
@given(
    drawn=_point_cells_rows(),
    subject_of=st.lists(st.integers(0, 3), min_size=14, max_size=14),
    cells=st.lists(
        st.tuples(
            # None: the row's own plain id (distinct); the others repeat or are not plain
            st.sampled_from([None] * 5 + ["11", "7", "07", "0", "1\u0661", "+5"]),
            st.sampled_from(
                [CREATED[0]] * 2
                + CREATED[1:3]
                + ["2024-02-01 00:00:07 UTC", "2024-01-31 23:59:59 UTC"]
            ),
        ),
        min_size=14,
        max_size=14,
    ),
    row_order=st.sampled_from([lambda n: (n // 3, n % 3), lambda n: (n // 3, str(n % 3)), str]),
    shuffled=st.booleans(),
    cid_kind=st.sampled_from(["int", "int", "str"]),
    rng=st.randoms(use_true_random=False),
)
def test_point_members_give_what_the_general_path_gives(
    drawn, subject_of, cells, row_order, shuffled, cid_kind, rng
):
    """``PointCells.from_members`` (sorted and checked for duplicates in C) against the general
    path (``_sorted_rows``, ``drop_duplicates``, ``PointCells``): duplicate and odd ids, ties
    and row orders that are not two ints, created_at not in the export's form."""
    names, point_rows = drawn
    header = ("classification_id", "task", "created_at", "subject_id", *names)
    grouped: dict[str, list] = {}
    for n, row in enumerate(point_rows):
        cid, created = cells[n]
        cid = str(100 + n) if cid is None else cid
        subject = str(subject_of[n])
        grouped.setdefault(subject, []).append((row_order(n), [cid, "T0", created, subject, *row]))
    for members in grouped.values():
        if shuffled:  # an alias's rows come after the others
            rng.shuffle(members)
    rows = [row for members in grouped.values() for _, row in members]
    read_kinds = reduce_module._column_kinds(rows, len(header)).kinds().values()
    kinds = dict(zip(header, read_kinds, strict=True))
    kinds.update(classification_id=cid_kind, task="str", created_at="str", subject_id="int")
    layout = reduce_module._Layout(
        header=header,
        index={name: i for i, name in enumerate(header)},
        kinds=kinds,
        tasks=("T0",),
        reducer="point_reducer_hdbscan",
        keywords={"min_cluster_size": 2, "min_samples": 1},
        no_version=False,
        repeat_filter="all",
    )
    job = reduce_module.BucketJob(0, (), "", tuple(grouped))
    results = []
    for compiled in (True, False):
        reduce_module._init_worker(layout, {s: list(m) for s, m in grouped.items()})
        if reduce_module._WORKER["point_cells"] is None:  # declined for the file: odd columns
            return
        if not compiled:
            reduce_module._WORKER["point_members"] = None
        else:
            assert reduce_module._WORKER["point_members"] is not None
        try:
            result = reduce_module._reduce_subjects(job)
        except InputError as exc:  # the records path alone raises, whichever way
            results.append(str(exc))
        else:
            results.append((repr(result.kept), result.stats))
    assert results[0] == results[1]


_CELL_TEXT = st.text(alphabet="ab, \"\n\r\t[]'é\u4e00", max_size=6)


def _reduction_rows(value: st.SearchStrategy) -> st.SearchStrategy:
    """Up to 5 reduction rows ``(subject cell, task cell, {a|b|c: value})``."""
    return st.lists(
        st.tuples(_CELL_TEXT, _CELL_TEXT, st.dictionaries(st.sampled_from(["a", "b", "c"]), value)),
        max_size=5,
    )


@settings(max_examples=400, deadline=None)
@given(
    rows=_reduction_rows(
        st.one_of(
            _CELL_TEXT,
            st.none(),
            st.integers(-(2**70), 2**70),
            st.floats(),
            st.booleans(),
            st.lists(st.integers(), max_size=2),
        )
    ),
    columns=st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(["int", "float", "object"])
        ),
        unique_by=lambda column: column[0],
    ),
    workflow=_CELL_TEXT,
)
def test_compiled_reduction_text_is_the_python_lines(rows, columns, workflow):
    from core.csv_layout import cell_formatter
    from tally.tables import csv_field

    if reduce_module._reduction_text is None:
        pytest.skip("needs the compiled extension and Python 3.11's csv quoting")
    formatters = [(name, cell_formatter(kind)) for name, kind in columns]
    try:
        expected = reduce_module._csv_text(
            reduce_module._reduction_lines(iter(rows), formatters, workflow, "question_reducer")
        )
    except (TypeError, ValueError) as exc:  # a value its column's kind cannot hold
        expected = type(exc)
    try:
        compiled = reduce_module._reduction_text(
            rows,
            [n for n, _ in formatters],
            [f for _, f in formatters],
            workflow,
            "question_reducer",
            csv_field,
        )
    except (TypeError, ValueError) as exc:
        compiled = type(exc)
    assert compiled == expected


@given(st.integers(-(2**80), 2**80) | st.integers(-(2**1100), 2**1100))
def test_float_cells_of_ints_are_format_cells(value):
    from core.csv_layout import _format_float, format_cell

    try:
        expected = format_cell(value, "float")
    except OverflowError:
        with pytest.raises(OverflowError):
            _format_float(value)
        return
    assert _format_float(value) == expected


def test_a_counting_reduce_with_and_without_compiled_lines_gives_the_same_bytes(
    tmp_path, monkeypatch
):
    test_a_reduce_with_and_without_the_answer_counter_gives_the_same_bytes(
        tmp_path, monkeypatch, "question_reducer", "all"
    )
    _same_bytes_with_python_lines(tmp_path, monkeypatch, "question", ["_reduction_text"])


def test_a_point_reduce_with_and_without_compiled_lines_gives_the_same_bytes(tmp_path, monkeypatch):
    test_a_point_reduce_with_and_without_point_cells_gives_the_same_bytes(tmp_path, monkeypatch)
    _same_bytes_with_python_lines(tmp_path, monkeypatch, "point", ["_reduction_text"])


def _same_bytes_with_python_lines(tmp_path, monkeypatch, kind, compiled_writers):
    """Reduce the test's ``<kind>`` extraction file again (``-F all``) with the compiled line
    writers switched off: the bytes of its first run (in ``out0``)."""
    monkeypatch.undo()
    extractor, reducer = {
        "question": ("question_extractor", "question_reducer"),
        "point": ("point_extractor_by_frame", "point_reducer_hdbscan"),
    }[kind]
    expected = (tmp_path / "out0" / f"{reducer}_reductions.csv").read_bytes()
    for name in compiled_writers:
        monkeypatch.setattr(reduce_module, name, None)
    out = tmp_path / "python_lines"
    out.mkdir()
    extracted = tmp_path / f"{extractor}_extractions.csv"
    result = run_tally("reduce", extracted, tmp_path / "red.yaml", "-d", out, "-hb", "-F", "all")
    assert result.code == 0, result.err
    assert (out / f"{reducer}_reductions.csv").read_bytes() == expected


# ------------------------------------------------------------------------------------------
# one subject of a counting reduce in one compiled step (_subject_counter)

#: classification ids: plain ones, and those drop_duplicates cannot tell apart by their text
CIDS = ["11", "12", "13", "7", "07", "0", "1\u0661", "+5"]


@settings(max_examples=400, deadline=None)
@given(
    subjects=st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(CIDS),
                st.sampled_from(
                    CREATED[:2] + ["2024-02-01 00:00:07 UTC", "2024-01-31 23:59:59 UTC"]
                ),
                st.sampled_from(NUMBERS[:6]),
                st.sampled_from(NUMBERS[:6]),
            ),
            min_size=1,
            max_size=8,
        ),
        min_size=1,
        max_size=6,
    ),
    shuffled=st.booleans(),
    no_version=st.booleans(),
    cid_kind=st.sampled_from(["int", "float", "str"]),
    rng=st.randoms(use_true_random=False),
)
def test_subject_counter_gives_what_the_general_path_gives(
    subjects, shuffled, no_version, cid_kind, rng
):
    header = ("classification_id", "task", "created_at", "subject_id", "data.a", "data.b")
    grouped = {}
    for s, cells in enumerate(subjects):
        members = [
            ((n // 3, n % 3), [cid, "T0", created, str(s), a, b])
            for n, (cid, created, a, b) in enumerate(cells)
        ]
        if shuffled:  # an alias's rows come after the others
            rng.shuffle(members)
        grouped[str(s)] = members
    rows = [row for members in grouped.values() for _, row in members]
    kinds = {
        name: kind
        for name, kind in zip(
            header, reduce_module._column_kinds(rows, len(header)).kinds().values(), strict=True
        )
    }
    kinds["classification_id"] = cid_kind
    if "str" in (kinds["data.a"], kinds["data.b"]):
        kinds["data.a"] = kinds["data.b"] = "float"
    layout = reduce_module._Layout(
        header=header,
        index={name: i for i, name in enumerate(header)},
        kinds={**kinds, "subject_id": "int", "task": "str", "created_at": "str"},
        tasks=("T0",),
        reducer="question_reducer",
        keywords={},
        no_version=no_version,
        repeat_filter="all",
    )
    job = reduce_module.BucketJob(0, (), "", tuple(grouped))
    results = []
    for compiled in (True, False):
        reduce_module._init_worker(layout, {s: list(m) for s, m in grouped.items()})
        if not compiled:
            reduce_module._WORKER["count_subject"] = None
        else:
            assert reduce_module._WORKER["count_subject"] is not None
        result = reduce_module._reduce_subjects(job)
        results.append((repr(result.kept), result.stats))
    assert results[0] == results[1]


@pytest.mark.parametrize("in_memory", [True, False])
def test_a_reduce_with_and_without_the_subject_counter_gives_the_same_bytes(
    tmp_path, monkeypatch, in_memory
):
    """Both ways of grouping (in memory; spilled, its output spilled in small chunks)."""
    header = "classification_id,user_name,user_id,workflow_id,task,created_at,subject_id,"
    header += "extractor,data.clear,data.aggregation_version,data.dark\n"
    lines = [
        f"{100 + n % 23},u{n % 7},,21434,T0,2024-02-01 00:00:{n * 7 % 60:02d} UTC,{n % 13},"
        f"question_extractor,{'1.0' if n % 3 else ''},5.3.1,{'1.0' if n % 4 else ''}\n"
        for n in range(300)  # rows 0 and 299: subject 0, id 100 twice (the general path)
    ]
    extracted = tmp_path / "question_extractor_extractions.csv"
    extracted.write_text(header + "".join(lines))
    config = write_yaml(tmp_path / "red.yaml", {"reducer_config": {"question_reducer": {}}})
    if not in_memory:
        monkeypatch.setattr(reduce_module, "IN_MEMORY_BYTES", -1)
        monkeypatch.setattr(reduce_module, "SPILL_ROWS", 3)
    outputs = []
    for counter in (True, False):
        if not counter:
            monkeypatch.setattr(reduce_module, "_SubjectCounter", None)
        out = tmp_path / f"out{counter}"
        out.mkdir()
        result = run_tally("reduce", extracted, config, "-d", out, "-hb", "-F", "all")
        assert result.code == 0, result.err
        outputs.append((out / "question_reducer_reductions.csv").read_bytes())
    assert outputs[0] == outputs[1]


def test_subject_counter_declines_what_needs_the_general_path():
    header = ("classification_id", "task", "created_at", "data.a")
    layout = reduce_module._Layout(
        header,
        {name: i for i, name in enumerate(header)},
        {"classification_id": "int", "data.a": "float"},
        ("T0",),
        "question_reducer",
        {},
        False,
        "all",
    )
    count = reduce_module._subject_counter(layout, QuestionReducerParams())
    time = "2024-02-01 00:00:08 UTC"
    assert count([((0, 0), ["1", "T0", time, "1.0"]), ((0, 1), ["2", "T0", time, ""])]) == {
        "a": 1,
        "aggregation_version": "5.3.1",
    }
    for members in (
        [((0, 0), ["1", "T0", time, "1.0"]), ((0, 1), ["1", "T0", time, ""])],  # one id twice
        [((0, 0), ["01", "T0", time, "1.0"]), ((0, 1), ["1", "T0", time, ""])],  # 01 is 1
        [((0, 0), ["1", "T0", "2024-2-1 0:0:8 UTC", "1.0"])],  # another time form
        [(0, ["1", "T0", time, "1.0"]), (1, ["2", "T0", time, ""])],  # row orders not pairs
        [((0, 2**70), ["1", "T0", time, "1.0"]), ((0, 1), ["2", "T0", time, ""])],
        [((0, 0), ("1", "T0", time, "1.0"))],  # not a list
        [],
    ):
        assert count(members) is None
    from core.csv_layout import ColumnStats

    stats, expected = ColumnStats(), ColumnStats()
    for members in ([((0, 0), ["1", "T0", time, "1.0"])], [((0, 1), ["2", "T0", time, ""])]):
        expected.add(count(members, stats))  # the counter adds it to stats as add does
    assert stats == expected and stats.kinds() == {"a": "float", "aggregation_version": "object"}
    many = [((0, n), [str(100 + n), "T0", time, "1.0"]) for n in range(40)]  # ids sorted
    assert count(many) == {"a": 40, "aggregation_version": "5.3.1"}
    assert count([*many, ((0, 40), ["139", "T0", time, ""])]) is None  # one id twice
    assert count([((0, 0), ["1" * 20, "T0", time, ""]), *many]) is None  # more than 19 digits
    for changed in (
        {"tasks": ("T0", "T1")},
        {"blank_tasks": True},
        {"header": ("classification_id", "task", "created_at", "data.parameters")},
        {"repeat_filter": "first"},
    ):
        other = layout._replace(**changed)
        other = other._replace(kinds={**other.kinds, "data.parameters": "float"})
        assert reduce_module._subject_counter(other, QuestionReducerParams()) is None
