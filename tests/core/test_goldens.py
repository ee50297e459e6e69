"""Every registered function against every oracle golden case (panoptes-aggregation 5.3.1)."""

from __future__ import annotations

import orjson
import pytest

from core.errors import TallyError
from core.registry import EXTRACTORS, REDUCERS, get_extractor
from tests.core.golden_divergences import DIVERGENCES
from tests.core.golden_support import (
    UNORDERED_KEYS,
    differences,
    golden_files,
    load_cases,
    run_case,
)

get_extractor("question_extractor")  # load the registry


def _cases():
    for path in golden_files():
        for case in load_cases(path):
            registered = EXTRACTORS if case["kind"] == "extractor" else REDUCERS
            if case["name"] not in registered:
                continue  # a function a later issue implements
            yield pytest.param(case, id=case["id"])


@pytest.mark.parametrize("case", list(_cases()))
def test_matches_oracle(case):
    if case["id"] in DIVERGENCES:
        # Documented in docs/compatibility.md: we differ on purpose, but never with a bare
        # exception: either a plain JSON-able result or a named TallyError.
        try:
            result = run_case(case)
        except TallyError:
            return
        orjson.dumps(result)
        assert not differences(result, result), "result must compare equal to itself"
        if "expected" in case:
            assert differences(result, case["expected"]), (
                f"listed as a divergence but matches the oracle: {case['id']}; "
                "remove it from tests/core/golden_divergences.py"
            )
        return
    if "expected_error" in case:
        # The oracle raised; we raise a named, explained error instead of a bare exception.
        with pytest.raises(TallyError):
            run_case(case)
        return
    key_order = case["name"] not in UNORDERED_KEYS
    diffs = differences(run_case(case), case["expected"], key_order=key_order)
    assert not diffs, "\n".join(diffs[:20])
