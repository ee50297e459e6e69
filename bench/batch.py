#!/usr/bin/env python
"""Batch benchmark: ``tally`` against ``panoptes_aggregation`` on a simulated Penguin-Watch project.

For each size it simulates a project with ``tally simulate`` (cached in the work directory), then
runs the workshop recipe with each tool, timing every stage and measuring its memory:

    config   WORKFLOWS.csv WORKFLOW_ID
    extract  CLASSIFICATIONS.csv Extractor_config_*.yaml            (the tool's own config)
    reduce   <extractor>_extractions.csv Reducer_config_*.yaml -F all (the seed's three configs:
             point_reducer_hdbscan min_cluster_size 4 / min_samples 3, question, shortcut)

It prints wall time per stage and in total, CPU time, the reference/tally ratio, and peak memory:
the largest resident set of any process of the run (``wait4`` rusage, what ``/usr/bin/time -v``
reports) and the peak of the summed RSS of the whole process tree (sampled from /proc, which
counts worker processes together). Where both tools ran it compares their output CSVs cell for
cell (numbers to 1e-6) and says whether they match.

Examples::

    .venv/bin/python bench/batch.py --classifications 20000 --cpu 2
    .venv/bin/python bench/batch.py --sizes 100000,300000,1000000 --skip-reference --cpu 2

tally is installed from this tree with pip into a venv under the work dir (not editable, as users
install it; ``--editable`` times the running environment's tally instead).

The reference is taken from ``tests/golden/.oracle-venv/bin/panoptes_aggregation`` (built by
``tests/golden/regenerate.py``), or ``--reference PATH``, or ``$TALLY_REFERENCE``. If none exists
the script says how to build one and stops (or runs tally alone with ``--skip-reference``).
"""

from __future__ import annotations

import argparse
import ast
import csv
import dataclasses
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_REFERENCE = REPO / "tests" / "golden" / ".oracle-venv" / "bin" / "panoptes_aggregation"
REDUCERS = {
    "point_extractor_by_frame": "point_reducer_hdbscan",
    "question_extractor": "question_reducer",
    "shortcut_extractor": "shortcut_reducer",
}
# the reference's dependency pins (docs: shared/reference/panoptes-aggregation.md)
REFERENCE_PINS = (
    "panoptes_aggregation==5.3.1 scikit-learn==1.6.1 pandas==2.3.3 numpy==2.2.6 scipy==1.17.1 "
    "shapely==2.0.7"
)

csv.field_size_limit(1 << 30)


# ------------------------------------------------------------------------------------------
# measuring one command


@dataclasses.dataclass
class Run:
    stage: str
    cmd: list[str]
    wall: float = 0.0
    user: float = 0.0
    sys: float = 0.0
    maxrss_mb: float = 0.0  # largest single process (rusage of the waited child tree)
    tree_peak_mb: float = 0.0  # peak of the sampled sum over the process tree
    returncode: int = 0

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def peak_mb(self) -> float:
        return max(self.maxrss_mb, self.tree_peak_mb)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _tree_rss_bytes(root: int) -> int:
    """Summed RSS of ``root`` and its descendants, from /proc (0 where /proc is missing)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for name in entries:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: split after the last ')'
        ppid = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(name))
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm", "rb") as f:
                total += int(f.read().split()[1]) * _PAGE
        except OSError:
            pass
        todo.extend(children.get(pid, ()))
    return total


def child_env() -> dict[str, str]:
    """The environment for measured commands.

    PYTHONDONTWRITEBYTECODE is dropped: with it every run of an editable install (``--editable``)
    recompiles tally's modules (it has no byte code until first import), a cost no installed tool
    pays; pip compiled the byte code of the reference and of the installed tally.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_measured(stage: str, cmd: list[str], *, cwd: Path, log: Path, interval: float = 0.2) -> Run:
    run = Run(stage=stage, cmd=[str(c) for c in cmd])
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(run.cmd)}\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(
            run.cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=child_env()
        )
        peak = 0
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                peak = max(peak, _tree_rss_bytes(proc.pid))
                stop.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        run.wall = time.perf_counter() - start
        stop.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    run.returncode = proc.returncode
    run.user, run.sys = usage.ru_utime, usage.ru_stime
    scale = 1024 if sys.platform != "darwin" else 1  # ru_maxrss: KiB on Linux, bytes on macOS
    run.maxrss_mb = usage.ru_maxrss * scale / 2**20
    run.tree_peak_mb = peak / 2**20
    if run.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        raise SystemExit(
            f"{stage} failed (exit {run.returncode}): {' '.join(run.cmd)}\n  " + "\n  ".join(tail)
        )
    return run


