#!/usr/bin/env bash
# tests/python_story.sh starts|commands WIDEEP DIR: the Python commands of
# README.md and docs/*.md work as typed whatever `python3` comes first on PATH
# (issue 29 item 5; docs/python.md, "One Python"). DIR/foreign holds a python3
# (and python) that prints "foreign python" and fails, first on PATH;
# DIR/nosite a python3 without site-packages (a pyenv-like one without numpy).
#   starts    every launch/*.py the docs name starts (--help, exit 0)
#   commands  the documented commands run and write what they say: a run drawn
#             by plot_run.py, an SGLang dump imported; and `python3
#             launch/plot_run.py` under the python3 without numpy (the sweep's
#             own test, tests/sweep.cmake, runs it under the foreign PATH)
set -euo pipefail
mode=$1 wideep=$2 dir=$3
src=$(cd "$(dirname "$0")/.." && pwd)
rm -rf "$dir" && mkdir -p "$dir/foreign" "$dir/nosite"
for p in python3 python; do
  printf '#!/bin/sh\necho "foreign python" >&2\nexit 1\n' > "$dir/foreign/$p"
  chmod +x "$dir/foreign/$p"
done
printf '#!/bin/sh\nexec /usr/bin/python3 -S "$@"\n' > "$dir/nosite/python3"
chmod +x "$dir/nosite/python3"
"$dir/nosite/python3" -c 'import numpy' 2>/dev/null && { echo "python_story.sh: the no-site python3 imports numpy: no test"; exit 1; }
cd "$src"
foreign_path="$dir/foreign:$PATH"
fail=0
run() {  # run DESCRIPTION command...: under the foreign PATH; fails the test on a non-zero exit
  local what=$1; shift
  if ! PATH=$foreign_path "$@" > "$dir/log" 2>&1; then
    echo "python_story.sh: FAIL: $what: $*"; sed 's/^/  | /' "$dir/log" | tail -8; fail=1
  else
    echo "python_story.sh: ok: $what"
  fi
}
if [[ $mode == starts ]]; then
  # launch/project_python.py is the module the others import, not a command.
  scripts=$(grep -ohE 'launch/[a-z_]+\.py' README.md docs/*.md | grep -v project_python | sort -u)
  [[ -n $scripts ]] || { echo "python_story.sh: no launch/*.py named in README.md, docs/*.md"; exit 1; }
  for s in $scripts; do
    [[ -f $s ]] || { echo "python_story.sh: FAIL: $s is named in the docs but missing"; fail=1; continue; }
    run "$s starts" "$s" --help
  done
  exit $fail
fi

"$wideep" run --backend mpi --experts 8 --topk 2 --tokens 8 --hidden 16 --ffn 16 --layers 1 --steps 3 --warmup 0 \
  --quiet --json "$dir/run.jsonl" > /dev/null
run "launch/plot_run.py RUN.jsonl -o PNG (README)" launch/plot_run.py "$dir/run.jsonl" -o "$dir/run.png"
[[ -s $dir/run.png ]] || { echo "python_story.sh: FAIL: plot_run.py wrote no $dir/run.png"; fail=1; }
# SGLang's stat dump as JSON: logical_count [buffer 1, layers 1, experts 4].
echo '{"logical_count": [[[3, 1, 0, 2]]]}' > "$dir/stat.json"
run "launch/wideep_import.py sglang-stat (docs/usage.md)" launch/wideep_import.py sglang-stat "$dir/stat.json" \
  --out "$dir/trace.json"
grep -q '"counts"' "$dir/trace.json" 2>/dev/null || { echo "python_story.sh: FAIL: no counts trace in $dir/trace.json"; fail=1; }
# Typed with the interpreter in front: the script re-runs itself under the project's Python.
rm -f "$dir/run2.png"
if ! PATH="$dir/nosite:$PATH" python3 launch/plot_run.py "$dir/run.jsonl" -o "$dir/run2.png" > "$dir/log" 2>&1 ||
   [[ ! -s $dir/run2.png ]]; then
  echo "python_story.sh: FAIL: python3 (no numpy) launch/plot_run.py"; sed 's/^/  | /' "$dir/log" | tail -8; fail=1
else
  echo "python_story.sh: ok: python3 (without numpy, matplotlib) launch/plot_run.py RUN.jsonl -o PNG"
fi
exit $fail
