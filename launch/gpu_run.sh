#!/usr/bin/env bash
# gpu_run.sh [--rehearse] [--bundle DIR] [--budget S] [--stages LIST] [--fail-fast] [--force]
# The one prepared command for a lent GPU machine (docs/gpu.md, "Lease plan"):
# from the repository root, with the bundle of launch/gpu_bundle.sh (gpu_bundle/
# or gpu_bundle.tar.xz, unpacked on first use) and nothing else installed, it
# runs the stages of stage_table below in that order (by value per second):
#   preflight  libraries resolve (ldd), versions, the GPU, MPS, mpirun
#   smoke      one 2-rank NCCL --check run, NCCL_DEBUG=INFO in its log; if it
#              fails at NCCL init, once more with NCCL_CUMEM_ENABLE=0 (kept for
#              the later stages when that passes; when both fail the
#              multi-rank cases are NOT-RUN, the rest still runs)
#   kernels    kernels_tests (GPU kernel tests; a skipped test is a failure here)
#   runs       the cases of tests/gpu_cases.txt through tests/expect.sh, 1-rank
#              first, then 2, 4, 8 ranks; 45 s a case (more for a case's WITHIN)
#   sanitize   compute-sanitizer memcheck and initcheck of a 1-rank wideep run
#              --check, then memcheck of kernels_tests if the budget allows
#   transport  issue 12's host benchmark (launch/transport_bench.py) on the cores
# A failed check never stops the later ones (--fail-fast: a failed stage ends
# the run); the run stops only where nothing further can: a bundled binary
# misses a library (every later stage NOT-RUN), no GPU (the GPU stages NOT-RUN).
# Every check has its own time limit, shrunk to what --budget (default 420 s)
# has left; a check the budget cannot fit is NOT-RUN. $OUT (or gpu_out/)
# receives summary.txt (the bundle's stamp, then one line per check: name,
# PASS/FAIL/NOT-RUN/SKIP, seconds, what it proves; the counts on the last line)
# and gpu_logs.tar.gz (every log, JSON lines file, gtest XML).
# The bundle's STAMP must match the tree (its commit HEAD's where git works,
# its source hash the tree's), else exit 2 unless --force.
# --rehearse: the same script on a machine without GPU, re-executed under
# `env -i` so that only what the bundle's env.sh sets is seen, with --backend
# mpi, at most 4 ranks; the GPU-only checks are reported SKIP, never PASS.
# Test knob: WIDEEP_GPU_RUN_TEST_FAIL="CHECK..." makes those checks fail (as at
# NCCL init) without running them (tests/gpu_run_script_test.sh).
# Exit status: 0 when every check that ran passed and the correctness set
# (smoke, kernels, runs) was not cut; 1 otherwise; 2 for bad usage, a missing
# or stale bundle.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)

# The stages in their order: name, what it needs (gpu: a visible GPU; host:
# the bundle's binaries), what it proves. A new stage is one line here plus
# its stage_NAME function.
stage_table='
preflight  host  the bundle loads on this machine: libraries, versions, GPU, mpirun (seconds)
smoke      gpu   one 2-rank NCCL run passes --check: NCCL starts here (diagnosable from its log)
kernels    gpu   the device kernels match the CPU reference
runs       gpu   the wideep run cases of tests/gpu_cases.txt: --check, balancers, faults, hang, init deadline
roofline   gpu   issue 26: kernels vs a D2D copy, grouped GEMM vs dense cuBLAS, host us per layer, wideep vs PyTorch (1 rank)
sanitize   gpu   compute-sanitizer: no invalid or uninitialised device memory access
transport  host  issue 12: shm transport vs raw MPI_Alltoallv on this machine'"'"'s cores
'
all_stages=$(awk 'NF {printf "%s ", $1}' <<<"$stage_table")
correctness_stages=" smoke kernels runs "

usage() { echo "gpu_run: $*" >&2; exit 2; }
rehearse=0 fail_fast=0 force=0 budget=420 stages=$all_stages bundle=${WIDEEP_BUNDLE:-$root/gpu_bundle}
inner=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --rehearse) rehearse=1; shift ;;
    --rehearse-inner) rehearse=1; inner=1; shift ;;
    --bundle|--budget|--stages) [[ $# -ge 2 ]] || usage "$1 needs a value"
      case $1 in --bundle) bundle=$2 ;; --budget) budget=$2 ;; --stages) stages=$2 ;; esac; shift 2 ;;
    --fail-fast) fail_fast=1; shift ;;
    --keep-going) shift ;;  # the default now
    --force) force=1; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage "unknown option $1 (see --help)" ;;
  esac
