"""Caesar's ``first_extract`` reducer."""

from __future__ import annotations

from core.reducers.first_extract import FirstExtract, FirstExtractParams, first_extract
from core.registry import ExtractRecord

P = FirstExtractParams()


def test_first_records_data_as_it_is():
    recs = [ExtractRecord({"choice": "LION", "n": [1, 2]}), ExtractRecord({"choice": "HOG"})]
    out = first_extract(recs, P)
    assert out == {"choice": "LION", "n": [1, 2]}
    out["n"].append(3)
    assert recs[0].data["n"] == [1, 2]  # a copy


def test_empty_and_null():
    assert first_extract([], P) == {}
    assert first_extract([ExtractRecord(None)], P) == {}


def test_incremental_never_changes_once_set():
    state = FirstExtract.init(P)
    for d in ({"a": 1}, {"b": 2}, {"c": 3}):
        state = FirstExtract.add(state, ExtractRecord(d), P)
    assert FirstExtract.result(state, P) == {"a": 1}
    assert FirstExtract.order_sensitive is True
