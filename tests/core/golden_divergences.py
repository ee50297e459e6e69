"""Golden cases where Tally deliberately differs from the oracle, with the reason.

Each entry must also be described in docs/compatibility.md.
"""

DIVERGENCES: dict[str, str] = {}

# --- counting reducers (docs/compatibility.md, "Counting reducers") ---------------------------
_KEYWORDS = (
    "keyword value the reference's process_kwargs coerces or drops silently; "
    "Tally raises InvalidParameterError"
)
DIVERGENCES.update(
    {
        f"{name}/synth/{case}": _KEYWORDS
        for name in ("question_reducer", "shortcut_reducer")
        for case in (
            "int_flags",
            "list_flag_first_element",
            "string_empty_is_false",
            "string_false_is_true",
            "unknown_kwarg_ignored",
        )
    }
)
DIVERGENCES.update(
    {
        "question_consensus_reducer/synth/extra_kwargs_ignored": _KEYWORDS,
        "question_consensus_reducer/synth/string_false_pairs": _KEYWORDS,
        "survey_reducer/synth/kwargs_ignored": _KEYWORDS,
        "slider_reducer/synth/kwargs_ignored": _KEYWORDS,
    }
)
DIVERGENCES.update(
    {
        f"{name}/synth/{seq}_{case}": _KEYWORDS
        for name in ("first_n_true_reducer", "first_n_false_reducer")
        for seq in ("TTF", "FFT")
        for case in ("n_string", "n_float", "n_negative", "n_bad_string", "n_list", "n_bool")
    }
)
DIVERGENCES.update(
    {
        "dropdown_reducer/synth/ragged": "extracts with different numbers of select lists are "
        "summed position by position; the reference's numpy stacking raises ValueError",
        "dropdown_reducer/synth/one_list_empty": "a {'value': []} extract next to a non-empty one "
        "adds nothing; the reference's numpy stacking raises ValueError",
        "dropdown_reducer/synth/value_not_list": "'value' must be a list of per-select-list counts; "
        "the reference iterates a dict's keys and counts their characters",
        "slider_reducer/synth/numeric_strings": "numeric strings (PFE's stored form) are read as "
        "numbers; numpy raises TypeError on a string array",
        "slider_reducer/synth/single_numeric_string": "numeric strings are read as numbers; numpy "
        "raises TypeError on a string array",
        "slider_reducer/real/DISCnet/subject_458022_T1_strings": "raw export slider values are "
        "strings, read as numbers; numpy raises TypeError on a string array",
        "slider_reducer/synth/null_value": "a null slider value (task not answered) is skipped; "
        "numpy raises TypeError",
        "slider_reducer/synth/missing_key": "a blank slider extract (task not answered) is "
        "skipped; the reference raises KeyError",
        "first_n_false_reducer/synth/falsy_values_n2": "result flags are read with Python "
        "truthiness; numpy turns [0, ''] into the strings ['0', ''] and '0' is true",
    }
)

# --- issue-3 extractors (docs/compatibility.md, "Extractors: questions, surveys, drawings") ----
DIVERGENCES.update(
    {
        "shape_extractor/synth/v2_tools_filter_markindex_bug": "FEM subtask answers are matched "
        "by the mark's markIndex; the reference uses the position after the tools filter and "
        "raises KeyError",
        "question_extractor/synth/recursive": "'recursive' is a wrapper keyword (like "
        "no_version) for the caller that runs extractors, not an extractor parameter; core "
        "extractors reject it with InvalidParameterError",
    }
)

# --- clustering reducers for points (docs/compatibility.md, "Clustering reducers for points") -
DIVERGENCES.update(
    {
        f"{name}/synth/{case}": _KEYWORDS
        for name, case in (
            ("point_reducer_dbscan", "bad_kwarg_falls_back"),
            ("point_reducer_dbscan", "string_kwargs"),
            ("point_reducer_hdbscan", "bad_kwarg_falls_back"),
            ("point_reducer_hdbscan", "string_kwargs"),
            ("shape_reducer_dbscan", "string_kwargs"),
        )
    }
)
