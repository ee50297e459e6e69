#!/usr/bin/env python3
"""Generate the *inputs* of the golden cases (stdlib only, deterministic).

This script never imports the oracle.  It writes one JSON "spec" file that
``oracle_runner.py`` (run inside the oracle venv) turns into goldens:

    {"functions": {"<function name>": [case, ...]},
     "config":    [config case, ...],
     "cli":       [dataset spec, ...]}

Function cases are described in tests/golden/README.md.  Reducer cases may
carry ``extracts_from`` instead of ``extracts``: the runner then runs the
oracle extractor over the given classifications and writes the resulting
extracts into the golden file.

Usage:  python3 make_cases.py OUT.json [--data-dir DIR]
"""

import argparse
import csv
import io
import json
import os
import random
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent

csv.field_size_limit(sys.maxsize)


def default_data_dir():
    env = os.environ.get("TALLY_SHARED_DATA")
    if env:
        return Path(env)
    return REPO.parent / "shared" / "data" / "real"


DATA = default_data_dir()

# --------------------------------------------------------------------------------------
# reading the real exports
# --------------------------------------------------------------------------------------
_CACHE = {}


def read_export(rel):
    """Rows of a CSV export (utf-8, falling back to latin-1 for camcat_sa)."""
    if rel in _CACHE:
        return _CACHE[rel]
    raw = (DATA / rel).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    if text.startswith("\ufeff"):
        text = text[1:]
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    _CACHE[rel] = rows
    return rows


def iso(created_at):
    """'2016-12-18 17:28:54 UTC' -> '2016-12-18T17:28:54Z'."""
    s = created_at.strip()
    if s.endswith(" UTC"):
        s = s[:-4]
    return s.replace(" ", "T") + "Z"


def parse_user_id(s):
    s = (s or "").strip()
    if not s:
        return None
    try:
        return int(float(s))
    except ValueError:
        return None


def row_classification(row, full=False):
    c = {
        "classification_id": int(row["classification_id"]),
        "annotations": json.loads(row["annotations"]),
        "metadata": json.loads(row["metadata"]) if row.get("metadata") else {},
    }
    if full:
        c["user_id"] = parse_user_id(row.get("user_id", row.get("extended_user_id")))
        c["created_at"] = iso(row["created_at"])
        c["subject_id"] = row["subject_ids"]
    return c


def task_value(row, task):
    for a in json.loads(row["annotations"]):
        if a.get("task") == task:
            return a.get("value")
    return "<missing>"


def pick_rows(rows, task, limit, signature=None, include_missing=True):
    """Deterministically pick up to `limit` rows with distinct values for `task`."""
    signature = signature or (lambda r: json.dumps(task_value(r, task), sort_keys=True))
    seen = set()
    out = []
    for r in rows:
        sig = signature(r)
        if sig in seen:
            continue
        if not include_missing and sig == json.dumps("<missing>"):
            continue
        seen.add(sig)
        out.append(r)
        if len(out) >= limit:
            break
    return out


def by_workflow(rows, wid, versions=None):
    out = [r for r in rows if r["workflow_id"] == str(wid)]
    if versions is not None:
        out = [r for r in out if versions(r["workflow_version"])]
    return out


def major(v):
    return int(str(v).split(".")[0])


def group_by_subject(rows):
    groups = {}
    for r in rows:
        groups.setdefault(r["subject_ids"], []).append(r)
    # the reference sorts by (subject_id, created_at); keep a stable, deterministic order
    return {
        k: sorted(v, key=lambda r: (r["created_at"], int(r["classification_id"])))
        for k, v in groups.items()
    }


def sort_cls(rows):
    return sorted(rows, key=lambda r: (r["created_at"], int(r["classification_id"])))


# --------------------------------------------------------------------------------------
# case builders
# --------------------------------------------------------------------------------------
FUNCS = {}
_IDS = set()


def _add(name, case):
    if case["id"] in _IDS:
        raise SystemExit("duplicate case id " + case["id"])
    _IDS.add(case["id"])
    FUNCS.setdefault(name, []).append(case)


def ext(
    name,
    cid,
    kwargs,
    annotations,
    metadata=None,
    classification_id=None,
    note=None,
    registered=None,
):
    """Extractor case. `name` is the golden file name; `registered` the extractor called."""
    case = {
        "id": f"{name}/{cid}",
        "kind": "extractor",
        "name": registered or name,
        "kwargs": kwargs,
        "classification": {
            "classification_id": classification_id
            if classification_id is not None
            else 1000 + len(_IDS),
            "annotations": annotations,
            "metadata": {} if metadata is None else metadata,
        },
    }
    if note:
        case["note"] = note
    _add(name, case)


def ext_row(name, cid, kwargs, row, note=None):
    c = row_classification(row)
    ext(name, cid, kwargs, c["annotations"], c["metadata"], c["classification_id"], note=note)


def synth_times(n, start=0):
    out = []
    for i in range(start, start + n):
        out.append(f"2024-01-01T{(i // 3600) % 24:02d}:{(i // 60) % 60:02d}:{i % 60:02d}Z")
    return out


def red(name, cid, kwargs, extracts, user_id=None, created_at=None, note=None):
    n = len(extracts)
    case = {
        "id": f"{name}/{cid}",
        "kind": "reducer",
        "name": name,
        "kwargs": kwargs,
        "extracts": extracts,
        "user_id": list(range(1, n + 1)) if user_id is None else user_id,
        "created_at": synth_times(n) if created_at is None else created_at,
    }
    assert len(case["user_id"]) == n and len(case["created_at"]) == n, cid
    if note:
        case["note"] = note
    _add(name, case)


def red_chain(name, cid, kwargs, extractor, ext_kwargs, classifications, source, note=None):
    """Reducer case whose extracts are produced by the oracle extractor (runner fills them)."""
    cls = []
    for i, c in enumerate(classifications):
        c = dict(c)
        c.setdefault("user_id", i + 1)
        c.setdefault("created_at", synth_times(1, i)[0])
        c.setdefault("classification_id", 5000 + i)
        c.setdefault("metadata", {})
        cls.append(
            {
                k: c[k]
                for k in ("classification_id", "user_id", "created_at", "annotations", "metadata")
            }
        )
    case = {
        "id": f"{name}/{cid}",
        "kind": "reducer",
        "name": name,
        "kwargs": kwargs,
        "extracts_from": {
            "extractor": extractor,
            "kwargs": ext_kwargs,
            "source": source,
            "classifications": cls,
        },
    }
    if note:
        case["note"] = note
    _add(name, case)


def rows_to_chain(rows):
    return [row_classification(r, full=True) for r in sort_cls(rows)]


# --------------------------------------------------------------------------------------
# shared odd values
# --------------------------------------------------------------------------------------
ODD_SCALARS = [
    ("str_yes", "Yes"),
    ("str_mixed_case", "YeS"),
    ("unicode_nandu", "Ñandú"),
    ("unicode_groesse", "Größe"),
    ("unicode_emoji", "🦁 Lion"),
    ("emoji_only", "🐘"),
    ("cjk", "猫"),
    ("empty_string", ""),
    ("whitespace", "   "),
    ("punctuation", "Can't tell / maybe?"),
    ("percent_range", "20-60%"),
    ("underscore", "snake_case_answer"),
    ("markdown_image", "![no.png](https://example.org/x/no.png) Nothing Unusual"),
    ("newline", "two\nlines"),
    ("null", None),
    ("true", True),
    ("false", False),
    ("int_zero", 0),
    ("int_five", 5),
    ("negative_int", -3),
    ("float", 1.5),
    ("numeric_string", "0.3"),
    ("long_string", "The quick brown fox jumps over the lazy dog " * 3),
]


# --------------------------------------------------------------------------------------
# extractors
# --------------------------------------------------------------------------------------
def cases_question_extractor():
    name = "question_extractor"
    # --- real exports ---
    for r in read_export("aggregation-for-caesar/cls_export.csv"):
        for t in ("T0", "T1"):
            ext_row(name, f"real/cls_export/{r['classification_id']}_{t}", {"task": t}, r)
    kenya = read_export("Data-digging/kenya-sample.csv")
    for t, lim in (("T0", 6), ("T1", 10), ("T4", 2)):
        rows = [r for r in kenya if task_value(r, t) != "<missing>"]
        for r in pick_rows(rows, t, lim):
            ext_row(name, f"real/kenya-sample/{r['classification_id']}_{t}", {"task": t}, r)
    gz = read_export("gz-panoptes-reduction/panoptes_classifications.csv")
    for t in ("T0", "T1", "T2", "T4", "T5", "T6", "T7", "T8", "T10", "T11"):
        for r in pick_rows(gz, t, 3, include_missing=False):
            ext_row(
                name, f"real/gz-panoptes-reduction/{r['classification_id']}_{t}", {"task": t}, r
            )
    for r in read_export("zoonyper/classifications.csv"):
        ext_row(name, f"real/zoonyper/{r['classification_id']}_T0", {"task": "T0"}, r)
    ff = read_export("Data-digging/fossil-finder-classifications_test.csv")
    for t, lim in (("T2", 4), ("T4", 4), ("T5", 6)):
        for r in pick_rows(ff, t, lim):
            ext_row(name, f"real/fossil-finder/{r['classification_id']}_{t}", {"task": t}, r)
    chi = read_export("Data-digging/chicago_sample_version5.csv")
    for r in pick_rows(chi, "T1", 3):
        ext_row(name, f"real/chicago/{r['classification_id']}_T1", {"task": "T1"}, r)
    ere = read_export("erethizon-Zooniverse-work/test-workflow-classifications.csv")
    for t in ("T0", "T2", "T3"):
        for r in pick_rows(ere, t, 3):
            ext_row(name, f"real/erethizon/{r['classification_id']}_{t}", {"task": t}, r)
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    for r in pick_rows(disc, "T0", 6):
        ext_row(name, f"real/DISCnet/{r['classification_id']}_T0", {"task": "T0"}, r)
    ctm = read_export("camera-trap-data-pipeline/raw_classifications_multi_workflow.csv")
    for r in ctm:
        ext_row(
            name,
            f"real/camera-trap-multi/{r['classification_id']}_T0",
            {"task": "T0"},
            r,
            note="workflow 1 rows are survey values: the question extractor counts choices",
        )
    for r in read_export("zooniverse-analysis-workshop/test_classifications.csv")[:2]:
        ext_row(name, f"real/lwm-workshop/{r['classification_id']}_T0", {"task": "T0"}, r)

    # --- synthetic ---
    for key, v in ODD_SCALARS:
        ext(name, f"synth/single_{key}", {"task": "T0"}, [{"task": "T0", "value": v}])
    for key, v in ODD_SCALARS[:14]:
        ext(name, f"synth/multiple_{key}", {"task": "T0"}, [{"task": "T0", "value": [v, "Other"]}])
    ext(
        name,
        "synth/verified_multiple",
        {"task": "T0"},
        [{"task": "T0", "value": ["Red", "Blue"]}],
        note="reference notes 2.4",
    )
    ext(name, "synth/verified_doc_single", {"task": "T0"}, [{"task": "T0", "value": "Yes"}])
    ext(name, "synth/multiple_empty", {"task": "T0"}, [{"task": "T0", "value": []}])
    ext(
        name,
        "synth/multiple_repeated",
        {"task": "T0"},
        [{"task": "T0", "value": ["a", "a", "A", "b"]}],
    )
    ext(name, "synth/multiple_ints", {"task": "T0"}, [{"task": "T0", "value": [0, 2, 2]}])
    ext(
        name,
        "synth/multiple_with_null_and_bool",
        {"task": "T0"},
        [{"task": "T0", "value": [None, True, False, 1]}],
    )
    ext(
        name,
        "synth/multiple_survey_like_choices",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {"choice": "ZEBRA", "answers": {}},
                    {"choice": "LION"},
                    {"choice": "ZEBRA"},
                ],
            }
        ],
    )
    ext(name, "synth/missing_task", {"task": "T9"}, [{"task": "T0", "value": "Yes"}])
    ext(name, "synth/no_annotations", {"task": "T0"}, [])
    ext(
        name,
        "synth/two_annotations_same_task",
        {"task": "T0"},
        [{"task": "T0", "value": "First"}, {"task": "T0", "value": "Second"}],
    )
    ext(
        name,
        "synth/subtask_key_selected",
        {"task": "T0"},
        [{"task": "T0.0.0", "value": "sub"}, {"task": "T0", "value": "main"}],
        note="unpack_annotations keeps keys whose part before the first '.' equals the task",
    )
    ext(
        name,
        "synth/prefix_not_matched",
        {"task": "T1"},
        [{"task": "T10", "value": "ten"}, {"task": "T1", "value": "one"}],
    )
    ext(
        name,
        "synth/task_all_default",
        {},
        [{"task": "T3", "value": "three"}, {"task": "T0", "value": "zero"}],
        note="no task kwarg -> 'all'; first annotation overall is used",
    )
    ext(name, "synth/value_key_missing", {"task": "T0"}, [{"task": "T0"}])
    ext(name, "synth/value_dict", {"task": "T0"}, [{"task": "T0", "value": {"a": 1}}])
    ext(name, "synth/value_nested_list", {"task": "T0"}, [{"task": "T0", "value": [["a", "b"]]}])
    ext(
        name,
        "synth/fem_v2_index",
        {"task": "T0"},
        [{"task": "T0", "taskType": "single", "value": 0}],
        {"classifier_version": "2.0"},
    )
    ext(
        name,
        "synth/fem_v2_multiple_indices",
        {"task": "T1"},
        [{"task": "T1", "taskType": "multiple", "value": [0, 2]}],
        {"classifier_version": "2.0"},
    )
    ext(
        name,
        "synth/recursive",
        {"task": "T0", "recursive": True},
        [{"task": "T0", "value": "a"}, {"task": "T0", "value": ["b", "c"]}],
        note="recursive=True returns a list, one extract per annotation",
    )
    ext(
        name,
        "synth/task_label_and_extra_keys",
        {"task": "T0"},
        [{"task": "T0", "task_label": "Ñandú?", "value": "Ñandú", "extra": [1, 2]}],
    )


def cases_shortcut_extractor():
    name = "shortcut_extractor"
    kenya = read_export("Data-digging/kenya-sample.csv")
    rows = [r for r in kenya if task_value(r, "T5") != "<missing>"]
    for r in rows[:6]:
        ext_row(name, f"real/kenya-sample/{r['classification_id']}_T5", {"task": "T5"}, r)
    for r in [r for r in kenya if task_value(r, "T5") == "<missing>"][:2]:
        ext_row(name, f"real/kenya-sample/{r['classification_id']}_T5_absent", {"task": "T5"}, r)
    gz = read_export("gz-panoptes-reduction/panoptes_classifications.csv")
    for r in pick_rows(gz, "T10", 4, include_missing=False):
        ext_row(
            name, f"real/gz-panoptes-reduction/{r['classification_id']}_T10", {"task": "T10"}, r
        )
    for r in read_export("zooniverse-analysis-workshop/test_classifications.csv"):
        ext_row(name, f"real/lwm-workshop/{r['classification_id']}_T0", {"task": "T0"}, r)
    for r in read_export("zoonyper/classifications.csv"):
        ext_row(name, f"real/zoonyper/{r['classification_id']}_T0", {"task": "T0"}, r)
    ext(
        name,
        "synth/verified_nothing_here",
        {"task": "T4"},
        [{"task": "T4", "value": ["Nothing here"]}],
        note="reference notes 2.4",
    )
    for key, v in ODD_SCALARS[:12]:
        ext(name, f"synth/{key}", {"task": "T5"}, [{"task": "T5", "value": [v]}])
    ext(name, "synth/empty_list", {"task": "T5"}, [{"task": "T5", "value": []}])
    ext(name, "synth/null", {"task": "T5"}, [{"task": "T5", "value": None}])
    ext(
        name,
        "synth/two_shortcuts",
        {"task": "T5"},
        [{"task": "T5", "value": ["Nothing Here", "Fire"]}],
    )
    ext(name, "synth/missing_task", {"task": "T5"}, [{"task": "T0", "value": "Yes"}])
    ext(
        name,
        "synth/fem_index",
        {"task": "T5"},
        [{"task": "T5", "taskType": "shortcut", "value": [0]}],
        {"classifier_version": "2.0"},
    )


