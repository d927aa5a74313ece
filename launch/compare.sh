#!/usr/bin/env bash
# Runs the same workload and seed under several balancers and prints one table
# (balancer, step p50/p99, balance phase, dispatch+combine, balancedness
# mean/min, gamma, bytes, and every option the row ran with), writes it as CSV
# and draws the runs overlaid (launch/plot_run.py: the CSV's name with .png).
#   launch/compare.sh [-np N] [--balancers "none;eplb;eplb,lplb"] [--csv FILE] [--no-plot] [wideep run options...]
# Defaults: 4 ranks, the quickstart shape, balancers none;eplb;lplb;eplb,lplb;
# every row gets --redundant 4*N unless given, and rows with waterfill get
# --shared-experts 1 unless given (the options column shows them).
# WIDEEP_BIN overrides build/wideep.
set -euo pipefail
cd "$(dirname "$0")/.."
np=4
balancers="none;eplb;lplb;eplb,lplb"
csv=out/compare.csv
plot=1
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -np) np=$2; shift 2 ;;
    --balancers) balancers=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    --no-plot) plot=0; shift ;;
    *) args+=("$1"); shift ;;
  esac
done
wideep=${WIDEEP_BIN:-build/wideep}
[[ -x $wideep ]] || launch/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$(dirname "$csv")" out/compare
has_redundant=0
for a in "${args[@]}"; do [[ $a == --redundant ]] && has_redundant=1; done
files=()
options=()  # per row: every option it ran with (the script's and the user's)
IFS=';' read -r -a list <<<"$balancers"
for b in "${list[@]}"; do
  extra=()
  if [[ $has_redundant == 0 ]]; then extra+=(--redundant $((np * 4))); fi
  if [[ $b == *waterfill* ]] && ! printf '%s\n' "${args[@]}" | grep -q -- --shared-experts; then
    extra+=(--shared-experts 1)
  fi
  f="out/compare/${b//,/_}.jsonl"
  echo "compare.sh: balancer $b" >&2
  row=(--backend mpi --balancer "$b" "${extra[@]}" "${args[@]}")
  mpirun --oversubscribe --mca btl self,vader -np "$np" \
    "$wideep" run --quiet --json "$f" "${row[@]}" >&2
  files+=("$f")
  options+=("-np $np ${row[*]}")
done
pairs=()
for i in "${!files[@]}"; do pairs+=("${files[$i]}" "${options[$i]}"); done
/usr/bin/python3 - "$csv" "${pairs[@]}" <<'PY'
import csv, json, sys
out, pairs = sys.argv[1], sys.argv[2:]
rows = []
for f, opts in zip(pairs[0::2], pairs[1::2]):
    s = [json.loads(l) for l in open(f) if l.strip()][-1]
    rows.append({
        "balancer": s["balancer"], "workload": s["workload"], "ranks": s["ranks"],
        "step_p50_us": round(s["step_us"]["p50"], 1), "step_p99_us": round(s["step_us"]["p99"], 1),
        "balance_us": round(s["phases_us"]["balance"], 1),
        "dispatch_combine_us": round(s["dispatch_combine_us"], 1),
        "expert_us": round(s["phases_us"]["expert"], 1),
        "balancedness_mean": round(s["balancedness"]["mean"], 4),
        "balancedness_min": round(s["balancedness"]["min"], 4), "gamma": round(s["gamma"], 4),
        "dispatch_MB": round(s["dispatch_bytes"] / 1e6, 3), "rebalances": s["rebalances"],
        "weight_MB_moved": round(s["weight_bytes_moved"] / 1e6, 3), "options": opts})
cols = list(rows[0].keys())
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
widths = [max(len(c), max(len(str(r[c])) for r in rows)) for c in cols]
# The options go last, left-aligned: they are long.
print("  ".join(c.rjust(w) if c != "options" else c for c, w in zip(cols, widths)))
for r in rows:
    print("  ".join(str(r[c]).rjust(w) if c != "options" else str(r[c]) for c, w in zip(cols, widths)))
print(f"compare.sh: CSV in {out}")
PY
[[ $plot == 1 ]] || exit 0
/usr/bin/python3 launch/plot_run.py "${files[@]}" --out "${csv%.csv}.png" \
  --title "launch/compare.sh -np $np ${args[*]}"
