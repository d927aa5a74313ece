#!/usr/bin/python3
"""The anchors' deployments in `wideep sim` (issue 27, docs/studies/anchors.md).

DeepSeek-V3 decode (H 7168, F 2048, top-8 of 256, fp8 dispatch / bf16 combine,
low-latency mode, T 128 per rank, 8 GPUs per node) on the H100 profile at
72 ranks with 288 slots (SGLang), 144 with 288, and 320 with 320 (DeepSeek: one
expert per GPU), for the balancers none, eplb and eplb,lplb; 100 steps each.

Usage: launch/studies/anchors.py [--build DIR] [--out DIR] [--quick] [--workloads W,...]
  --quick  10 steps, zipf:1.2 only (seconds)
Writes OUT/anchors.csv and prints its table as markdown. Also prints each sim's
wall and CPU seconds (the issue's goal: each under 30 s for 100 steps).
"""
import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H100 = os.path.join(ROOT, "launch", "profiles", "h100_nvlink_8x.json")

# The three deployments: (ranks, redundant slots).
DEPLOYMENTS = [(72, 32), (144, 32), (320, 64)]
DSV3_DECODE = ["--experts", "256", "--topk", "8", "--hidden", "7168", "--ffn", "2048", "--tokens", "128",
               "--dispatch-mode", "low-latency", "--dispatch-dtype", "fp8", "--combine-dtype", "bf16",
               "--gpus-per-node", "8", "--layers", "1", "--eplb-interval", "10", "--eplb-window", "10",
               "--seed", "1", "--profile", H100]


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(v) for v in r) + " |" for r in rows])


def run(build, args):
    """One `wideep sim`: its JSON lines, wall seconds and CPU seconds (user + sys)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.jsonl")
        cmd = [os.path.join(build, "wideep"), "sim", "--quiet", "--json", path] + [str(a) for a in args]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.monotonic()
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wall = time.monotonic() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if r.returncode != 0:
            sys.exit("anchors.py: failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout))
        with open(path) as f:
            lines = [json.loads(l) for l in f if l.strip()]
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return lines, wall, cpu


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "studies"))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--workloads", default="zipf:1.2,zipf:0.8")
    a = ap.parse_args()
    steps = 10 if a.quick else 100
    workloads = ["zipf:1.2"] if a.quick else a.workloads.split(",")
    header = ["workload", "ranks", "slots", "slots_per_rank", "balancer", "balancedness_mean",
              "balancedness_after_first_rebalance", "step_us_p50", "step_us_mean", "max_rank_load_p50",
              "rebalances", "weight_GB_moved", "rebalance_us", "sim_wall_s", "sim_cpu_s"]
    rows = []
    for w in workloads:
        for ranks, red in DEPLOYMENTS:
            for bal in ("none", "eplb", "eplb,lplb"):
                args = ["--ranks", ranks, "--redundant", red, "--balancer", bal, "--workload", w,
                        "--steps", steps, "--warmup", 2] + DSV3_DECODE
                lines, wall, cpu = run(a.build, args)
                s = [l for l in lines if l["type"] == "summary"][0]
                st = [l for l in lines if l["type"] == "step"]
                reb = [l["step"] for l in lines if l["type"] == "rebalance" and not l.get("skipped")]
                # Steady state: the steps after the first re-plan took effect (all of them without EPLB).
                after = [l for l in st if not reb or l["step"] > reb[0]]
                loads = sorted(l["max_rank_load"] for l in st)
                rows.append([w, ranks, 256 + red, (256 + red) // ranks, bal,
                             "%.3f" % s["balancedness"]["mean"],
                             "%.3f" % (sum(l["balancedness"] for l in after) / max(1, len(after))),
                             "%.0f" % s["step_us"]["p50"], "%.0f" % s["step_us"]["mean"],
                             loads[len(loads) // 2], s["rebalances"], "%.2f" % (s["weight_bytes_moved"] / 1e9),
                             "%.0f" % s.get("rebalance_us", 0), "%.1f" % wall, "%.1f" % cpu])
                print("%s R=%d %s: %.1f s wall, %.1f s CPU" % (w, ranks, bal, wall, cpu), file=sys.stderr)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "anchors.csv"), "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header] + rows)
    print(markdown(header, rows))


if __name__ == "__main__":
    main()