def cases_survey_extractor():
    name = "survey_extractor"
    srcs = [
        ("Data-digging/camcat_sa.csv", "camcat_sa", "T0", 14),
        ("Data-digging/chicago_sample_version5.csv", "chicago", "T0", 12),
        ("Data-digging/kenya-sample.csv", "kenya-sample", "T3", 12),
        ("Data-digging/wildcam_gorongosa_sample.csv", "wildcam", "T1", 8),
        ("camera-trap-data-pipeline/raw_classifications.csv", "camera-trap", "T0", 8),
        ("erethizon-Zooniverse-work/Testing_annotations.csv", "erethizon-testing", "T0", 8),
        ("erethizon-Zooniverse-work/test-workflow-classifications.csv", "erethizon", "T1", 6),
    ]
    for rel, short, t, lim in srcs:
        rows = read_export(rel)
        for r in pick_rows(rows, t, lim, include_missing=False):
            ext_row(name, f"real/{short}/{r['classification_id']}_{t}", {"task": t}, r)
    # the wildcam row with two T1 annotations (only the first is used)
    for r in read_export("Data-digging/wildcam_gorongosa_sample.csv"):
        if len(json.loads(r["annotations"])) > 1:
            ext_row(
                name, f"real/wildcam/{r['classification_id']}_T1_two_annotations", {"task": "T1"}, r
            )
    ctm = read_export("camera-trap-data-pipeline/raw_classifications_multi_workflow.csv")
    for r in ctm:
        if r["workflow_id"] == "1":
            ext_row(name, f"real/camera-trap-multi/{r['classification_id']}_T0", {"task": "T0"}, r)
    # a question value fed to the survey extractor (wrong extractor for the task)
    r = [r for r in ctm if r["workflow_id"] == "2"][0]
    ext_row(
        name,
        f"real/camera-trap-multi/{r['classification_id']}_T0_question_value",
        {"task": "T0"},
        r,
    )

    ext(
        name,
        "synth/verified_zebra",
        {"task": "T3"},
        [
            {
                "task": "T3",
                "value": [
                    {
                        "choice": "ZEBRA",
                        "answers": {"HOWMANY": "2", "BEHAVIOR": ["EATING", "RESTING"]},
                    }
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        name,
        "synth/two_choices",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {"choice": "LION", "answers": {"HOWMANY": "1"}, "filters": {}},
                    {"choice": "ZEBRA", "answers": {"HOWMANY": "10"}, "filters": {}},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/repeated_choice",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {"choice": "LION", "answers": {"HOWMANY": "1"}},
                    {"choice": "LION", "answers": {"HOWMANY": "2"}},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/no_answers_key",
        {"task": "T0"},
        [{"task": "T0", "value": [{"choice": "FIRE"}]}],
    )
    ext(
        name,
        "synth/empty_answers",
        {"task": "T0"},
        [{"task": "T0", "value": [{"choice": "NTHNGHR", "answers": {}, "filters": {}}]}],
    )
    ext(name, "synth/empty_value", {"task": "T0"}, [{"task": "T0", "value": []}])
    ext(name, "synth/missing_task", {"task": "T0"}, [{"task": "T1", "value": "Yes"}])
    ext(name, "synth/no_annotations", {"task": "T0"}, [])
    ext(name, "synth/null_value", {"task": "T0"}, [{"task": "T0", "value": None}])
    ext(
        name,
        "synth/choice_missing",
        {"task": "T0"},
        [{"task": "T0", "value": [{"answers": {"HOWMANY": "1"}}]}],
    )
    ext(
        name,
        "synth/unicode_choice_and_answers",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {"choice": "Ñandú", "answers": {"Größe": "Groß", "🦁 count": ["1", "2"]}}
                ],
            }
        ],
    )
    ext(
        name,
        "synth/answer_types",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {
                        "choice": "ELK",
                        "answers": {
                            "NULLANSWER": None,
                            "BOOL": True,
                            "INT": 3,
                            "EMPTYLIST": [],
                            "REPEATS": ["A", "A", "B"],
                            "EMPTYSTR": "",
                        },
                    }
                ],
            }
        ],
    )
    ext(
        name,
        "synth/answer_is_dict",
        {"task": "T0"},
        [{"task": "T0", "value": [{"choice": "ELK", "answers": {"Q": {"choice": "X"}}}]}],
    )
    ext(
        name,
        "synth/choice_case_and_spaces",
        {"task": "T0"},
        [{"task": "T0", "value": [{"choice": "Red Deer", "answers": {"How Many?": "11-50"}}]}],
    )
    ext(name, "synth/question_string_value", {"task": "T0"}, [{"task": "T0", "value": "LION"}])
    ext(
        name,
        "synth/fem_survey",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "taskType": "survey",
                "value": [{"choice": "FR", "answers": {"HWMN": "1"}, "filters": {}}],
            }
        ],
        {"classifier_version": "2.0"},
    )


def cases_point_extractor_by_frame():
    name = "point_extractor_by_frame"
    ff = read_export("Data-digging/fossil-finder-classifications_test.csv")
    for wid in ("371", "1962"):
        rows = by_workflow(ff, wid)
        for t in ("T1", "T3"):
            kw = {"task": t, "tools": [0, 1, 2, 3, 4, 5, 6, 7]}
            if t == "T1":
                kw["details"] = {"T1_tool5": ["question_extractor"]}
            for r in pick_rows(rows, t, 6, include_missing=False):
                ext_row(name, f"real/fossil-finder/{r['classification_id']}_{t}", kw, r)
    r = by_workflow(ff, "371")[0]
    ext_row(
        name,
        f"real/fossil-finder/{r['classification_id']}_T3_tools_0_only",
        {"task": "T3", "tools": [0]},
        r,
    )
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    with_details = [
        r
        for r in disc
        if '"details": [{"value"' in json.dumps(json.loads(r["annotations"]))
        and task_value(r, "T2") != "<missing>"
    ]
    for r in pick_rows(disc, "T2", 6, include_missing=False):
        ext_row(name, f"real/DISCnet/{r['classification_id']}_T2", {"task": "T2", "tools": [0]}, r)
    for r in [x for x in with_details if any(m.get("details") for m in task_value(x, "T2"))][:4]:
        ext_row(
            name,
            f"real/DISCnet/{r['classification_id']}_T2_details",
            {"task": "T2", "tools": [0], "details": {"T2_tool0": ["question_extractor"]}},
            r,
        )
        ext_row(
            name,
            f"real/DISCnet/{r['classification_id']}_T2_text_details",
            {"task": "T2", "tools": [0], "details": {"T2_tool0": ["text_extractor"]}},
            r,
        )
    kenya = read_export("Data-digging/kenya-sample.csv")
    pts = [
        r
        for r in by_workflow(kenya, 2030, lambda v: 33 <= major(v) <= 90)
        if task_value(r, "T2") != "<missing>"
    ]
    for r in pick_rows(pts, "T2", 6):
        ext_row(
            name, f"real/kenya-sample/{r['classification_id']}_T2", {"task": "T2", "tools": [0]}, r
        )
    r = pts[0]
    ext_row(
        name, f"real/kenya-sample/{r['classification_id']}_T2_no_tools_kwarg", {"task": "T2"}, r
    )

    # --- synthetic ---
    ext(
        name,
        "synth/verified_details",
        {"task": "T2", "details": {"T2_tool0": ["question_extractor"]}},
        [
            {
                "task": "T2",
                "value": [{"tool": 0, "frame": 0, "x": 5, "y": 10, "details": [{"value": 1}]}],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        name,
        "synth/multi_frame_multi_tool",
        {"task": "T0", "tools": [0, 1]},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1.5, "y": 2.5, "details": []},
                    {"tool": 1, "frame": 0, "x": 3, "y": 4, "details": []},
                    {"tool": 0, "frame": 2, "x": 5, "y": 6, "details": []},
                    {"tool": 1, "frame": 1, "x": 7.25, "y": 8.75, "details": []},
                    {"tool": 0, "frame": 0, "x": 9, "y": 10, "details": []},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/tools_filter_drops_tool1",
        {"task": "T0", "tools": [0]},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 1, "frame": 0, "x": 3, "y": 4, "details": []},
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/tools_filter_drops_all",
        {"task": "T0", "tools": [3]},
        [{"task": "T0", "value": [{"tool": 1, "frame": 0, "x": 3, "y": 4, "details": []}]}],
    )
    ext(name, "synth/empty_value", {"task": "T0", "tools": [0]}, [{"task": "T0", "value": []}])
    ext(name, "synth/missing_task", {"task": "T0", "tools": [0]}, [{"task": "T1", "value": "Yes"}])
    ext(
        name,
        "synth/missing_y",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 3, "details": []},
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/only_mark_missing_y_leaves_empty_frame",
        {"task": "T0"},
        [{"task": "T0", "value": [{"tool": 0, "frame": 1, "x": 3, "details": []}]}],
    )
    ext(
        name,
        "synth/null_coordinate",
        {"task": "T0"},
        [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": None, "y": 4, "details": []}]}],
    )
    ext(
        name,
        "synth/missing_frame",
        {"task": "T0"},
        [{"task": "T0", "value": [{"tool": 0, "x": 3, "y": 4, "details": []}]}],
    )
    ext(
        name,
        "synth/fem_toolIndex_raises",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "taskType": "drawing",
                "value": [
                    {"toolIndex": 0, "toolType": "point", "frame": 0, "x": 3, "y": 4, "details": []}
                ],
            }
        ],
        {"classifier_version": "2.0"},
    )
    ext(
        name,
        "synth/details_null_entry",
        {"task": "T0", "details": {"T0_tool0": [None, "question_extractor"]}},
        [
            {
                "task": "T0",
                "value": [
                    {
                        "tool": 0,
                        "frame": 0,
                        "x": 1,
                        "y": 2,
                        "details": [{"value": "free text"}, {"value": 0}],
                    }
                ],
            }
        ],
    )
    ext(
        name,
        "synth/details_dropdown_slider_text",
        {
            "task": "T0",
            "details": {"T0_tool0": ["dropdown_extractor", "slider_extractor", "text_extractor"]},
        },
        [
            {
                "task": "T0",
                "value": [
                    {
                        "tool": 0,
                        "frame": 0,
                        "x": 1,
                        "y": 2,
                        "details": [
                            {"value": [{"value": "abc123", "option": True}]},
                            {"value": "0.7"},
                            {"value": "Größe"},
                        ],
                    }
                ],
            }
        ],
    )
    ext(
        name,
        "synth/details_more_details_than_extractors",
        {"task": "T0", "details": {"T0_tool0": ["question_extractor"]}},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": [{"value": 0}, {"value": 1}]}
                ],
            }
        ],
    )
    ext(
        name,
        "synth/details_for_other_tool_only",
        {"task": "T0", "details": {"T0_tool1": ["question_extractor"]}},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": [{"value": 0}]},
                    {"tool": 1, "frame": 0, "x": 3, "y": 4, "details": [{"value": [0, 1]}]},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/details_empty_mark_details",
        {"task": "T0", "details": {"T0_tool0": ["question_extractor"]}},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []},
                    {"tool": 0, "frame": 1, "x": 3, "y": 4, "details": [{"value": 1}]},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/details_mark_without_xy",
        {"task": "T0", "details": {"T0_tool0": ["question_extractor"]}},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "details": [{"value": 1}]},
                    {"tool": 0, "frame": 0, "x": 3, "y": 4, "details": [{"value": 0}]},
                ],
            }
        ],
        note="x/y list and details list get different lengths",
    )
    ext(
        name,
        "synth/details_unknown_extractor_name",
        {"task": "T0", "details": {"T0_tool0": ["no_such_extractor"]}},
        [
            {
                "task": "T0",
                "value": [{"tool": 0, "frame": 0, "x": 1, "y": 2, "details": [{"value": 1}]}],
            }
        ],
    )
    ext(
        name,
        "synth/two_tasks_task_filter",
        {"task": "T1"},
        [
            {"task": "T0", "value": [{"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []}]},
            {"task": "T1", "value": [{"tool": 0, "frame": 0, "x": 3, "y": 4, "details": []}]},
        ],
    )
    ext(
        name,
        "synth/string_coordinates",
        {"task": "T0"},
        [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": "12.5", "y": "7", "details": []}]}],
    )
    ext(
        name,
        "synth/big_frame_number",
        {"task": "T0"},
        [{"task": "T0", "value": [{"tool": 2, "frame": 11, "x": 0, "y": 0, "details": []}]}],
    )
    rng = random.Random("pebf-many")
    marks = [
        {
            "tool": rng.randrange(3),
            "frame": rng.randrange(2),
            "x": round(rng.uniform(0, 500), 2),
            "y": round(rng.uniform(0, 400), 2),
            "details": [],
        }
        for _ in range(25)
    ]
    ext(
        name,
        "synth/many_marks",
        {"task": "T0", "tools": [0, 1, 2]},
        [{"task": "T0", "value": marks}],
    )


def fem_point_classification(
    marks, task="T0", subtask_values=None, tool_type="point", with_frame=True
):
    """FEM (v2) drawing annotation + separate subtask annotations."""
    value = []
    subs = []
    for i, (tool, x, y) in enumerate(marks):
        m = {"toolIndex": tool, "toolType": tool_type, "x": x, "y": y, "details": []}
        if with_frame:
            m["frame"] = 0
        if subtask_values is not None and subtask_values[i] is not None:
            for sdx, sv in enumerate(subtask_values[i]):
                st = f"{task}.{tool}.{sdx}"
                m["details"].append({"task": st})
                subs.append({"task": st, "taskType": "single", "markIndex": i, "value": sv})
        value.append(m)
    return [{"task": task, "taskType": "drawing", "value": value}] + subs


def cases_shape_extractor():
    name = "shape_extractor"
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    for r in pick_rows(disc, "T2", 5, include_missing=False):
        ext_row(
            name,
            f"real/DISCnet/{r['classification_id']}_T2_point",
            {"task": "T2", "shape": "point", "tools": [0]},
            r,
        )
    for r in pick_rows(disc, "T3", 3, include_missing=False):
        ext_row(
            name,
            f"real/DISCnet/{r['classification_id']}_T3_circle_as_point",
            {"task": "T3", "shape": "point"},
            r,
            note="no tools filter: circle marks carry x,y and count as points",
        )
        ext_row(
            name,
            f"real/DISCnet/{r['classification_id']}_T3_circle",
            {"task": "T3", "shape": "circle", "tools": [0]},
            r,
        )
    for r in pick_rows(disc, "T4", 2, include_missing=False):
        ext_row(
            name,
            f"real/DISCnet/{r['classification_id']}_T4_rectangle",
            {"task": "T4", "shape": "rectangle", "tools": [0]},
            r,
        )
    kenya = read_export("Data-digging/kenya-sample.csv")
    pts = [
        r
        for r in by_workflow(kenya, 2030, lambda v: 33 <= major(v) <= 90)
        if task_value(r, "T2") != "<missing>"
    ]
    for r in pick_rows(pts, "T2", 5):
        ext_row(
            name,
            f"real/kenya-sample/{r['classification_id']}_T2_point",
            {"task": "T2", "shape": "point", "tools": [0]},
            r,
        )
    ff = read_export("Data-digging/fossil-finder-classifications_test.csv")
    for r in pick_rows(by_workflow(ff, "371"), "T1", 4, include_missing=False):
        ext_row(
            name,
            f"real/fossil-finder/{r['classification_id']}_T1_point_v1_details",
            {
                "task": "T1",
                "shape": "point",
                "tools": [0, 1, 2, 3, 4, 5],
                "details": {"T1_tool5": ["question_extractor"]},
            },
            r,
        )

    v2 = {"classifier_version": "2.0"}
    ext(
        name,
        "synth/verified_v2_details",
        {
            "task": "T2",
            "shape": "point",
            "details": {"T2_toolIndex0_subtask0": "question_extractor"},
        },
        [
            {
                "task": "T2",
                "taskType": "drawing",
                "value": [
                    {"toolIndex": 0, "frame": 0, "x": 1, "y": 2, "details": [{"task": "T2.0.0"}]}
                ],
            },
            {"task": "T2.0.0", "taskType": "single", "markIndex": 0, "value": 1},
        ],
        v2,
        note="reference notes 2.4",
    )
    ext(
        name,
        "synth/verified_circle_tools",
        {"task": "T2", "shape": "circle", "tools": [2]},
        [{"task": "T2", "value": [{"tool": 2, "frame": 1, "x": 1, "y": 2, "r": 3, "details": []}]}],
        note="reference notes 2.4",
    )
    ext(
        name,
        "synth/http_example_point_v1",
        {"task": "T0", "shape": "point", "tools": [0]},
        [{"task": "T0", "value": [{"x": 1, "y": 2, "tool": 0, "frame": 0, "details": []}]}],
        note="reference notes 7.1 (HTTP) as a Python call",
    )
    ext(
        name,
        "synth/v1_multi_frame",
        {"task": "T0", "shape": "point"},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []},
                    {"tool": 1, "frame": 3, "x": 4, "y": 5, "details": []},
                    {"tool": 0, "x": 6, "y": 7, "details": []},
                ],
            }
        ],
        note="missing frame defaults to frame0",
    )
    ext(
        name,
        "synth/v1_null_param_ragged",
        {"task": "T0", "shape": "point"},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": None, "details": []},
                    {"tool": 0, "frame": 0, "x": 3, "y": 4, "details": []},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/v1_all_null_frame_removed",
        {"task": "T0", "shape": "point"},
        [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": None, "y": None, "details": []}]}],
    )
    ext(
        name,
        "synth/v1_missing_param_skipped",
        {"task": "T0", "shape": "point"},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "details": []},
                    {"tool": 0, "frame": 0, "x": 2, "y": 3, "details": []},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/no_tool_key_raises",
        {"task": "T0", "shape": "point"},
        [{"task": "T0", "value": [{"frame": 0, "x": 1, "y": 2}]}],
    )
    ext(
        name,
        "synth/shape_missing_raises",
        {"task": "T0"},
        [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []}]}],
    )
    ext(
        name,
        "synth/shape_unknown_raises",
        {"task": "T0", "shape": "hexagon"},
        [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []}]}],
    )
    ext(name, "synth/empty_value", {"task": "T0", "shape": "point"}, [{"task": "T0", "value": []}])
    ext(name, "synth/missing_task", {"task": "T0", "shape": "point"}, [])
    ext(
        name,
        "synth/v2_no_details_kwarg",
        {"task": "T0", "shape": "point"},
        fem_point_classification([(0, 10, 20), (1, 30, 40)], subtask_values=[[0], [1]]),
        v2,
    )
    ext(
        name,
        "synth/v2_details_two_marks",
        {
            "task": "T0",
            "shape": "point",
            "details": {"T0_toolIndex0_subtask0": "question_extractor"},
        },
        fem_point_classification([(0, 10, 20), (0, 30, 40)], subtask_values=[[0], [1]]),
        v2,
    )
    ext(
        name,
        "synth/v2_details_two_subtasks",
        {
            "task": "T0",
            "shape": "point",
            "details": {
                "T0_toolIndex0_subtask0": "question_extractor",
                "T0_toolIndex0_subtask1": "question_extractor",
            },
        },
        fem_point_classification([(0, 10, 20), (0, 30, 40)], subtask_values=[[0, 2], [1, 0]]),
        v2,
    )
    ext(
        name,
        "synth/v2_tools_filter_markindex_bug",
        {
            "task": "T0",
            "shape": "point",
            "tools": [1],
            "details": {"T0_toolIndex1_subtask0": "question_extractor"},
        },
        fem_point_classification([(0, 10, 20), (1, 30, 40)], subtask_values=[[0], [1]]),
        v2,
        note="reference notes 2.3: markIndex counts all marks, lookup uses the filtered index",
    )
    ext(
        name,
        "synth/v2_tools_filter_no_bug_when_first",
        {
            "task": "T0",
            "shape": "point",
            "tools": [0],
            "details": {"T0_toolIndex0_subtask0": "question_extractor"},
        },
        fem_point_classification([(0, 10, 20), (1, 30, 40)], subtask_values=[[0], [1]]),
        v2,
    )
    ext(
        name,
        "synth/v2_details_missing_frame",
        {
            "task": "T0",
            "shape": "point",
            "details": {"T0_toolIndex0_subtask0": "question_extractor"},
        },
        fem_point_classification([(0, 10, 20)], subtask_values=[[1]], with_frame=False),
        v2,
    )
    ext(
        name,
        "synth/v2_no_frame_no_details",
        {"task": "T0", "shape": "point"},
        fem_point_classification([(0, 10, 20)], with_frame=False),
        v2,
    )
    ext(
        name,
        "synth/v2_subtask_annotation_missing",
        {
            "task": "T0",
            "shape": "point",
            "details": {"T0_toolIndex0_subtask0": "question_extractor"},
        },
        fem_point_classification([(0, 10, 20)], subtask_values=[[1]])[:1],
        v2,
    )
    ext(
        name,
        "synth/v2_dropdown_subtask",
        {
            "task": "T0",
            "shape": "point",
            "details": {"T0_toolIndex0_subtask0": "dropdown_extractor"},
        },
        [
            {
                "task": "T0",
                "taskType": "drawing",
                "value": [
                    {"toolIndex": 0, "frame": 0, "x": 1, "y": 2, "details": [{"task": "T0.0.0"}]}
                ],
            },
            {
                "task": "T0.0.0",
                "taskType": "dropdown-simple",
                "markIndex": 0,
                "value": {"selection": 3, "option": True},
            },
        ],
        v2,
        note="subtask extractor gets no metadata, so dropdown takes the v1 path",
    )
    ext(
        name,
        "synth/v2_classifier_2_1",
        {"task": "T0", "shape": "point"},
        fem_point_classification([(0, 10, 20)]),
        {"classifier_version": "2.1"},
    )
    ext(
        name,
        "synth/v2_datavis_annotation",
        {"task": "T0", "shape": "point"},
        [
            {
                "task": "T0",
                "taskType": "dataVisAnnotation",
                "value": [
                    {"toolIndex": 0, "toolType": "graph2dRangeX", "x": 5, "y": 1, "width": 3}
                ],
            }
        ],
        v2,
    )
    ext(
        name,
        "synth/v2_other_task_type_ignored",
        {"task": "T0", "shape": "point"},
        [{"task": "T0", "taskType": "single", "markIndex": 0, "value": 1}],
        v2,
    )
    ext(
        name,
        "synth/mixed_tool_and_toolIndex",
        {"task": "T0", "shape": "point"},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": []},
                    {"toolIndex": 0, "frame": 0, "x": 3, "y": 4, "details": []},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/rectangle_marks_as_points_no_tools",
        {"task": "T0", "shape": "point"},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "width": 5, "height": 6, "details": []}
                ],
            }
        ],
    )
    ext(
        name,
        "synth/v1_details_point",
        {"task": "T0", "shape": "point", "details": {"T0_tool0": ["question_extractor"]}},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "details": [{"value": 0}]},
                    {"tool": 0, "frame": 1, "x": 3, "y": 4, "details": [{"value": [0, 1]}]},
                ],
            }
        ],
    )
    ext(
        name,
        "synth/v1_details_mark_missing_y",
        {"task": "T0", "shape": "point", "details": {"T0_tool0": ["question_extractor"]}},
        [{"task": "T0", "value": [{"tool": 0, "frame": 0, "x": 1, "details": [{"value": 0}]}]}],
        note="frame never created for the shape, details step indexes it",
    )
    ext(
        name,
        "synth/rectangle_v1",
        {"task": "T0", "shape": "rectangle", "tools": [0]},
        [
            {
                "task": "T0",
                "value": [
                    {"tool": 0, "frame": 0, "x": 1, "y": 2, "width": 3, "height": 4, "details": []}
                ],
            }
        ],
    )


