#!/usr/bin/env bash
# gpu_run.sh [tests|runs|sanitize|all]...   (default: tests runs)
# On the GPU machine, from the repository root: sources the bundle of
# launch/gpu_bundle.sh (gpu_bundle/ or gpu_bundle.tar.xz, unpacked on first
# use), records the machine (nvidia-smi, NCCL and CUDA versions), then
#   tests     the GPU kernel tests (kernels_tests, gtest XML)
#   runs      wideep run --backend nccl --check on 1 rank and on 2, 4 and 8 ranks
#             sharing the one GPU (each rank its own NCCL_HOSTID, sockets over
#             lo), for the balancers none, eplb,lplb and eplb,waterfill with
#             rebalances mid-run, plus a bf16 run with --baseline
#   sanitize  compute-sanitizer memcheck and racecheck on kernels_tests
# Everything goes to $OUT (the device tool's folder) or gpu_out/: one log per
# command and summary.txt (PASS/FAIL per command). Exit status: failures.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=${WIDEEP_BUNDLE:-$root/gpu_bundle}
if [[ ! -f $bundle/env.sh && -f $bundle.tar.xz ]]; then tar -C "$(dirname "$bundle")" -xJf "$bundle.tar.xz"; fi
[[ -f $bundle/env.sh ]] || { echo "gpu_run: no $bundle/env.sh: run launch/gpu_bundle.sh on the build machine" >&2; exit 2; }
# shellcheck source=/dev/null
source "$bundle/env.sh"
out=${OUT:-$root/gpu_out}
mkdir -p "$out"
summary=$out/summary.txt
failures=0
stages=("$@")
[[ ${#stages[@]} -eq 0 ]] && stages=(tests runs)

# run NAME TIMEOUT_S command...: logs to $out/NAME.log, one line in summary.txt.
run() {
  local name=$1 limit=$2; shift 2
  local t0=$SECONDS rc
  echo "== $name: $*" | tee "$out/$name.log"
  timeout --kill-after=10 "$limit" "$@" >>"$out/$name.log" 2>&1
  rc=$?
  local verdict=PASS
  [[ $rc -ne 0 ]] && { verdict="FAIL(rc=$rc)"; failures=$((failures + 1)); }
  printf '%-44s %-12s %4ss\n' "$name" "$verdict" $((SECONDS - t0)) | tee -a "$summary"
  tail -3 "$out/$name.log"
}

# Every rank its own NCCL_HOSTID (NCCL refuses two ranks on one GPU of one
# host before 2.30) and sockets over loopback; wideep sets the same itself
# when ranks outnumber GPUs, this makes it explicit.
per_rank='export NCCL_HOSTID=wideep-rank-${OMPI_COMM_WORLD_RANK:-0}; exec "$@"'
mpi() { local np=$1; shift; mpirun -np "$np" bash -c "$per_rank" _ "$@"; }

{
  echo "date: $(date -u +%FT%TZ)"
  nvidia-smi || true
  nvidia-smi -L || true
  echo "wideep: $(command -v wideep)"
  ldd "$(command -v wideep)" | grep -E 'nccl|cublas|cudart|not found' || true
  ls -l /usr/local/cuda/lib*/libnccl.so* 2>/dev/null || true
  command -v nvcc >/dev/null && nvcc --version | tail -2
} >"$out/machine.txt" 2>&1
echo "# $(date -u +%FT%TZ) $(nvidia-smi -L 2>/dev/null | head -1)" >"$summary"

export NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-lo}
export NCCL_DEBUG=${NCCL_DEBUG:-VERSION}   # prints the NCCL version at init
SHAPE=(--experts 32 --tokens 64 --hidden 128 --ffn 256 --layers 2 --timeout-s 60 --quiet)

for stage in "${stages[@]}"; do
  case $stage in
    tests)
      run kernels_tests 300 kernels_tests --gtest_output=xml:"$out/kernels_tests.xml"
      # Here a skip means the GPU was not seen: the validation did not happen.
      if grep -q "^\[  SKIPPED \]" "$out/kernels_tests.log"; then
        echo "kernels_tests: FAIL: GPU tests skipped (no GPU visible?)" | tee -a "$summary"
        failures=$((failures + 1))
      fi
      ;;
    runs)
      run run_np1_none 300 mpi 1 wideep run --backend nccl "${SHAPE[@]}" --steps 6 --warmup 1 --check --json "$out/run_np1_none.jsonl"
      for np in 2 4 8; do
        for bal in none eplb,lplb eplb,waterfill; do
          extra=()
          [[ $bal == *eplb* ]] && extra=(--redundant $np --shared-experts 1 --eplb-interval 4 --eplb-window 4)
          run "run_np${np}_${bal/,/_}" 300 mpi "$np" wideep run --backend nccl "${SHAPE[@]}" --steps 12 --warmup 1 \
            --balancer "$bal" "${extra[@]}" --check --json "$out/run_np${np}_${bal/,/_}.jsonl"
        done
      done
      run run_np4_bf16_baseline 300 mpi 4 wideep run --backend nccl "${SHAPE[@]}" --steps 10 --warmup 2 --baseline \
        --json "$out/run_np4_bf16_baseline.jsonl"
      ;;
    sanitize)
      cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
      run sanitize_memcheck 600 "$cs" --tool memcheck --error-exitcode 1 kernels_tests
      run sanitize_racecheck 600 "$cs" --tool racecheck --error-exitcode 1 kernels_tests
      ;;
    *) echo "gpu_run: unknown stage $stage (tests, runs, sanitize)" >&2; exit 2 ;;
  esac
done
grep -h "NCCL version" "$out"/*.log 2>/dev/null | head -1 | tee -a "$summary"
echo "gpu_run: $failures failure(s); logs in $out"
exit $((failures > 0))
