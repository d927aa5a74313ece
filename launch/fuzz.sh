#!/usr/bin/env bash
# launch/fuzz.sh [SECONDS] [--update-corpus]: builds the libFuzzer targets of
# fuzz/ with clang (ASan+UBSan+fuzzer) into build-fuzz/ and runs each for
# SECONDS (default 60) from the committed corpus fuzz/corpus/<target>/.
# New inputs go to build-fuzz/corpus/; --update-corpus merges them (minimised)
# into fuzz/corpus/. Crashes land in build-fuzz/findings/<target>/ and make the
# script fail. A table of execs, exec/s and coverage goes to build-fuzz/fuzz_summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
update=0
for a in "$@"; do
  case $a in
    --update-corpus) update=1 ;;
    [0-9]*) seconds=$a ;;
    *) echo "fuzz.sh: unknown argument $a" >&2; exit 2 ;;
  esac
done
command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ not found: launch/setup.sh installs clang and libclang-rt-14-dev" >&2; exit 2; }
targets=(trace placement topology config)
jobs=${FUZZ_BUILD_JOBS:-2}

CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DWIDEEP_FUZZ=ON -DWIDEEP_CUDA=OFF -DWIDEEP_BUILD_TESTS=OFF -DWIDEEP_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j "$jobs" --target "${targets[@]/%/_fuzz}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
summary=build-fuzz/fuzz_summary.txt
printf "%-10s %8s %12s %10s %8s %8s %6s %s\n" target seconds execs exec/s cov ft corpus findings >"$summary"
failed=0
for t in "${targets[@]}"; do
  work=build-fuzz/corpus/$t findings=build-fuzz/findings/$t log=build-fuzz/fuzz_$t.log
  mkdir -p "$work" "$findings" "fuzz/corpus/$t"
  rc=0
  # stdout closed: the option parser prints --help text for inputs that ask for it.
  build-fuzz/fuzz/${t}_fuzz "$work" "fuzz/corpus/$t" -max_total_time="$seconds" -max_len=16384 \
    -rss_limit_mb=2048 -timeout=10 -close_fd_mask=1 -print_final_stats=1 \
    -artifact_prefix="$findings/" >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
  nfind=$(find "$findings" -type f | wc -l)
  printf "%-10s %8s %12s %10s %8s %8s %6s %s\n" "$t" "$seconds" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" \
    "${corp:-?}" "$nfind" >>"$summary"
  if [[ $rc -ne 0 || $nfind -ne 0 ]]; then
    echo "fuzz.sh: $t: finding (exit $rc), see $log and $findings/" >&2
    failed=1
  fi
  if [[ $update -eq 1 ]]; then
    # Only after a clean run: the merge executes every input again.
    if [[ $rc -eq 0 && $nfind -eq 0 ]]; then
      build-fuzz/fuzz/${t}_fuzz -merge=1 -max_len=16384 -close_fd_mask=1 -artifact_prefix="$findings/" \
        "fuzz/corpus/$t" "$work" >"build-fuzz/merge_$t.log" 2>&1 || { echo "fuzz.sh: $t: merge failed" >&2; failed=1; }
    fi
  fi
done
rm -f /dev/shm/wideep_fuzz_* /tmp/wideep_fuzz_* 2>/dev/null || true
cat "$summary"
exit $failed
