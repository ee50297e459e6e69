"""Helpers for the end-to-end CLI tests: running ``tally``, locating data, comparing CSVs."""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import math
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.csv_layout import NA_STRINGS, python_literal
from tally.cli import main
from tally.simulate import CLASSIFICATION_COLUMNS

csv.field_size_limit(2**31 - 1)

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
DATA = Path(os.environ.get("TALLY_SHARED_DATA", REPO.parent / "shared" / "data" / "real"))
TOLERANCE = 1e-6
_NAMES = {"nan": math.nan, "inf": math.inf, "null": None, "true": True, "false": False}


@dataclasses.dataclass
class Run:
    code: int
    out: str
    err: str


def run_tally(*argv: str | os.PathLike[str], cwd: Path | None = None) -> Run:
    """Run ``tally`` in this process (no interpreter start-up), capturing stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    previous = Path.cwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in argv])
            except SystemExit as exc:  # argparse usage errors and --help
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
    return Run(code, out.getvalue(), err.getvalue())


def run_tally_process(*argv: str | os.PathLike[str], cwd: Path | None = None) -> Run:
    """Run the installed ``tally`` console script in a subprocess."""
    exe = Path(sys.executable).with_name("tally")
    p = subprocess.run(
        [str(exe), *map(str, argv)], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    return Run(p.returncode, p.stdout, p.stderr)


def read_csv(path: Path) -> tuple[list[str], list[list[str]]]:
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _number(text: str) -> float | None:
    if text in NA_STRINGS:
        return math.nan
    try:
        return float(text)
    except ValueError:
        return None


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        # key order inside reductions follows the reference's set iteration: not meaningful
        return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)
    return a == b and type(a) is type(b)


def cells_equal(actual: str, expected: str) -> bool:
    """Equal as pandas would read them: numbers to 1e-6, list/dict cells element-wise, text exactly."""
    if actual == expected:
        return True
    x, y = _number(actual), _number(expected)
    if x is not None and y is not None:
        return _values_equal(x, y)
    if ("[" in expected or "{" in expected) and ("[" in actual or "{" in actual):
        try:
            return _values_equal(python_literal(actual, _NAMES), python_literal(expected, _NAMES))
        except ValueError:
            return False
    return False


def csv_differences(actual: Path, expected: Path, *, limit: int = 10) -> list[str]:
    """Differences between two CSV files, comparing columns by name and cells semantically."""
    a_header, a_rows = read_csv(actual)
    e_header, e_rows = read_csv(expected)
    out: list[str] = []
    if sorted(a_header) != sorted(e_header):
        out.append(
            f"columns differ: missing {sorted(set(e_header) - set(a_header))}, "
            f"extra {sorted(set(a_header) - set(e_header))}"
        )
        return out
    if len(a_rows) != len(e_rows):
        out.append(f"{len(a_rows)} rows, expected {len(e_rows)}")
        return out
    position = {name: i for i, name in enumerate(a_header)}
    for r, (a_row, e_row) in enumerate(zip(a_rows, e_rows, strict=True)):
        for j, name in enumerate(e_header):
            got, want = a_row[position[name]], e_row[j]
            if not cells_equal(got, want):
                out.append(f"row {r + 1}, {name}: got {got[:200]!r}, expected {want[:200]!r}")
                if len(out) >= limit:
                    return out
    return out


def substitute(argv: Sequence[str], mapping: dict[str, Path]) -> list[str]:
    out = []
    for arg in argv:
        for placeholder, path in mapping.items():
            arg = arg.replace(placeholder, str(path))
        out.append(arg)
    return out


#: The columns of a Panoptes classification export, as the simulator writes them.
EXPORT_COLUMNS = CLASSIFICATION_COLUMNS


def export_row(
    cid: int,
    subject: int,
    annotations: Any,
    *,
    user: str = "alice",
    user_id: str = "1",
    version: str = "1.1",
    workflow: int = 7,
    created_at: str | None = None,
    metadata: Any = None,
) -> dict[str, str]:
    """One classification export row; ``annotations``/``metadata`` may be objects or raw text."""
    import json

    def text(value: Any) -> str:
        return value if isinstance(value, str) else json.dumps(value)

    return {
        "classification_id": str(cid),
        "user_name": user,
        "user_id": user_id,
        "user_ip": "abc",
        "workflow_id": str(workflow),
        "workflow_name": "wf",
        "workflow_version": version,
        "created_at": created_at or f"2024-01-01 00:00:{cid % 60:02d} UTC",
        "gold_standard": "",
        "expert": "",
        "metadata": text({"classifier_version": "1.0"} if metadata is None else metadata),
        "annotations": text(annotations),
        "subject_data": "{}",
        "subject_ids": str(subject),
    }


def write_export(
    path: Path, rows: Sequence[dict[str, str]], columns: Sequence[str] = EXPORT_COLUMNS
) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([row.get(c, "") for c in columns])
    return path


def write_yaml(path: Path, document: Any) -> Path:
    import yaml

    with open(path, "w", encoding="utf-8") as f:
        yaml.dump(document, f, default_flow_style=False, indent=4)
    return path


def extractor_config(
    path: Path, extractors: dict[str, Any], *, version: Any = "1.1", workflow: int = 7
) -> Path:
    """An extractor YAML for workflow 7 v1.1 (the exports ``export_row`` writes)."""
    return write_yaml(
        path,
        {"workflow_id": workflow, "workflow_version": version, "extractor_config": extractors},
    )


def question_config(
    path: Path, tasks: Sequence[str] = ("T0",), *, version: Any = "1.1", workflow: int = 7
) -> Path:
    return extractor_config(
        path,
        {"question_extractor": [{"task": t} for t in tasks]},
        version=version,
        workflow=workflow,
    )


def answer(task: str, value: Any) -> list[dict[str, Any]]:
    return [{"task": task, "value": value}]


def aggregate_project(export: Path, project: Path, out: Path, *extra: str) -> int:
    """``tally aggregate`` (in this process) of ``export`` with a simulated ``project``'s configs
    (``tally simulate`` writes them), CSVs to ``out``; the exit status."""
    extractor = str(next(project.glob("Extractor_config_*.yaml")))
    reducers = sorted(str(p) for p in project.glob("Reducer_config_*.yaml"))
    args = ["aggregate", str(export), "--extractor-config", extractor, "--reducer-config"]
    return main([*args, *reducers, "-d", str(out), "-hb", *extra])
