#!/usr/bin/env bash
# launch/soak.sh [STEPS] [RANKS]: the soak benchmark of issue 8 (not a CI test):
# 8 ranks, 10,000 steps of the drift workload with EPLB every 100 steps (and
# LPLB per step), --check on every 100th step. Passes when the run ends with
# the check passed, the largest rank's resident memory at the end is within
# 10% (+8 MiB) of what it was after step 0, and its private memory (RssAnon)
# grew by less than 1 KiB per 10 steps after the first tenth of the run (the
# first rebalances' one-time buffers). Writes build/soak.jsonl and prints
# the figures docs/reliability.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-10000}
ranks=${2:-8}
build=${WIDEEP_BUILD:-build}
[[ -x $build/wideep ]] || launch/setup.sh --build-dir "$build"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
out=$build/soak.jsonl
start_s=$SECONDS
mpirun --allow-run-as-root --oversubscribe --mca btl self,vader \
  -np "$ranks" "$build/wideep" run --experts 32 --topk 4 --tokens 32 --hidden 32 --ffn 64 --layers 2 \
  --steps "$steps" --warmup 0 --workload drift:1.2:500 --balancer eplb,lplb --redundant $((2 * ranks)) \
  --eplb-interval 100 --eplb-window 50 --check --check-every 100 --timeout-s 60 --quiet --json "$out" | tail -3
took_s=$((SECONDS - start_s))
python3 - "$out" "$took_s" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
s = [l for l in lines if l["type"] == "summary"][0]
steps = [l for l in lines if l["type"] == "step"]
checked = sum(1 for l in steps if l.get("max_abs_err", -1) >= 0)
print(f"soak: {s['ranks']} ranks, {s['steps']} steps in {sys.argv[2]} s, {s['rebalances']} rebalances, "
      f"{s['weight_bytes_moved'] / 2**20:.1f} MiB of weights moved, {checked} steps checked "
      f"(max rel err {s.get('max_rel_err', 0):.3g}), step p50 {s['step_us']['p50']:.0f} us, "
      f"balancedness mean {s['balancedness']['mean']:.3f}")
r = s["rss_kb"]
rss0, rss10, rss1, step10 = r["after_step0"], r["after_tenth"], r["end"], r["tenth_step"]
anon0, anon10, anon1 = r["anon_after_step0"], r["anon_after_tenth"], r["anon_end"]
grow = rss1 - rss0
anon_late = anon1 - anon10
print(f"soak: largest rank RSS {rss0} KiB after step 0, {rss10} KiB after step {step10}, "
      f"{rss1} KiB at the end ({grow:+d} KiB in all)")
print(f"soak: of which private (RssAnon) {anon0} KiB after step 0, {anon10} KiB after step {step10}, "
      f"{anon1} KiB at the end ({anon1 - anon0:+d} KiB in all, {anon_late:+d} KiB after step {step10})")
# The first rebalances allocate the planner's and the exchange's buffers once;
# after them private memory must stay flat: under 1 KiB per 10 steps (256 KiB
# for runs too short to have finished warming up). The rest
# of the resident set is file-backed (libraries, Open MPI's shared-memory
# segments, touched as message sizes vary) and bounded by their sizes: the
# whole must stay within 10% + 8 MiB.
late_steps = max(s["steps"] - step10, 1)
ok = (grow <= 0.10 * rss0 + 8192 and anon_late <= max(late_steps / 10, 256) and s.get("max_rel_err", 1) <= 1e-4
      and checked > 0)
print("soak: " + ("passed" if ok else "FAILED"))
sys.exit(0 if ok else 1)
PY