def cases_slider_extractor():
    name = "slider_extractor"
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    for r in pick_rows(disc, "T1", 10):
        ext_row(name, f"real/DISCnet/{r['classification_id']}_T1", {"task": "T1"}, r)
    nfn = read_export("label_reconciliations/expandedNfN_1931.csv")
    for r in nfn[:2]:
        ext_row(
            name,
            f"real/expandedNfN/{r['classification_id']}_T11_combo",
            {"task": "T11"},
            r,
            note="combo task: the value is the list of child annotations",
        )
    ext(
        name,
        "synth/verified_string",
        {"task": "T5"},
        [{"task": "T5", "value": "0.3"}],
        note="reference notes 2.4",
    )
    for key, v in [
        ("float", 0.3),
        ("int", 7),
        ("negative", -1.25),
        ("zero", 0),
        ("null", None),
        ("empty_string", ""),
        ("bool", True),
        ("list", [1, 2]),
        ("string_with_newline", "2\n"),
        ("non_numeric_string", "hungry"),
        ("big", 1e12),
        ("tiny", 1e-9),
        ("nan_string", "nan"),
    ]:
        ext(name, f"synth/{key}", {"task": "T5"}, [{"task": "T5", "value": v}])
    ext(name, "synth/missing_task", {"task": "T5"}, [{"task": "T0", "value": "Yes"}])
    ext(name, "synth/value_key_missing", {"task": "T5"}, [{"task": "T5"}])
    ext(
        name,
        "synth/fem_slider",
        {"task": "T5"},
        [{"task": "T5", "taskType": "slider", "value": "0.55"}],
        {"classifier_version": "2.0"},
    )
    ext(
        name,
        "synth/two_annotations",
        {"task": "T5"},
        [{"task": "T5", "value": "1"}, {"task": "T5", "value": "2"}],
    )


def cases_text_extractor():
    name = "text_extractor"
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    for r in pick_rows(disc, "T1", 8):
        ext_row(name, f"real/DISCnet/{r['classification_id']}_T1", {"task": "T1"}, r)
    nfn = read_export("label_reconciliations/expandedNfN_1931.csv")
    for r in nfn[:3]:
        for t in ("T5", "T11"):
            ext_row(
                name,
                f"real/expandedNfN/{r['classification_id']}_{t}_combo",
                {"task": t},
                r,
                note="combo task (PFE): child annotations are nested in the value",
            )
    for r in read_export("label_reconciliations/nfn1.csv"):
        ext_row(name, f"real/nfn1/{r['classification_id']}_T30_combo", {"task": "T30"}, r)
        ext_row(
            name,
            f"real/nfn1/{r['classification_id']}_T8_nested_child",
            {"task": "T8"},
            r,
            note="child task nested in a combo is not visible",
        )
    chi = read_export("Data-digging/chicago_sample_version5.csv")
    for r in pick_rows(chi, "T1", 2):
        ext_row(name, f"real/chicago/{r['classification_id']}_T1", {"task": "T1"}, r)
    ex = read_export("Data-digging/example_classifications.csv")
    for r in pick_rows(
        [x for x in ex if x["workflow_id"] == "4994"], "T2", 3, include_missing=False
    ):
        ext_row(
            name, f"real/example_classifications/{r['classification_id']}_T2", {"task": "T2"}, r
        )
    ext(
        name,
        "synth/verified_hello",
        {"task": "T7"},
        [{"task": "T7", "value": "hello world"}],
        note="reference notes 2.4",
    )
    for key, v in [
        ("unicode", "Größe des Ñandú 🦁"),
        ("empty", ""),
        ("null", None),
        ("multiline", "line one\nline two\r\nline three"),
        ("html", "<b>bold</b> &amp; text"),
        ("int", 42),
        ("list", ["a", "b"]),
        ("looks_like_list", "[1, 2]"),
        ("looks_like_dict", "{'a': 1}"),
        ("tabs_spaces", "\t spaced \t"),
        ("brackets_tags", "[unclear]word[/unclear]"),
        ("true", True),
    ]:
        ext(name, f"synth/{key}", {"task": "T7"}, [{"task": "T7", "value": v}])
    ext(name, "synth/missing_task", {"task": "T7"}, [{"task": "T0", "value": "x"}])
    ext(name, "synth/no_annotations", {"task": "T7"}, [])
    ext(
        name,
        "synth/fem_text",
        {"task": "T1"},
        [{"task": "T1", "taskType": "text", "value": "fem text"}],
        {"classifier_version": "2.0"},
    )
    ext(
        name,
        "synth/gold_standard_not_passed",
        {"task": "T1"},
        [{"task": "T1", "value": "gold?"}],
        note="CSV path passes only annotations+metadata",
    )


