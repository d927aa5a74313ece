#!/usr/bin/env bash
# Runs the same workload and seed under several balancers and prints one table
# (balancer, step p50/p99, balance phase, dispatch+combine, balancedness
# mean/min, gamma, bytes), writes it as CSV and draws the runs overlaid
# (launch/plot_run.py: the CSV's name with .png).
#   launch/compare.sh [-np N] [--balancers "none;eplb;eplb,lplb"] [--csv FILE] [wideep run options...]
# Defaults: 4 ranks, the quickstart shape, balancers none;eplb;lplb;eplb,lplb,
# 16 redundant slots for the balancers that use copies.
set -euo pipefail
cd "$(dirname "$0")/.."
np=4
balancers="none;eplb;lplb;eplb,lplb"
csv=out/compare.csv
args=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -np) np=$2; shift 2 ;;
    --balancers) balancers=$2; shift 2 ;;
    --csv) csv=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
[[ -x build/wideep ]] || launch/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$(dirname "$csv")" out/compare
has_redundant=0
for a in "${args[@]}"; do [[ $a == --redundant ]] && has_redundant=1; done
files=()
IFS=';' read -r -a list <<<"$balancers"
for b in "${list[@]}"; do
  extra=()
  if [[ $has_redundant == 0 ]]; then extra+=(--redundant $((np * 4))); fi
  if [[ $b == *waterfill* ]] && ! printf '%s\n' "${args[@]}" | grep -q -- --shared-experts; then
    extra+=(--shared-experts 1)
  fi
  f="out/compare/${b//,/_}.jsonl"
  echo "compare.sh: balancer $b" >&2
  mpirun --oversubscribe --mca btl self,vader -np "$np" \
    build/wideep run --backend mpi --quiet --balancer "$b" --json "$f" "${extra[@]}" "${args[@]}" >&2
  files+=("$f")
done
/usr/bin/python3 - "$csv" "${files[@]}" <<'PY'
import csv, json, sys
out, files = sys.argv[1], sys.argv[2:]
rows = []
for f in files:
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
        "weight_MB_moved": round(s["weight_bytes_moved"] / 1e6, 3)})
cols = list(rows[0].keys())
with open(out, "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=cols)
    w.writeheader()
    w.writerows(rows)
widths = [max(len(c), max(len(str(r[c])) for r in rows)) for c in cols]
print("  ".join(c.rjust(w) for c, w in zip(cols, widths)))
for r in rows:
    print("  ".join(str(r[c]).rjust(w) for c, w in zip(cols, widths)))
print(f"compare.sh: CSV in {out}")
PY
/usr/bin/python3 launch/plot_run.py "${files[@]}" --out "${csv%.csv}.png" \
  --title "launch/compare.sh -np $np ${args[*]}"
