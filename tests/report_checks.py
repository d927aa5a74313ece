#!/usr/bin/env python3
"""What a run reports about itself (issue 29), one case per call:
  report_checks.py WIDEEP MPIRUN_PREFIX CASE
MPIRUN_PREFIX is one string ("mpirun --oversubscribe ... -np"); the case adds
its rank count. Each case runs small shapes (seconds) and exits non-zero with
one line naming what is wrong.

Cases:
  auto_policy_64   sim, DeepSeek-V3 decode at 64 ranks (8 groups over 8 nodes,
                   --topk-groups 4): --eplb-policy auto keeps steady-state
                   balancedness >= 0.9 and names the policy that ran, while
                   DeepSeek's rule (hierarchical: one group per node) falls below.
  steady           run --check with EPLB: the summary's "steady" covers exactly
                   the steps after the first completed re-placement.
  config           the summary records the resolved configuration, argv, commit.
  per_rank         --per-rank: each step's ranks' loads and bytes sum to its totals.
  roundtrip_sglang run --dump-counts -> plan --loads (the dump) --format sglang ->
  roundtrip_vllm   run --init-placement (that file) --dump-placement: the run
                   starts from, records, and (balancer none) ends on that placement.
  keep             sim: --eplb-keep-within keeps layers whose re-plan gains too
                   little (skipped, 0 experts moved); 0 moves on every re-plan.
  lplb_no_copies   --balancer lplb --redundant 0 warns once, names the options.
  compare_options  launch/compare.sh prints and writes every option a row ran with.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

WIDEEP, MPIRUN, CASE = sys.argv[1], sys.argv[2].split(), sys.argv[3]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
H100 = os.path.join(ROOT, "launch/profiles/h100_nvlink_8x.json")
SMALL = ["--backend", "mpi", "--experts", "16", "--topk", "4", "--tokens", "32", "--hidden", "16", "--ffn", "32",
         "--timeout-s", "30"]
TMP = tempfile.mkdtemp(prefix="wideep_report_")


def fail(msg):
    print(f"report_checks.py {CASE}: FAIL: {msg}")
    sys.exit(1)


def run(args, np=None, want_rc=0):
    cmd = (MPIRUN + [str(np)] if np else []) + [WIDEEP] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    out = p.stdout + p.stderr
    if p.returncode != want_rc:
        print(out)
        fail(f"exit {p.returncode} (want {want_rc}): {' '.join(cmd)}")
    return out


def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]


def summary(path):
    return [l for l in lines(path) if l.get("type") == "summary"][-1]


def mean(v):
    return sum(v) / len(v)


def case_auto_policy_64():
    base = ["sim", "--ranks", "64", "--gpus-per-node", "8", "--profile", H100, "--experts", "256", "--topk", "8",
            "--tokens", "128", "--hidden", "7168", "--ffn", "2048", "--groups", "8", "--topk-groups", "4",
            "--dispatch-dtype", "fp8", "--combine-dtype", "bf16", "--balancer", "eplb", "--redundant", "64",
            "--layers", "1", "--warmup", "2", "--steps", "4", "--eplb-interval", "2", "--eplb-window", "2"]
    got = {}
    for policy in ("auto", "deepseek"):
        path = os.path.join(TMP, policy + ".jsonl")
        out = run(base + ["--eplb-policy", policy, "--json", path])
        s = summary(path)
        if s.get("eplb_policy") != policy:
            fail(f"summary eplb_policy {s.get('eplb_policy')!r}, expected {policy!r}")
        if not re.search(r"^# eplb: policy " + policy, out, re.M):
            fail(f"no header line naming policy {policy}")
        got[policy] = (s["steady"]["balancedness"]["mean"], s["eplb_policy_chosen"])
        rebs = [l for l in lines(path) if l.get("type") == "rebalance"]
        if not rebs or any(not r.get("policy") for r in rebs):
            fail("a rebalance line does not name its policy")
    bal, chosen = got["auto"]
    if bal < 0.9:
        fail(f"auto: steady balancedness {bal:.4f} < 0.9 (chosen {chosen})")
    # Later hierarchical re-plans gain nothing and are kept (--eplb-keep-within): one or more ran.
    if set(got["deepseek"][1]) != {"deepseek-hierarchical"} or got["deepseek"][0] >= 0.9:
        fail(f"deepseek: expected hierarchical x3 below 0.9, got {got['deepseek']}")
    print(f"auto {bal:.4f} ({chosen}), deepseek {got['deepseek'][0]:.4f} ({got['deepseek'][1]})")


def case_steady():
    path = os.path.join(TMP, "steady.jsonl")
    out = run(["run"] + SMALL + ["--balancer", "eplb", "--redundant", "4", "--warmup", "1", "--steps", "9",
                                  "--eplb-interval", "4", "--eplb-window", "4", "--eplb-keep-within", "0",
                                  "--check", "--json", path], np=2)
    ls = lines(path)
    reb = [l for l in ls if l.get("type") == "rebalance" and not l["skipped"]]
    steps = [l for l in ls if l.get("type") == "step"]
    s = summary(path)
    # Re-plans after steps 3 and 7 (interval 4): the first completes at step 3's boundary.
    if not reb or reb[0]["step"] != 3:
        fail(f"expected the first re-plan after step 3, got {[r['step'] for r in reb]}")
    st = s.get("steady")
    if not st or st["from_step"] != 4:
        fail(f"steady {st}, expected from_step 4")
    after = [l for l in steps if l["step"] >= 4]
    if st["steps"] != len(after) or len(after) != 6:
        fail(f"steady steps {st['steps']}, step lines from 4 on {len(after)} (expected 6)")
    want = mean([l["balancedness"] for l in after])
    if abs(st["balancedness"]["mean"] - want) > 1e-9 or abs(st["balancedness"]["min"] -
                                                            min(l["balancedness"] for l in after)) > 1e-12:
        fail(f"steady balancedness {st['balancedness']} is not that of steps 4.. (mean {want})")
    if abs(st["step_us"]["mean"] - mean([l["step_us"] for l in after])) > 1e-6:
        fail("steady step_us mean is not that of steps 4..")
    if not re.search(r"^steady state \(steps 4\.\. after the first re-placement, 6 steps\)", out, re.M):
        fail("no labelled steady-state line in the table")
    if "check: passed" not in out:
        fail("check did not pass")


def case_config():
    paths = []
    for groups in ("2", "4"):
        path = os.path.join(TMP, f"config_{groups}.jsonl")
        run(["run"] + SMALL + ["--steps", "2", "--warmup", "1", "--groups", groups, "--topk-groups", "2",
                               "--balancer", "eplb", "--redundant", "2", "--eplb-interval", "3",
                               "--json", path], np=2)
        paths.append(path)
    a, b = summary(paths[0]), summary(paths[1])
    for s, g in ((a, 2), (b, 4)):
        c = s.get("config", {})
        want = {"groups": g, "topk_groups": 2, "eplb_interval": 3, "eplb_window": 20, "warmup": 1,
                "eplb_policy": "auto", "topology": None, "init_placement": None, "redundant": 2, "hidden": 16}
        for k, v in want.items():
            if c.get(k) != v:
                fail(f"config[{k!r}] = {c.get(k)!r}, expected {v!r}")
        if s.get("argv", [])[:2] != ["wideep", "run"] or "--groups" not in s["argv"]:
            fail(f"argv {s.get('argv')}")
        if not re.fullmatch(r"[0-9a-f]{40}|unknown", str(s.get("commit"))):
            fail(f"commit {s.get('commit')!r}")
    if a["config"] == b["config"]:
        fail("two runs that differ in --groups have identical configs")


def case_per_rank():
    path = os.path.join(TMP, "per_rank.jsonl")
    run(["run"] + SMALL + ["--steps", "3", "--warmup", "1", "--layers", "2", "--balancer", "lplb",
                           "--redundant", "4", "--per-rank", "--json", path], np=4)
    steps = [l for l in lines(path) if l.get("type") == "step"]
    for l in steps:
        pr = l.get("per_rank")
        if not pr or any(len(pr[k]) != 4 for k in ("load", "dispatch_bytes", "combine_bytes")):
            fail(f"step {l['step']}: per_rank {pr}")
        # 4 ranks x 32 tokens x top-4 x 2 layers = 1024 expert-token pairs per step.
        if sum(pr["load"]) != 1024:
            fail(f"step {l['step']}: loads {pr['load']} do not sum to 1024")
        if sum(pr["dispatch_bytes"]) != l["dispatch_bytes"] or sum(pr["combine_bytes"]) != l["combine_bytes"]:
            fail(f"step {l['step']}: per-rank bytes do not sum to the step's")
    path2 = os.path.join(TMP, "no_per_rank.jsonl")
    run(["run"] + SMALL + ["--steps", "1", "--warmup", "0", "--json", path2], np=2)
    if any("per_rank" in l for l in lines(path2)):
        fail("per_rank without --per-rank")


def case_roundtrip(fmt):
    counts = os.path.join(TMP, "counts.json")
    run(["run"] + SMALL + ["--steps", "4", "--warmup", "1", "--workload", "zipf:1.5", "--dump-counts", counts,
                           "--quiet"], np=2)
    placement = os.path.join(TMP, f"placement_{fmt}.json")
    p = subprocess.run([WIDEEP, "plan", "--loads", counts, "--replicas", "20", "--gpus", "2", "--format", fmt],
                       capture_output=True, text=True)
    if p.returncode != 0:
        fail(f"plan --loads (a --dump-counts file): {p.stderr.strip()}")
    open(placement, "w").write(p.stdout)
    planned = json.loads(p.stdout)["physical_to_logical_map"]
    dumped = os.path.join(TMP, f"dumped_{fmt}.json")
    path = os.path.join(TMP, f"rt_{fmt}.jsonl")
    out = run(["run"] + SMALL + ["--steps", "2", "--warmup", "1", "--redundant", "4", "--init-placement", placement,
                                 "--dump-placement", dumped, "--dump-placement-format", fmt, "--check",
                                 "--json", path], np=2)
    s = summary(path)
    if s.get("init_placement") != f"{placement} ({fmt})":
        fail(f"summary init_placement {s.get('init_placement')!r}")
    if f"# initial placement: {placement} ({fmt})" not in out:
        fail("the header does not name the initial placement")
    d = json.load(open(dumped))
    if d["physical_to_logical_map"] != planned:
        fail("the placement at the end is not the one planned")
    if fmt == "vllm" and d["logical_replica_count"] != json.loads(p.stdout)["logical_replica_count"]:
        fail("vllm logical_replica_count differs")
    if "check: passed" not in out:
        fail("check did not pass")


def case_keep():
    base = ["sim", "--ranks", "8", "--profile", H100, "--experts", "64", "--topk", "8", "--tokens", "256",
            "--hidden", "64", "--ffn", "128", "--layers", "2", "--warmup", "1", "--steps", "8",
            "--balancer", "eplb", "--redundant", "16", "--eplb-interval", "2", "--eplb-window", "8",
            "--workload", "zipf:1.2"]
    res = {}
    for keep in ("0", "0.05"):
        path = os.path.join(TMP, f"keep_{keep}.jsonl")
        run(base + ["--eplb-keep-within", keep, "--json", path])
        rebs = [l for l in lines(path) if l.get("type") == "rebalance"]
        if any("experts_moved" not in r for r in rebs):
            fail("a rebalance line lacks experts_moved")
        for r in rebs:
            gain = r["predicted_balancedness"]["after"] - r["predicted_balancedness"]["before"]
            if r["skipped"] and r["experts_moved"] != 0:
                fail(f"skipped re-plan at step {r['step']} moved {r['experts_moved']}")
            if not r["skipped"] and r["experts_moved"] == 0:
                fail(f"re-plan at step {r['step']} moved nothing but was not skipped")
            if keep == "0.05" and not r["skipped"] and gain <= 0:
                fail(f"re-plan at step {r['step']} moved for gain {gain}")
        res[keep] = (sum(r["experts_moved"] for r in rebs), sum(r["skipped"] for r in rebs), summary(path))
    if res["0"][1] != 0 or res["0"][0] == 0:
        fail(f"keep 0: {res['0'][:2]}")
    if res["0.05"][1] == 0 or not res["0.05"][0] < res["0"][0]:
        fail(f"keep 0.05 should skip some re-plans and move fewer experts: {res['0.05'][:2]} vs {res['0'][:2]}")
    if res["0.05"][2]["experts_moved"] != res["0.05"][0]:
        fail("summary experts_moved is not the sum of the rebalance lines")
    print(f"experts moved: keep 0 -> {res['0'][0]}, keep 0.05 -> {res['0.05'][0]} ({res['0.05'][1]} kept)")


def case_lplb_no_copies():
    path = os.path.join(TMP, "lplb0.jsonl")
    out = run(["run"] + SMALL + ["--steps", "1", "--warmup", "0", "--balancer", "lplb", "--json", path], np=2)
    want = "warning: --balancer lplb with --redundant 0: every expert has one copy"
    if len([l for l in out.splitlines() if want in l and l.startswith("wideep run:")]) != 1:
        fail(f"expected one stderr line '{want}'")
    if not any(want.split(": ", 1)[1] in w for w in summary(path).get("warnings", [])):
        fail("the summary does not list the warning")
    out = run(["run"] + SMALL + ["--steps", "1", "--warmup", "0", "--balancer", "lplb", "--redundant", "2"], np=2)
    if "warning" in out:
        fail("a warning with copies")


def case_compare_options():
    csv_path = os.path.join(TMP, "cmp.csv")
    env = dict(os.environ, WIDEEP_BIN=WIDEEP)
    p = subprocess.run(["bash", os.path.join(ROOT, "launch/compare.sh"), "-np", "2", "--balancers", "none;waterfill",
                        "--csv", csv_path, "--no-plot", "--experts", "16", "--topk", "4", "--tokens", "16",
                        "--hidden", "16", "--ffn", "32", "--steps", "2", "--warmup", "0"],
                       capture_output=True, text=True, env=env, timeout=240, cwd=ROOT)
    if p.returncode != 0:
        print(p.stdout + p.stderr)
        fail(f"compare.sh exit {p.returncode}")
    rows = open(csv_path).read().splitlines()
    if "options" not in rows[0].split(","):
        fail(f"CSV header lacks options: {rows[0]}")
    none_row = [r for r in rows[1:] if r.startswith("none,")]
    wf_row = [r for r in rows[1:] if r.startswith("waterfill,")]
    if not none_row or "--redundant 8" not in none_row[0] or "--shared-experts" in none_row[0]:
        fail(f"none row: {none_row}")
    if not wf_row or "--redundant 8" not in wf_row[0] or "--shared-experts 1" not in wf_row[0]:
        fail(f"waterfill row: {wf_row}")
    if "--shared-experts 1" not in p.stdout or "--redundant 8" not in p.stdout:
        fail("the printed table does not show the added options")


CASES = {"auto_policy_64": case_auto_policy_64, "steady": case_steady, "config": case_config,
         "per_rank": case_per_rank, "roundtrip_sglang": lambda: case_roundtrip("sglang"),
         "roundtrip_vllm": lambda: case_roundtrip("vllm"), "keep": case_keep,
         "lplb_no_copies": case_lplb_no_copies, "compare_options": case_compare_options}
if CASE not in CASES:
    fail(f"unknown case (one of {', '.join(CASES)})")
CASES[CASE]()
print(f"report_checks.py {CASE}: ok")
