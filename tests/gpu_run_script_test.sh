#!/usr/bin/env bash
# gpu_run_script_test.sh BUNDLE SUMMARY: tests of launch/gpu_run.sh itself, run
# by launch/test.sh after its rehearsal (BUNDLE: the bundle it rehearsed from,
# SUMMARY: that rehearsal's summary.txt, which is reused). Each test is a short
# rehearsal (~20 s in all): failures made on purpose (WIDEEP_GPU_RUN_TEST_FAIL)
# do not stop the later stages; the smoke case's retry; --fail-fast; stale
# bundles refused (exit 2) unless --force. Exit 0 when every expectation holds.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:?usage: gpu_run_script_test.sh BUNDLE SUMMARY}" && pwd)
summary=${2:?usage: gpu_run_script_test.sh BUNDLE SUMMARY}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gpu_run_test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
failed=0

ok() { echo "gpu_run_script_test: ok: $*"; }
bad() { echo "gpu_run_script_test: FAILED: $*"; failed=1; }
# has FILE REGEX WHAT: the file has a line matching the extended regex.
has() { if grep -Eq -- "$2" "$1"; then ok "$3"; else bad "$3 (no /$2/ in $1)"; fi; }
hasnt() { if grep -Eq -- "$2" "$1"; then bad "$3 (/$2/ in $1)"; else ok "$3"; fi; }
rc_is() { if [[ $1 -eq $2 ]]; then ok "$3: exit $1"; else bad "$3: exit $1, expected $2"; fi; }
# rehearse NAME ARGS...: a rehearsal into $tmp/NAME/ (summary.txt, out.log); prints its exit status.
rehearse() {
  local name=$1; shift
  mkdir -p "$tmp/$name"
  OUT=$tmp/$name "$root/launch/gpu_run.sh" --rehearse --bundle "$bundle" "$@" >"$tmp/$name/out.log" 2>&1
  echo $?
}

# (a, c) The CI rehearsal: the smoke case is the first run check; the bundle's
# commit, HEAD's here, is at the top; every check that ran passed.
head=$(git -C "$root" rev-parse HEAD)
first_run=$(grep -E '^run_' "$summary" | head -1)
[[ $first_run =~ ^run_smoke_np2\ +PASS ]] && ok "the smoke case is the first run check" ||
  bad "the first run check is not run_smoke_np2 PASS: '$first_run'"
has "$summary" "^# bundle: commit $head " "the summary names the bundle's commit (HEAD $head)"
has "$summary" "^# tree: HEAD $head, .*the bundle matches" "the summary says the bundle matches the tree"
has "$summary" "^# .*: [0-9]+ PASS, 0 FAIL, 0 NOT-RUN, [0-9]+ SKIP; .*exit 0;" "the last line counts PASS, FAIL, NOT-RUN, SKIP"

# (b) Failures on purpose: an informational preflight check, and the smoke case
# twice as at NCCL init. Later checks of the same stage and later stages still
# run; the multi-rank cases are NOT-RUN (not FAIL), the 1-rank case runs; exit 1.
s=$tmp/keep_going/summary.txt
rc=$(WIDEEP_GPU_RUN_TEST_FAIL="preflight_versions run_smoke_np2 run_smoke_np2_retry" \
     rehearse keep_going --stages "preflight smoke runs sanitize")
rc_is "$rc" 1 "three checks made to fail"
has "$s" '^preflight_versions +FAIL' "preflight_versions fails on purpose"
has "$s" '^preflight_mpirun +PASS' "the preflight check after it still runs"
has "$s" '^run_smoke_np2 +FAIL' "the smoke case fails on purpose"
has "$s" 'once more with NCCL_CUMEM_ENABLE=0' "a smoke case failed at NCCL init is retried"
has "$s" '^run_smoke_np2_retry +FAIL' "its retry fails on purpose"
has "$s" '^run_check_np1 +PASS' "the 1-rank case of the later runs stage still runs and passes"
has "$s" '^run_check_np2 +NOT-RUN .*NCCL failed to start twice' "multi-rank cases are NOT-RUN, not FAIL"
hasnt "$s" '^run_check_np2 +FAIL' "no multi-rank case reported FAIL"
has "$s" '^sanitize_memcheck_run +SKIP' "the stage after them still runs"
has "$s" ' 3 FAIL, [1-9][0-9]* NOT-RUN, .*the correctness set was cut.*exit 1;' "the last line counts 3 FAIL apart from the NOT-RUN ones"

# The smoke case fails once and passes with NCCL_CUMEM_ENABLE=0: kept for later stages.
s=$tmp/retry/summary.txt
rc=$(WIDEEP_GPU_RUN_TEST_FAIL=run_smoke_np2 rehearse retry --stages "smoke")
rc_is "$rc" 1 "the smoke case failed once"
has "$s" '^run_smoke_np2_retry +PASS' "the retry passes"
has "$s" 'NCCL_CUMEM_ENABLE=0 is exported for every later stage' "the summary says NCCL_CUMEM_ENABLE=0 is kept"

# --fail-fast: the old behaviour, a failed stage ends the run.
s=$tmp/fail_fast/summary.txt
rc=$(WIDEEP_GPU_RUN_TEST_FAIL=preflight_versions rehearse fail_fast --fail-fast --stages "preflight smoke")
rc_is "$rc" 1 "--fail-fast with a failed preflight"
has "$s" '^stage_smoke +NOT-RUN .*--fail-fast' "--fail-fast leaves the later stages NOT-RUN"

# (d) Stale bundles: a copy (links) whose STAMP names another commit, then
# another source hash; refused with exit 2 and one line, run with --force.
stale=$tmp/stale_bundle
mkdir -p "$stale"
for f in "$bundle"/*; do ln -s "$f" "$stale/$(basename "$f")"; done
rm -f "$stale/STAMP"
sed 's/^commit .*/commit 0123456789abcdef0123456789abcdef01234567/' "$bundle/STAMP" >"$stale/STAMP"
OUT=$tmp/refused "$root/launch/gpu_run.sh" --rehearse --bundle "$stale" --stages preflight >"$tmp/refused.log" 2>&1
rc_is $? 2 "a bundle of another commit without --force"
has "$tmp/refused.log" '^gpu_run: stale bundle .*built at commit 0123456789ab, the tree is at .*--force' "the refusal says why in one line"
[[ $(wc -l <"$tmp/refused.log") -eq 1 ]] && ok "the refusal is one line" || bad "the refusal is $(wc -l <"$tmp/refused.log") lines"
sed -i "s/^commit .*/commit $head/; s/^sources .*/sources 0000000000000000/" "$stale/STAMP"
OUT=$tmp/refused2 "$root/launch/gpu_run.sh" --rehearse --bundle "$stale" --stages preflight >"$tmp/refused2.log" 2>&1
rc_is $? 2 "a bundle of other sources without --force"
has "$tmp/refused2.log" 'its sources hash 0000000000000000, the tree.s' "the refusal names the source hashes"
sed -i 's/^commit .*/commit 0123456789abcdef0123456789abcdef01234567/' "$stale/STAMP"
OUT=$tmp/forced "$root/launch/gpu_run.sh" --rehearse --bundle "$stale" --stages preflight --force >"$tmp/forced.log" 2>&1
rc_is $? 0 "the stale bundle with --force"
has "$tmp/forced/summary.txt" '^# tree: .*STALE BUNDLE .*--force' "the summary says the bundle is stale"

exit $failed
