"""Every registered function against every oracle golden case (panoptes-aggregation 5.3.1)."""

from __future__ import annotations

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
        pytest.skip(f"documented divergence: {DIVERGENCES[case['id']]}")
    if "expected_error" in case:
        # The oracle raised; we raise a named, explained error instead of a bare exception.
        with pytest.raises(TallyError):
            run_case(case)
        return
    key_order = case["name"] not in UNORDERED_KEYS
    diffs = differences(run_case(case), case["expected"], key_order=key_order)
    assert not diffs, "\n".join(diffs[:20])