done
[[ $budget =~ ^[0-9]+$ && $budget -ge 30 ]] || usage "--budget $budget: whole seconds, at least 30"
for s in $stages; do
  [[ " $all_stages" == *" $s "* ]] || usage "--stages: unknown stage $s (stages: $all_stages)"
done
bundle=$(cd "$(dirname "$bundle")" 2>/dev/null && pwd)/$(basename "$bundle")
out=${OUT:-$root/gpu_out}
mkdir -p "$out" && out=$(cd "$out" && pwd)

# The rehearsal sees only what env.sh sets: re-run this script under env -i.
if [[ $rehearse -eq 1 && $inner -eq 0 ]]; then
  pass_on=()
  [[ $fail_fast -eq 1 ]] && pass_on+=(--fail-fast)
  [[ $force -eq 1 ]] && pass_on+=(--force)
  exec env -i HOME="${HOME:-/root}" PATH=/usr/bin:/bin OUT="$out" TMPDIR="${TMPDIR:-/tmp}" \
    ${WIDEEP_REHEARSE_DTYPE:+WIDEEP_REHEARSE_DTYPE=$WIDEEP_REHEARSE_DTYPE} \
    ${WIDEEP_GPU_RUN_TEST_FAIL:+WIDEEP_GPU_RUN_TEST_FAIL="$WIDEEP_GPU_RUN_TEST_FAIL"} \
    bash "$0" --rehearse-inner --bundle "$bundle" --budget "$budget" --stages "$stages" "${pass_on[@]}"
fi

if [[ ! -f $bundle/env.sh && -f $bundle.tar.xz ]]; then
  # tar needs xz(1) for -J; Python's tarfile (lzma) is the fallback where it is missing.
  tar -C "$(dirname "$bundle")" -xJf "$bundle.tar.xz" 2>/dev/null ||
    python3 -c 'import sys, tarfile; t = tarfile.open(sys.argv[1]); t.extractall(sys.argv[2], **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))' \
      "$bundle.tar.xz" "$(dirname "$bundle")" ||
    { echo "gpu_run: cannot unpack $bundle.tar.xz" >&2; exit 2; }
fi
[[ -f $bundle/env.sh ]] || { echo "gpu_run: no $bundle/env.sh: run launch/gpu_bundle.sh BUILD_DIR on the build machine" >&2; exit 2; }

# A stale bundle would validate other binaries than the tree's: refused before
# anything runs. The commit is compared where git works here, the source hash
# (launch/gpu_bundle.sh --source-hash) always, since the device's copy of the
# tree may have no .git.
stamp_of() { sed -n "s/^$1 //p" "$bundle/STAMP" 2>/dev/null | head -1; }
b_commit=$(stamp_of commit) b_dirty=$(stamp_of dirty) b_sources=$(stamp_of sources) b_built=$(stamp_of built)
head=""
[[ $(git -C "$root" rev-parse --show-toplevel 2>/dev/null) == "$root" ]] && head=$(git -C "$root" rev-parse HEAD 2>/dev/null)
tree_sources=$(bash "$root/launch/gpu_bundle.sh" --source-hash 2>/dev/null || true)
stale=""
if [[ ! -f $bundle/STAMP ]]; then
  stale="it has no STAMP (made by an older launch/gpu_bundle.sh)"
elif [[ -n $head && $b_commit != "$head" ]]; then
  stale="it was built at commit ${b_commit:0:12}, the tree is at ${head:0:12}"
elif [[ $b_sources != "$tree_sources" ]]; then
  stale="its sources hash ${b_sources:-none}, the tree's ${tree_sources:-none}"
fi
if [[ -n $stale && $force -eq 0 ]]; then
  echo "gpu_run: stale bundle $bundle: $stale; rebuild it (launch/gpu_bundle.sh BUILD_DIR) or pass --force" >&2
  exit 2
fi

# shellcheck source=/dev/null
source "$bundle/env.sh"

