"""Caesar's ``who`` extractor."""

from __future__ import annotations

from core.classification import Classification
from core.extractors.who import WhoParams, who


def test_user_id_from_the_classification():
    assert who(Classification.from_export([], user_id=7), WhoParams()) == {"user_id": 7}


def test_numeric_text_ids_become_integers_like_caesar():
    assert who(Classification.from_export([], user_id="0042"), WhoParams()) == {"user_id": 42}
    assert who(Classification.from_export([], user_id="abc"), WhoParams()) == {"user_id": "abc"}


def test_anonymous():
    assert who(Classification.from_export([]), WhoParams()) == {"user_id": None}


def test_grouped_input_keeps_the_user_id():
    c = Classification.from_export({"T0": []}, user_id=3)
    assert who(c, WhoParams()) == {"user_id": 3}
