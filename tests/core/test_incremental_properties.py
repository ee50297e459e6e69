"""Properties every incremental reducer must have, checked with hypothesis over the registry.

For every registered reducer with an ``incremental`` form (so reducers added later are covered
without touching this file, except for one entry in ``EXTRACTS`` below):

1. folding with ``add`` then ``result`` equals the batch reducer at every prefix;
2. at every split point, ``merge`` of the two halves' folds gives the fold of the whole
   (plus associativity over three parts, and ``init`` as identity on both sides);
3. the state survives ``loads(dumps(state))`` with orjson and json, and folding continues
   correctly from the reloaded state;
4. ``add``, ``merge`` and ``result`` leave their inputs unchanged;
5. a reducer not marked ``order_sensitive`` gives the same result on permuted input, compared
   in a canonical form: dicts ignore key order, lists that follow record or first-appearance
   order (``user_ids_*`` lists, survey rows) are sorted, and a tie for the top answer of
   ``question_consensus_reducer`` may go to any of the tied answers. Order-sensitive reducers
   (the first-n reducers) skip this property; the engine feeds them records in ``created_at``
   order.

"Equal" means equal values *and* equal key order (``_same``), NaN equal to NaN.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.reducers.consensus import vote_key
from core.reducers.summary_stats import OPERATIONS as SUMMARY_OPERATIONS
from core.registry import REDUCERS, ExtractRecord, get_reducer
from tests.core.golden_support import to_plain

get_reducer("question_reducer")  # load the registry

INCREMENTAL = sorted(name for name, spec in REDUCERS.items() if spec.incremental is not None)

PROPERTY_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)

# --- example extracts per reducer: (extract data strategy, params mapping strategy) -----------

_version = st.just({"aggregation_version": "5.3.1"})
_answers = st.sampled_from(["yes", "no", "a", "b", "c", "nothing-here"])


def _with_version(data: st.SearchStrategy[dict]) -> st.SearchStrategy[dict]:
    """Sometimes add the reference's ``aggregation_version`` key, which reducers must ignore."""
    return st.tuples(data, st.booleans()).map(
        lambda t: {**t[0], "aggregation_version": "5.3.1"} if t[1] else t[0]
    )


_question = _with_version(st.dictionaries(_answers, st.integers(1, 3), max_size=3))
_question_params = st.fixed_dictionaries({"pairs": st.booleans(), "track_user_ids": st.booleans()})

_survey = _with_version(
    st.builds(
        lambda choice, answers: {"choice": choice, **answers},
        st.sampled_from(["zebra", "lion", "gnu"]),
        st.dictionaries(
            st.sampled_from(["answers_howmany", "answers_behavior", "answers_young"]),
            st.one_of(
                st.dictionaries(
                    st.sampled_from(["1", "2", "eating", "resting"]), st.integers(1, 2)
                ),
                st.lists(st.sampled_from(["1", "2"]), max_size=3),  # counted like Counter(list)
            ),
            max_size=3,
        ),
    )
)

_dropdown = st.one_of(
    st.just({}),
    _with_version(
        st.fixed_dictionaries(
            {
                "value": st.lists(
                    st.dictionaries(st.sampled_from(["h1", "h2", "h3", "None"]), st.integers(1, 2)),
                    max_size=3,  # ragged on purpose: lists of different lengths are summed by position
                )
            }
        )
    ),
)

_slider_number = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.integers(-100, 100),
    st.floats(0, 100, allow_nan=False).map(str),  # PFE stores the value as text
    st.sampled_from([float("nan"), float("inf"), float("-inf")]),
)
_slider = st.one_of(
    st.just({}),
    st.just({"slider_value": None}),
    _with_version(st.fixed_dictionaries({"slider_value": _slider_number})),
)

_flag = st.one_of(st.just({}), st.fixed_dictionaries({"result": st.booleans()}))
_n_params = st.fixed_dictionaries({"n": st.integers(0, 5)})

_no_params = st.just({})

# Caesar's reducers (caesar.md §2.2)
_caesar_answers = st.sampled_from(["LION", "HOG", "BIRD", "ZEBRA"])
_counts = st.dictionaries(_caesar_answers, st.integers(0, 3), max_size=3)
_sum_values = st.one_of(
    st.integers(-5, 5), st.booleans(), st.floats(-1e6, 1e6, allow_nan=False), st.just(0.1)
)
_stats = _with_version(st.dictionaries(_caesar_answers, _sum_values, max_size=3))
_unique_value = st.one_of(
    st.none(),
    st.integers(0, 3),
    st.sampled_from([1.0, 2.5]),
    _caesar_answers,
    st.lists(_caesar_answers, max_size=3),
    st.lists(st.integers(0, 3), max_size=3),
)
_unique = st.one_of(st.just({}), st.fixed_dictionaries({"c": _unique_value}))
_summary_value = st.one_of(
    st.none(),
    st.just(""),
    st.just(False),
    st.integers(-10, 10),
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from(["2.5", "3kg", "abc", " ", "-1e3"]),
)
_summary = st.one_of(st.just({}), st.fixed_dictionaries({"v": _summary_value}))
_summary_params = st.fixed_dictionaries(
    {
        "summarize_field": st.sampled_from(["v", "slider.v"]),
        "operations": st.one_of(
            st.sampled_from(SUMMARY_OPERATIONS),
            st.lists(st.sampled_from(SUMMARY_OPERATIONS), min_size=1, max_size=6),
        ),
    }
)
_any_extract = st.dictionaries(_caesar_answers, st.one_of(st.integers(0, 3), _caesar_answers))