# ------------------------------------------------------------------------------------------
# the pipeline


def tally_command() -> list[str]:
    """The ``tally`` of the running environment (in a development venv, an editable install)."""
    exe = Path(sys.executable).with_name("tally")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "tally.cli"]


def install_tally(workdir: Path) -> list[str]:
    """Install this tree as users do (``pip install``, not editable) into a new venv; its ``tally``.

    An editable install adds an import finder to every start (the ``__editable__`` .pth file:
    pathlib, importlib.util, ... before tally's first line runs), which users of a wheel do not
    pay. The venv reads the running environment's site-packages (a ``.pth`` line) for the
    dependencies, so only tally itself is built and installed (``--no-deps``); the running
    environment's .pth files, the editable finder among them, are not processed there. pip
    compiles the byte code at install time, as it did for the reference.
    """
    venv = workdir / "tally-venv"
    shutil.rmtree(venv, ignore_errors=True)  # the tree may have changed since the last run
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    Path(site, "_tally_bench_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-deps",
           "--no-build-isolation", REPO]  # fmt: skip
    done = subprocess.run(pip, capture_output=True, text=True, env=child_env())
    if done.returncode != 0:
        raise SystemExit(f"installing tally into {venv} failed:\n{done.stdout}{done.stderr}")
    return [str(venv / "bin" / "tally")]


def find_reference(explicit: str | None) -> Path | None:
    for candidate in (explicit, os.environ.get("TALLY_REFERENCE"), DEFAULT_REFERENCE):
        if candidate and Path(candidate).exists():
            return Path(candidate)
    return None


def how_to_build_reference() -> str:
    lines = [
        "No panoptes_aggregation reference found. Build it as the goldens do (pinned, in",
        f"{DEFAULT_REFERENCE.parents[1].relative_to(REPO)}) with",
        "  .venv/bin/python bench/batch.py --build-reference ...",
        "(that runs ensure_venv() of tests/golden/regenerate.py, i.e. pip install -r",
        "tests/golden/oracle-requirements.txt into a fresh venv), or by hand with Python 3.11:",
        f"  python3.11 -m venv /tmp/oracle && /tmp/oracle/bin/pip install {REFERENCE_PINS}",
        "and pass --reference /tmp/oracle/bin/panoptes_aggregation (or set TALLY_REFERENCE);",
        "or run tally alone with --skip-reference.",
    ]
    return "\n".join(lines)


