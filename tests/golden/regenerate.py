#!/usr/bin/env python3
"""Regenerate the golden files from the reference implementation (the oracle).

Run with the system python3 (stdlib only):

    python3 tests/golden/regenerate.py                 # everything
    python3 tests/golden/regenerate.py --only functions
    python3 tests/golden/regenerate.py --only config --only cli

Steps:
1. create tests/golden/.oracle-venv (gitignored) if missing and pip-install the
   pinned oracle (oracle-requirements.txt: panoptes-aggregation==5.3.1 and every
   transitive dependency pinned);
2. record `pip freeze` of that venv in ORACLE_VERSIONS.txt;
3. build the case inputs with make_cases.py (stdlib, deterministic);
4. run oracle_runner.py inside the venv (PYTHONHASHSEED=0) to write
   functions/*.json, config/**, cli/**;
5. refresh the counts table in README.md and print a summary.

The shared real-data directory defaults to <repo>/../shared/data/real; override
with --data-dir or TALLY_SHARED_DATA.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
VENV = HERE / ".oracle-venv"
REQUIREMENTS = HERE / "oracle-requirements.txt"
VERSIONS = HERE / "ORACLE_VERSIONS.txt"
README = HERE / "README.md"
STAMP = VENV / ".tally-requirements.sha256"
PARTS = ("functions", "config", "cli")


def log(msg):
    print(f"[regenerate] {msg}", file=sys.stderr, flush=True)


def venv_python():
    return VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def requirements_hash():
    return hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()


def ensure_venv(recreate=False):
    if recreate and VENV.exists():
        import shutil

        shutil.rmtree(VENV)
    if not venv_python().exists():
        log(f"creating {VENV} with {sys.executable} ({sys.version.split()[0]})")
        venv.EnvBuilder(with_pip=True, clear=False).create(VENV)
    if STAMP.exists() and STAMP.read_text().strip() == requirements_hash():
        log("oracle venv is up to date")
        return
    log("installing the pinned oracle (this takes a minute)")
    cmd = [
        str(venv_python()),
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-r",
        str(REQUIREMENTS),
    ]
    subprocess.run(cmd, check=True)
    subprocess.run([str(venv_python()), "-m", "pip", "check"], check=True)
    STAMP.write_text(requirements_hash() + "\n")


def record_versions():
    py = subprocess.run(
        [str(venv_python()), "-c", "import sys; print(sys.version.split()[0])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    freeze = subprocess.run(
        [str(venv_python()), "-m", "pip", "freeze", "--disable-pip-version-check"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = sorted((ln for ln in freeze.splitlines() if ln.strip()), key=str.lower)
    text = f"# oracle venv: Python {py}; `pip freeze` after installing oracle-requirements.txt\n"
    text += "\n".join(lines) + "\n"
    VERSIONS.write_text(text, encoding="utf-8")
    log(f"wrote {VERSIONS.relative_to(REPO)}")


def count_summary():
    rows = []
    fdir = HERE / "functions"
    total = 0
    if fdir.is_dir():
        for f in sorted(fdir.glob("*.json")):
            cases = json.loads(f.read_text(encoding="utf-8"))
            n = len(cases)
            n_err = sum(1 for c in cases if "expected_error" in c)
            n_real = sum(1 for c in cases if "/real/" in c["id"])
            total += n
            rows.append((f.stem, n, n_real, n_err))
    cfg = []
    cfile = HERE / "config" / "cases.json"
    if cfile.exists():
        cfg = json.loads(cfile.read_text(encoding="utf-8"))
    cli = []
    lfile = HERE / "cli" / "cases.json"
    if lfile.exists():
        cli = json.loads(lfile.read_text(encoding="utf-8"))
    return rows, total, cfg, cli


def counts_markdown():
    rows, total, cfg, cli = count_summary()
    out = [
        "| file (function) | cases | from real exports | expected_error |",
        "|---|---:|---:|---:|",
    ]
    for name, n, n_real, n_err in rows:
        out.append(f"| `functions/{name}.json` | {n} | {n_real} | {n_err} |")
    out.append(
        f"| **total** | **{total}** | **{sum(r[2] for r in rows)}** | **{sum(r[3] for r in rows)}** |"
    )
    out.append("")
    n_fail = sum(1 for c in cfg if c["exit_code"] != 0)
    out.append(f"Config cases: {len(cfg)} ({n_fail} exit non-zero in the oracle).")
    out.append("")
    out.append("| CLI dataset | commands (step: exit code) |")
    out.append("|---|---|")
    for d in cli:
        steps = ", ".join(f"{c['step']}: {c.get('exit_code', 'skipped')}" for c in d["commands"])
        out.append(f"| `{d['dataset']}` | {steps} |")
    return "\n".join(out)


def update_readme():
    if not README.exists():
        return
    text = README.read_text(encoding="utf-8")
    begin, end = "<!-- counts:begin -->", "<!-- counts:end -->"
    if begin not in text or end not in text:
        return
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    README.write_text(head + begin + "\n" + counts_markdown() + "\n" + end + tail, encoding="utf-8")
    log("refreshed the counts table in README.md")


def print_summary():
    rows, total, cfg, cli = count_summary()
    print("\nGolden summary")
    print("==============")
    w = max([len(r[0]) for r in rows] + [10])
    print(f"{'function':<{w}}  cases  real  errors")
    for name, n, n_real, n_err in rows:
        print(f"{name:<{w}}  {n:5d}  {n_real:4d}  {n_err:6d}")
    print(f"{'TOTAL':<{w}}  {total:5d}")
    print(
        f"config cases: {len(cfg)} ({sum(1 for c in cfg if c['exit_code'] != 0)} failing in the oracle)"
    )
    for d in cli:
        steps = ", ".join(f"{c['step']}={c.get('exit_code', 'skipped')}" for c in d["commands"])
        print(f"cli {d['dataset']}: {steps}")


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--only",
        action="append",
        choices=PARTS,
        help="regenerate only this part (repeatable); default: all",
    )
    ap.add_argument(
        "--data-dir",
        default=os.environ.get("TALLY_SHARED_DATA"),
        help="shared real-data dir (default: <repo>/../shared/data/real)",
    )
    ap.add_argument(
        "--recreate-venv", action="store_true", help="delete and rebuild the oracle venv"
    )
    ap.add_argument(
        "--summary-only", action="store_true", help="only print the counts of the current goldens"
    )
    args = ap.parse_args(argv)
    if args.summary_only:
        print_summary()
        return
    data_dir = Path(args.data_dir) if args.data_dir else REPO.parent / "shared" / "data" / "real"
    data_dir = data_dir.resolve()
    if not data_dir.is_dir():
        raise SystemExit(f"shared data dir not found: {data_dir}")
    ensure_venv(args.recreate_venv)
    record_versions()
    only = args.only or list(PARTS)
    with tempfile.TemporaryDirectory(prefix="tally-golden-") as tmp:
        spec = Path(tmp) / "spec.json"
        subprocess.run(
            [sys.executable, str(HERE / "make_cases.py"), str(spec), "--data-dir", str(data_dir)],
            check=True,
        )
        env = dict(os.environ, PYTHONHASHSEED="0")
        env.pop("PYTHONWARNINGS", None)
        cmd = [
            str(venv_python()),
            str(HERE / "oracle_runner.py"),
            "--spec",
            str(spec),
            "--golden-dir",
            str(HERE),
            "--data-dir",
            str(data_dir),
        ]
        for part in only:
            cmd += ["--only", part]
        log("running the oracle: " + ", ".join(only))
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    update_readme()
    print_summary()


if __name__ == "__main__":
    main()
