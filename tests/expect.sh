#!/usr/bin/env bash
# expect.sh --rc N [--match RE]... [--nomatch RE]... -- command...
# Runs the command, prints its output, and fails unless the exit status is N,
# every --match regex occurs in the output and no --nomatch regex does, and
# every --json-check of tests/check_json.py passes on $WIDEEP_TEST_OUT, and
# (with --within S) the command ended within S seconds; every --once regex
# matches exactly one line (one message, not one per rank).
set -u
rc_want=0; within_s=0; onces=(); matches=(); nomatches=(); json_checks=()
while [[ $# -gt 0 && $1 != -- ]]; do
  case $1 in
    --rc) rc_want=$2; shift 2 ;;
    --match) matches+=("$2"); shift 2 ;;
    --nomatch) nomatches+=("$2"); shift 2 ;;
    --json-check) json_checks+=("$2"); shift 2 ;;
    --within) within_s=$2; shift 2 ;;
    --once) onces+=("$2"); shift 2 ;;
    *) echo "expect.sh: unknown option $1" >&2; exit 99 ;;
  esac
done
shift
[[ -n ${WIDEEP_TEST_OUT:-} ]] && mkdir -p "$(dirname "$WIDEEP_TEST_OUT")" && rm -f "$WIDEEP_TEST_OUT"
cmd=()
for a in "$@"; do cmd+=("${a//@OUT@/${WIDEEP_TEST_OUT:-out.jsonl}}"); done
out=$(mktemp); trap 'rm -f "$out"' EXIT
start_s=$SECONDS
"${cmd[@]}" >"$out" 2>&1
rc=$?
took_s=$((SECONDS - start_s))
cat "$out"
fail=0
if [[ $within_s -gt 0 && $took_s -gt $within_s ]]; then echo "expect.sh: took ${took_s} s, limit ${within_s} s"; fail=1; fi
if [[ $rc -ne $rc_want ]]; then echo "expect.sh: exit status $rc, expected $rc_want"; fail=1; fi
for m in "${matches[@]}"; do
  grep -Eq -- "$m" "$out" || { echo "expect.sh: output lacks /$m/"; fail=1; }
done
for m in "${onces[@]}"; do
  n=$(grep -Ec -- "$m" "$out")
  [[ $n -eq 1 ]] || { echo "expect.sh: /$m/ on $n lines, expected exactly 1"; fail=1; }
done
for m in "${nomatches[@]}"; do
  if grep -Eq -- "$m" "$out"; then echo "expect.sh: output has /$m/"; fail=1; fi
done
for c in "${json_checks[@]}"; do
  python3 "$(dirname "$0")/check_json.py" "${WIDEEP_TEST_OUT:-out.jsonl}" "$c" || fail=1
done
exit $fail
