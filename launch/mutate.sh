#!/usr/bin/env bash
# The mutation suite (issue 15): applies each mutant of tests/mutants/mutants.txt
# to a scratch copy of this tree (/tmp/wideep-mutant, reused), rebuilds
# incrementally and runs the CTest subset that should catch it; prints KILLED /
# SURVIVED / STALE per mutant and the score. Not part of CI's default run.
#   launch/mutate.sh              every mutant (first run: a full build, ~10 min on 2 cores)
#   launch/mutate.sh --ci         the 5 mutants marked ci (launch/test.sh runs this)
#   launch/mutate.sh --only ID,.. named mutants; --baseline also runs the subsets unmutated
# Exit 0 only when every selected mutant is killed (or argued equivalent).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1
exec python3 tests/mutants/mutate.py "$@"
