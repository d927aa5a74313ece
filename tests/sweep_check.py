#!/usr/bin/python3
"""tests/sweep_check.py WIDEEP DIR: launch/sweep.py (issue 29 item 7) on a 2x2
grid, started with a python3 that fails first on PATH (the project's Python,
docs/python.md): the CSV has one row per point in grid order, the options'
columns then the summary's, one point's figures equal a direct `wideep sim`
of that point, and --plot wrote a PNG. Exit 0 when all hold."""
import csv
import json
import os
import subprocess
import sys

wideep, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.makedirs(os.path.join(out, "foreign"), exist_ok=True)
foreign = os.path.join(out, "foreign", "python3")
with open(foreign, "w") as f:
    f.write('#!/bin/sh\necho "foreign python" >&2\nexit 1\n')
os.chmod(foreign, 0o755)
env = dict(os.environ, PATH=os.path.dirname(foreign) + ":" + os.environ["PATH"])

shape = ["--experts", "16", "--topk", "2", "--tokens", "16", "--hidden", "16", "--ffn", "16", "--layers", "1",
         "--steps", "4", "--warmup", "1", "--redundant", "16", "--eplb-interval", "2"]
csv_path, png = os.path.join(out, "s.csv"), os.path.join(out, "s.png")
for p in (csv_path, png):
    if os.path.exists(p):
        os.remove(p)
r = subprocess.run([os.path.join(root, "launch", "sweep.py"), "--build", os.path.dirname(wideep), "--out", csv_path,
                    "--plot", "balancedness_mean", "--x", "ranks", "--png", png,
                    "--ranks", "8,16", "--balancer", "none,eplb+lplb"] + shape,
                   env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
print(r.stdout)
fails = []
if r.returncode != 0:
    sys.exit(f"sweep_check.py: sweep.py exited {r.returncode}")
with open(csv_path, newline="") as f:
    rows = list(csv.reader(f))
header, rows = rows[0], rows[1:]
options = ["ranks", "balancer", "experts", "topk", "tokens", "hidden", "ffn", "layers", "steps", "warmup",
           "redundant", "eplb_interval", "profile"]
if header[:len(options)] != options:
    fails.append(f"option columns {header[:len(options)]}, want {options}")
for m in ("step_us_p50", "step_us_p99", "balancedness_mean", "steady_balancedness_mean", "dispatch_bytes",
          "combine_bytes", "rebalances", "weight_bytes_moved"):
    if m not in header:
        fails.append(f"no column {m}")
# The grid, first option outermost: 2 ranks x 2 balancers = 4 rows.
points = [row[:2] for row in rows]
if points != [["8", "none"], ["8", "eplb+lplb"], ["16", "none"], ["16", "eplb+lplb"]]:
    fails.append(f"points {points}")
if any(len(row) != len(header) for row in rows):
    fails.append("a row with a different number of cells than the header")
col = {name: i for i, name in enumerate(header)}
# `none` never re-places; eplb re-places every 2 steps over the 5 steps (warm-up
# included: steps 2 and 4), so 2 rebalances, each after which steady figures exist.
rebal = [rows[i][col["rebalances"]] for i in range(4)]
if rebal != ["0", "2", "0", "2"]:
    fails.append(f"rebalances {rebal}, want 0, 2, 0, 2")

# Points 3 and 4 run directly: the same balancedness and bytes to the last
# digit. The step time within 1%: the sim adds measured host time (the LP's
# solve, the routing), which differed by ~0.1% between runs here.
def direct(balancer):
    path = os.path.join(out, "direct.jsonl")
    subprocess.run([wideep, "sim", "--quiet", "--json", path, "--ranks", "16", "--balancer", balancer,
                    "--profile", os.path.join(root, "launch", "profiles", "h100_nvlink_8x.json")] + shape, check=True)
    return [json.loads(l) for l in open(path) if l.strip()][-1]


s3, s4 = direct("none"), direct("eplb,lplb")
for row, s_direct in ((rows[2], s3), (rows[3], s4)):
    got, want = float(row[col["step_us_p50"]]), s_direct["step_us"]["p50"]
    if abs(got - want) > 0.01 * want:
        fails.append(f"step_us_p50 {got} in the CSV's row {row[:2]}, {want} from wideep sim directly")
for row, name, want in ((rows[2], "balancedness_mean", s3["balancedness"]["mean"]),
                        (rows[3], "balancedness_mean", s4["balancedness"]["mean"]),
                        (rows[3], "steady_balancedness_mean", s4["steady"]["balancedness"]["mean"]),
                        (rows[3], "dispatch_bytes", s4["dispatch_bytes"]),
                        (rows[3], "weight_bytes_moved", s4["weight_bytes_moved"])):
    got = float(row[col[name]])
    if got != float(want):
        fails.append(f"{name} {got} in the CSV's row {row[:2]}, {want} from wideep sim directly")
with open(png, "rb") as f:
    if f.read(8) != b"\x89PNG\r\n\x1a\n":
        fails.append(f"{png} is not a PNG")
for msg in fails:
    print("sweep_check.py: FAIL:", msg)
print("sweep_check.py:", "failed" if fails else "4 points, their columns, a direct sim's figures and the PNG agree")
sys.exit(1 if fails else 0)
