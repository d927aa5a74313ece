#!/usr/bin/env bash
# README command 2: install, build, and run every test (unit and multi-rank)
# with CTest in build/, then the GPU run's rehearsal (launch/gpu_run.sh
# --rehearse, from a bundle of build/) and the Python package's pytest (in .venv,
# the project's Python that setup.sh makes); then, CI-sized, the same binaries built with
# ASan+UBSan into build-sanitize/ run the unit tests and a multi-rank subset
# (np 1-4 checked runs, balancers at 4 ranks, faults, repeatability, the device
# configuration on the host at 2 and 4 ranks: ~9 min
# with the build). Open MPI's own leaks are suppressed (tests/lsan.supp).
#   launch/test.sh              all tests, then the sanitizer subset (CI)
#   launch/test.sh --sanitize   every test under ASan+UBSan (~25 min on 2 cores)
#   launch/test.sh --no-sanitize  all tests only
set -euo pipefail
cd "$(dirname "$0")/.."
mode=ci
case ${1:-} in
  --sanitize) mode=sanitize ;;
  --no-sanitize) mode=plain ;;
  "") ;;
  *) echo "test.sh: unknown option $1 (--sanitize, --no-sanitize)" >&2; exit 2 ;;
esac
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

sanitizer_env() {
  # Full (slow) unwinding and Open MPI's components kept loaded: the leak
  # stacks then reach the Open MPI library that allocated, which is what
  # tests/lsan.supp matches (fast unwinding stops at the first library without
  # frame pointers, and dlclose'd components show as "<unknown module>").
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # hwloc's PCI plugin (loaded by wideep's topology discovery and by Open MPI)
  # made LeakSanitizer's tracer crash at exit on some machines (issue 24);
  # CTest sets it per test too (cmake/WideepHelpers.cmake), this covers what
  # runs outside CTest. hwloc still finds PCI devices through sysfs.
  export HWLOC_PLUGINS_BLACKLIST=hwloc_pci
}

status=0
if [[ $mode != sanitize ]]; then
  launch/setup.sh
  # One job at a time: the multi-rank tests already oversubscribe the cores.
  (cd build && ctest --output-on-failure --timeout 300 2>&1 | tee ctest.log) || status=$?
  # The GPU machine's one command (launch/gpu_run.sh), rehearsed here from the
  # bundle under env -i with --backend mpi (docs/gpu.md), every stage; ~2 min.
  # Then the tests of the script itself on that bundle and summary (~15 s).
  if [[ $(ldd build/wideep) == *libcudart* ]]; then
    echo "test.sh: GPU run rehearsal (launch/gpu_bundle.sh build, launch/gpu_run.sh --rehearse)"
    if ! launch/gpu_bundle.sh build build/gpu_bundle --no-archive; then
      echo "test.sh: launch/gpu_bundle.sh failed"
      status=1
    else
      if ! OUT=build/gpu_rehearse launch/gpu_run.sh --rehearse --bundle build/gpu_bundle; then
        echo "test.sh: the GPU run rehearsal failed (logs: build/gpu_rehearse/gpu_logs.tar.gz)"
        status=1
      fi
      tests/gpu_run_script_test.sh build/gpu_bundle build/gpu_rehearse/summary.txt ||
        { echo "test.sh: tests/gpu_run_script_test.sh (the tests of launch/gpu_run.sh) failed"; status=1; }
    fi
  else
    echo "test.sh: GPU run rehearsal skipped: build/ has no CUDA path (no nvcc found)"
  fi
  # The Python package (issue 30, docs/python.md) in the project's one Python,
  # .venv, which launch/setup.sh above made and pip-installed the package into
  # (again only when its sources changed); pytest against build/wideep (~15 s).
  echo "test.sh: Python package (.venv from launch/setup.sh, pytest python/tests)"
  if .venv/bin/python -c 'import wideep, pytest' 2>/dev/null ||
     .venv/bin/python -m pip install -q ".[test]"; then
    (WIDEEP_CLI=$PWD/build/wideep .venv/bin/python -m pytest -q -p no:cacheprovider python/tests 2>&1 |
       tee build/pytest.log) || status=$?
  else
    echo "test.sh: pip install '.[test]' into .venv failed"; status=1
  fi
fi
if [[ $mode == sanitize ]]; then
  launch/setup.sh --sanitize
  sanitizer_env
  (cd build-sanitize && ctest --output-on-failure --timeout 600 2>&1 | tee ctest.log) || status=$?
elif [[ $mode == ci ]]; then
  echo "test.sh: ASan+UBSan subset (build-sanitize/)"
  launch/setup.sh --sanitize
  sanitizer_env
  subset='^run_check_np(1|2|4)_|^bal_np4_|^run_fault|^fault_corrupt|^repeat_run|^devpath_np(2|4)_|^mem_matches_run'
  # The unit tests two at a time (each one process, one core; ~100 s serial).
  (cd build-sanitize && ctest --output-on-failure --timeout 600 -L unit -j 2 2>&1 | tee ctest-unit.log &&
     ctest --output-on-failure --timeout 600 -R "$subset" 2>&1 | tee ctest-mpi.log) || status=$?
fi
# The CI subset of the mutation suite (issue 15, tests/mutants/): 5 planted
# bugs, each must fail its tests. Scratch copy and build dir reused under
# /tmp/wideep-mutant (incremental: ~1 min warm, a full build the first time).
if [[ $mode == ci ]]; then
  echo "test.sh: mutation subset (launch/mutate.sh --ci)"
  launch/mutate.sh --ci || status=$?
fi
# The main run's CTest summary, after everything that followed it.
[[ -f build/ctest.log && $mode != sanitize ]] && { grep -E '^[0-9]+% tests passed' build/ctest.log | sed 's/^/test.sh: build\/ CTest: /' || true; }
exit $status