def cases_dropdown_extractor():
    name = "dropdown_extractor"
    nfn = read_export("label_reconciliations/expandedNfN_1931.csv")
    for r in pick_rows(nfn, "T1", 12):
        ext_row(name, f"real/expandedNfN/{r['classification_id']}_T1", {"task": "T1"}, r)
    for r in nfn[:2]:
        ext_row(name, f"real/expandedNfN/{r['classification_id']}_T11_combo", {"task": "T11"}, r)
        ext_row(name, f"real/expandedNfN/{r['classification_id']}_T5_combo", {"task": "T5"}, r)
    for rel, short in (
        ("label_reconciliations/nfn1.csv", "nfn1"),
        ("label_reconciliations/nfn2.csv", "nfn2"),
    ):
        for i, r in enumerate(read_export(rel)):
            for t in ("T24", "T28", "T29"):
                if task_value(r, t) != "<missing>":
                    ext_row(
                        name,
                        f"real/{short}/row{i}_{r['classification_id']}_{t}_combo",
                        {"task": t},
                        r,
                    )

    v2 = {"classifier_version": "2.0"}
    ext(
        name,
        "synth/verified_v1",
        {"task": "T6"},
        [{"task": "T6", "value": [{"value": "h1", "option": True}]}],
        note="reference notes 2.4",
    )
    ext(
        name,
        "synth/verified_v2_selection",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": 2, "option": True}}],
        v2,
        note="reference notes 2.4",
    )
    ext(
        name,
        "synth/v1_three_selects",
        {"task": "T1"},
        [
            {
                "task": "T1",
                "value": [
                    {"select_label": "Country", "option": True, "value": "840", "label": "USA"},
                    {"select_label": "State", "option": True, "value": "FL", "label": "Florida"},
                    {
                        "select_label": "County",
                        "option": False,
                        "value": "Some Custom Text",
                        "label": "x",
                    },
                ],
            }
        ],
    )
    ext(
        name,
        "synth/v1_int_value",
        {"task": "T1"},
        [{"task": "T1", "value": [{"value": 1977, "option": True}]}],
    )
    ext(
        name,
        "synth/v1_null_value",
        {"task": "T1"},
        [{"task": "T1", "value": [{"value": None, "option": False}]}],
    )
    ext(
        name,
        "synth/v1_unicode_free_text",
        {"task": "T1"},
        [{"task": "T1", "value": [{"value": "Ñandú Größe 🦁", "option": False}]}],
    )
    ext(name, "synth/v1_empty_list", {"task": "T1"}, [{"task": "T1", "value": []}])
    ext(
        name,
        "synth/v1_bool_value",
        {"task": "T1"},
        [{"task": "T1", "value": [{"value": True, "option": True}]}],
    )
    ext(
        name,
        "synth/v1_missing_value_key",
        {"task": "T1"},
        [{"task": "T1", "value": [{"option": True}]}],
    )
    ext(name, "synth/v1_value_null", {"task": "T1"}, [{"task": "T1", "value": None}])
    ext(name, "synth/missing_task", {"task": "T1"}, [{"task": "T0", "value": "x"}])
    ext(
        name,
        "synth/v2_taskType_value_key",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"value": "h1", "option": True}}],
        v2,
    )
    ext(
        name,
        "synth/v2_task_type_value_key",
        {"task": "T6"},
        [{"task": "T6", "task_type": "dropdown-simple", "value": {"value": 6, "option": True}}],
        v2,
        note="CSV export spelling task_type",
    )
    ext(
        name,
        "synth/v2_task_type_selection",
        {"task": "T6"},
        [{"task": "T6", "task_type": "dropdown-simple", "value": {"selection": 0, "option": True}}],
        v2,
    )
    ext(
        name,
        "synth/v2_both_keys_selection_wins",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": 1, "value": 9}}],
        v2,
    )
    ext(
        name,
        "synth/v2_neither_key",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"option": True}}],
        v2,
    )
    ext(
        name,
        "synth/v2_null_value",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": None}],
        v2,
    )
    ext(
        name,
        "synth/v2_selection_null",
        {"task": "T6"},
        [
            {
                "task": "T6",
                "taskType": "dropdown-simple",
                "value": {"selection": None, "option": True},
            }
        ],
        v2,
    )
    ext(
        name,
        "synth/v2_selection_string_unicode",
        {"task": "T6"},
        [
            {
                "task": "T6",
                "taskType": "dropdown-simple",
                "value": {"selection": "Größe Ñandú", "option": False},
            }
        ],
        v2,
    )
    ext(
        name,
        "synth/v2_not_simple_type",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown", "value": {"selection": 1, "option": True}}],
        v2,
    )
    ext(
        name,
        "synth/v2_no_type_key",
        {"task": "T6"},
        [{"task": "T6", "value": [{"value": "h1", "option": True}]}],
        v2,
    )
    ext(
        name,
        "synth/v1_metadata_with_v2_value",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": 1, "option": True}}],
        {},
    )
    ext(
        name,
        "synth/classifier_2_1",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": 4}}],
        {"classifier_version": "2.1"},
    )
    ext(
        name,
        "synth/classifier_1_9",
        {"task": "T6"},
        [{"task": "T6", "value": [{"value": "a", "option": True}]}],
        {"classifier_version": "1.9"},
    )
    ext(
        name,
        "synth/classifier_10_0",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": 4}}],
        {"classifier_version": "10.0"},
        note="semantic (not string) version comparison",
    )
    ext(
        name,
        "synth/v2_selection_bool",
        {"task": "T6"},
        [{"task": "T6", "taskType": "dropdown-simple", "value": {"selection": False}}],
        v2,
    )


def cases_all_tasks_empty_extractor():
    name = "all_tasks_empty_extractor"
    chi = read_export("Data-digging/chicago_sample_version5.csv")
    for r in pick_rows(chi, "T1", 3) + chi[3:6]:
        ext_row(name, f"real/chicago/{r['classification_id']}_all", {"task": "all"}, r)
        ext_row(name, f"real/chicago/{r['classification_id']}_T1", {"task": "T1"}, r)
    ff = read_export("Data-digging/fossil-finder-classifications_test.csv")
    for r in pick_rows(ff, "T5", 3):
        ext_row(name, f"real/fossil-finder/{r['classification_id']}_T5", {"task": "T5"}, r)
    kenya = read_export("Data-digging/kenya-sample.csv")
    for r in pick_rows(kenya, "T1", 3):
        ext_row(name, f"real/kenya-sample/{r['classification_id']}_all", {"task": "all"}, r)
    ap = read_export("Data-digging/ap-aas229-test-classifications.csv")
    for r in ap[:2]:
        ext_row(name, f"real/ap-aas229/{r['classification_id']}_T0_empty_list", {"task": "T0"}, r)
    ext(
        name,
        "synth/verified_null",
        {"task": "T0"},
        [{"task": "T0", "value": None}],
        note="reference notes 2.4",
    )
    ext(name, "synth/no_annotations_all", {"task": "all"}, [])
    ext(name, "synth/no_annotations_default_task", {}, [])
    ext(
        name,
        "synth/all_null",
        {"task": "all"},
        [{"task": "T0", "value": None}, {"task": "T1", "value": None}],
    )
    ext(
        name,
        "synth/one_answered",
        {"task": "all"},
        [{"task": "T0", "value": None}, {"task": "T1", "value": "Yes"}],
    )
    ext(name, "synth/value_key_missing", {"task": "all"}, [{"task": "T0"}])
    ext(name, "synth/empty_list_not_empty", {"task": "all"}, [{"task": "T0", "value": []}])
    ext(name, "synth/empty_string_not_empty", {"task": "all"}, [{"task": "T0", "value": ""}])
    ext(name, "synth/zero_not_empty", {"task": "all"}, [{"task": "T0", "value": 0}])
    ext(name, "synth/false_not_empty", {"task": "all"}, [{"task": "T0", "value": False}])
    ext(
        name,
        "synth/task_filter_other_answered",
        {"task": "T0"},
        [{"task": "T0", "value": None}, {"task": "T1", "value": "Yes"}],
    )
    ext(name, "synth/task_filter_missing_task", {"task": "T5"}, [{"task": "T0", "value": "Yes"}])
    ext(
        name,
        "synth/subtask_annotations_included",
        {"task": "T0"},
        [{"task": "T0", "value": None}, {"task": "T0.0.0", "value": 1, "markIndex": 0}],
    )
    ext(
        name,
        "synth/drawing_marks",
        {"task": "all"},
        [{"task": "T0", "value": [{"tool": 0, "x": 1, "y": 2}]}],
    )


