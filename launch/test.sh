#!/usr/bin/env bash
# README command 2: install, build, and run every test (unit and multi-rank)
# with CTest. --sanitize builds with ASan+UBSan into build-sanitize/ and runs
# the same tests there (Open MPI's own leaks suppressed: tests/lsan.supp).
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=build
setup_args=()
if [[ ${1:-} == --sanitize ]]; then
  build_dir=build-sanitize
  setup_args+=(--sanitize)
  # Full (slow) unwinding and Open MPI's components kept loaded: the leak
  # stacks then reach the Open MPI library that allocated, which is what
  # tests/lsan.supp matches (fast unwinding stops at the first library without
  # frame pointers, and dlclose'd components show as "<unknown module>").
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:fast_unwind_on_malloc=0
  export LSAN_OPTIONS=suppressions=$PWD/tests/lsan.supp:print_suppressions=0:fast_unwind_on_malloc=0
  export OMPI_MCA_mca_base_component_disable_dlclose=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
launch/setup.sh "${setup_args[@]}"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
cd "$build_dir"
# One job at a time: the multi-rank tests already oversubscribe the cores.
ctest --output-on-failure --timeout 300 2>&1 | tee ctest.log