#: One entry per incremental reducer; ``test_every_incremental_reducer_has_extracts`` fails if a
#: registered incremental reducer is missing here, so none is forgotten.
EXTRACTS: dict[str, tuple[st.SearchStrategy[dict], st.SearchStrategy[dict]]] = {
    "question_reducer": (_question, _question_params),
    "shortcut_reducer": (_question, _question_params),
    "question_consensus_reducer": (_question, st.fixed_dictionaries({"pairs": st.booleans()})),
    "survey_reducer": (_survey, _no_params),
    "dropdown_reducer": (_dropdown, _no_params),
    "slider_reducer": (_slider, _no_params),
    "first_n_true_reducer": (_flag, _n_params),
    "first_n_false_reducer": (_flag, _n_params),
    "count": (_any_extract, _no_params),
    "stats": (_stats, _no_params),
    "unique_count": (_unique, st.just({"field": "c"})),
    "consensus": (
        _with_version(_counts),
        st.fixed_dictionaries({"ignore_empty_extracts": st.booleans()}),
    ),
    "first_extract": (_with_version(_any_extract), _no_params),
    "summary_stats": (_summary, _summary_params),
}


def _records(data: st.SearchStrategy[dict]) -> st.SearchStrategy[list[ExtractRecord]]:
    record = st.builds(
        ExtractRecord,
        data=data,
        user_id=st.one_of(st.none(), st.integers(1, 5)),
        classification_id=st.integers(1, 10**6),
    )
    return st.lists(record, max_size=8)


def _contiguous_records(data: st.SearchStrategy[dict]) -> st.SearchStrategy[list[ExtractRecord]]:
    """Records whose classifications each arrive together (runs of one classification id, ids
    distinct across runs): how the engine feeds a classification's extracts."""
    run = st.tuples(
        st.one_of(st.none(), st.integers(1, 10**6)), st.lists(data, min_size=1, max_size=3)
    )
    return st.lists(run, max_size=5, unique_by=lambda r: r[0]).map(
        lambda runs: [ExtractRecord(d, classification_id=cid) for cid, ds in runs for d in ds]
    )


#: Reducers whose incremental form has a documented precondition on the record sequence get
#: their own record strategy here (the default is ``_records``).
RECORDS: dict[str, Callable[[st.SearchStrategy[dict]], st.SearchStrategy[list[ExtractRecord]]]] = {
    # count's O(1) state counts a classification once per run of its id (CountTally).
    "count": _contiguous_records,
}


def _draw(data: st.DataObject, name: str) -> tuple[Any, Any, list[ExtractRecord]]:
    spec = REDUCERS[name]
    extract, raw_params = EXTRACTS[name]
    params = spec.parse_params(data.draw(raw_params, label="params"))
    records = data.draw(RECORDS.get(name, _records)(extract), label="records")
    return spec, params, records


# --- comparison helpers ---------------------------------------------------------------------


