"""``_points_compiled.point_clusters`` gives ``point_reducer_hdbscan``'s Python output, or declines.

The compiled pass mirrors the Python path (``point_groups``, ``run_hdbscan``, ``_summarise``,
``add_subtask_reductions`` with counting subtask reducers). Outputs are compared by ``repr``:
keys and their order, ints against floats, every digit of every double.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import TallyError
from core.reducers import point_reducer_hdbscan as module
from core.registry import ExtractRecord, get_reducer

SPEC = get_reducer("point_reducer_hdbscan")


def _both(records: list[ExtractRecord], params: Any) -> tuple[str, str]:
    """(compiled, Python) results of the reducer as text: ``repr``, or the exception's type."""

    def run() -> str:
        try:
            return repr(SPEC.func(records, params))
        except (TallyError, ValueError) as exc:
            return type(exc).__name__

    compiled = module._point_clusters
    first = run()
    module._point_clusters = None
    try:
        second = run()
    finally:
        module._point_clusters = compiled
    return first, second


def test_compiled_pass_is_built() -> None:
    assert module._point_clusters is not None, "run `make install` to build it"


def _typical(seed: int = 0) -> list[ExtractRecord]:
    import random

    rng = random.Random(seed)
    records = []
    for user in range(12):
        frame: dict[str, Any] = {}
        for tool, (cx, cy) in (("T0_tool0", (100.0, 200.0)), ("T0_tool1", (700.0, 50.0))):
            n = rng.randint(1, 4)
            frame[f"{tool}_x"] = [cx + rng.gauss(0, 5) for _ in range(n)]
            frame[f"{tool}_y"] = [cy + rng.gauss(0, 5) for _ in range(n)]
            if tool == "T0_tool0":
                frame[f"{tool}_details"] = [[{str(rng.randint(0, 1)): 1}] for _ in range(n)]
        records.append(ExtractRecord({"frame0": frame}, user_id=user))
    return records


def test_typical_extracts_take_the_compiled_pass_with_the_same_output() -> None:
    params = SPEC.parse_params(
        {"min_cluster_size": 4, "min_samples": 3, "details": {"T0_tool0": ["question_reducer"]}}
    )
    for seed in range(20):
        records = _typical(seed)
        assert module._compiled_clusters(records, params) is not None
        compiled, python = _both(records, params)
        assert compiled == python
        assert "T0_tool0_clusters_details" in compiled


def test_unusual_extracts_decline_to_the_python_path() -> None:
    params = SPEC.parse_params({"min_cluster_size": 2, "min_samples": 1})
    good = {"T0_tool0_x": [1.0, 2.0, 3.0], "T0_tool0_y": [1.0, 2.0, 3.5]}
    for frame in (
        {"T0_tool0_x": [1.0, 2.0, float("nan")], "T0_tool0_y": [1.0, 2.0, 3.0]},  # raises
        {"T0_tool0_x": [1.0, 2.0, None], "T0_tool0_y": [1.0, 2.0, 3.0]},  # None dropped
        {"T0_tool0_x": [1.0, 2.0, True], "T0_tool0_y": [1.0, 2.0, 3.0]},  # numpy's types
        {"T0_tool0_x": [1.0, 2.0, 3.0], "T0_tool0_y": [1.0, 2.0]},  # zip cuts
        {"T0_tool0_x": (1.0, 2.0, 3.0), "T0_tool0_y": [1.0, 2.0, 3.0]},  # a tuple
        {"T0_tool1_x": [], "T0_tool1_y": []},  # no complete marks: raises
        {**good, "T0_tool0_other": 1},  # a key the extractor does not write
    ):
        records = [ExtractRecord({"frame0": frame}), ExtractRecord({"frame0": good})]
        assert module._compiled_clusters(records, params) is None, frame
        compiled, python = _both(records, params)
        assert compiled == python


_COORDINATE = st.one_of(
    st.floats(-50, 50, allow_nan=False).map(lambda v: round(v, 1)),
    st.integers(-50, 50),
    st.sampled_from([None, True, float("nan"), 1e300, "7"]),
)
#: a few clumps of marks, with ties: clusters to find
_CLUMPED = st.builds(lambda c, j: round(c * 25 + j, 1), st.integers(0, 2), st.floats(0, 3))
_ANSWER = st.one_of(
    st.dictionaries(st.sampled_from(["0", "1", "aggregation_version"]), st.just(1), max_size=2),
    st.sampled_from([None, "0", [{"0": 1}]]),
)


@st.composite
def _extracts(draw: Any) -> list[ExtractRecord]:
    tidy = draw(st.booleans())  # mostly well-formed (the compiled pass), or anything
    width = draw(st.integers(0, 2))
    records = []
    for user in range(draw(st.integers(2, 10) if tidy else st.integers(0, 7))):
        data: dict[str, Any] = {}
        frame_names = st.sampled_from(["frame0", "frame1", "frame10"])
        for frame in draw(st.lists(frame_names, min_size=int(tidy), max_size=2, unique=True)):
            tools: dict[str, Any] = {}
            tool_names = st.sampled_from(["T0_tool0", "T0_tool1", "T1_tool10"])
            for tool in draw(st.lists(tool_names, min_size=int(tidy), unique=True)):
                n = draw(st.integers(0, 6))
                value = _CLUMPED if tidy else _COORDINATE
                tools[f"{tool}_x"] = draw(st.lists(value, min_size=n, max_size=n))
                tools[f"{tool}_y"] = draw(
                    st.lists(value, min_size=n, max_size=n if tidy else n + 1)
                )
                if draw(st.booleans()) or tidy:
                    answer = st.dictionaries(st.sampled_from(["0", "1"]), st.just(1), max_size=2)
                    tools[f"{tool}_details"] = draw(
                        st.lists(
                            st.lists(answer if tidy else _ANSWER, min_size=width, max_size=width),
                            min_size=n,
                            max_size=n if tidy else n + 1,
                        )
                    )
            data[frame] = tools
        if not tidy and draw(st.booleans()):
            data["classifier_version"] = draw(st.sampled_from(["1.0", "2.0", "x", 1.0]))
        records.append(ExtractRecord(data, user_id=user))
    return records


_DETAILS = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"T0_tool0": st.lists(st.sampled_from(["question_reducer", "shortcut_reducer", None]))}
    ),
    st.just({"T0_tool0": ["question_reducer"], "T1_tool10": [None, "question_reducer"]}),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    records=_extracts(),
    min_cluster_size=st.integers(2, 5),
    min_samples=st.integers(1, 4),
    method=st.sampled_from(["eom", "leaf"]),
    details=_DETAILS,
)
def test_compiled_and_python_paths_agree(
    records: list[ExtractRecord], min_cluster_size: int, min_samples: int, method: str, details
) -> None:
    params = SPEC.parse_params(
        {
            "min_cluster_size": min_cluster_size,
            "min_samples": min_samples,
            "cluster_selection_method": method,
            "details": details,
        }
    )
    compiled, python = _both(records, params)
    assert compiled == python


@pytest.mark.parametrize("seed", range(3))
def test_engine_style_repeated_calls_do_not_share_lists(seed: int) -> None:
    """The output's lists are new: a caller may extend them (the engine keeps its records)."""
    params = SPEC.parse_params({"min_cluster_size": 2, "min_samples": 1, "details": None})
    records = _typical(seed)
    before = repr(records)
    out = SPEC.func(records, params)
    out["frame0"]["T0_tool0_points_x"].append(0.0)
    assert repr(records) == before