start_s=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/wideep_gpu_run.XXXXXX")
summary=$work/summary.txt
n_pass=0 n_fail=0 n_notrun=0 n_skip=0 cut=0
stage=""          # the stage running (a NOT-RUN check of a correctness stage cuts the set)
no_libs="" no_gpu=""  # why nothing / no GPU stage can run (set by preflight)
multi_off=""      # why the multi-rank cases do not run (NCCL cannot start twice, stalls)
if [[ $rehearse -eq 1 ]]; then
  # The host backend runs the device configuration (bf16 wire, mirrors, rounding):
  # every case without its own --dtype gets it (a case's own --dtype comes later and wins).
  backend=mpi max_np=4 dtype=${WIDEEP_REHEARSE_DTYPE:-bf16} mode="rehearsal (no GPU: --backend mpi --dtype bf16, <= 4 ranks)"
  dtype_arg=(--dtype "$dtype")
else
  backend=nccl max_np=8 dtype=bf16 mode="GPU"
  dtype_arg=()  # the device's own default (auto: bf16)
fi
small=$(sed -n 's/^SMALL *= *//p' "$root/tests/gpu_cases.txt")

# Two files go back to the device tool: the summary and one archive of all logs.
pack() {
  cp "$summary" "$out/summary.txt"
  tar -C "$work" -czf "$out/gpu_logs.tar.gz" . 2>/dev/null
  rm -rf "$work"
}
trap pack EXIT

note() { printf '%s\n' "$*" | tee -a "$summary"; }
verdict() {  # NAME VERDICT SECONDS [DETAIL]
  printf '%-40s %-12s %4ss  %s\n' "$1" "$2" "$3" "${4:-}" | tee -a "$summary"
  case $2 in
    PASS) n_pass=$((n_pass + 1)) ;;
    FAIL*) n_fail=$((n_fail + 1)) ;;
    SKIP) n_skip=$((n_skip + 1)) ;;
    NOT-RUN) n_notrun=$((n_notrun + 1)); [[ $correctness_stages == *" $stage "* ]] && cut=1 ;;
  esac
}
skip() { verdict "$1" SKIP 0 "$2"; }
not_run() { verdict "$1" NOT-RUN 0 "$2"; }
left_s() { echo $((budget - (SECONDS - start_s))); }

# check NAME LIMIT_S DETAIL command...: runs it with its own time limit (a real
# executable, timeout(1), around a real command), log in $work/NAME.log.
# Returns the command's status; 124/137 when it was killed at its limit, 125
# when the budget left no room for it.
check() {
  local name=$1 limit=$2 detail=$3; shift 3
  local t0=$SECONDS rc
  if [[ $(left_s) -lt 20 ]]; then
    not_run "$name" "budget: $(left_s) s left of $budget s"
    return 125
  fi
  [[ $(left_s) -lt $limit ]] && limit=$(left_s)  # the budget is the outer limit
  echo "== $name: $*" >"$work/$name.log"
  if [[ " ${WIDEEP_GPU_RUN_TEST_FAIL:-} " == *" $name "* ]]; then
    set -- bash -c 'echo "WIDEEP_GPU_RUN_TEST_FAIL: made to fail as at NCCL init (ncclCommInitRankConfig), not run"; exit 1'
  fi
  timeout --kill-after=10 "$limit" "$@" </dev/null >>"$work/$name.log" 2>&1
  rc=$?
  if [[ $rc -eq 0 ]]; then
    verdict "$name" PASS $((SECONDS - t0)) "$detail"
  else
    [[ $rc -eq 124 || $rc -eq 137 ]] && detail="killed at its $limit s limit; $detail"
    verdict "$name" "FAIL(rc=$rc)" $((SECONDS - t0)) "$detail"
    sed 's/^/    | /' "$work/$name.log" | grep -v 'NCCL INFO' | tail -8 | tee -a "$summary"
  fi
  return $rc
}

# Reads the versions from the libraries that wideep resolves (ldd), with ctypes:
# what the runs will load, not what some other program was built with.
lib_versions_py='
import ctypes, re, subprocess, sys
ldd = subprocess.run(["ldd", sys.argv[1]], capture_output=True, text=True).stdout
def lib(name, needed=True):
    m = re.search(r"^\s*(" + name + r"\S*) => (\S+)", ldd, re.M)
    if not m or m.group(2) == "not":
        if needed or m:
            sys.exit("%s: not found by ldd %s" % (name, sys.argv[1]))
        print("%s: not linked by %s" % (name, sys.argv[1]))
    return m.group(2) if m else None
