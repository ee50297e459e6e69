#!/usr/bin/env bash
# make demo: simulate a Penguin-Watch-like project and aggregate it with the embedded engine.
set -euo pipefail
bin="${VENV:-.venv}/bin"
out="${DEMO_DIR:-demo-out}"
n="${DEMO_CLASSIFICATIONS:-5000}"
rm -rf "$out"
mkdir -p "$out/results"
echo "== simulating $n classifications of a Penguin-Watch-like project into $out/project"
"$bin/tally" simulate -d "$out/project" -n "$n" --seed 42 >/dev/null
export_csv=$(ls "$out"/project/*classifications.csv)
echo "== tally aggregate (embedded engine, state in $out/results/.tally-state)"
start=$(date +%s.%N)
"$bin/tally" aggregate "$export_csv" \
    --extractor-config "$out"/project/Extractor_config_*.yaml \
    --reducer-config "$out"/project/Reducer_config_*.yaml \
    -d "$out/results" -hb
end=$(date +%s.%N)
echo
echo "== summary"
"$bin/python" - "$out/results" "$start" "$end" <<'PY'
import ast, csv, sys
from pathlib import Path
results, start, end = Path(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
for path in sorted(results.glob("*.csv")):
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    counts = [c for c in (rows[0].keys() if rows else []) if c.endswith("_clusters_count")]
    clusters = sum(len(ast.literal_eval(r[c])) for r in rows for c in counts if r[c])
    extra = f", {clusters} clusters" if counts else ""
    print(f"{path.name}: {len(rows)} subjects{extra}")
print(f"wall time {end - start:.1f} s")
print(f"reduction CSVs: {results}/ (same layout as `tally reduce`; re-run to aggregate incrementally)")
PY