def _ordered(value: Any) -> Any:
    """A form whose == also compares dict key order (and NaN equal to NaN, via to_plain)."""
    if isinstance(value, dict):
        return [(k, _ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def _same(a: Any, b: Any) -> bool:
    return _ordered(to_plain(a)) == _ordered(to_plain(b))


def _fold(inc: Any, params: Any, records: list[ExtractRecord], state: Any = None) -> Any:
    if state is None:
        state = inc.init(params)
    for record in records:
        state = inc.add(state, record, params)
    return state


def _none_last(x: Any) -> tuple[bool, Any]:
    return (x is None, x if x is not None else 0)


def _canon_question(result: dict, records: list, params: Any) -> Any:
    return {
        k: sorted(v, key=_none_last) if k.startswith("user_ids_") else v
        for k, v in to_plain(result).items()
    }


def _canon_consensus(result: dict, records: list, params: Any) -> Any:
    if "most_likely" not in result:
        return to_plain(result)
    counts = get_reducer("question_reducer")(records, {"pairs": params.pairs})
    tied = sorted(k for k, n in counts.items() if n == result["num_votes"])
    assert result["most_likely"] in tied
    return {"num_votes": result["num_votes"], "agreement": result["agreement"], "tied": tied}


def _canon_survey(result: list, records: list, params: Any) -> Any:
    return sorted(to_plain(result), key=lambda row: row["choice"])


def _canon_caesar_consensus(result: dict, records: list, params: Any) -> Any:
    """Caesar's consensus: a tie may go to any tied vote key (the later one in first-seen order)."""
    if "most_likely" not in result:
        return to_plain(result)
    votes = [
        vote_key(r)
        for r in records
        if not (
            params.ignore_empty_extracts
            and not [k for k in (r.data or {}) if k != "aggregation_version"]
        )
    ]
    tied = sorted({k for k in votes if votes.count(k) == result["num_votes"]})
    assert result["most_likely"] in tied
    return {"num_votes": result["num_votes"], "agreement": result["agreement"], "tied": tied}


#: Canonical forms for the permutation property; the default is ``to_plain`` (dict equality
#: already ignores key order).
CANONICAL: dict[str, Callable[[Any, list, Any], Any]] = {
    "question_reducer": _canon_question,
    "shortcut_reducer": _canon_question,
    "question_consensus_reducer": _canon_consensus,
    "survey_reducer": _canon_survey,
    "consensus": _canon_caesar_consensus,
}


# --- the properties -------------------------------------------------------------------------


def test_every_incremental_reducer_has_extracts():
    missing = sorted(set(INCREMENTAL) - set(EXTRACTS))
    assert not missing, f"add example extract strategies to EXTRACTS for: {missing}"


def test_every_incremental_form_declares_its_contract():
    for name in INCREMENTAL:
        inc = REDUCERS[name].incremental
        assert isinstance(inc.state_version, int), name
        assert isinstance(inc.order_sensitive, bool), name


@pytest.mark.parametrize("name", INCREMENTAL)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_fold_equals_batch_at_every_prefix(name, data):
    spec, params, records = _draw(data, name)
    inc = spec.incremental
    state = inc.init(params)
    for k in range(len(records) + 1):
        assert _same(inc.result(state, params), spec(records[:k], params)), f"prefix {k}"
        if k < len(records):
            state = inc.add(state, records[k], params)


@pytest.mark.parametrize("name", INCREMENTAL)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_merge_of_parts_equals_fold_of_whole(name, data):
    spec, params, records = _draw(data, name)
    inc = spec.incremental
    whole = inc.result(_fold(inc, params, records), params)
    for k in range(len(records) + 1):
        merged = inc.merge(_fold(inc, params, records[:k]), _fold(inc, params, records[k:]), params)
        assert _same(inc.result(merged, params), whole), f"split at {k}"
    i, j = sorted(data.draw(st.tuples(*[st.integers(0, len(records))] * 2), label="splits"))
    a, b, c = (_fold(inc, params, part) for part in (records[:i], records[i:j], records[j:]))
    left = inc.merge(inc.merge(a, b, params), c, params)
    right = inc.merge(a, inc.merge(b, c, params), params)
    assert _same(inc.result(left, params), whole)
    assert _same(inc.result(right, params), whole)
    s = _fold(inc, params, records)
    empty = inc.init(params)
    assert _same(inc.result(inc.merge(empty, s, params), params), whole)
    assert _same(inc.result(inc.merge(s, empty, params), params), whole)


@pytest.mark.parametrize("name", INCREMENTAL)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_state_survives_json_and_folding_continues(name, data):
    spec, params, records = _draw(data, name)
    inc = spec.incremental
    expected = spec(records, params)
    for k in range(len(records) + 1):
        state = _fold(inc, params, records[:k])
        for dumps, loads in ((orjson.dumps, orjson.loads), (json.dumps, json.loads)):
            reloaded = loads(dumps(state))
            assert reloaded == state and _same(reloaded, state), f"{dumps.__module__} at {k}"
            resumed = _fold(inc, params, records[k:], state=reloaded)
            assert _same(inc.result(resumed, params), expected)


@pytest.mark.parametrize("name", INCREMENTAL)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_add_merge_result_do_not_mutate_inputs(name, data):
    spec, params, records = _draw(data, name)
    inc = spec.incremental
    k = data.draw(st.integers(0, len(records)), label="split")
    a = _fold(inc, params, records[:k])
    b = _fold(inc, params, records[k:])
    snapshot_a, snapshot_b, snapshot_records = (copy.deepcopy(x) for x in (a, b, records))
    for record in records:
        inc.add(a, record, params)
        inc.add(b, record, params)
    inc.merge(a, b, params)
    inc.merge(b, a, params)
    inc.merge(a, a, params)
    inc.result(a, params)
    inc.result(b, params)
    assert _same(a, snapshot_a) and _same(b, snapshot_b)
    assert records == snapshot_records


@pytest.mark.parametrize(
    "name", [n for n in INCREMENTAL if not REDUCERS[n].incremental.order_sensitive]
)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_result_does_not_depend_on_record_order(name, data):
    spec, params, records = _draw(data, name)
    shuffled = data.draw(st.permutations(records), label="permuted")
    canon = CANONICAL.get(name, lambda result, recs, p: to_plain(result))
    assert canon(spec(records, params), records, params) == canon(
        spec(shuffled, params), shuffled, params
    )