# --- other extractors: only the verified examples of the reference notes (2.4) ---------
def cases_verified_other_extractors():
    ext(
        "point_extractor",
        "synth/verified",
        {"task": "T2"},
        [{"task": "T2", "value": [{"tool": 0, "x": 5, "y": 10}]}],
        note="reference notes 2.4",
    )
    ext(
        "rectangle_extractor",
        "synth/verified",
        {"task": "T2"},
        [
            {
                "task": "T2",
                "value": [
                    {"tool": 1, "frame": 0, "x": 1, "y": 2, "width": 3, "height": 4, "details": []}
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        "polygon_extractor",
        "synth/verified",
        {"task": "T8"},
        [
            {
                "task": "T8",
                "value": [
                    {
                        "tool": 0,
                        "frame": 0,
                        "points": [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 1}],
                        "details": [],
                    }
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        "bezier_extractor",
        "synth/verified",
        {"task": "T9"},
        [
            {
                "task": "T9",
                "value": [
                    {
                        "tool": 0,
                        "frame": 0,
                        "points": [{"x": 0, "y": 0}, {"x": 1, "y": 2}, {"x": 2, "y": 0}],
                        "details": [],
                    }
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        "line_text_extractor",
        "synth/verified",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {
                        "tool": 0,
                        "frame": 0,
                        "x1": 0,
                        "y1": 0,
                        "x2": 10,
                        "y2": 0,
                        "details": [{"value": "a line"}],
                    }
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        "poly_line_text_extractor",
        "synth/verified",
        {"task": "T0"},
        [
            {
                "task": "T0",
                "value": [
                    {
                        "tool": 0,
                        "frame": 0,
                        "points": [{"x": 0, "y": 0}, {"x": 10, "y": 0}],
                        "details": [{"value": "a line"}],
                    }
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        "sw_extractor",
        "synth/verified",
        {"task": "T2"},
        [
            {
                "task": "T2",
                "value": [
                    {
                        "startPoint": {"x": 0, "y": 0},
                        "endPoint": {"x": 10, "y": 0},
                        "text": "a <b>line</b>",
                    }
                ],
            }
        ],
        note="reference notes 2.4",
    )
    ext(
        "sw_variant_extractor",
        "synth/verified",
        {"task": "T2"},
        [{"task": "T2", "value": [{"variants": ["thee", "the"]}]}],
        note="reference notes 2.4",
    )
    ext(
        "sw_graphic_extractor",
        "synth/verified",
        {"task": "T2"},
        [
            {
                "task": "T2",
                "value": [
                    {"type": "graphic", "x": 1, "y": 2, "width": 3, "height": 4, "tag": "<graphic>"}
                ],
            }
        ],
        note="reference notes 2.4",
    )


# --------------------------------------------------------------------------------------
# reducers
# --------------------------------------------------------------------------------------
def question_extract_pool(rng, answers, n, multi=False, blank_p=0.0):
    out = []
    for _ in range(n):
        if rng.random() < blank_p:
            out.append({})
            continue
        if multi:
            k = rng.randint(1, min(3, len(answers)))
            out.append({a: 1 for a in rng.sample(answers, k)})
        else:
            out.append({rng.choice(answers): 1})
    return out


def cases_question_like_reducer(name, shortcut=False):
    # --- chains over real exports ---
    ext_name = "shortcut_extractor" if shortcut else "question_extractor"
    if shortcut:
        kenya = read_export("Data-digging/kenya-sample.csv")
        groups = group_by_subject(by_workflow(kenya, 2030))
        multi = [(s, g) for s, g in sorted(groups.items()) if len(g) >= 4][:8]
        for s, g in multi:
            red_chain(
                name,
                f"real/kenya-sample/subject_{s}_T5",
                {},
                ext_name,
                {"task": "T5"},
                rows_to_chain(g),
                "Data-digging/kenya-sample.csv",
            )
        s, g = multi[0]
        red_chain(
            name,
            f"real/kenya-sample/subject_{s}_T5_track",
            {"track_user_ids": True},
            ext_name,
            {"task": "T5"},
            rows_to_chain(g),
            "Data-digging/kenya-sample.csv",
        )
        lwm = read_export("zooniverse-analysis-workshop/test_classifications.csv")
        red_chain(
            name,
            "real/lwm-workshop/pooled_T0_pairs",
            {"pairs": True},
            ext_name,
            {"task": "T0"},
            rows_to_chain(lwm),
            "zooniverse-analysis-workshop/test_classifications.csv",
        )
    else:
        cls = read_export("aggregation-for-caesar/cls_export.csv")
        for t in ("T0", "T1"):
            red_chain(
                name,
                f"real/cls_export/pooled_{t}",
                {},
                ext_name,
                {"task": t},
                rows_to_chain(cls),
                "aggregation-for-caesar/cls_export.csv",
                note="all 7 classifications pooled as if one subject",
            )
            red_chain(
                name,
                f"real/cls_export/pooled_{t}_track",
                {"track_user_ids": True},
                ext_name,
                {"task": t},
                rows_to_chain(cls),
                "aggregation-for-caesar/cls_export.csv",
                note="anonymous users: user_id null",
            )
        disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
        groups = group_by_subject(disc)
        multi = [(s, g) for s, g in sorted(groups.items()) if len(g) >= 4][:5]
        for s, g in multi:
            red_chain(
                name,
                f"real/DISCnet/subject_{s}_T0",
                {},
                ext_name,
                {"task": "T0"},
                rows_to_chain(g),
                "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
            )
        s, g = multi[0]
        red_chain(
            name,
            f"real/DISCnet/subject_{s}_T0_track",
            {"track_user_ids": True},
            ext_name,
            {"task": "T0"},
            rows_to_chain(g),
            "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
        )
        chi = read_export("Data-digging/chicago_sample_version5.csv")
        groups = group_by_subject(chi)
        multi = [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][:4]
        for s, g in multi:
            red_chain(
                name,
                f"real/chicago/subject_{s}_T1",
                {},
                ext_name,
                {"task": "T1"},
                rows_to_chain(g),
                "Data-digging/chicago_sample_version5.csv",
            )
        gz = read_export("gz-panoptes-reduction/panoptes_classifications.csv")
        for t in ("T0", "T10", "T11"):
            red_chain(
                name,
                f"real/gz-panoptes-reduction/pooled_{t}_pairs",
                {"pairs": True},
                ext_name,
                {"task": t},
                rows_to_chain(gz),
                "gz-panoptes-reduction/panoptes_classifications.csv",
            )
        kenya = read_export("Data-digging/kenya-sample.csv")
        k = by_workflow(kenya, 2030, lambda v: 73 <= major(v) <= 90)
        red_chain(
            name,
            "real/kenya-sample/pooled_T1_v73_90",
            {},
            ext_name,
            {"task": "T1"},
            rows_to_chain(k[:40]),
            "Data-digging/kenya-sample.csv",
        )
        ere = read_export("erethizon-Zooniverse-work/test-workflow-classifications.csv")
        red_chain(
            name,
            "real/erethizon/pooled_T0_track",
            {"track_user_ids": True},
            ext_name,
            {"task": "T0"},
            rows_to_chain(ere[:25]),
            "erethizon-Zooniverse-work/test-workflow-classifications.csv",
        )

    # --- synthetic ---
    if name == "question_reducer":
        red(
            name,
            "synth/verified_pairs",
            {"pairs": True},
            [{"a": 1, "b": 1}, {"a": 1}],
            note="reference notes 3.2",
        )
    rng = random.Random(name + "-synth")
    answers = ["yes", "no", "cant-tell", "nandu", "grosse", "0", "1", "none", "true", ""]
    kw_variants = [
        ("default", {}),
        ("pairs", {"pairs": True}),
        ("track", {"track_user_ids": True}),
        ("pairs_track", {"pairs": True, "track_user_ids": True}),
        ("pairs_false", {"pairs": False}),
    ]
    for i in range(6):
        ex = question_extract_pool(
            rng, answers[: 4 + i], 3 + 2 * i, multi=(i % 2 == 1), blank_p=0.15
        )
        uid = [rng.choice([None, rng.randrange(1, 2000000)]) for _ in ex]
        for kname, kw in kw_variants:
            red(name, f"synth/random{i}_{kname}", kw, ex, user_id=uid)
    red(name, "synth/empty_list", {}, [], user_id=[], created_at=[])
    red(name, "synth/empty_list_track", {"track_user_ids": True}, [], user_id=[], created_at=[])
    red(name, "synth/all_blank", {}, [{}, {}, {}])
    red(
        name,
        "synth/all_blank_pairs",
        {"pairs": True},
        [{}, {}, {}],
        note="pairs on blank extracts makes the key ''",
    )
    red(
        name, "synth/all_blank_pairs_track", {"pairs": True, "track_user_ids": True}, [{}, {"a": 1}]
    )
    red(
        name,
        "synth/counts_ignored",
        {},
        [{"a": 5}, {"a": 2, "b": 0}],
        note="keys are counted, values ignored",
    )
    red(
        name,
        "synth/pairs_sorted_keys",
        {"pairs": True},
        [{"b": 1, "a": 1}, {"a": 1, "b": 1}, {"c": 1, "a": 1}],
    )
    red(
        name,
        "synth/track_duplicate_user",
        {"track_user_ids": True},
        [{"a": 1}, {"a": 1}, {"b": 1}],
        user_id=[7, 7, None],
    )
    red(
        name,
        "synth/string_false_is_true",
        {"track_user_ids": "False", "pairs": "False"},
        [{"a": 1, "b": 1}, {"a": 1}],
        note="process_kwargs: bool('False') is True",
    )
    red(
        name,
        "synth/string_empty_is_false",
        {"track_user_ids": "", "pairs": ""},
        [{"a": 1, "b": 1}, {"a": 1}],
    )
    red(name, "synth/int_flags", {"track_user_ids": 1, "pairs": 0}, [{"a": 1, "b": 1}, {"a": 1}])
    red(
        name,
        "synth/list_flag_first_element",
        {"pairs": [True, False]},
        [{"a": 1, "b": 1}, {"a": 1}],
        note="MultiDict: a list value yields its first element",
    )
    red(name, "synth/unknown_kwarg_ignored", {"foo": "bar", "details": {"x": ["y"]}}, [{"a": 1}])
    red(
        name,
        "synth/unicode_keys",
        {"track_user_ids": True},
        [{"ñandú": 1}, {"größe": 1, "🦁": 1}, {"ñandú": 1}],
    )
    red(
        name,
        "synth/large_user_ids",
        {"track_user_ids": True},
        [{"a": 1}, {"a": 1}],
        user_id=[123456789012, 2**40],
    )
    red(
        name,
        "synth/string_user_ids",
        {"track_user_ids": True},
        [{"a": 1}, {"b": 1}],
        user_id=["not-logged-in-abc", "42"],
    )


def cases_question_consensus_reducer():
    name = "question_consensus_reducer"
    cls = read_export("aggregation-for-caesar/cls_export.csv")
    for t in ("T0", "T1"):
        red_chain(
            name,
            f"real/cls_export/pooled_{t}",
            {},
            "question_extractor",
            {"task": t},
            rows_to_chain(cls),
            "aggregation-for-caesar/cls_export.csv",
        )
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    groups = group_by_subject(disc)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][:6]:
        red_chain(
            name,
            f"real/DISCnet/subject_{s}_T0",
            {},
            "question_extractor",
            {"task": "T0"},
            rows_to_chain(g),
            "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
        )
    chi = read_export("Data-digging/chicago_sample_version5.csv")
    groups = group_by_subject(chi)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][:3]:
        red_chain(
            name,
            f"real/chicago/subject_{s}_T1",
            {},
            "question_extractor",
            {"task": "T1"},
            rows_to_chain(g),
            "Data-digging/chicago_sample_version5.csv",
        )
    gz = read_export("gz-panoptes-reduction/panoptes_classifications.csv")
    red_chain(
        name,
        "real/gz/pooled_T10_pairs",
        {"pairs": True},
        "question_extractor",
        {"task": "T10"},
        rows_to_chain(gz),
        "gz-panoptes-reduction/panoptes_classifications.csv",
    )
    red_chain(
        name,
        "real/gz/pooled_T10",
        {},
        "question_extractor",
        {"task": "T10"},
        rows_to_chain(gz),
        "gz-panoptes-reduction/panoptes_classifications.csv",
    )

    red(
        name,
        "synth/http_example",
        {},
        [{"yes": 1}, {"no": 1}, {"yes": 1}],
        user_id=[1, 2, None],
        note="reference notes 7.1",
    )
    red(name, "synth/empty", {}, [], user_id=[], created_at=[])
    red(name, "synth/all_blank", {}, [{}, {}])
    red(
        name,
        "synth/all_blank_pairs",
        {"pairs": True},
        [{}, {}],
        note="pairs on blanks: most_likely ''",
    )
    red(name, "synth/tie_first_inserted_wins", {}, [{"b": 1}, {"a": 1}, {"a": 1}, {"b": 1}])
    red(name, "synth/tie_reversed", {}, [{"a": 1}, {"b": 1}, {"b": 1}, {"a": 1}])
    red(name, "synth/multiple_choice_agreement", {}, [{"a": 1, "b": 1}, {"a": 1}, {"c": 1}])
    red(
        name,
        "synth/multiple_choice_pairs",
        {"pairs": True},
        [{"a": 1, "b": 1}, {"b": 1, "a": 1}, {"a": 1}],
    )
    red(name, "synth/single_vote", {}, [{"yes": 1}])
    red(name, "synth/agreement_thirds", {}, [{"x": 1}, {"y": 1}, {"x": 1}])
    red(name, "synth/agreement_sevenths", {}, [{"x": 1}] * 3 + [{"y": 1}] * 2 + [{"z": 1}] * 2)
    red(name, "synth/unicode", {}, [{"ñandú": 1}, {"ñandú": 1}, {"🦁": 1}])
    red(name, "synth/string_false_pairs", {"pairs": "False"}, [{"a": 1, "b": 1}, {"a": 1}])
    red(name, "synth/extra_kwargs_ignored", {"track_user_ids": True}, [{"a": 1}])
    rng = random.Random("qcr")
    for i in range(8):
        ex = question_extract_pool(
            rng, ["yes", "no", "maybe", "0", "1"], 4 + i * 3, multi=(i % 3 == 2), blank_p=0.1
        )
        red(name, f"synth/random{i}", {}, ex)
        if i % 2:
            red(name, f"synth/random{i}_pairs", {"pairs": True}, ex)


def cases_survey_reducer():
    name = "survey_reducer"
    chi = read_export("Data-digging/chicago_sample_version5.csv")
    groups = group_by_subject(chi)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 2][:8]:
        red_chain(
            name,
            f"real/chicago/subject_{s}_T0",
            {},
            "survey_extractor",
            {"task": "T0"},
            rows_to_chain(g),
            "Data-digging/chicago_sample_version5.csv",
        )
    kenya = read_export("Data-digging/kenya-sample.csv")
    groups = group_by_subject(by_workflow(kenya, 2030))
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 5][:8]:
        red_chain(
            name,
            f"real/kenya-sample/subject_{s}_T3",
            {},
            "survey_extractor",
            {"task": "T3"},
            rows_to_chain(g),
            "Data-digging/kenya-sample.csv",
        )
    cam = read_export("Data-digging/camcat_sa.csv")
    red_chain(
        name,
        "real/camcat_sa/pooled_30_T0",
        {},
        "survey_extractor",
        {"task": "T0"},
        rows_to_chain(cam[:30]),
        "Data-digging/camcat_sa.csv",
    )
    ere = read_export("erethizon-Zooniverse-work/test-workflow-classifications.csv")
    groups = group_by_subject(ere)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 2][:3]:
        red_chain(
            name,
            f"real/erethizon/subject_{s}_T1",
            {},
            "survey_extractor",
            {"task": "T1"},
            rows_to_chain(g),
            "erethizon-Zooniverse-work/test-workflow-classifications.csv",
        )
    ct = read_export("camera-trap-data-pipeline/raw_classifications.csv")
    red_chain(
        name,
        "real/camera-trap/pooled_T0",
        {},
        "survey_extractor",
        {"task": "T0"},
        rows_to_chain(ct),
        "camera-trap-data-pipeline/raw_classifications.csv",
    )
    wc = read_export("Data-digging/wildcam_gorongosa_sample.csv")
    red_chain(
        name,
        "real/wildcam/pooled_T1",
        {},
        "survey_extractor",
        {"task": "T1"},
        rows_to_chain(wc),
        "Data-digging/wildcam_gorongosa_sample.csv",
    )

    red(
        name,
        "synth/verified",
        {},
        [
            {"choice": "zebra", "answers_howmany": {"1": 1}},
            {"choice": "zebra", "answers_howmany": {"2": 1}},
            {"choice": "lion"},
        ],
        note="reference notes 3.2",
    )
    red(name, "synth/empty", {}, [], user_id=[], created_at=[])
    red(name, "synth/one_choice", {}, [{"choice": "elk", "answers_howmany": {"1": 1}}])
    red(
        name,
        "synth/multi_answer_counts",
        {},
        [
            {"choice": "elk", "answers_behaviour": {"eating": 1, "moving": 1}},
            {"choice": "elk", "answers_behaviour": {"eating": 1}},
            {"choice": "elk", "answers_behaviour": {}},
        ],
    )
    red(
        name,
        "synth/total_vote_count_counts_rows",
        {},
        [{"choice": "a"}, {"choice": "b"}, {"choice": "a"}, {"choice": "c", "answers_x": {"1": 1}}],
        note="total_vote_count counts rows, not classifications",
    )
    red(
        name,
        "synth/unicode_choices",
        {},
        [
            {"choice": "nandu", "answers_grosse": {"gross": 1}},
            {"choice": "nandu", "answers_grosse": {"klein": 1}},
        ],
    )
    red(name, "synth/choice_missing_raises", {}, [{"answers_howmany": {"1": 1}}])
    red(
        name,
        "synth/answers_not_dict",
        {},
        [{"choice": "a", "answers_howmany": "1"}],
        note="Counter('1') counts characters",
    )
    red(name, "synth/answers_list", {}, [{"choice": "a", "answers_howmany": ["1", "1", "2"]}])
    red(name, "synth/kwargs_ignored", {"pairs": True}, [{"choice": "a"}])
    rng = random.Random("survey")
    species = ["zebra", "lion", "elk", "nthnghr", "nandu"]
    for i in range(6):
        ex = []
        for _ in range(3 + 2 * i):
            for c in rng.sample(species, rng.randint(1, 2)):
                d = {"choice": c}
                if c != "nthnghr":
                    d["answers_howmany"] = {str(rng.randint(1, 4)): 1}
                    if rng.random() < 0.5:
                        d["answers_behavior"] = {
                            b: 1 for b in rng.sample(["eating", "moving", "resting"], 2)
                        }
                ex.append(d)
        red(name, f"synth/random{i}", {}, ex)


# --- points ------------------------------------------------------------------------------
def point_classifications(
    rng,
    n_users,
    centers,
    sigma,
    noise_points,
    frames=(0,),
    tools=(0,),
    task="T0",
    detail_answers=None,
    miss_p=0.1,
    decimals=2,
):
    """v1 export-form classifications: each user marks each center (with jitter) + noise."""
    cls = []
    W = 600.0
    for u in range(n_users):
        marks = []
        for frame in frames:
            for tool in tools:
                for cx, cy in centers:
                    if rng.random() < miss_p:
                        continue
                    m = {
                        "x": round(cx + rng.gauss(0, sigma) + 37 * tool, decimals),
                        "y": round(cy + rng.gauss(0, sigma) + 23 * frame, decimals),
                        "tool": tool,
                        "frame": frame,
                        "details": [],
                    }
                    if detail_answers is not None:
                        m["details"] = [{"value": rng.choice(detail_answers)}]
                    marks.append(m)
        for _ in range(noise_points):
            m = {
                "x": round(rng.uniform(0, W), decimals),
                "y": round(rng.uniform(0, W), decimals),
                "tool": rng.choice(list(tools)),
                "frame": rng.choice(list(frames)),
                "details": [],
            }
            if detail_answers is not None:
                m["details"] = [{"value": rng.choice(detail_answers)}]
            marks.append(m)
        rng.shuffle(marks)
        cls.append(
            {
                "annotations": [{"task": task, "value": marks}],
                "metadata": {},
                "user_id": rng.choice([None] + [100 + u] * 4),
                "created_at": synth_times(1, u)[0],
                "classification_id": 7000 + u,
            }
        )
    return cls


def cases_point_reducer(name):
    hdb = name == "point_reducer_hdbscan"
    ext_name = "point_extractor_by_frame"
    # --- chains over real exports ---
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    groups = group_by_subject([r for r in disc if task_value(r, "T2") != "<missing>"])
    kwsets = (
        [{"min_cluster_size": 2, "min_samples": 1}, {"min_cluster_size": 3, "min_samples": 2}]
        if hdb
        else [{"eps": 25, "min_samples": 2}, {"eps": 10, "min_samples": 1}]
    )
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][:4]:
        for j, kw in enumerate(kwsets):
            kw = dict(kw, details={"T2_tool0": ["question_reducer"]})
            red_chain(
                name,
                f"real/DISCnet/subject_{s}_T2_k{j}",
                kw,
                ext_name,
                {"task": "T2", "tools": [0], "details": {"T2_tool0": ["question_extractor"]}},
                rows_to_chain(g),
                "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
            )
    kenya = read_export("Data-digging/kenya-sample.csv")
    pts = [
        r
        for r in by_workflow(kenya, 2030, lambda v: 33 <= major(v) <= 90)
        if task_value(r, "T2") != "<missing>"
    ]
    groups = group_by_subject(pts)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 2][:4]:
        red_chain(
            name,
            f"real/kenya-sample/subject_{s}_T2",
            kwsets[0],
            ext_name,
            {"task": "T2", "tools": [0]},
            rows_to_chain(g),
            "Data-digging/kenya-sample.csv",
        )
    red_chain(
        name,
        "real/kenya-sample/pooled_T2_all_versions",
        kwsets[1],
        ext_name,
        {"task": "T2", "tools": [0]},
        rows_to_chain(pts),
        "Data-digging/kenya-sample.csv",
        note="all classifications pooled as if one subject",
    )
    ff = read_export("Data-digging/fossil-finder-classifications_test.csv")
    for wid in ("371", "1962"):
        rows = by_workflow(ff, wid)
        red_chain(
            name,
            f"real/fossil-finder/wf{wid}_pooled_T3",
            kwsets[0] if hdb else {"eps": 40, "min_samples": 2},
            ext_name,
            {"task": "T3", "tools": [0, 1, 2, 3, 4, 5]},
            rows_to_chain(rows),
            "Data-digging/fossil-finder-classifications_test.csv",
            note="all classifications of the workflow pooled as if one subject",
        )
    rows = by_workflow(ff, "371")
    kw = dict(
        kwsets[0] if hdb else {"eps": 60, "min_samples": 1},
        details={"T1_tool5": ["question_reducer"]},
    )
    red_chain(
        name,
        "real/fossil-finder/wf371_pooled_T1_details",
        kw,
        ext_name,
        {
            "task": "T1",
            "tools": [0, 1, 2, 3, 4, 5, 6, 7],
            "details": {"T1_tool5": ["question_extractor"]},
        },
        rows_to_chain(rows),
        "Data-digging/fossil-finder-classifications_test.csv",
    )

    # --- synthetic ---
    rng = random.Random(name + "-synth")
    if hdb:
        grid = [
            {},
            {"min_cluster_size": 2},
            {"min_cluster_size": 3, "min_samples": 1},
            {"min_cluster_size": 4, "min_samples": 2},
            {"min_cluster_size": 5, "min_samples": 5},
            {"min_cluster_size": 3, "min_samples": 2, "cluster_selection_method": "leaf"},
            {"min_cluster_size": 2, "min_samples": 1, "allow_single_cluster": True},
            {"min_cluster_size": 6, "min_samples": 3, "allow_single_cluster": True},
            {"min_cluster_size": 3, "metric": "manhattan"},
        ]
    else:
        grid = [
            {},
            {"eps": 3},
            {"eps": 10, "min_samples": 2},
            {"eps": 25, "min_samples": 3},
            {"eps": 5, "min_samples": 1},
            {"eps": 15, "min_samples": 5},
            {"eps": 8.5, "min_samples": 4},
            {"eps": 12, "min_samples": 2, "metric": "manhattan"},
            {"eps": 20, "min_samples": 3, "p": 1.5, "metric": "minkowski"},
        ]
    for i, kw in enumerate(grid):
        n_c = rng.randint(2, 5)
        centers = [(rng.uniform(50, 550), rng.uniform(50, 550)) for _ in range(n_c)]
        frames = (0,) if i % 3 else (0, 1)
        tools = (0,) if i % 2 else (0, 1)
        cls = point_classifications(
            rng,
            n_users=rng.randint(3, 9),
            centers=centers,
            sigma=rng.choice([1.0, 2.5, 4.0]),
            noise_points=rng.randint(0, 2),
            frames=frames,
            tools=tools,
        )
        red_chain(
            name,
            f"synth/clusters_{i}",
            kw,
            ext_name,
            {"task": "T0", "tools": list(tools)},
            cls,
            "synthetic",
        )
    # with v1 details
    for i in range(4):
        centers = [(rng.uniform(50, 550), rng.uniform(50, 550)) for _ in range(3)]
        cls = point_classifications(
            rng,
            n_users=6,
            centers=centers,
            sigma=2.0,
            noise_points=1,
            tools=(0, 1),
            detail_answers=[0, 1, [0, 1]],
        )
        kw = {"min_cluster_size": 3, "min_samples": 2} if hdb else {"eps": 10, "min_samples": 3}
        kw["details"] = {"T0_tool0": ["question_reducer"], "T0_tool1": ["question_reducer"]}
        red_chain(
            name,
            f"synth/details_{i}",
            kw,
            ext_name,
            {
                "task": "T0",
                "tools": [0, 1],
                "details": {"T0_tool0": ["question_extractor"], "T0_tool1": ["question_extractor"]},
            },
            cls,
            "synthetic",
        )
    # the 5-user verified example shape (reference notes 3.2)
    ex = []
    answers = [0, 0, 1, 0, 1]
    for u in range(5):
        ex.append(
            {
                "frame0": {
                    "T2_tool0_x": [100 + u * 0.5],
                    "T2_tool0_y": [200 - u * 0.5],
                    "T2_tool0_details": [[{str(answers[u]): 1}]],
                }
            }
        )
    red(
        name,
        "synth/verified_details_5_users",
        ({"min_cluster_size": 2} if hdb else {}) | {"details": {"T2_tool0": ["question_reducer"]}},
        ex,
        note="reference notes 3.2 (point_reducer_dbscan with v1 details, 5 users)",
    )
    red(
        name,
        "synth/details_null_reducer",
        ({"min_cluster_size": 2} if hdb else {"min_samples": 2})
        | {"details": {"T2_tool0": [None]}},
        [
            {
                "frame0": {
                    "T2_tool0_x": [1, 2],
                    "T2_tool0_y": [1, 2],
                    "T2_tool0_details": [["No extractor for this subtask type"]] * 2,
                }
            },
            {
                "frame0": {
                    "T2_tool0_x": [1.5],
                    "T2_tool0_y": [1.5],
                    "T2_tool0_details": [["No extractor for this subtask type"]],
                }
            },
        ],
    )
    red(
        name,
        "synth/details_ragged",
        ({"min_cluster_size": 2} if hdb else {"min_samples": 2})
        | {"details": {"T2_tool0": ["question_reducer"]}},
        [
            {
                "frame0": {
                    "T2_tool0_x": [1, 2],
                    "T2_tool0_y": [1, 2],
                    "T2_tool0_details": [[{"0": 1}], []],
                }
            },
            {
                "frame0": {
                    "T2_tool0_x": [1.5],
                    "T2_tool0_y": [1.5],
                    "T2_tool0_details": [[{"1": 1}]],
                }
            },
        ],
        note="ragged details -> ValueError branch of the subtask wrapper",
    )
    red(
        name,
        "synth/details_key_absent_in_extracts",
        ({"min_cluster_size": 2} if hdb else {"min_samples": 2})
        | {"details": {"T2_tool0": ["question_reducer"]}},
        [
            {"frame0": {"T2_tool0_x": [1, 2], "T2_tool0_y": [1, 2]}},
            {"frame0": {"T2_tool0_x": [1.5], "T2_tool0_y": [1.5]}},
        ],
    )
    red(name, "synth/empty_extracts_list", {}, [], user_id=[], created_at=[])
    red(name, "synth/all_blank_extracts", {}, [{}, {}])
    red(name, "synth/one_point", {}, [{"frame0": {"T0_tool0_x": [5.0], "T0_tool0_y": [6.0]}}])
    red(
        name,
        "synth/one_point_min1",
        {"min_cluster_size": 1, "min_samples": 1} if hdb else {"min_samples": 1},
        [{"frame0": {"T0_tool0_x": [5.0], "T0_tool0_y": [6.0]}}],
    )
    red(
        name,
        "synth/two_points_min2",
        {"min_cluster_size": 2, "min_samples": 1} if hdb else {"min_samples": 2, "eps": 1},
        [
            {"frame0": {"T0_tool0_x": [5.0], "T0_tool0_y": [6.0]}},
            {"frame0": {"T0_tool0_x": [5.5], "T0_tool0_y": [6.0]}},
        ],
    )
    red(
        name,
        "synth/identical_points",
        {"min_cluster_size": 3} if hdb else {"min_samples": 3},
        [
            {"frame0": {"T0_tool0_x": [5, 5], "T0_tool0_y": [6, 6]}},
            {"frame0": {"T0_tool0_x": [5], "T0_tool0_y": [6]}},
            {"frame0": {"T0_tool0_x": [5], "T0_tool0_y": [6]}},
        ],
    )
    red(
        name,
        "synth/missing_y_key",
        {"min_cluster_size": 2} if hdb else {"min_samples": 2},
        [
            {"frame0": {"T0_tool0_x": [5, 6]}},
            {"frame0": {"T0_tool0_x": [5], "T0_tool0_y": [6]}},
            {"frame0": {"T0_tool0_x": [5.2], "T0_tool0_y": [6.1]}},
        ],
    )
    red(
        name,
        "synth/none_coordinates_dropped",
        {"min_cluster_size": 2} if hdb else {"min_samples": 2},
        [
            {"frame0": {"T0_tool0_x": [5, None], "T0_tool0_y": [6, 7]}},
            {"frame0": {"T0_tool0_x": [5.1], "T0_tool0_y": [6.1]}},
        ],
    )
    red(
        name,
        "synth/tool_all_none_coordinates",
        {},
        [{"frame0": {"T0_tool0_x": [None], "T0_tool0_y": [None]}}],
        note="no clean points left for the tool",
    )
    red(
        name,
        "synth/non_frame_keys_ignored",
        {"min_cluster_size": 2} if hdb else {"min_samples": 2},
        [
            {
                "frame0": {"T0_tool0_x": [1, 1.2], "T0_tool0_y": [1, 1.1]},
                "classifier_version": "1.0",
            },
            {"aggregation_version": "5.3.1", "frame0": {"T0_tool0_x": [1.1], "T0_tool0_y": [0.9]}},
        ],
    )
    red(
        name,
        "synth/frame_missing_in_some",
        {"min_cluster_size": 2} if hdb else {"min_samples": 2},
        [
            {"frame0": {"T0_tool0_x": [1, 1.2], "T0_tool0_y": [1, 1.1]}},
            {"frame1": {"T0_tool0_x": [1.1], "T0_tool0_y": [0.9]}},
            {},
        ],
    )
    red(
        name,
        "synth/string_kwargs",
        (
            {"min_cluster_size": "3", "min_samples": "2"}
            if hdb
            else {"eps": "7.5", "min_samples": "2"}
        ),
        [
            {"frame0": {"T0_tool0_x": [1, 2, 3], "T0_tool0_y": [1, 2, 3]}},
            {"frame0": {"T0_tool0_x": [1.5, 2.5], "T0_tool0_y": [1.5, 2.5]}},
        ],
        note="HTTP-style string kwargs are converted by process_kwargs",
    )
    red(
        name,
        "synth/bad_kwarg_falls_back",
        (
            {"min_cluster_size": "three", "min_samples": 2.7}
            if hdb
            else {"eps": "wide", "min_samples": 2.7}
        ),
        [
            {"frame0": {"T0_tool0_x": [1, 2, 3], "T0_tool0_y": [1, 2, 3]}},
            {"frame0": {"T0_tool0_x": [1.5, 2.5], "T0_tool0_y": [1.5, 2.5]}},
        ],
        note="unconvertible value -> default; float for int key truncated",
    )
    if hdb:
        red(
            name,
            "synth/min_samples_gt_points",
            {"min_cluster_size": 2, "min_samples": 10},
            [{"frame0": {"T0_tool0_x": [1, 2, 3], "T0_tool0_y": [1, 2, 3]}}],
        )
        red(
            name,
            "synth/collinear_many",
            {"min_cluster_size": 3, "min_samples": 2},
            [{"frame0": {"T0_tool0_x": [float(i) for i in range(12)], "T0_tool0_y": [0.0] * 12}}],
        )
    else:
        red(
            name,
            "synth/eps_zero",
            {"eps": 0, "min_samples": 1},
            [{"frame0": {"T0_tool0_x": [1, 2], "T0_tool0_y": [1, 2]}}],
        )
        red(
            name,
            "synth/eps_negative",
            {"eps": -1},
            [{"frame0": {"T0_tool0_x": [1, 2, 3], "T0_tool0_y": [1, 2, 3]}}],
        )
        red(
            name,
            "synth/single_point_clusters",
            {"eps": 0.5, "min_samples": 1},
            [{"frame0": {"T0_tool0_x": [1, 10, 20, 20.2], "T0_tool0_y": [1, 10, 20, 20.1]}}],
            note="single-point clusters have None variances",
        )
    red(
        name,
        "synth/int_coordinates",
        {"min_cluster_size": 3} if hdb else {"min_samples": 2},
        [
            {"frame0": {"T0_tool0_x": [10, 11], "T0_tool0_y": [20, 21]}},
            {"frame0": {"T0_tool0_x": [10], "T0_tool0_y": [22]}},
        ],
    )
    red(
        name,
        "synth/many_tools_frames",
        {"min_cluster_size": 2, "min_samples": 1} if hdb else {"eps": 3, "min_samples": 2},
        [
            {
                "frame0": {
                    "T0_tool0_x": [1, 50],
                    "T0_tool0_y": [1, 50],
                    "T0_tool1_x": [9],
                    "T0_tool1_y": [9],
                },
                "frame3": {"T0_tool2_x": [3], "T0_tool2_y": [3]},
            },
            {
                "frame0": {
                    "T0_tool0_x": [1.5, 51],
                    "T0_tool0_y": [1.2, 50.5],
                    "T0_tool1_x": [9.1],
                    "T0_tool1_y": [9.3],
                },
                "frame3": {"T0_tool2_x": [3.2], "T0_tool2_y": [2.9]},
            },
        ],
    )


def cases_shape_reducer_dbscan():
    name = "shape_reducer_dbscan"
    # verified (reference notes 3.2)
    red(
        name,
        "synth/verified_three_extracts",
        {"shape": "point", "eps": 5, "min_samples": 2},
        [{"frame0": {"T0_tool0_x": [1, 1.5, 2], "T0_tool0_y": [1, 1, 1]}} for _ in range(3)],
        note="reference notes 3.2",
    )
    # chains over real exports (v1)
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    groups = group_by_subject([r for r in disc if task_value(r, "T2") != "<missing>"])
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][:4]:
        red_chain(
            name,
            f"real/DISCnet/subject_{s}_T2",
            {"shape": "point", "eps": 20, "min_samples": 2},
            "shape_extractor",
            {"task": "T2", "shape": "point", "tools": [0]},
            rows_to_chain(g),
            "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
        )
    s, g = [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][0]
    red_chain(
        name,
        f"real/DISCnet/subject_{s}_T2_details_v1",
        {
            "shape": "point",
            "eps": 20,
            "min_samples": 2,
            "details": {"T2_tool0": ["question_reducer"]},
        },
        "shape_extractor",
        {
            "task": "T2",
            "shape": "point",
            "tools": [0],
            "details": {"T2_tool0": ["question_extractor"]},
        },
        rows_to_chain(g),
        "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
    )
    kenya = read_export("Data-digging/kenya-sample.csv")
    pts = [
        r
        for r in by_workflow(kenya, 2030, lambda v: 33 <= major(v) <= 90)
        if task_value(r, "T2") != "<missing>"
    ]
    red_chain(
        name,
        "real/kenya-sample/pooled_T2",
        {"shape": "point", "eps": 30, "min_samples": 2},
        "shape_extractor",
        {"task": "T2", "shape": "point", "tools": [0]},
        rows_to_chain(pts),
        "Data-digging/kenya-sample.csv",
    )
    ff = read_export("Data-digging/fossil-finder-classifications_test.csv")
    red_chain(
        name,
        "real/fossil-finder/wf1962_pooled_T3",
        {"shape": "point", "eps": 40, "min_samples": 2},
        "shape_extractor",
        {"task": "T3", "shape": "point", "tools": [0, 1, 2, 3, 4, 5]},
        rows_to_chain(by_workflow(ff, "1962")),
        "Data-digging/fossil-finder-classifications_test.csv",
    )

    # synthetic v1 chains
    rng = random.Random("shape-synth")
    grid = [
        {"eps": 5, "min_samples": 3},
        {"eps": 10, "min_samples": 2},
        {"eps": 3, "min_samples": 1},
        {"eps": 25, "min_samples": 4},
        {},
        {"eps": 8, "min_samples": 2, "symmetric": True},
    ]
    for i, kw in enumerate(grid):
        centers = [(rng.uniform(50, 550), rng.uniform(50, 550)) for _ in range(rng.randint(2, 4))]
        cls = point_classifications(
            rng,
            rng.randint(3, 8),
            centers,
            rng.choice([1.0, 3.0]),
            rng.randint(0, 2),
            frames=(0, 1) if i % 2 else (0,),
            tools=(0, 1) if i % 3 == 0 else (0,),
        )
        red_chain(
            name,
            f"synth/v1_clusters_{i}",
            dict(kw, shape="point"),
            "shape_extractor",
            {"task": "T0", "shape": "point"},
            cls,
            "synthetic",
        )
    # synthetic v2 (FEM) chains with subtasks
    for i in range(6):
        centers = [(rng.uniform(50, 550), rng.uniform(50, 550)) for _ in range(3)]
        cls = []
        for u in range(rng.randint(4, 7)):
            marks, subs = [], []
            for cx, cy in centers:
                if rng.random() < 0.15:
                    continue
                marks.append(
                    (
                        rng.choice([0, 1]) if i % 2 else 0,
                        round(cx + rng.gauss(0, 2), 2),
                        round(cy + rng.gauss(0, 2), 2),
                    )
                )
                subs.append([rng.choice([0, 1, 2])])
            cls.append(
                {
                    "annotations": fem_point_classification(marks, subtask_values=subs),
                    "metadata": {"classifier_version": "2.0"},
                    "user_id": 300 + u,
                }
            )
        tools = [0, 1] if i % 2 else [0]
        ext_details = {f"T0_toolIndex{t}_subtask0": "question_extractor" for t in tools}
        red_details = {f"T0_toolIndex{t}_subtask0": "question_reducer" for t in tools}
        kw = {"shape": "point", "eps": 10, "min_samples": 2 + (i % 3 == 2)}
        if i != 4:
            kw["details"] = red_details
        red_chain(
            name,
            f"synth/v2_subtasks_{i}",
            kw,
            "shape_extractor",
            {"task": "T0", "shape": "point", "details": ext_details},
            cls,
            "synthetic",
        )
    red(
        name,
        "synth/v2_direct_keys",
        {
            "shape": "point",
            "eps": 5,
            "min_samples": 2,
            "details": {"T1_toolIndex0_subtask0": "question_reducer"},
        },
        [
            {
                "frame0": {
                    "T1_toolIndex0_x": [1, 50],
                    "T1_toolIndex0_y": [1, 50],
                    "T1_toolIndex0_subtask0": [{"0": 1}, {"1": 1}],
                },
                "classifier_version": "2.0",
            },
            {
                "frame0": {
                    "T1_toolIndex0_x": [1.5],
                    "T1_toolIndex0_y": [1.2],
                    "T1_toolIndex0_subtask0": [{"0": 1}],
                },
                "classifier_version": "2.0",
            },
        ],
    )
    red(
        name,
        "synth/v2_without_details_kwarg",
        {"shape": "point", "eps": 5, "min_samples": 2},
        [
            {
                "frame0": {"T1_toolIndex0_x": [1, 50], "T1_toolIndex0_y": [1, 50]},
                "classifier_version": "2.0",
            },
            {
                "frame0": {"T1_toolIndex0_x": [1.5], "T1_toolIndex0_y": [1.2]},
                "classifier_version": "2.0",
            },
        ],
    )
    red(
        name,
        "synth/mixed_v1_v2_details_skipped",
        {
            "shape": "point",
            "eps": 5,
            "min_samples": 2,
            "details": {"T1_toolIndex0_subtask0": "question_reducer"},
        },
        [
            {
                "frame0": {
                    "T1_toolIndex0_x": [1],
                    "T1_toolIndex0_y": [1],
                    "T1_toolIndex0_subtask0": [{"0": 1}],
                },
                "classifier_version": "2.0",
            },
            {
                "frame0": {
                    "T1_toolIndex0_x": [1.5],
                    "T1_toolIndex0_y": [1.2],
                    "T1_toolIndex0_subtask0": [{"0": 1}],
                }
            },
        ],
        note="mixed classifier versions: subtask step silently skipped",
    )
    red(
        name,
        "synth/v1_details_null_reducer",
        {
            "shape": "point",
            "eps": 5,
            "min_samples": 2,
            "details": {"T0_tool0": [None, "question_reducer"]},
        },
        [
            {
                "frame0": {
                    "T0_tool0_x": [1],
                    "T0_tool0_y": [1],
                    "T0_tool0_details": [["No extractor for this subtask type", {"0": 1}]],
                }
            },
            {
                "frame0": {
                    "T0_tool0_x": [1.5],
                    "T0_tool0_y": [1.2],
                    "T0_tool0_details": [["No extractor for this subtask type", {"1": 1}]],
                }
            },
        ],
    )
    red(
        name,
        "synth/shape_missing_raises",
        {"eps": 5},
        [{"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}}],
    )
    red(
        name,
        "synth/shape_unknown_raises",
        {"shape": "hexagon"},
        [{"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}}],
    )
    red(
        name,
        "synth/metric_type_bad",
        {"shape": "point", "metric_type": "cosine"},
        [{"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}}],
    )
    red(
        name,
        "synth/metric_type_iou_point",
        {"shape": "point", "metric_type": "IoU", "min_samples": 1},
        [
            {"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}},
            {"frame0": {"T0_tool0_x": [1.2], "T0_tool0_y": [1]}},
        ],
    )
    red(name, "synth/empty", {"shape": "point"}, [], user_id=[], created_at=[])
    red(name, "synth/blank_extracts", {"shape": "point"}, [{}, {"classifier_version": "2.0"}])
    red(
        name,
        "synth/missing_y_key_extract_skipped",
        {"shape": "point", "min_samples": 2},
        [
            {"frame0": {"T0_tool0_x": [1, 2]}},
            {"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}},
            {"frame0": {"T0_tool0_x": [1.1], "T0_tool0_y": [1.1]}},
        ],
    )
    red(
        name,
        "synth/non_matching_key_pattern",
        {"shape": "point"},
        [{"frame0": {"tool0_x": [1], "tool0_y": [1]}}],
        note="keys must match T<n>_tool[Index]<n>",
    )
    red(
        name,
        "synth/ragged_x_y_zip",
        {"shape": "point", "min_samples": 1},
        [{"frame0": {"T0_tool0_x": [1, 2, 3], "T0_tool0_y": [1]}}],
        note="zip truncates to the shortest list",
    )
    red(
        name,
        "synth/single_point_min1",
        {"shape": "point", "min_samples": 1},
        [{"frame0": {"T0_tool0_x": [7], "T0_tool0_y": [8]}}],
    )
    red(
        name,
        "synth/string_kwargs",
        {"shape": "point", "eps": "6", "min_samples": "2", "symmetric": "False"},
        [
            {"frame0": {"T0_tool0_x": [1, 5], "T0_tool0_y": [1, 5]}},
            {"frame0": {"T0_tool0_x": [1.5, 5.5], "T0_tool0_y": [1.5, 5.5]}},
        ],
    )
    red(
        name,
        "synth/estimate_average_ignored_for_euclidean",
        {"shape": "point", "min_samples": 2, "estimate_average": True},
        [
            {"frame0": {"T0_tool0_x": [1], "T0_tool0_y": [1]}},
            {"frame0": {"T0_tool0_x": [2], "T0_tool0_y": [3]}},
        ],
    )
    red(
        name,
        "synth/frames_and_tools_v1",
        {"shape": "point", "min_samples": 2, "eps": 4},
        [
            {
                "frame0": {
                    "T0_tool0_x": [1, 100],
                    "T0_tool0_y": [1, 100],
                    "T0_tool1_x": [40],
                    "T0_tool1_y": [40],
                },
                "frame2": {"T0_tool0_x": [7], "T0_tool0_y": [7]},
            },
            {
                "frame0": {
                    "T0_tool0_x": [1.5, 101],
                    "T0_tool0_y": [1.5, 99],
                    "T0_tool1_x": [41],
                    "T0_tool1_y": [41],
                },
                "frame2": {"T0_tool0_x": [7.5], "T0_tool0_y": [7.5]},
            },
        ],
    )


def cases_slider_reducer():
    name = "slider_reducer"
    disc = read_export("DISCnet_workshop/many-tools-classifications_march_7_2023.csv")
    groups = group_by_subject([r for r in disc if task_value(r, "T1") != "<missing>"])
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 3][:3]:
        red_chain(
            name,
            f"real/DISCnet/subject_{s}_T1_strings",
            {},
            "slider_extractor",
            {"task": "T1"},
            rows_to_chain(g),
            "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
            note="raw export values are strings (the CSV path would turn numeric ones into floats)",
        )
    red(
        name,
        "synth/floats",
        {},
        [{"slider_value": 0.3}, {"slider_value": 0.5}, {"slider_value": 0.9}],
    )
    red(
        name,
        "synth/ints",
        {},
        [{"slider_value": 1}, {"slider_value": 2}, {"slider_value": 4}, {"slider_value": 4}],
    )
    red(name, "synth/single", {}, [{"slider_value": 7.25}])
    red(
        name,
        "synth/negative_mixed",
        {},
        [{"slider_value": -1.5}, {"slider_value": 2}, {"slider_value": 0}],
    )
    red(name, "synth/even_count_median", {}, [{"slider_value": v} for v in (1, 2, 3, 10)])
    red(
        name,
        "synth/empty_nan",
        {},
        [],
        user_id=[],
        created_at=[],
        note="NaN output + RuntimeWarning",
    )
    red(name, "synth/numeric_strings", {}, [{"slider_value": "0.3"}, {"slider_value": "0.5"}])
    red(name, "synth/single_numeric_string", {}, [{"slider_value": "0.3"}])
    red(name, "synth/null_value", {}, [{"slider_value": None}, {"slider_value": 1.0}])
    red(name, "synth/missing_key", {}, [{"slider_value": 1.0}, {}])
    red(
        name,
        "synth/bools",
        {},
        [{"slider_value": True}, {"slider_value": False}, {"slider_value": True}],
    )
    red(name, "synth/large", {}, [{"slider_value": 1e12}, {"slider_value": 1e12 + 1}])
    red(
        name,
        "synth/kwargs_ignored",
        {"pairs": True},
        [{"slider_value": 1.0}, {"slider_value": 2.0}],
    )
    rng = random.Random("slider")
    for i in range(8):
        vals = [
            round(rng.uniform(-10, 10), rng.choice([0, 1, 3])) for _ in range(rng.randint(2, 15))
        ]
        red(name, f"synth/random{i}", {}, [{"slider_value": v} for v in vals])


def cases_dropdown_reducer():
    name = "dropdown_reducer"
    nfn = read_export("label_reconciliations/expandedNfN_1931.csv")
    groups = group_by_subject(nfn)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 2][:10]:
        red_chain(
            name,
            f"real/expandedNfN/subject_{s}_T1",
            {},
            "dropdown_extractor",
            {"task": "T1"},
            rows_to_chain(g),
            "label_reconciliations/expandedNfN_1931.csv",
        )
    red_chain(
        name,
        "real/expandedNfN/pooled_30_T1",
        {},
        "dropdown_extractor",
        {"task": "T1"},
        rows_to_chain(nfn[:30]),
        "label_reconciliations/expandedNfN_1931.csv",
    )
    red(
        name,
        "synth/verified",
        {},
        [{"value": [{"x": 1}, {"y": 1}]}, {"value": [{"x": 1}, {"z": 1}]}],
        note="reference notes 3.2",
    )
    red(name, "synth/empty", {}, [], user_id=[], created_at=[])
    red(name, "synth/all_blank", {}, [{}, {}])
    red(name, "synth/blank_skipped", {}, [{}, {"value": [{"a": 1}]}, {"value": [{"a": 1}]}])
    red(name, "synth/empty_value_lists", {}, [{"value": []}, {"value": []}])
    red(
        name,
        "synth/ragged",
        {},
        [{"value": [{"a": 1}, {"b": 1}]}, {"value": [{"a": 1}]}],
        note="ragged select lists",
    )
    red(name, "synth/one_list_empty", {}, [{"value": [{"a": 1}]}, {"value": []}])
    red(
        name,
        "synth/v2_style",
        {},
        [{"value": [{"2": 1}]}, {"value": [{"2": 1}]}, {"value": [{"None": 1}]}],
    )
    red(
        name,
        "synth/three_selects",
        {},
        [
            {"value": [{"840": 1}, {"fl": 1}, {"orange": 1}]},
            {"value": [{"840": 1}, {"ga": 1}, {"orange": 1}]},
            {"value": [{"124": 1}, {"fl": 1}, {"miami-dade": 1}]},
        ],
    )
    red(name, "synth/unicode", {}, [{"value": [{"nandu": 1}]}, {"value": [{"ñandú": 1}]}])
    red(name, "synth/counts_summed", {}, [{"value": [{"a": 2}]}, {"value": [{"a": 3, "b": 1}]}])
    red(name, "synth/single", {}, [{"value": [{"h1": 1}]}])
    red(name, "synth/value_not_list", {}, [{"value": {"a": 1}}])
    red(name, "synth/value_null", {}, [{"value": None}])
    rng = random.Random("dropdown")
    opts = [["840", "124", "484"], ["fl", "ga", "on"], ["a1", "b2"]]
    for i in range(6):
        n_sel = 1 + i % 3
        ex = [
            {"value": [{rng.choice(opts[k]): 1} for k in range(n_sel)]}
            for _ in range(rng.randint(2, 9))
        ]
        red(name, f"synth/random{i}", {}, ex)


def cases_first_n(name):
    truth = name == "first_n_true_reducer"
    chi = read_export("Data-digging/chicago_sample_version5.csv")
    groups = group_by_subject(chi)
    for s, g in [(s, g) for s, g in sorted(groups.items()) if len(g) >= 2][:4]:
        for n in (1, 2):
            red_chain(
                name,
                f"real/chicago/subject_{s}_T1_n{n}",
                {"n": n},
                "all_tasks_empty_extractor",
                {"task": "T1"},
                rows_to_chain(g),
                "Data-digging/chicago_sample_version5.csv",
            )
    T, F = {"result": True}, {"result": False}
    seqs = {
        "all_true": [T, T, T],
        "all_false": [F, F, F],
        "mixed_tf": [T, F, T],
        "mixed_ft": [F, T, T],
        "single_true": [T],
        "single_false": [F],
        "empty": [],
        "missing_key": [{}, T],
        "missing_key_f": [{}, F],
        "truthy_values": [{"result": 1}, {"result": "yes"}],
        "falsy_values": [{"result": 0}, {"result": ""}],
        "null_result": [{"result": None}, F],
    }
    for sk, seq in seqs.items():
        for n in (0, 1, 2, 3):
            kw = {"n": n}
            red(
                name,
                f"synth/{sk}_n{n}",
                kw,
                seq,
                user_id=list(range(1, len(seq) + 1)),
                created_at=synth_times(len(seq)),
            )
    for kn, kw in [
        ("no_n", {}),
        ("n_string", {"n": "2"}),
        ("n_float", {"n": 2.7}),
        ("n_negative", {"n": -1}),
        ("n_bad_string", {"n": "two"}),
        ("n_list", {"n": [1, 3]}),
        ("n_bool", {"n": True}),
    ]:
        red(name, f"synth/TTF_{kn}", kw, [T, T, F])
        red(name, f"synth/FFT_{kn}", kw, [F, F, T])
    _ = truth


# --------------------------------------------------------------------------------------
# config + cli specs
# --------------------------------------------------------------------------------------
def config_cases():
    cases = []

    def add(case_name, workflow_csv, wid, args):
        cases.append(
            {"case_name": case_name, "workflow_csv": workflow_csv, "workflow_id": wid, "args": args}
        )

    wf = "aggregation-for-caesar/wf_export.csv"
    add("caesar_wf10_latest", wf, 10, [])
    add("caesar_wf10_v14", wf, 10, ["-v", "14"])
    add("caesar_wf10_v14.55", wf, 10, ["-v", "14.55"])
    add("caesar_wf10_v14.52", wf, 10, ["-v", "14.52"])
    add("caesar_wf10_v15", wf, 10, ["-v", "15"])
    add("caesar_wf10_v16.55", wf, 10, ["-v", "16.55"])
    add("caesar_wf10_min14.53_max15", wf, 10, ["--min_version", "14.53", "--max_version", "15"])
    add(
        "caesar_wf10_min14.53_max15.55",
        wf,
        10,
        ["--min_version", "14.53", "--max_version", "15.55"],
    )
    add("caesar_wf10_min14.53", wf, 10, ["--min_version", "14.53"])
    add("caesar_wf10_max14.54", wf, 10, ["--max_version", "14.54"])
    add("caesar_wf10_min15_max14", wf, 10, ["--min_version", "15", "--max_version", "14"])
    add("caesar_wf10_v14.6_missing", wf, 10, ["-v", "14.6"])
    add("caesar_wf10_v99_missing", wf, 10, ["-v", "99"])
    add("caesar_wf10_v_and_min_conflict", wf, 10, ["-v", "14.52", "--min_version", "16"])
    add(
        "caesar_wf10_keywords",
        wf,
        10,
        ["-k", '{"T0": {"pairs": true}, "T1": {"recursive": false}}'],
    )
    add("caesar_wf10_verbose", wf, 10, ["-vv"])
    add("caesar_wf11_missing_workflow", wf, 11, [])
    solar = "SolarJets/solar-jet-hunter-workflows.csv"
    for wid in (13459, 13958, 15803, 18563, 18564, 19650, 21225):
        add(f"solarjets_wf{wid}_latest", solar, wid, [])
    add("solarjets_wf18564_v60", solar, 18564, ["-v", "60"])
    add("solarjets_wf13958_keywords_point", solar, 13958, ["-k", '{"T1": {"eps": 3}}'])
    add("zoonyper_wf12038_latest", "zoonyper/workflows.csv", 12038, [])
    return sorted(cases, key=lambda c: c["case_name"])


def cli_cases():
    """Hand-made extractor/reducer configs for several real exports."""
    ds = []

    # 1. aggregation-for-caesar: config produced by the oracle's `config` command
    ds.append(
        {
            "dataset": "aggregation-for-caesar",
            "classifications": "aggregation-for-caesar/cls_export.csv",
            "extractor_config": {
                "from_config_command": {
                    "workflow_csv": "aggregation-for-caesar/wf_export.csv",
                    "workflow_id": 10,
                    "args": [],
                }
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_question_consensus.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_consensus_reducer": {}}},
                },
                {
                    "file": "Reducer_config_question_pairs_track.yaml",
                    "extractions": "question_extractor",
                    "content": {
                        "reducer_config": {
                            "question_reducer": {"pairs": True, "track_user_ids": True}
                        }
                    },
                },
            ],
            "reduce_filters": ["first", "last", "all"],
        }
    )
    # 2. kenya-sample: workflow 2030, versions 73..90 (question T1, points T2, survey T3, shortcut T5)
    ds.append(
        {
            "dataset": "kenya-sample",
            "classifications": "Data-digging/kenya-sample.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_2030_V73-90.yaml",
                "content": {
                    "workflow_id": 2030,
                    "workflow_version": {"min": "73.6", "max": "90"},
                    "extractor_config": {
                        "question_extractor": [{"task": "T1"}],
                        "point_extractor_by_frame": [{"task": "T2", "tools": [0], "details": {}}],
                        "survey_extractor": [{"task": "T3"}],
                        "shortcut_extractor": [{"task": "T5"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
                {
                    "file": "Reducer_config_question_consensus.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_consensus_reducer": {}}},
                },
                {
                    "file": "Reducer_config_point_dbscan.yaml",
                    "extractions": "point_extractor_by_frame",
                    "content": {
                        "reducer_config": {
                            "point_reducer_dbscan": {"eps": 30, "min_samples": 2, "details": {}}
                        }
                    },
                },
                {
                    "file": "Reducer_config_survey.yaml",
                    "extractions": "survey_extractor",
                    "content": {"reducer_config": {"survey_reducer": {}}},
                },
                {
                    "file": "Reducer_config_shortcut.yaml",
                    "extractions": "shortcut_extractor",
                    "content": {"reducer_config": {"shortcut_reducer": {"track_user_ids": True}}},
                },
            ],
            "reduce_filters": ["first", "last"],
        }
    )
    # 2b. kenya-sample, latest version 307.77: survey T3 + shortcut T5, plus a never-answered survey task
    ds.append(
        {
            "dataset": "kenya-sample-v307",
            "classifications": "Data-digging/kenya-sample.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_2030_V307.77.yaml",
                "content": {
                    "workflow_id": 2030,
                    "workflow_version": "307.77",
                    "extractor_config": {
                        "survey_extractor": [{"task": "T3"}, {"task": "T9"}],
                        "shortcut_extractor": [{"task": "T5"}],
                        "question_extractor": [{"task": "T1"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_survey.yaml",
                    "extractions": "survey_extractor",
                    "content": {"reducer_config": {"survey_reducer": {}}},
                },
                {
                    "file": "Reducer_config_shortcut.yaml",
                    "extractions": "shortcut_extractor",
                    "content": {"reducer_config": {"shortcut_reducer": {}}},
                },
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
            ],
        }
    )
    # 2c. a configured survey task that nobody answered (reference notes 12.7) next to a normal task
    ds.append(
        {
            "dataset": "caesar-unanswered-survey",
            "classifications": "aggregation-for-caesar/cls_export.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_10_V16.55.yaml",
                "content": {
                    "workflow_id": 10,
                    "workflow_version": "16.55",
                    "extractor_config": {
                        "survey_extractor": [{"task": "T5"}],
                        "question_extractor": [{"task": "T0"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_survey.yaml",
                    "extractions": "survey_extractor",
                    "content": {"reducer_config": {"survey_reducer": {}}},
                },
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
            ],
        }
    )
    # 3. camcat_sa (survey): the raw file is latin-1 (fails in the oracle) + a utf-8 transcoded copy
    cam_cfg = {
        "workflow_id": 2672,
        "workflow_version": "325.7",
        "extractor_config": {
            "survey_extractor": [{"task": "T0"}],
            "question_extractor": [{"task": "T0"}],
        },
    }
    cam_red = [
        {
            "file": "Reducer_config_survey.yaml",
            "extractions": "survey_extractor",
            "content": {"reducer_config": {"survey_reducer": {}}},
        },
        {
            "file": "Reducer_config_question.yaml",
            "extractions": "question_extractor",
            "content": {"reducer_config": {"question_reducer": {}}},
        },
    ]
    ds.append(
        {
            "dataset": "camcat_sa-raw",
            "classifications": "Data-digging/camcat_sa.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_2672_V325.7.yaml",
                "content": cam_cfg,
            },
            "reducer_configs": cam_red,
        }
    )
    ds.append(
        {
            "dataset": "camcat_sa-utf8",
            "classifications": "Data-digging/camcat_sa.csv",
            "derive": {"transform": "transcode", "from_encoding": "latin-1"},
            "extractor_config": {
                "file": "Extractor_config_workflow_2672_V325.7.yaml",
                "content": cam_cfg,
            },
            "reducer_configs": cam_red,
        }
    )
    # 4. fossil-finder: points by frame, two workflows
    ds.append(
        {
            "dataset": "fossil-finder-wf371",
            "classifications": "Data-digging/fossil-finder-classifications_test.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_371_V160.317.yaml",
                "content": {
                    "workflow_id": 371,
                    "workflow_version": "160.317",
                    "extractor_config": {
                        "point_extractor_by_frame": [
                            {
                                "task": "T1",
                                "tools": [0, 1, 2, 3, 4, 5, 6, 7],
                                "details": {"T1_tool5": ["question_extractor"]},
                            },
                            {"task": "T3", "tools": [0, 1, 2, 3, 4, 5], "details": {}},
                        ],
                        "question_extractor": [{"task": "T2"}, {"task": "T4"}, {"task": "T5"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_point_dbscan.yaml",
                    "extractions": "point_extractor_by_frame",
                    "content": {
                        "reducer_config": {
                            "point_reducer_dbscan": {
                                "eps": 50,
                                "min_samples": 1,
                                "details": {"T1_tool5": ["question_reducer"]},
                            }
                        }
                    },
                },
                {
                    "file": "Reducer_config_point_hdbscan.yaml",
                    "extractions": "point_extractor_by_frame",
                    "content": {
                        "reducer_config": {
                            "point_reducer_hdbscan": {
                                "min_cluster_size": 2,
                                "min_samples": 1,
                                "details": {"T1_tool5": ["question_reducer"]},
                            }
                        }
                    },
                },
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
            ],
        }
    )
    ds.append(
        {
            "dataset": "fossil-finder-wf1962",
            "classifications": "Data-digging/fossil-finder-classifications_test.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_1962_V31.37.yaml",
                "content": {
                    "workflow_id": 1962,
                    "workflow_version": "31.37",
                    "extractor_config": {
                        "point_extractor_by_frame": [
                            {"task": "T3", "tools": [0, 1, 2, 3, 4, 5], "details": {}}
                        ],
                        "question_extractor": [{"task": "T5"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_point_dbscan.yaml",
                    "extractions": "point_extractor_by_frame",
                    "content": {
                        "reducer_config": {"point_reducer_dbscan": {"eps": 40, "min_samples": 2}}
                    },
                },
                {
                    "file": "Reducer_config_point_hdbscan.yaml",
                    "extractions": "point_extractor_by_frame",
                    "content": {
                        "reducer_config": {
                            "point_reducer_hdbscan": {"min_cluster_size": 2, "min_samples": 1}
                        }
                    },
                },
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
            ],
        }
    )
    # 5. label_reconciliations NfN (dropdown T1, combo tasks T5/T11)
    nfn_cfg = {
        "workflow_id": 1931,
        "workflow_version": "1.17",
        "extractor_config": {
            "dropdown_extractor": [{"task": "T1"}, {"task": "T11"}],
            "text_extractor": [{"task": "T5"}, {"task": "T11"}],
            "slider_extractor": [{"task": "T11"}],
            "survey_extractor": [{"task": "T1"}],
        },
    }
    nfn_red = [
        {
            "file": "Reducer_config_dropdown.yaml",
            "extractions": "dropdown_extractor",
            "content": {"reducer_config": {"dropdown_reducer": {}}},
        },
        {
            "file": "Reducer_config_slider.yaml",
            "extractions": "slider_extractor",
            "content": {"reducer_config": {"slider_reducer": {}}},
        },
    ]
    ds.append(
        {
            "dataset": "expandedNfN_1931-raw",
            "classifications": "label_reconciliations/expandedNfN_1931.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_1931_V1.17.yaml",
                "content": nfn_cfg,
            },
            "reducer_configs": nfn_red,
        }
    )
    ds.append(
        {
            "dataset": "expandedNfN_1931-users",
            "classifications": "label_reconciliations/expandedNfN_1931.csv",
            "derive": {"transform": "nfn_user_columns"},
            "extractor_config": {
                "file": "Extractor_config_workflow_1931_V1.17.yaml",
                "content": nfn_cfg,
            },
            "reducer_configs": nfn_red,
        }
    )
    # 6. gz-panoptes-reduction (question / multiple-choice)
    ds.append(
        {
            "dataset": "gz-panoptes-reduction",
            "classifications": "gz-panoptes-reduction/panoptes_classifications.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_6122.yaml",
                "content": {
                    "workflow_id": 6122,
                    "workflow_version": {"min": "28.30", "max": "55.121"},
                    "extractor_config": {
                        "question_extractor": [
                            {"task": t}
                            for t in ("T0", "T1", "T2", "T4", "T5", "T6", "T7", "T8", "T11")
                        ],
                        "shortcut_extractor": [{"task": "T10"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
                {
                    "file": "Reducer_config_question_consensus.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_consensus_reducer": {}}},
                },
                {
                    "file": "Reducer_config_shortcut_pairs.yaml",
                    "extractions": "shortcut_extractor",
                    "content": {"reducer_config": {"shortcut_reducer": {"pairs": True}}},
                },
            ],
        }
    )
    # 7. DISCnet (question, text-as-slider, points with details, shape point)
    ds.append(
        {
            "dataset": "DISCnet",
            "classifications": "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_21790_V50.46.yaml",
                "content": {
                    "workflow_id": 21790,
                    "workflow_version": "50.46",
                    "extractor_config": {
                        "question_extractor": [{"task": "T0"}],
                        "slider_extractor": [{"task": "T1"}],
                        "text_extractor": [{"task": "T1"}],
                        "point_extractor_by_frame": [
                            {
                                "task": "T2",
                                "tools": [0],
                                "details": {"T2_tool0": ["question_extractor"]},
                            }
                        ],
                        "shape_extractor_point": [{"task": "T2", "shape": "point", "tools": [0]}],
                        "all_tasks_empty_extractor": [{"task": "all"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {"track_user_ids": True}}},
                },
                {
                    "file": "Reducer_config_slider.yaml",
                    "extractions": "slider_extractor",
                    "content": {"reducer_config": {"slider_reducer": {}}},
                },
                {
                    "file": "Reducer_config_point_dbscan.yaml",
                    "extractions": "point_extractor_by_frame",
                    "content": {
                        "reducer_config": {
                            "point_reducer_dbscan": {
                                "eps": 25,
                                "min_samples": 2,
                                "details": {"T2_tool0": ["question_reducer"]},
                            }
                        }
                    },
                },
                {
                    "file": "Reducer_config_shape_point.yaml",
                    "extractions": "shape_extractor_point",
                    "content": {
                        "reducer_config": {
                            "shape_reducer_dbscan": {"shape": "point", "eps": 25, "min_samples": 2}
                        }
                    },
                },
                {
                    "file": "Reducer_config_first_n_true.yaml",
                    "extractions": "all_tasks_empty_extractor",
                    "content": {"reducer_config": {"first_n_true_reducer": {"n": 1}}},
                },
            ],
        }
    )
    # Circles, rectangles and lines end to end (the function goldens cover the reducers; these
    # cover their CSV layout: angles, widths, per-tool columns).
    ds.append(
        {
            "dataset": "DISCnet-shapes",
            "classifications": "DISCnet_workshop/many-tools-classifications_march_7_2023.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_21790_V50.46_shapes.yaml",
                "content": {
                    "workflow_id": 21790,
                    "workflow_version": "50.46",
                    "extractor_config": {
                        "shape_extractor_circle": [{"task": "T3", "shape": "circle", "tools": [0]}],
                        "shape_extractor_rectangle": [
                            {"task": "T4", "shape": "rectangle", "tools": [0]}
                        ],
                        "shape_extractor_line": [{"task": "T5", "shape": "line", "tools": [0]}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": f"Reducer_config_shape_{shape}.yaml",
                    "extractions": f"shape_extractor_{shape}",
                    "content": {
                        "reducer_config": {
                            "shape_reducer_dbscan": {"shape": shape, "eps": eps, "min_samples": 2}
                        }
                    },
                }
                for shape, eps in (("circle", 25), ("rectangle", 40), ("line", 40))
            ],
        }
    )
    # Two rectangle tasks under one extractor key, and several tools of one task.
    ds.append(
        {
            "dataset": "example-4870",
            "classifications": "Data-digging/example_classifications.csv",
            "extractor_config": {
                "file": "Extractor_config_workflow_4870_V45.58.yaml",
                "content": {
                    "workflow_id": 4870,
                    "workflow_version": "45.58",
                    "extractor_config": {
                        "shape_extractor_rectangle": [
                            {"task": "T0", "shape": "rectangle", "tools": [0, 1]},
                            {"task": "T2", "shape": "rectangle", "tools": [0]},
                        ],
                        "question_extractor": [{"task": "T1"}],
                    },
                },
            },
            "reducer_configs": [
                {
                    "file": "Reducer_config_shape_rectangle.yaml",
                    "extractions": "shape_extractor_rectangle",
                    "content": {
                        "reducer_config": {
                            "shape_reducer_dbscan": {
                                "shape": "rectangle",
                                "eps": 40,
                                "min_samples": 2,
                            }
                        }
                    },
                },
                {
                    "file": "Reducer_config_question.yaml",
                    "extractions": "question_extractor",
                    "content": {"reducer_config": {"question_reducer": {}}},
                },
            ],
        }
    )
    return ds


# --------------------------------------------------------------------------------------
def build():
    cases_question_extractor()
    cases_shortcut_extractor()
    cases_survey_extractor()
    cases_point_extractor_by_frame()
    cases_shape_extractor()
    cases_slider_extractor()
    cases_text_extractor()
    cases_dropdown_extractor()
    cases_all_tasks_empty_extractor()
    cases_verified_other_extractors()
    cases_question_like_reducer("question_reducer")
    cases_question_like_reducer("shortcut_reducer", shortcut=True)
    cases_question_consensus_reducer()
    cases_survey_reducer()
    cases_point_reducer("point_reducer_dbscan")
    cases_point_reducer("point_reducer_hdbscan")
    cases_shape_reducer_dbscan()
    cases_slider_reducer()
    cases_dropdown_reducer()
    cases_first_n("first_n_true_reducer")
    cases_first_n("first_n_false_reducer")
    functions = {k: sorted(v, key=lambda c: c["id"]) for k, v in sorted(FUNCS.items())}
    return {"functions": functions, "config": config_cases(), "cli": cli_cases()}


def main(argv=None):
    global DATA
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("out", help="where to write the spec JSON ('-' for stdout)")
    ap.add_argument(
        "--data-dir", default=None, help="shared real-data dir (default: ../shared/data/real)"
    )
    args = ap.parse_args(argv)
    if args.data_dir:
        DATA = Path(args.data_dir)
    if not DATA.is_dir():
        raise SystemExit(f"data dir not found: {DATA}")
    spec = build()
    text = json.dumps(spec, indent=1, ensure_ascii=False, allow_nan=False)
    if args.out == "-":
        sys.stdout.write(text + "\n")
    else:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    n = sum(len(v) for v in spec["functions"].values())
    print(
        f"make_cases: {n} function cases in {len(spec['functions'])} files, "
        f"{len(spec['config'])} config cases, {len(spec['cli'])} cli datasets",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
