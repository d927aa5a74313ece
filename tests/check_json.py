#!/usr/bin/env python3
"""check_json.py FILE CHECK: asserts properties of a wideep JSON-lines file.

Checks: contract (the summary has every DESIGN.md field), optimal (every
step's realised rank loads equal the balancer's plan), rebalanced (EPLB ran
and moved exactly the planned bytes), simulated (sim output is marked),
dtype=fp32 / dtype=bf16 (the summary names that activation dtype), baseline
(every step and the summary carry the raw all-to-allv time).
Exit 0 when the check holds; prints why and exits 1 otherwise."""
import json
import sys


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def fail(msg):
    print(f"check_json.py: {msg}")
    sys.exit(1)


def summary(lines):
    s = [l for l in lines if l.get("type") == "summary"]
    if len(s) != 1:
        fail(f"expected one summary line, found {len(s)}")
    return s[0]


def check_contract(lines):
    s = summary(lines)
    need = ["ranks", "backend", "balancer", "workload", "steps", "step_us", "phases_us",
            "balancedness", "gamma", "dispatch_bytes", "rebalances", "weight_bytes_moved"]
    for k in need:
        if k not in s:
            fail(f"summary lacks {k}")
    for k in ["p50", "p99", "mean"]:
        if k not in s["step_us"]:
            fail(f"step_us lacks {k}")
    for k in ["route", "balance", "layout", "dispatch", "expert", "combine"]:
        if k not in s["phases_us"]:
            fail(f"phases_us lacks {k}")
    for k in ["mean", "min"]:
        if k not in s["balancedness"]:
            fail(f"balancedness lacks {k}")
    if "max_abs_err" not in s:
        fail("summary lacks max_abs_err (run with --check)")
    if "baseline_a2a_us" not in s:
        fail("summary lacks baseline_a2a_us (run with --baseline)")
    steps = [l for l in lines if l.get("type") == "step"]
    if len(steps) != s["steps"]:
        fail(f"{len(steps)} step lines, summary says {s['steps']}")
    if not 0 < s["balancedness"]["min"] <= s["balancedness"]["mean"] <= 1:
        fail(f"balancedness out of range: {s['balancedness']}")
    if abs(s["gamma"] * s["balancedness"]["mean"] - 1) > 1e-9:
        fail("gamma is not 1 / balancedness mean")


def check_optimal(lines):
    steps = [l for l in lines if l.get("type") == "step"]
    if not steps:
        fail("no step lines")
    bad = [l["step"] for l in steps if l["load_mismatches"] != 0]
    if bad:
        fail(f"realised loads differ from the balancer's plan at steps {bad}")


def check_rebalanced(lines):
    s = summary(lines)
    reb = [l for l in lines if l.get("type") == "rebalance"]
    if s["rebalances"] < 1 or len(reb) != s["rebalances"]:
        fail(f"expected rebalances, summary says {s['rebalances']}, lines {len(reb)}")
    for r in reb:
        if r["sent_bytes"] != r["bytes"]:
            fail(f"step {r['step']}: sent {r['sent_bytes']} bytes, the plan moves {r['bytes']}")
    if sum(r["bytes"] for r in reb) != s["weight_bytes_moved"]:
        fail("weight_bytes_moved is not the sum of the rebalances")


def check_simulated(lines):
    if not summary(lines).get("simulated"):
        fail("summary is not marked simulated")


def check_dtype(want):
    def check(lines):
        got = summary(lines).get("dtype")
        if got != want:
            fail(f"summary dtype is {got!r}, expected {want!r}")
    return check


def check_baseline(lines):
    steps = [l for l in lines if l.get("type") == "step"]
    if not steps or any(not l.get("baseline_a2a_us", 0) > 0 for l in steps):
        fail("a step line lacks a positive baseline_a2a_us")
    if not summary(lines).get("baseline_a2a_us", 0) > 0:
        fail("the summary lacks a positive baseline_a2a_us")


CHECKS = {"dtype=fp32": check_dtype("fp32"), "dtype=bf16": check_dtype("bf16"),
          "baseline": check_baseline, "contract": check_contract, "optimal": check_optimal,
          "rebalanced": check_rebalanced, "simulated": check_simulated}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[2] not in CHECKS:
        fail(f"usage: check_json.py FILE {{{'|'.join(CHECKS)}}}")
    CHECKS[sys.argv[2]](load(sys.argv[1]))
    print(f"check_json.py: {sys.argv[2]} ok")
