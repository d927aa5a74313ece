#!/usr/bin/env bash
# Topology study with `wideep sim`: sweeps ranks (8 -> 1024), balancers (none,
# eplb, lplb on ring/cube/hypercube/torus, eplb+lplb, waterfill) and workloads
# (zipf 0.8/1.2/1.5, drift), writes study.csv and draws the PNGs (plot_study.py).
# Usage: launch/study.sh [--quick] [--out DIR] [--build DIR] [--profile FILE]
#   --quick   a CI-sized sweep (ranks 8-64, zipf:1.2, four balancers; ~1 minute)
#   --out     where study.csv and the PNGs go (default out/studies, or
#             build/study-quick with --quick; the committed study was made
#             with --out docs/studies, which a plain run no longer overwrites)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0; OUT=""; BUILD="$ROOT/build"; PROFILE="$ROOT/launch/profiles/h100_nvlink_8x.json"
while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) QUICK=1; shift ;;
    --out) OUT=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --profile) PROFILE=$2; shift 2 ;;
    -h|--help) sed -n 2,9p "$0"; exit 0 ;;
    *) echo "study.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
WIDEEP="$BUILD/wideep"
[[ -x $WIDEEP ]] || { echo "study.sh: $WIDEEP not found (build first, or pass --build DIR)" >&2; exit 2; }
if [[ $QUICK == 1 ]]; then
  OUT=${OUT:-$BUILD/study-quick}
  RANKS=(8 16 32 64); WORKLOADS=(zipf:1.2); EXPERTS=64; TOKENS=64; STEPS=6; WARMUP=1
  BALANCERS=(none eplb lplb:ring eplb,lplb)
else
  OUT=${OUT:-$ROOT/out/studies}
  RANKS=(8 32 128 512 1024); WORKLOADS=(zipf:0.8 zipf:1.2 zipf:1.5 drift:1.2:5); EXPERTS=1024; TOKENS=128
  STEPS=20; WARMUP=2
  BALANCERS=(none eplb lplb:ring eplb+lplb:ring eplb+lplb:cube eplb+lplb:hypercube eplb+lplb:torus eplb,lplb waterfill)
fi
mkdir -p "$OUT"
CSV="$OUT/study.csv"
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT
echo "workload,balancer,topology,ranks,gpus_per_node,experts,tokens,redundant,shared_experts,balancedness_mean,balancedness_min,step_us_p50,step_us_mean,dispatch_bytes,dispatch_bytes_cross_node,combine_bytes_cross_node,rebalances,weight_bytes_moved,rebalance_us,solve_us_p50,sim_wall_s" > "$CSV"
for w in "${WORKLOADS[@]}"; do
  for b in "${BALANCERS[@]}"; do
    for r in "${RANKS[@]}"; do
      args=(--ranks "$r" --gpus-per-node 8 --experts "$EXPERTS" --topk 8 --tokens "$TOKENS" --hidden 1024 --ffn 2048
            --layers 1 --steps "$STEPS" --warmup "$WARMUP" --workload "$w" --eplb-interval 5 --eplb-window 5 --seed 1)
      topo=""; name=$b
      case $b in
        none) args+=(--balancer none) ;;
        eplb|eplb,lplb) args+=(--balancer "$b" --redundant $((2 * r))) ;;
        waterfill) args+=(--balancer waterfill --shared-experts 1) ;;
        lplb:*|eplb+lplb:*) topo=${b#*lplb:}; name=lplb; bal=lplb
                [[ $b == eplb+* ]] && { name=eplb,lplb; bal=eplb,lplb; }
                case $topo in
                  ring) red=$r ;;
                  torus) if (( r % 16 == 0 )); then topo=torus:4x4; else topo=torus:2x4; fi; red=$((2 * r)) ;;
                  hypercube) (( r % 16 == 0 )) || continue; red=$((2 * r)) ;;
                  *) red=$((2 * r)) ;;
                esac
                args+=(--balancer "$bal" --topology "$topo" --redundant "$red") ;;
      esac
      if ! nice "$WIDEEP" sim "${args[@]}" --profile "$PROFILE" --quiet --json "$TMP/one.jsonl" > "$TMP/log" 2>&1; then
        echo "study.sh: skipped $w $b R=$r: $(tail -1 "$TMP/log")" >&2; continue
      fi
      /usr/bin/python3 - "$TMP/one.jsonl" "$w" "$name" "$topo" >> "$CSV" <<'PY'
import csv, json, sys
s = [json.loads(l) for l in open(sys.argv[1])][-1]
csv.writer(sys.stdout, lineterminator="\n").writerow([str(v) for v in [sys.argv[2], sys.argv[3], sys.argv[4] or "-", s["ranks"], s["gpus_per_node"],
      s["experts"], s["tokens"], s["redundant"], s["shared_experts"], round(s["balancedness"]["mean"], 6),
      round(s["balancedness"]["min"], 6), round(s["step_us"]["p50"], 2), round(s["step_us"]["mean"], 2),
      s["dispatch_bytes"], s["dispatch_bytes_cross_node"], s["combine_bytes_cross_node"], s["rebalances"],
      s["weight_bytes_moved"], round(s["rebalance_us"], 1), round(s["solve_us"]["p50"], 1), round(s["sim_wall_s"], 3)]])
PY
      echo "study.sh: $w $b R=$r done" >&2
    done
  done
done
/usr/bin/python3 "$ROOT/launch/plot_study.py" "$CSV" "$OUT"
echo "study.sh: wrote $CSV and the PNGs in $OUT"
