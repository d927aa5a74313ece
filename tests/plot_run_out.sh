#!/usr/bin/env bash
# plot_run_out.sh parse|draw WIDEEP DIR: launch/plot_run.py takes -o as --out
# (issue 24). parse: the arguments are parsed the same with either spelling
# (needs no matplotlib); draw: a 1-rank run is drawn with -o, by the command as
# the README types it (the script re-runs itself under the project's Python
# where the python3 on PATH lacks matplotlib: no skip), and the PNG must be there.
set -euo pipefail
mode=$1 wideep=$2 dir=$3
src=$(cd "$(dirname "$0")/.." && pwd)
if [[ $mode == parse ]]; then
  exec python3 - "$src/launch" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
import plot_run
for flag in ("-o", "--out"):
    a = plot_run.parse_args(["r.jsonl", "s.jsonl", flag, "x.png", "--title", "t"])
    assert (a.out, a.runs, a.title) == ("x.png", ["r.jsonl", "s.jsonl"], "t"), (flag, a)
print("plot_run_out.sh: -o and --out parse alike")
PY
fi
mkdir -p "$dir"
rm -f "$dir/run.jsonl" "$dir/short.png"
"$wideep" run --backend mpi --experts 8 --topk 2 --tokens 8 --hidden 16 --ffn 16 --layers 1 --steps 3 --warmup 0 \
  --quiet --json "$dir/run.jsonl" > /dev/null
"$src/launch/plot_run.py" "$dir/run.jsonl" -o "$dir/short.png"
[[ -s "$dir/short.png" ]] || { echo "plot_run_out.sh: -o wrote no $dir/short.png"; exit 1; }
echo "plot_run_out.sh: drew $dir/short.png"