def build_reference() -> Path:
    """Create tests/golden/.oracle-venv exactly as tests/golden/regenerate.py does."""
    import importlib.util

    path = REPO / "tests" / "golden" / "regenerate.py"
    spec = importlib.util.spec_from_file_location("_tally_golden_regenerate", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.ensure_venv(False)
    return DEFAULT_REFERENCE


def simulate_data(
    workdir: Path, n: int, subjects: int | None, seed: int
) -> tuple[Path, dict, Run | None]:
    """Simulate (or reuse) a project of n classifications; returns its dir and simulation.json."""
    name = f"sim-n{n}-s{seed}" + (f"-m{subjects}" if subjects else "")
    data = workdir / name
    record_path = data / "simulation.json"
    if record_path.exists():
        return data, json.loads(record_path.read_text()), None
    data.mkdir(parents=True, exist_ok=True)
    cmd = [
        *tally_command(),
        "simulate",
        "-d",
        str(data),
        "--classifications",
        str(n),
        "--seed",
        str(seed),
    ]
    if subjects:
        cmd += ["--subjects", str(subjects)]
    run = run_measured("simulate", cmd, cwd=workdir, log=workdir / f"{name}.log")
    return data, json.loads(record_path.read_text()), run


def run_pipeline(
    tool: str,
    base_cmd: list[str],
    *,
    data: Path,
    record: dict,
    out: Path,
    cpu: int,
) -> tuple[list[Run], Run]:
    out.mkdir(parents=True, exist_ok=True)
    log = out / "commands.log"
    log.write_text("")
    files = record["files"]
    # warm up (byte code, page cache), then time a bare start: interpreter + imports + --help
    run_measured("startup", [*base_cmd, "--help"], cwd=out, log=log)
    startup = run_measured("startup (--help)", [*base_cmd, "--help"], cwd=out, log=log)
    runs = []
    wf_id = str(record["workflow_id"])
    cfg_dir = out / "config"
    cfg_dir.mkdir(exist_ok=True)
    runs.append(
        run_measured(
            "config",
            [*base_cmd, "config", data / files["workflows"], wf_id, "-d", cfg_dir],
            cwd=out,
            log=log,
        )
    )
    extractor_cfg = cfg_dir / files["extractor_config"]
    if not extractor_cfg.exists():
        raise SystemExit(f"{tool} config did not write {extractor_cfg.name}")
    cpu_flag = ["-c", str(cpu)] if cpu > 1 else []
    runs.append(
        run_measured(
            "extract",
            [
                *base_cmd,
                "extract",
                data / files["classifications"],
                extractor_cfg,
                "-d",
                out,
                "-hb",
                *cpu_flag,
            ],  # fmt: skip
            cwd=out,
            log=log,
        )
    )
    for extractor, reducer_file in files["reducer_configs"].items():
        extracted = out / f"{extractor}_extractions.csv"
        runs.append(
            run_measured(
                f"reduce {REDUCERS.get(extractor, extractor)}",
                [
                    *base_cmd,
                    "reduce",
                    extracted,
                    data / reducer_file,
                    "-d",
                    out,
                    "-F",
                    "all",
                    "-hb",
                    *cpu_flag,
                ],  # fmt: skip
                cwd=out,
                log=log,
            )
        )
    return runs, startup


def median_runs(repetitions: list[list[Run]]) -> list[Run]:
    """Per stage, the median over repetitions of wall, CPU and memory (each taken separately)."""
    out = []
    for stage_runs in zip(*repetitions, strict=True):
        first = stage_runs[0]
        out.append(
            Run(
                stage=first.stage,
                cmd=first.cmd,
                wall=statistics.median(r.wall for r in stage_runs),
                user=statistics.median(r.user for r in stage_runs),
                sys=statistics.median(r.sys for r in stage_runs),
                maxrss_mb=statistics.median(r.maxrss_mb for r in stage_runs),
                tree_peak_mb=statistics.median(r.tree_peak_mb for r in stage_runs),
            )
        )
    return out


# ------------------------------------------------------------------------------------------
# comparing outputs


def _literal(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        pass
    if text[:1] in "[{(":
        try:
            return ast.literal_eval(text.replace("nan", "None"))
        except (ValueError, SyntaxError):
            return text
    return text


def _close(a: Any, b: Any, tol: float = 1e-6, *, ordered: bool = True) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if math.isnan(a) and math.isnan(b):
            return True
        return abs(a - b) <= tol * max(1.0, abs(a), abs(b))
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(
            _close(x, y, tol, ordered=ordered) for x, y in zip(a, b, strict=True)
        )
    if isinstance(a, dict) and isinstance(b, dict):
        same_keys = list(a) == list(b) if ordered else set(a) == set(b)
        return same_keys and all(_close(a[k], b[k], tol, ordered=ordered) for k in a)
    return a == b


def compare_csv(ours: Path, theirs: Path, *, examples: int = 3) -> dict[str, Any]:
    """Cell-for-cell comparison; numbers (also inside Python-literal lists) to 1e-6.

    Columns are matched by name. A different column order, or a different key order inside
    cells, still counts as a match but is reported: the reference orders frames and tools of the
    clustering reducers by string hash, so its order changes from run to run (see
    docs/compatibility.md, "Order of frames and tools").
    """
    name = theirs.name
    if not ours.exists() or not theirs.exists():
        missing = [p.name for p in (ours, theirs) if not p.exists()]
        return {"file": name, "match": False, "detail": f"missing: {missing}"}
    if ours.read_bytes() == theirs.read_bytes():
        return {"file": name, "match": True, "detail": "identical bytes"}
    with (
        open(ours, newline="", encoding="utf-8") as f1,
        open(theirs, newline="", encoding="utf-8") as f2,
    ):
        a, b = list(csv.reader(f1)), list(csv.reader(f2))
    if not a or not b:
        return {"file": name, "match": False, "detail": "one file is empty"}
    head_a, head_b = a[0], b[0]
    if set(head_a) != set(head_b) or len(head_a) != len(head_b):
        only_a = sorted(set(head_a) - set(head_b))[:5]
        only_b = sorted(set(head_b) - set(head_a))[:5]
        return {"file": name, "match": False,
                "detail": f"columns differ: only tally {only_a}, only reference {only_b}"}  # fmt: skip
    if len(a) != len(b):
        return {"file": name, "match": False,
                "detail": f"row counts differ: tally {len(a) - 1} vs reference {len(b) - 1}"}  # fmt: skip
    notes = []
    if head_a != head_b:
        notes.append("column order differs")
    position = {col: i for i, col in enumerate(head_a)}
    remap = [position[col] for col in head_b]
    bad, key_order, approx, shown = 0, 0, 0, []
    for i, (ra, rb) in enumerate(zip(a[1:], b[1:], strict=True), start=2):
        for col, y in enumerate(rb):
            x = ra[remap[col]]
            if x == y:
                continue
            lx, ly = _literal(x), _literal(y)
            if _close(lx, ly):
                approx += 1
                continue
            if _close(lx, ly, ordered=False):
                key_order += 1
                continue
            bad += 1
            if len(shown) < examples:
                shown.append(f"line {i} {head_b[col]}: tally {x[:80]!r} vs reference {y[:80]!r}")
    if key_order:
        notes.append(f"key order inside {key_order} cells differs")
    if bad:
        return {"file": name, "match": False, "detail": f"{bad} cells differ; " + "; ".join(shown)}
    detail = (
        f"equal within 1e-6 ({approx} cells not textually identical)"
        if approx
        else "identical cells"
    )
    if notes:
        detail += f"; {', '.join(notes)} (the reference orders frames/tools by string hash)"
    return {"file": name, "match": True, "detail": detail}


def compare_outputs(tally_out: Path, ref_out: Path, record: dict) -> list[dict[str, Any]]:
    results = []
    for name in sorted(p.name for p in (ref_out / "config").glob("*.yaml")):
        results.append(compare_csv(tally_out / "config" / name, ref_out / "config" / name))
    for extractor in record["files"]["reducer_configs"]:
        name = f"{extractor}_extractions.csv"
        results.append(compare_csv(tally_out / name, ref_out / name))
    for extractor in record["files"]["reducer_configs"]:
        name = f"{REDUCERS.get(extractor, extractor)}_reductions.csv"
        results.append(compare_csv(tally_out / name, ref_out / name))
    return results


# ------------------------------------------------------------------------------------------
# reporting


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["ram_gb"] = round(int(line.split()[1]) / 2**20, 1)
                break
        info["loadavg_at_start"] = Path("/proc/loadavg").read_text().split()[:3]
    except OSError:
        pass
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                               capture_output=True, text=True, check=True).stdout.split("\n")  # fmt: skip
        n_dirty = sum(1 for line in dirty if line.strip())
        info["git"] = head + (f" (+{n_dirty} modified files)" if n_dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    if hasattr(os, "sched_getaffinity"):
        info["affinity"] = len(os.sched_getaffinity(0))
    return info


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:8.2f}"


def print_table(
    tally_runs: list[Run],
    ref_runs: list[Run] | None,
    tally_startup: Run | None = None,
    ref_startup: Run | None = None,
) -> None:
    head = f"{'stage':30} {'tally wall':>10} {'tally cpu':>9} {'tally MB':>8}"
    if ref_runs:
        head += f" {'ref wall':>10} {'ref cpu':>9} {'ref MB':>8} {'ratio':>7}"
    print(head)
    print("-" * len(head))
    rows = list(zip(tally_runs, ref_runs or [None] * len(tally_runs), strict=True))
    for t, r in rows:
        line = f"{t.stage:30} {_fmt_s(t.wall):>10} {_fmt_s(t.cpu):>9} {t.peak_mb:8.0f}"
        if r is not None:
            ratio = r.wall / t.wall if t.wall else float("inf")
            line += f" {_fmt_s(r.wall):>10} {_fmt_s(r.cpu):>9} {r.peak_mb:8.0f} {ratio:6.1f}x"
        print(line)
    tw = sum(t.wall for t in tally_runs)
    tc = sum(t.cpu for t in tally_runs)
    tm = max(t.peak_mb for t in tally_runs)
    line = f"{'TOTAL (config+extract+reduce)':30} {_fmt_s(tw):>10} {_fmt_s(tc):>9} {tm:8.0f}"
    if ref_runs:
        rw = sum(r.wall for r in ref_runs)
        rc = sum(r.cpu for r in ref_runs)
        rm = max(r.peak_mb for r in ref_runs)
        line += f" {_fmt_s(rw):>10} {_fmt_s(rc):>9} {rm:8.0f} {rw / tw:6.1f}x"
    print(line)
    if ref_runs:
        print(
            f"{'  (CPU-time ratio)':30} {'':>10} {'':>9} {'':>8} {'':>10} {'':>9} {'':>8} {rc / tc:6.1f}x"
        )
    if tally_startup is not None:
        t = tally_startup
        line = (
            f"{'startup only (--help)':30} {_fmt_s(t.wall):>10} {_fmt_s(t.cpu):>9} {t.peak_mb:8.0f}"
        )
        if ref_startup is not None:
            r = ref_startup
            line += f" {_fmt_s(r.wall):>10} {_fmt_s(r.cpu):>9} {r.peak_mb:8.0f}"
        print(line)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    ap.add_argument("--classifications", "-n", type=int, default=20_000,
                    help="size of the simulated export (default 20000)")  # fmt: skip
    ap.add_argument(
        "--sizes", help="comma-separated sizes for a scaling run, e.g. 100000,300000,1000000"
    )
    ap.add_argument("--subjects", type=int, default=None, help="default: classifications // 15")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cpu", type=int, default=1, help="tally -c (worker processes); default 1")
    ap.add_argument("--reference-cpu", type=int, default=1,
                    help="reference -c; >1 makes its row order random, so outputs stop comparing")  # fmt: skip
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each pipeline this many times, alternating tools; report medians")  # fmt: skip
    ap.add_argument("--skip-reference", action="store_true", help="run tally only (for big sizes)")
    ap.add_argument(
        "--reference", help=f"panoptes_aggregation executable (default {DEFAULT_REFERENCE})"
    )
    ap.add_argument("--build-reference", action="store_true",
                    help="build tests/golden/.oracle-venv (as tests/golden/regenerate.py does) if missing")  # fmt: skip
    ap.add_argument("--editable", action="store_true",
                    help="time the tally of the running environment (an editable install in a "
                         "development venv, ≈2 ms more per command) instead of installing this "
                         "tree with pip into a venv under the work dir")  # fmt: skip
    ap.add_argument("--workdir", type=Path, help="where data and outputs go (default: a temp dir)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary work dir")
    ap.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = ap.parse_args(argv)

    sizes = [int(s) for s in args.sizes.split(",")] if args.sizes else [args.classifications]
    reference = None
    if not args.skip_reference:
        reference = find_reference(args.reference)
        if reference is None and args.build_reference:
            reference = build_reference()
        if reference is None:
            print(how_to_build_reference(), file=sys.stderr)
            return 2
    temp = args.workdir is None
    workdir = Path(tempfile.mkdtemp(prefix="tally-bench-")) if temp else args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)

    info = machine()
    tally_cmd = tally_command() if args.editable else install_tally(workdir)
    print(f"# tally batch benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M UTC}")
    print(f"# machine: {info.get('cpu', '?')}, nproc {info['nproc']}, {info.get('ram_gb', '?')} GB RAM, "
          f"Python {info['python']}, load {' '.join(info.get('loadavg_at_start', []))}")  # fmt: skip
    print(f"# tally: {' '.join(tally_cmd)} (-c {args.cpu}) at git {info.get('git', '?')}"
          + ("" if args.editable else ", installed with pip from this tree"))  # fmt: skip
    print(f"# reference: {reference or 'skipped'}")
    print(f"# work dir: {workdir}")
    results: dict[str, Any] = {"machine": info, "args": {k: str(v) for k, v in vars(args).items()},
                               "runs": []}  # fmt: skip
    try:
        for n in sizes:
            data, record, sim_run = simulate_data(workdir, n, args.subjects, args.seed)
            counts = record["counts"]
            print()
            print(f"## {n:,} classifications, {counts['subjects']:,} subjects, "
                  f"{counts['classifications_bytes'] / 1e9:.2f} GB of CSV, seed {args.seed}"
                  + (f" (simulated in {sim_run.wall:.1f} s, peak {sim_run.peak_mb:.0f} MB)"
                     if sim_run else " (reused)"))  # fmt: skip
            tag = f"n{n}-s{args.seed}"
            tally_out = workdir / f"out-tally-{tag}-c{args.cpu}"
            all_tally: list[list[Run]] = []
            all_ref: list[list[Run]] = []
            tally_startups: list[Run] = []
            ref_startups: list[Run] = []
            comparison = None
            ref_out = workdir / f"out-reference-{tag}-c{args.reference_cpu}"
            for rep in range(args.repeat):  # alternate the tools so both see the same load
                if args.repeat > 1:
                    print(f"  repetition {rep + 1}/{args.repeat}", flush=True)
                runs, start = run_pipeline("tally", tally_cmd, data=data, record=record,
                                           out=tally_out, cpu=args.cpu)  # fmt: skip
                all_tally.append(runs)
                tally_startups.append(start)
                if reference is not None:
                    runs, start = run_pipeline("reference", [str(reference)], data=data,
                                               record=record, out=ref_out,
                                               cpu=args.reference_cpu)  # fmt: skip
                    all_ref.append(runs)
                    ref_startups.append(start)
            tally_runs = median_runs(all_tally)
            tally_startup = median_runs([[r] for r in tally_startups])[0]
            ref_runs = median_runs(all_ref) if all_ref else None
            ref_startup = median_runs([[r] for r in ref_startups])[0] if ref_startups else None
            if reference is not None:
                comparison = compare_outputs(tally_out, ref_out, record)
            print()
            print_table(tally_runs, ref_runs, tally_startup, ref_startup)
            tw = sum(t.wall for t in tally_runs)
            print(f"\ntally: {tw / n * 1e6:.1f} µs/classification wall, "
                  f"{sum(t.cpu for t in tally_runs) / n * 1e6:.1f} µs/classification CPU, "
                  f"peak RSS {max(t.peak_mb for t in tally_runs):.0f} MB")  # fmt: skip
            if comparison is not None:
                ok = all(c["match"] for c in comparison)
                print(f"outputs (tally -F all vs reference): {'MATCH' if ok else 'DIFFER'}")
                for c in comparison:
                    print(f"  {'ok  ' if c['match'] else 'DIFF'} {c['file']}: {c['detail']}")
            results["runs"].append({
                "classifications": n,
                "counts": counts,
                "simulate": dataclasses.asdict(sim_run) if sim_run else None,
                "repeat": args.repeat,
                "tally": [dataclasses.asdict(r) for r in tally_runs],
                "tally_all": [[dataclasses.asdict(r) for r in runs] for runs in all_tally],
                "reference_all": [[dataclasses.asdict(r) for r in runs] for runs in all_ref],
                "tally_startup": dataclasses.asdict(tally_startup),
                "reference_startup": dataclasses.asdict(ref_startup) if ref_startup else None,
                "reference": [dataclasses.asdict(r) for r in ref_runs] if ref_runs else None,
                "comparison": comparison,
            })  # fmt: skip
        if len(sizes) > 1:
            print("\n## scaling (tally)")
            print(
                f"{'classifications':>16} {'wall s':>8} {'cpu s':>8} {'µs/cls':>8} {'peak MB':>8}"
            )
            for entry in results["runs"]:
                n = entry["classifications"]
                wall = sum(r["wall"] for r in entry["tally"])
                cpu = sum(r["user"] + r["sys"] for r in entry["tally"])
                peak = max(max(r["maxrss_mb"], r["tree_peak_mb"]) for r in entry["tally"])
                print(f"{n:>16,} {wall:8.1f} {cpu:8.1f} {wall / n * 1e6:8.1f} {peak:8.0f}")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if temp and not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        elif temp:
            print(f"\n(kept {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
