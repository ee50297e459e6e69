"""Compute golden outputs with the reference implementation (the oracle).

Runs INSIDE tests/golden/.oracle-venv (started by regenerate.py); it is the only
file of this repository that imports ``panoptes_aggregation``.  Product code must
never import it.

    python oracle_runner.py --spec SPEC.json --golden-dir tests/golden --data-dir DIR
                            [--only functions|config|cli ...]
"""

import argparse
import copy
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import yaml
from panoptes_aggregation import extractors, reducers
from panoptes_aggregation.extractors.utilities import annotation_by_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from derive_inputs import derive, derived_name  # noqa: E402

BIN = Path(sys.executable).parent
CLI = str(BIN / "panoptes_aggregation")
JOBS = max(1, min(4, os.cpu_count() or 1))


# --------------------------------------------------------------------------------------
# JSON conversion (NaN -> "NaN", +/-inf -> "Infinity"/"-Infinity")
# --------------------------------------------------------------------------------------
def to_json(obj):
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        if math.isnan(f):
            return "NaN"
        if math.isinf(f):
            return "Infinity" if f > 0 else "-Infinity"
        return f
    if isinstance(obj, dict):
        return {str(k): to_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_json(obj.tolist())
    raise TypeError(f"cannot convert {type(obj).__name__} to JSON: {obj!r}")


def dumps(obj):
    return json.dumps(obj, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


def err_text(e):
    return f"{type(e).__name__}: {e}"


def call_captured(fn):
    """Run fn(); return (result, error_text, warnings list)."""
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            result, error = fn(), None
        except Exception as e:  # noqa: BLE001 - goldens record any oracle exception
            result, error = None, err_text(e)
    seen = []
    for w in rec:
        t = f"{w.category.__name__}: {w.message}"
        if t not in seen:
            seen.append(t)
    return result, error, seen


# --------------------------------------------------------------------------------------
# functions
# --------------------------------------------------------------------------------------
def extract_one(name, kwargs, annotations, metadata):
    """As the reference CSV path does it: group by task, pass only annotations + metadata."""
    classification = annotation_by_task(
        {
            "annotations": copy.deepcopy(annotations),
            "metadata": copy.deepcopy(metadata),
        }
    )
    return extractors.extractors[name](classification, **copy.deepcopy(kwargs), no_version=True)


def run_extractor_case(case):
    c = case["classification"]
    result, error, warns = call_captured(
        lambda: extract_one(case["name"], case["kwargs"], c["annotations"], c["metadata"])
    )
    out = OrderedDict()
    for k in ("id", "kind", "name", "kwargs", "classification"):
        out[k] = case[k]
    if "note" in case:
        out["note"] = case["note"]
    if error is None:
        out["expected"] = to_json(result)
    else:
        out["expected_error"] = error
    if warns:
        out["expected_warnings"] = warns
    return out


def fill_chain(case):
    ef = case["extracts_from"]
    extracts, uids, cats, ids, skipped = [], [], [], [], []
    for c in ef["classifications"]:
        result, error, _ = call_captured(
            lambda c=c: extract_one(ef["extractor"], ef["kwargs"], c["annotations"], c["metadata"])
        )
        if error is not None:
            # the CSV path silently drops a classification whose extractor raises
            skipped.append({"classification_id": c["classification_id"], "error": error})
            continue
        rows = result if isinstance(result, list) else [result]
        for r in rows:
            extracts.append(to_json(r))
            uids.append(c["user_id"])
            cats.append(c["created_at"])
        ids.append(c["classification_id"])
    info = OrderedDict(
        [
            ("extractor", ef["extractor"]),
            ("kwargs", ef["kwargs"]),
            ("source", ef["source"]),
            ("classification_ids", ids),
        ]
    )
    if skipped:
        info["skipped"] = skipped
    return extracts, uids, cats, info


def run_reducer_case(case):
    out = OrderedDict()
    for k in ("id", "kind", "name", "kwargs"):
        out[k] = case[k]
    if "note" in case:
        out["note"] = case["note"]
    if "extracts_from" in case:
        extracts, uids, cats, info = fill_chain(case)
        out["extracts_from"] = info
    else:
        extracts, uids, cats = case["extracts"], case["user_id"], case["created_at"]
    # reduce exactly what the golden file will hold
    extracts = json.loads(json.dumps(extracts))
    out["extracts"] = extracts
    out["user_id"] = uids
    out["created_at"] = cats
    fn = reducers.reducers[case["name"]]
    result, error, warns = call_captured(
        lambda: fn(
            copy.deepcopy(extracts),
            user_id=list(uids),
            created_at=list(cats),
            no_version=True,
            **copy.deepcopy(case["kwargs"]),
        )
    )
    if error is None:
        out["expected"] = to_json(result)
    else:
        out["expected_error"] = error
    if warns:
        out["expected_warnings"] = warns
    return out


def run_functions(spec, golden):
    fdir = golden / "functions"
    if fdir.exists():
        shutil.rmtree(fdir)
    fdir.mkdir(parents=True)
    summary = {}
    for name, cases in sorted(spec["functions"].items()):
        out = []
        for case in sorted(cases, key=lambda c: c["id"]):
            if case["kind"] == "extractor":
                out.append(run_extractor_case(case))
            else:
                out.append(run_reducer_case(case))
        (fdir / f"{name}.json").write_text(dumps(out), encoding="utf-8")
        n_err = sum(1 for c in out if "expected_error" in c)
        summary[name] = (len(out), n_err)
    return summary


# --------------------------------------------------------------------------------------
# subprocess helpers for config / cli
# --------------------------------------------------------------------------------------
def scrubber(mapping):
    items = sorted(((str(k), v) for k, v in mapping.items() if k), key=lambda kv: -len(kv[0]))

    def scrub(text):
        for k, v in items:
            text = text.replace(k, v)
        return text

    return scrub


def run_cli(args, cwd, scrub):
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.pop("PYTHONWARNINGS", None)
    p = subprocess.run([CLI] + args, cwd=cwd, env=env, capture_output=True, text=True)
    res = OrderedDict(
        [("exit_code", p.returncode), ("stdout", scrub(p.stdout)), ("stderr", scrub(p.stderr))]
    )
    last = [ln for ln in res["stderr"].strip().splitlines() if ln.strip()]
    if p.returncode != 0 and last:
        res["error"] = last[-1]
    return res


def base_scrub(data_dir, extra=None):
    m = {
        str(Path(sys.prefix)): "{VENV}",
        str(Path(sys.base_prefix)): "{PYTHON}",
        str(data_dir): "{DATA}",
    }
    m.update(extra or {})
    return scrubber(m)


# --------------------------------------------------------------------------------------
# config
# --------------------------------------------------------------------------------------
def run_config(spec, golden, data_dir):
    cdir = golden / "config"
    if cdir.exists():
        shutil.rmtree(cdir)
    cdir.mkdir(parents=True)

    def one(case):
        with tempfile.TemporaryDirectory(prefix="tally-golden-config-") as tmp:
            tmp = Path(tmp).resolve()
            scrub = base_scrub(data_dir, {str(tmp): "{OUT}"})
            args = [
                "config",
                str(data_dir / case["workflow_csv"]),
                str(case["workflow_id"]),
            ] + case["args"]
            res = run_cli(args, tmp, scrub)
            files = sorted(p.name for p in tmp.iterdir() if p.is_file())
            if files:
                (cdir / case["case_name"]).mkdir()
                for f in files:
                    shutil.copyfile(tmp / f, cdir / case["case_name"] / f)
        entry = OrderedDict(
            [
                ("case_name", case["case_name"]),
                ("workflow_csv", case["workflow_csv"]),
                ("workflow_id", case["workflow_id"]),
                ("args", case["args"]),
                (
                    "argv",
                    ["config", "{DATA}/" + case["workflow_csv"], str(case["workflow_id"])]
                    + case["args"],
                ),
                ("cwd", "{OUT}"),
                ("files", files),
            ]
        )
        entry.update(res)
        return entry

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        out_cases = list(pool.map(one, spec["config"]))
    (cdir / "cases.json").write_text(dumps(out_cases), encoding="utf-8")
    return {c["case_name"]: (c["exit_code"], len(c["files"])) for c in out_cases}


# --------------------------------------------------------------------------------------
# cli
# --------------------------------------------------------------------------------------
def yaml_dump(obj, path):
    # the same call the reference `config` command uses
    with open(path, "w", encoding="utf-8") as stream:
        yaml.dump(obj, stream=stream, default_flow_style=False, indent=4)


def run_cli_cases(spec, golden, data_dir):
    root = golden / "cli"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    summary = {}

    def one(ds):
        name = ds["dataset"]
        ddir = root / name
        cfg_dir = ddir / "configs"
        out_dir = ddir / "out"
        cfg_dir.mkdir(parents=True)
        out_dir.mkdir()
        commands = []
        with tempfile.TemporaryDirectory(prefix="tally-golden-cli-") as tmp:
            tmp = Path(tmp).resolve()
            work, derived = tmp / "out", tmp / "derived"
            work.mkdir()
            derived.mkdir()
            scrub = base_scrub(
                data_dir,
                {
                    str(work): "{OUT}",
                    str(derived): "{DERIVED}",
                    str(cfg_dir.resolve()): "{CONFIGS}",
                    str(tmp): "{TMP}",
                },
            )
            # input
            if "derive" in ds:
                dname = derived_name(ds["classifications"], ds["derive"])
                derive(data_dir / ds["classifications"], derived / dname, ds["derive"])
                cls_real, cls_arg = derived / dname, "{DERIVED}/" + dname
            else:
                cls_real, cls_arg = (
                    data_dir / ds["classifications"],
                    "{DATA}/" + ds["classifications"],
                )
            # extractor config
            ec = ds["extractor_config"]
            if "from_config_command" in ec:
                fc = ec["from_config_command"]
                args = ["config", str(data_dir / fc["workflow_csv"]), str(fc["workflow_id"])] + fc[
                    "args"
                ]
                cmd = OrderedDict(
                    [
                        ("step", "config"),
                        (
                            "argv",
                            ["config", "{DATA}/" + fc["workflow_csv"], str(fc["workflow_id"])]
                            + fc["args"],
                        ),
                        ("cwd", "{CONFIGS}"),
                    ]
                )
                cmd.update(run_cli(args, cfg_dir, scrub))
                cmd["outputs"] = sorted(p.name for p in cfg_dir.iterdir())
                commands.append(cmd)
                ext_cfg_name = [f for f in cmd["outputs"] if f.startswith("Extractor_config")][0]
            else:
                ext_cfg_name = ec["file"]
                yaml_dump(ec["content"], cfg_dir / ext_cfg_name)
            for rc in ds.get("reducer_configs", []):
                yaml_dump(rc["content"], cfg_dir / rc["file"])
            # extract
            args = [
                "extract",
                str(cls_real),
                str(cfg_dir / ext_cfg_name),
                "-d",
                str(work),
                "-o",
                "extractions",
                "-hb",
            ]
            cmd = OrderedDict(
                [
                    ("step", "extract"),
                    (
                        "argv",
                        [
                            "extract",
                            cls_arg,
                            "{CONFIGS}/" + ext_cfg_name,
                            "-d",
                            "{OUT}",
                            "-o",
                            "extractions",
                            "-hb",
                        ],
                    ),
                    ("cwd", "{OUT}"),
                ]
            )
            before = set(p.name for p in work.iterdir())
            cmd.update(run_cli(args, work, scrub))
            cmd["outputs"] = sorted(set(p.name for p in work.iterdir()) - before)
            commands.append(cmd)
            # reduce
            for rc in ds.get("reducer_configs", []):
                inp = f"{rc['extractions']}_extractions.csv"
                short = Path(rc["file"]).stem.replace("Reducer_config_", "")
                for flt in [None] + ds.get("reduce_filters", []):
                    oname = f"reductions_{short}" + (f"_F{flt}" if flt else "")
                    fargs = ["-F", flt] if flt else []
                    args = [
                        "reduce",
                        str(work / inp),
                        str(cfg_dir / rc["file"]),
                        "-d",
                        str(work),
                        "-o",
                        oname,
                        "-hb",
                    ] + fargs
                    cmd = OrderedDict(
                        [
                            ("step", "reduce"),
                            (
                                "argv",
                                [
                                    "reduce",
                                    "{OUT}/" + inp,
                                    "{CONFIGS}/" + rc["file"],
                                    "-d",
                                    "{OUT}",
                                    "-o",
                                    oname,
                                    "-hb",
                                ]
                                + fargs,
                            ),
                            ("cwd", "{OUT}"),
                        ]
                    )
                    before = set(p.name for p in work.iterdir())
                    if not (work / inp).exists():
                        cmd["skipped"] = f"input {inp} was not produced by the extract step"
                        commands.append(cmd)
                        continue
                    cmd.update(run_cli(args, work, scrub))
                    cmd["outputs"] = sorted(set(p.name for p in work.iterdir()) - before)
                    commands.append(cmd)
            for p in sorted(work.iterdir()):
                shutil.copyfile(p, out_dir / p.name)
        entry = OrderedDict(
            [
                ("dataset", name),
                ("classifications", ds["classifications"]),
            ]
        )
        if "derive" in ds:
            entry["derive"] = OrderedDict(
                [("output", "{DERIVED}/" + derived_name(ds["classifications"], ds["derive"]))]
                + list(ds["derive"].items())
            )
        entry["configs_dir"] = f"cli/{name}/configs"
        entry["out_dir"] = f"cli/{name}/out"
        entry["commands"] = commands
        return entry

    with ThreadPoolExecutor(max_workers=JOBS) as pool:
        all_cases = list(pool.map(one, spec["cli"]))
    for entry in all_cases:
        summary[entry["dataset"]] = [
            (c["step"], c.get("exit_code", "skipped"), len(c.get("outputs", [])))
            for c in entry["commands"]
        ]
    (root / "cases.json").write_text(dumps(all_cases), encoding="utf-8")
    return summary


# --------------------------------------------------------------------------------------
def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--spec", required=True)
    ap.add_argument("--golden-dir", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--only", action="append", choices=["functions", "config", "cli"])
    args = ap.parse_args(argv)
    if os.environ.get("PYTHONHASHSEED") != "0":
        # set-iteration order (and so some dict key / CSV column orders) depends on it
        env = dict(os.environ, PYTHONHASHSEED="0")
        os.execve(
            sys.executable,
            [sys.executable, __file__] + (argv if argv is not None else sys.argv[1:]),
            env,
        )
    spec = json.loads(Path(args.spec).read_text(encoding="utf-8"))
    golden = Path(args.golden_dir).resolve()
    data_dir = Path(args.data_dir).resolve()
    only = args.only or ["functions", "config", "cli"]
    result = {}
    if "functions" in only:
        result["functions"] = run_functions(spec, golden)
    if "config" in only:
        result["config"] = run_config(spec, golden, data_dir)
    if "cli" in only:
        result["cli"] = run_cli_cases(spec, golden, data_dir)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