v = ctypes.c_int(0)
path = lib("libnccl"); assert ctypes.CDLL(path).ncclGetVersion(ctypes.byref(v)) == 0
print("NCCL %d.%d.%d  %s" % (v.value // 10000, v.value // 100 % 100, v.value % 100, path))
path = lib("libcudart"); rt = ctypes.CDLL(path); assert rt.cudaRuntimeGetVersion(ctypes.byref(v)) == 0
d = ctypes.c_int(0); rt.cudaDriverGetVersion(ctypes.byref(d))
print("CUDA runtime %d.%d (driver supports %d.%d)  %s" % (v.value // 1000, v.value % 1000 // 10, d.value // 1000, d.value % 1000 // 10, path))
path = lib("libcublas", needed=False)
if path:
    cb = ctypes.CDLL(path); ver = []
    for prop in (0, 1, 2):
        assert cb.cublasGetProperty(prop, ctypes.byref(v)) == 0; ver.append(v.value)
    print("cuBLAS %d.%d.%d  %s" % (*ver, path))
'

# Only preflight_ldd and preflight_gpu gate (nothing, or no GPU stage, can run
# without them); the versions and mpirun checks inform.
stage_preflight() {
  local bin
  if wideep_bundle_check >"$work/preflight_ldd.log" 2>&1; then
    verdict preflight_ldd PASS 0 "d4: every bundled binary resolves all its libraries"
  else
    verdict preflight_ldd FAIL 0 "d4: a library is missing"
    sed 's/^/    | /' "$work/preflight_ldd.log" | grep -v '=>.*/' | tail -12 | tee -a "$summary"
    no_libs="a bundled binary misses a library (preflight_ldd)"
  fi
  for bin in wideep kernels_tests; do
    ldd "$WIDEEP_BUNDLE/bin/$bin" 2>/dev/null | awk -v b="$bin" '/libnccl|libcublas|libcudart/{print "    " b ": " $1 " -> " $3}' | tee -a "$summary"
  done
  check preflight_versions 30 "NCCL, CUDA runtime and cuBLAS versions (informs)" python3 -c "$lib_versions_py" "$WIDEEP_BUNDLE/bin/wideep"
  grep -E '^(NCCL|CUDA runtime|cuBLAS)' "$work/preflight_versions.log" | sed 's/^/    /' | tee -a "$summary"
  # The GPU: driver, name, memory, compute mode (ranks share the one GPU:
  # Exclusive_Process would refuse all but the first; that fails, but does not gate).
  if [[ $rehearse -eq 1 ]]; then
    skip preflight_gpu "rehearsal: no GPU (driver, compute mode not checked)"
  else
    check preflight_gpu 30 "driver, GPU, compute mode Default" bash -c '
      nvidia-smi || exit 1
      q=$(nvidia-smi --query-gpu=name,driver_version,memory.total,compute_mode --format=csv,noheader) || exit 1
      echo "gpu: $q"
      [[ -n $q ]] || { echo "no GPU listed"; exit 1; }
      grep -qi "default" <<<"$q" || { echo "compute mode is not Default: ranks cannot share the GPU"; exit 3; }'
    grep -q '^gpu: ' "$work/preflight_gpu.log" || no_gpu="no GPU visible (preflight_gpu)"
    grep '^gpu: ' "$work/preflight_gpu.log" | sed 's/^/    /' | tee -a "$summary"
  fi
  local mps
  mps=$(command -v nvidia-cuda-mps-control || true)
  note "    MPS: ${mps:-nvidia-cuda-mps-control not found}${mps:+ exists (not used: the ranks time-slice the GPU)}"
  note "    launcher binding: OMPI_MCA_hwloc_base_binding_policy=${OMPI_MCA_hwloc_base_binding_policy:-unset} (wideep binds near the GPU); NCCL_IB_DISABLE=${NCCL_IB_DISABLE:-unset}"
  check preflight_mpirun 60 "the bundled mpirun starts 2 ranks (informs)" mpirun -np 2 --report-bindings wideep --help
  grep -E 'bound to|not bound' "$work/preflight_mpirun.log" | sed 's/^/    /' | tee -a "$summary"
  grep -q 'bound to' "$work/preflight_mpirun.log" || note "    mpirun --report-bindings: no rank bound by the launcher"
}

# The cases of tests/gpu_cases.txt (format there), each printed as
# "NP<TAB>ORDER<TAB>TAG<TAB>LINE" (the comment above a group of cases names
# the defect they prove: "d1:"; "-" for none, since read(1) merges empty tab fields).
case_lines() {
  awk '
    /^[ \t]*#/ { if (after) tag = ""; after = 0; if (match($0, /d[0-9]+:/)) tag = substr($0, RSTART, RLENGTH - 1); next }
    /^[ \t]*$/ || /^SMALL/ { next }
    { after = 1; split($0, f, "|"); np = f[3]; gsub(/[ \t]/, "", np); printf "%s\t%d\t%s\t%s\n", np, NR, tag == "" ? "-" : tag, $0 }
  ' "$root/tests/gpu_cases.txt"
}

# run_case TAG LINE [SUFFIX [VAR=value...]]: one case through tests/expect.sh
# under mpirun, the VAR=values after the case's own environment.
run_case() {
  local tag=${1#-} line=$2 suffix=${3:-}
  shift $(( $# < 3 ? $# : 3 ))
  local name where np rc env args expect
  IFS='|' read -r name where np rc env args expect <<<"$line"
  name=$(xargs <<<"$name"); where=$(xargs <<<"$where"); np=$(xargs <<<"$np"); rc=$(xargs <<<"$rc"); env=$(xargs <<<"$env")
  local cname=run_$name$suffix
  if [[ $where == gpu && $rehearse -eq 1 ]]; then
    skip "$cname" "rehearsal: needs the NCCL backend${tag:+ ($tag)}"
    return 0
  fi
  [[ $np -gt $max_np ]] && np=$max_np
  if [[ $np -gt 1 && -n $multi_off ]]; then
    not_run "$cname" "$multi_off"
    return 125
  fi
  local argv=() expv=() flags=() envv=() kw="" t limit=45
  args=${args//@SMALL@/$small}
  eval "argv=($args)"
  eval "expv=(${expect//@DTYPE@/$dtype})"
  for t in "${expv[@]}"; do
    case $t in
      MATCH) kw=--match ;; NOMATCH) kw=--nomatch ;; ONCE) kw=--once ;;
      JSON_CHECK) kw=--json-check ;; WITHIN) kw=--within ;;
      *) flags+=("$kw" "$t"); [[ $kw == --within && $((t + 10)) -gt $limit ]] && limit=$((t + 10)) ;;
    esac
  done
  [[ $env != - ]] && read -r -a envv <<<"$env"
  export WIDEEP_TEST_OUT=$work/$cname.jsonl
  check "$cname" "$limit" "np $np${tag:+, $tag}" \
    env "${envv[@]}" "$@" bash "$root/tests/expect.sh" --rc "$rc" "${flags[@]}" -- \
    mpirun -np "$np" wideep run --backend "$backend" "${dtype_arg[@]}" "${argv[@]}"
  rc=$?
  if [[ -s $WIDEEP_TEST_OUT ]]; then  # the step time, for the comparisons of docs/gpu.md
    local label=""
    [[ $rehearse -eq 0 && $np -gt 1 ]] && label=": correctness only (ranks share one GPU over sockets)"
    python3 -c 'import json,sys
s=[json.loads(l) for l in open(sys.argv[1]) if "\"summary\"" in l]
s and print("    step p50 %.0f us, dtype %s%s" % (s[-1]["step_us"]["p50"], s[-1].get("dtype","?"), sys.argv[2]))' \
      "$WIDEEP_TEST_OUT" "$label" 2>/dev/null | tee -a "$summary"
  fi
  unset WIDEEP_TEST_OUT
  return $rc
}

# Failed at NCCL init: NCCL's or wideep's words for the start-up (not NCCL's INFO
# lines, which name the same calls when all goes well), or killed before any check.
failed_at_init() {
  local rc=$2 body
  body=$(tail -n +2 "$1" | grep -v -e '^expect\.sh: ' -e 'NCCL INFO')  # the run's own words only
  grep -q 'check: passed\|check failed' <<<"$body" && return 1
  [[ $rc -eq 124 || $rc -eq 137 ]] && return 0
  grep -Eq 'nccl[A-Z][A-Za-z]*|NCCL WARN|NCCL error' <<<"$body"
}

stage_smoke() {
  local tag line rc
  IFS=$'\t' read -r _ _ tag line < <(case_lines | awk -F'\t' '{split($4, f, "|"); w = f[2]; gsub(/[ \t]/, "", w)} w == "smoke"' | head -1)
  [[ -n $line ]] || { verdict run_smoke FAIL 0 "tests/gpu_cases.txt has no case of where 'smoke'"; return; }
  run_case "$tag" "$line"
  rc=$?
  [[ $rc -eq 0 || $rc -eq 125 ]] && return
  local name
  name=$(xargs <<<"${line%%|*}")
  failed_at_init "$work/run_$name.log" "$rc" || return
  note "    $name failed at NCCL init: once more with NCCL_CUMEM_ENABLE=0"
  if run_case "$tag" "$line" _retry NCCL_CUMEM_ENABLE=0 NCCL_DEBUG=INFO; then
    export NCCL_CUMEM_ENABLE=0
    cumem_kept=1
    note "    NCCL_CUMEM_ENABLE=0 is exported for every later stage: the smoke case passed only with it"
  else
    multi_off="NCCL failed to start twice in the smoke stage"
    note "    NCCL did not start twice: the multi-rank cases are NOT-RUN; kernels, 1-rank cases, sanitize, transport run"
  fi
}

stage_kernels() {
  if [[ $rehearse -eq 1 ]]; then
    skip kernels_tests "rehearsal: GPU kernel tests need a GPU"
    return
  fi
  check kernels_tests 240 "device kernels vs the CPU reference" \
    kernels_tests --gtest_output=xml:"$work/kernels_tests.xml" || return
  # Here a skip means the GPU was not seen: the validation did not happen.
  if grep -q '^\[  SKIPPED \]' "$work/kernels_tests.log"; then
    verdict kernels_tests_no_skips FAIL 0 "GPU tests skipped (no GPU visible to the tests?)"
  fi
}

# The cases of tests/gpu_cases.txt but the smoke case, by rank count (1 first,
# the 8-rank ones last), in file order within a count. Two cases in a row
# killed at their limit (NCCL stalling) leave the remaining multi-rank ones NOT-RUN.
stage_runs() {
  local tag line rc killed=0 where
  while IFS=$'\t' read -r _ _ tag line; do
    where=$(cut -d'|' -f2 <<<"$line" | xargs)
    [[ $where == smoke ]] && continue
    run_case "$tag" "$line"
    rc=$?
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then killed=$((killed + 1)); else killed=0; fi
    [[ $killed -ge 2 && -z $multi_off ]] && multi_off="two cases in a row were killed at their limit"
  done < <(case_lines | sort -t$'\t' -k1,1n -k2,2n)
}

stage_sanitize() {
  if [[ $rehearse -eq 1 ]]; then
    skip sanitize_memcheck_run "rehearsal: compute-sanitizer needs a GPU"
    skip sanitize_initcheck_run "rehearsal: compute-sanitizer needs a GPU"
    skip sanitize_memcheck_kernels "rehearsal: compute-sanitizer needs a GPU"
    return
  fi
  local cs tool argv=()
  cs=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  if [[ ! -x $cs ]]; then
    for tool in memcheck_run initcheck_run memcheck_kernels; do not_run "sanitize_$tool" "compute-sanitizer not found"; done
    return
  fi
  eval "argv=($small)"
  # One rank at the small shape: the sanitizer slows kernels 10-100x.
  for tool in memcheck initcheck; do
    check "sanitize_${tool}_run" 90 "$tool: a 1-rank wideep run --check, no bad device access" \
      mpirun -np 1 "$cs" --tool "$tool" --error-exitcode 1 wideep run --backend nccl "${argv[@]}" --check
  done
  # kernels_tests only with room left for the transport stage after it.
  local limit=$(( $(left_s) - 60 ))
  [[ $limit -gt 180 ]] && limit=180
  if [[ $limit -lt 60 ]]; then
    not_run sanitize_memcheck_kernels "budget: $(left_s) s left"
  else
    check sanitize_memcheck_kernels "$limit" "memcheck of the device kernels (kernels_tests)" \
      "$cs" --tool memcheck --error-exitcode 1 kernels_tests
  fi
}

# Issue 26 (launch/roofline.py): on one rank at the DeepSeek-V3 shape, each
# memory-bound kernel against a D2D copy, the grouped GEMM against one dense
# cuBLAS GEMM, host time per layer, and wideep's layer against the PyTorch
# layer (launch/torch_moe_ref.py); one summary line per measure. A missed goal
# is reported (MISS, by how much), not failed; the rehearsal runs the host bodies.
stage_roofline() {
  local args=(--out "$work/roofline")
  [[ $rehearse -eq 1 ]] && args+=(--rehearse)
  check roofline 300 "issue 26: kernels vs D2D copy, GEMM vs dense cuBLAS, host us/layer, wideep/torch" \
    python3 "$root/launch/roofline.py" "${args[@]}"
  grep -E '^(roofline_|    (host waits|torch layer))' "$work/roofline.log" | sed 's/^/    /' | tee -a "$summary"
}

# Issue 12's host benchmark (launch/transport_bench.py): --transport shm against
# the raw MPI_Alltoallv, --backend mpi, on this machine's cores (the GPU
# machine has 16: a core per rank at 8 ranks, which the 2-core build machine
# cannot give), with Open MPI's own binding, as measured in issue 12. A pass
# means it measured; the ratios go to the summary (goals are met in
# docs/results.md, not here).
stage_transport() {
  local ranks="2,8" runs=3 steps=14 warmup=6
  [[ $rehearse -eq 1 ]] && ranks=2 runs=1 steps=4 warmup=2
  check transport_bench 360 "issue 12: shm dispatch+combine vs raw MPI_Alltoallv, ranks $ranks" \
    env -u OMPI_MCA_hwloc_base_binding_policy python3 "$root/launch/transport_bench.py" --build "$WIDEEP_BUNDLE/bin" \
    --ranks "$ranks" --runs "$runs" --steps "$steps" --warmup "$warmup"
  grep -E '^(machine|np [0-9]+: (fastest|no MCA)|np [0-9]+ .*(ratio|raw all-to-allv ms|failed|no result))' "$work/transport_bench.log" |
    sed 's/^/    /' | tee -a "$summary"
}

note "# $(date -u +%FT%TZ) wideep gpu_run: $mode, budget $budget s, stages: $(for s in $all_stages; do [[ " $stages " == *" $s "* ]] && printf '%s ' "$s"; done)"
note "# bundle: commit ${b_commit:-?} (tree dirty: ${b_dirty:-?}), sources ${b_sources:-?}, built ${b_built:-?}"
if [[ -n $stale ]]; then
  note "# tree: HEAD ${head:-(no git)}, sources $tree_sources: STALE BUNDLE ($stale), run anyway by --force"
else
  note "# tree: HEAD ${head:-(no git)}, sources $tree_sources: the bundle matches"
fi
[[ -n ${WIDEEP_GPU_RUN_TEST_FAIL:-} ]] && note "# test knob WIDEEP_GPU_RUN_TEST_FAIL: made to fail: $WIDEEP_GPU_RUN_TEST_FAIL"
# One machine: NCCL's bootstrap and the sockets of ranks sharing the GPU over loopback.
export NCCL_DEBUG=${NCCL_DEBUG:-WARN} NCCL_SOCKET_IFNAME=${NCCL_SOCKET_IFNAME:-lo}
stopped="" cumem_kept=0
for stage in $all_stages; do  # in the table's order, whatever order --stages names
  [[ " $stages " == *" $stage "* ]] || continue
  read -r _ needs proves < <(awk -v s="$stage" '$1 == s' <<<"$stage_table")
  note "## $stage: $proves"
  why=$stopped
  [[ -z $why ]] && why=$no_libs
  [[ -z $why && $needs == gpu ]] && why=$no_gpu
  if [[ -n $why ]]; then
    not_run "stage_$stage" "$why"
    continue
  fi
  fails_before=$n_fail
  "stage_$stage"
  [[ $fail_fast -eq 1 && $n_fail -gt $fails_before ]] && stopped="--fail-fast: stage $stage failed"
done
[[ $cumem_kept -eq 1 ]] && note "# NCCL_CUMEM_ENABLE=0 was exported after the smoke stage (see there)"
status=$(( n_fail > 0 || cut > 0 ))
note "# $mode: $n_pass PASS, $n_fail FAIL, $n_notrun NOT-RUN, $n_skip SKIP$([[ $cut -eq 1 ]] && echo " (the correctness set was cut)"); $((SECONDS - start_s)) s of $budget; exit $status; logs: gpu_logs.tar.gz"
exit $status
