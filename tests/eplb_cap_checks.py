#!/usr/bin/env python3
"""The cap on experts moved per EPLB re-plan (--eplb-max-moves, issue 29 item
10), one case per call:
  eplb_cap_checks.py WIDEEP MPIRUN_PREFIX CASE
MPIRUN_PREFIX is one string ("mpirun --oversubscribe ... -np").
  sim    16 virtual ranks, zipf loads: without a cap the first re-plan moves
         more than 6 experts; with --eplb-max-moves 6 every rebalance line has
         experts_moved <= 6 (some > 0), predicted balancedness never falls at a
         re-plan, the header and the summary's config say 6, and the summary's
         experts_moved is the sum of the lines.
  check  4 ranks, `wideep run --check` with --eplb-max-moves 2: every step's
         realised loads equal the plan's (load_mismatches 0), the output
         matches the reference, and every re-plan moves at most 2 experts.
Exits non-zero with one line naming what is wrong.
"""
import json
import os
import subprocess
import sys
import tempfile

WIDEEP, MPIRUN, CASE = sys.argv[1], sys.argv[2].split(), sys.argv[3]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = tempfile.mkdtemp(prefix="wideep_eplb_cap_")


def fail(msg):
    print(f"eplb_cap_checks.py {CASE}: FAIL: {msg}")
    sys.exit(1)


def run(args, np=None):
    cmd = (MPIRUN + [str(np)] if np else []) + [WIDEEP] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        fail(f"exit {p.returncode}: {' '.join(cmd)}")
    return p.stdout


def records(path):
    lines = [json.loads(l) for l in open(path) if l.strip()]
    return ([l for l in lines if l.get("type") == "rebalance"], [l for l in lines if l.get("type") == "step"],
            [l for l in lines if l.get("type") == "summary"][-1])


def check_capped(rebs, summ, cap):
    if not rebs:
        fail("no rebalance line")
    over = [(r["step"], r["experts_moved"]) for r in rebs if r["experts_moved"] > cap]
    if over:
        fail(f"re-plans moved more than --eplb-max-moves {cap}: (step, experts_moved) {over}")
    if not any(r["experts_moved"] > 0 for r in rebs):
        fail("no re-plan moved an expert")
    if summ["config"]["eplb_max_moves"] != cap:
        fail(f"summary config eplb_max_moves {summ['config']['eplb_max_moves']}, want {cap}")
    if summ["experts_moved"] != sum(r["experts_moved"] for r in rebs):
        fail("summary experts_moved is not the sum of the rebalance lines")


if CASE == "sim":
    base = ["sim", "--ranks", "16", "--profile", os.path.join(ROOT, "launch/profiles/h100_nvlink_8x.json"),
            "--experts", "64", "--topk", "4", "--tokens", "32", "--hidden", "128", "--ffn", "64", "--layers", "2",
            "--redundant", "16", "--balancer", "eplb", "--workload", "zipf:1.2", "--steps", "16", "--warmup", "0",
            "--eplb-interval", "4", "--eplb-window", "4", "--eplb-keep-within", "0"]
    free = os.path.join(TMP, "free.jsonl")
    run(base + ["--quiet", "--json", free])
    rebs, _, _ = records(free)
    if not rebs or rebs[0]["experts_moved"] <= 6:
        fail(f"without a cap the first re-plan should move more than 6 experts: {rebs[:1]}")
    capped = os.path.join(TMP, "capped.jsonl")
    out = run(base + ["--eplb-max-moves", "6", "--json", capped])
    if "max moves 6" not in out:
        fail("the header does not say `max moves 6`")
    rebs, _, summ = records(capped)
    check_capped(rebs, summ, 6)
    # The greedy makes only moves that gain: no re-plan predicts less than the placement in force.
    fell = [r["step"] for r in rebs if r["predicted_balancedness"]["after"] < r["predicted_balancedness"]["before"] - 1e-9]
    if fell:
        fail(f"capped re-plans predicted lower balancedness at steps {fell}")
    # Successive capped re-plans climb: the last placement predicts more than the first did before.
    if not rebs[-1]["predicted_balancedness"]["after"] > rebs[0]["predicted_balancedness"]["before"]:
        fail("predicted balancedness did not climb over the re-plans")
elif CASE == "check":
    path = os.path.join(TMP, "check.jsonl")
    run(["run", "--backend", "mpi", "--experts", "16", "--topk", "4", "--tokens", "32", "--hidden", "32", "--ffn",
         "64", "--layers", "2", "--redundant", "8", "--balancer", "eplb", "--workload", "zipf:1.2", "--steps", "8",
         "--warmup", "1", "--eplb-interval", "2", "--eplb-window", "2", "--eplb-keep-within", "0",
         "--eplb-max-moves", "2", "--check", "--timeout-s", "30", "--quiet", "--json", path], np=4)
    rebs, steps, summ = records(path)
    check_capped(rebs, summ, 2)
    bad = [s["step"] for s in steps if s["load_mismatches"] != 0]
    if bad or summ["load_mismatches"] != 0:
        fail(f"realised loads differ from the plan at steps {bad}")
    if not summ["max_rel_err"] <= 1e-4:
        fail(f"max_rel_err {summ['max_rel_err']} above fp32's 1e-4")
else:
    fail("unknown case")
print(f"eplb_cap_checks.py {CASE}: ok")
