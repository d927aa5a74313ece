#!/usr/bin/env bash
# Measures the numbers of launch/profiles/cpu_here.json on this machine with
# `wideep run` (8 ranks over shared memory, 2 layers) and prints the fit.
# Usage: launch/profiles/measure_cpu.sh [build dir (default build)] [ranks (default 8)]
set -euo pipefail
BUILD=${1:-build}
NP=${2:-8}
OUT=$(mktemp -d)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Single copy (CMA) off, unlike every other script (issue 12): cpu_here.json
# was calibrated so (its description says "no single-copy"), and this script
# reproduces it. Re-calibrating for Open MPI's defaults means dropping the
# setting here and re-measuring the whole profile together.
NO_CMA=(--mca btl_vader_single_copy_mechanism none)
MPI=(mpirun --oversubscribe --mca btl self,vader "${NO_CMA[@]}" -np "$NP")
COMMON=(--experts 64 --topk 8 --tokens 64 --ffn 128 --layers 2 --steps 30 --warmup 5 --quiet --backend mpi)
for h in 16 1024; do
  "${MPI[@]}" "$BUILD/wideep" run "${COMMON[@]}" --hidden $h --baseline --json "$OUT/h$h.jsonl"
done
# Expert GEMM alone: the expert phase with one rank (no sharing) at two FFN sizes.
for f in 128 1024; do
  mpirun --oversubscribe --mca btl self,vader "${NO_CMA[@]}" -np 1 "$BUILD/wideep" run --experts 8 --topk 2 --tokens 512 --hidden 256 --ffn $f \
    --layers 2 --steps 30 --warmup 5 --quiet --backend mpi --json "$OUT/f$f.jsonl"
done
/usr/bin/python3 - "$OUT" "$NP" <<'PY'
import json, sys
out, np_ = sys.argv[1], int(sys.argv[2])
def summary(name):
    return [json.loads(l) for l in open(f"{out}/{name}.jsonl")][-1]
L = 2
a, b = summary("h16"), summary("h1024")
for name, s in (("H=16", a), ("H=1024", b)):
    print(name, "phases_us per step:", {k: round(v, 1) for k, v in s["phases_us"].items()},
          "baseline_a2a_us", round(s["baseline_a2a_us"], 1), "dispatch_bytes", s["dispatch_bytes"])
# Dispatch: 2 rounds (counts, then rows) per layer; bytes per rank per layer.
lat = a["phases_us"]["dispatch"] / L / 2
bytes_b = b["dispatch_bytes"] / np_ / L
gbps = bytes_b / max(b["phases_us"]["dispatch"] / L - 2 * lat, 1e-9) / 1e3
print(f"same_node latency_us ~ {lat:.1f} per round, gbps ~ {gbps:.3f} (dispatch phase fit)")
print("route us per token (8 ranks, 2 layers):", a["phases_us"]["route"] / L / 64)
print("layout us per pair:", a["phases_us"]["layout"] / L / 64 / 8)
f1, f2 = summary("f128"), summary("f1024")
for name, s in (("F=128", f1), ("F=1024", f2)):
    print(name, "expert us per layer:", s["phases_us"]["expert"] / L)
# 1024 pairs per layer on one rank (512 tokens x top-2) over 8 experts: 4*H*F flops per pair.
d_flops = 1024 * 4 * 256 * (1024 - 128)
d_us = (f2["phases_us"]["expert"] - f1["phases_us"]["expert"]) / L
print(f"expert tflops ~ {d_flops / d_us / 1e6:.4f}")
PY
