#!/usr/bin/env python3
"""Round trips of launch/wideep_import.py and wideep's exports (tests/interop.cmake).

  interop_roundtrip.py WIDEEP MPIRUN_PREFIX CASE

Each CASE builds small dumps in SGLang's or vLLM's format (torch.save and JSON,
as those programs write them), imports them, runs wideep on the result and
asserts that counts, ids and placements come back exactly. Exit 0 on success.
The shapes are small and written out, so that expectations can be checked by
hand: 2 ranks x 16 tokens, top-4 of 8 logical experts, 2 layers.
"""
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile

import numpy as np

try:
    import torch
except ImportError:  # launch/setup.sh installs python3-torch; without it, skip (CTest SKIP), never pass
    print("SKIP: torch is not installed (Debian python3-torch; launch/setup.sh installs it)")
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
IMPORT = [sys.executable, os.path.join(HERE, "..", "launch", "wideep_import.py")]
R, T, K, E, L = 2, 16, 4, 8, 2
RUN = ["run", "--backend", "mpi", "--experts", str(E), "--topk", str(K), "--tokens", str(T), "--layers", str(L),
       "--hidden", "16", "--ffn", "32", "--quiet", "--timeout-s", "30"]


def sh(cmd, rc=0, match=None):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    print("$", " ".join(shlex.quote(c) for c in cmd))
    print(p.stdout, end="")
    if p.returncode != rc:
        sys.exit(f"FAIL: exit status {p.returncode}, expected {rc}")
    if match and match not in p.stdout:
        sys.exit(f"FAIL: output lacks {match!r}")
    return p.stdout


def counts_of(seed, steps, picks_per_step):
    """Random [steps, L, E] counts, each step-layer summing to picks_per_step, none above R*T."""
    rng = random.Random(seed)
    out = np.zeros((steps, L, E), dtype=np.int64)
    for s in range(steps):
        for l in range(L):
            n = 0
            while n < picks_per_step:
                e = rng.randrange(E)
                if out[s, l, e] < R * T:
                    out[s, l, e] += 1
                    n += 1
    return out


def expect_equal(got, want, what):
    got, want = np.asarray(got), np.asarray(want)
    if got.shape != want.shape or np.any(got != want):
        sys.exit(f"FAIL: {what} differs:\n got  {got.tolist()}\n want {want.tolist()}")
    print(f"ok: {what} equal ({list(want.shape)})")


def stat_roundtrip(w, mpi, tmp, fmt, balancer):
    """SGLang stat dump -> counts trace -> exact replay at R*T tokens -> --dump-counts -> same logical_count."""
    steps = 3
    lc = counts_of(7, steps, R * T * K)
    src = os.path.join(tmp, "stat." + fmt)
    d = {"rank": 0, "logical_count": torch.tensor(lc, dtype=torch.int32), "average_utilization_rate_over_window": None}
    if fmt == "pt":
        torch.save(d, src)
    else:
        d["logical_count"] = lc.tolist()
        json.dump(d, open(src, "w"))
    trace = os.path.join(tmp, "trace.json")
    sh(IMPORT + ["sglang-stat", src, "--out", trace], match="replays exactly")
    dump = os.path.join(tmp, "dump.json")
    extra = ["--balancer", balancer] if balancer != "none" else []
    if "eplb" in balancer or "lplb" in balancer:
        extra += ["--redundant", "2", "--eplb-interval", "1"]
    if "waterfill" in balancer:
        extra += ["--shared-experts", "1"]
    sh(mpi + [w] + RUN + ["--warmup", "0", "--steps", str(steps), "--eplb-window", str(steps), "--check",
                          "--workload", "trace:" + trace, "--dump-counts", dump] + extra, match="check: passed")
    got = json.load(open(dump))
    expect_equal(got["logical_count"], lc, "logical_count after import, exact replay and --dump-counts")
    # The dump reads back as an SGLang stat dump, and the simulator replays it too.
    back = os.path.join(tmp, "back.json")
    sh(IMPORT + ["sglang-stat", dump, "--out", back], match="replays exactly")
    expect_equal([s["layers"] for s in json.load(open(back))["steps"]], lc, "re-imported dump")
    sim(w, trace, steps)


def sim(w, trace, steps):
    """The simulator replays the imported trace too."""
    sh([w, "sim", "--ranks", str(R), "--profile", os.path.join(HERE, "..", "launch", "profiles", "cpu_here.json"),
        "--experts", str(E), "--topk", str(K), "--tokens", str(T), "--layers", str(L), "--warmup", "0",
        "--steps", str(steps), "--workload", "trace:" + trace], match="balancedness mean")


def dump_window(w, mpi, tmp):
    """--dump-counts keeps the last --eplb-window measured steps (warm-up excluded), oldest first."""
    steps = 5
    lc = counts_of(11, steps, R * T * K)
    trace = os.path.join(tmp, "trace.json")
    json.dump({"rank": 0, "logical_count": lc.tolist()}, open(os.path.join(tmp, "s.json"), "w"))
    sh(IMPORT + ["sglang-stat", os.path.join(tmp, "s.json"), "--out", trace])
    dump = os.path.join(tmp, "dump.json")
    sh(mpi + [w] + RUN + ["--warmup", "1", "--steps", "4", "--eplb-window", "2", "--workload", "trace:" + trace,
                          "--dump-counts", dump])
    expect_equal(json.load(open(dump))["logical_count"], lc[3:5], "the last 2 measured steps")


def physical_map():
    """2 layers x 10 slots (5 per rank): 8 experts, experts 0 and 5 twice (layer 0), 3 and 6 (layer 1)."""
    return np.array([[0, 1, 2, 3, 5, 4, 5, 6, 7, 0], [6, 1, 2, 3, 4, 3, 5, 0, 7, 6]], dtype=np.int64)


def per_pass(w, mpi, tmp):
    p2l = physical_map()
    rng = np.random.default_rng(3)
    files, want = [], []
    per_rank = {r: [] for r in range(R)}
    for fid in (10, 11, 12):
        total = np.zeros((L, E), dtype=np.int64)
        for r in range(R):
            c = rng.integers(0, 9, size=(L, 10))
            per_rank[r].append({"forward_pass_id": fid, "rank": r, "gatherer_key": "primary",
                                "global_physical_count": torch.tensor(c, dtype=torch.int32)})
            for l in range(L):
                np.add.at(total[l], p2l[l], c[l])
        want.append(total)
    for r in range(R):
        f = os.path.join(tmp, f"expert_distribution_recorder_0.0_{r}.pt")
        torch.save({"records": per_rank[r], "last_physical_to_logical_map": torch.tensor(p2l)}, f)
        files.append(f)
    trace = os.path.join(tmp, "trace.json")
    sh(IMPORT + ["sglang-per-pass"] + files + ["--out", trace], match="3 steps")
    expect_equal([s["layers"] for s in json.load(open(trace))["steps"]], np.stack(want), "per-pass logical counts")
    sh(mpi + [w] + RUN + ["--warmup", "0", "--steps", "3", "--check", "--workload", "trace:" + trace],
       match="check: passed")
    sim(w, trace, 3)


def per_token(w, mpi, tmp):
    """Physical top-4 ids in SGLang's 8-wide buffer (-1 padded), 16 tokens per rank, 2 passes."""
    p2l = physical_map()
    rng = np.random.default_rng(5)
    want_steps = []
    recs = {r: [] for r in range(R)}
    for fid in (0, 1):
        step = np.zeros((L, R * T, K), dtype=np.int64)
        for r in range(R):
            buf = -np.ones((L, T + 3, 8), dtype=np.int64)  # 3 unused token rows, 4 unused columns
            for l in range(L):
                for t in range(T):
                    logical = rng.choice(E, size=K, replace=False)
                    for k, e in enumerate(logical):
                        buf[l, t, k] = rng.choice(np.flatnonzero(p2l[l] == e))
                    step[l, r * T + t] = logical
            recs[r].append({"forward_pass_id": fid, "rank": r, "input_ids": list(range(T)),
                            "topk_ids_of_layer": torch.tensor(buf, dtype=torch.int32), "misc_objects": []})
        want_steps.append(step)
    files = []
    for r in range(R):
        f = os.path.join(tmp, f"tok_{r}.pt")
        torch.save({"records": recs[r], "last_physical_to_logical_map": torch.tensor(p2l)}, f)
        files.append(f)
    trace = os.path.join(tmp, "trace.json")
    sh(IMPORT + ["sglang-per-token"] + files + ["--out", trace], match="top-4")
    got = json.load(open(trace))
    expect_equal([s["layers"] for s in got["steps"]], np.stack(want_steps), "per-token logical ids")
    # Replayed at R*T tokens, token g takes trace token g: the dumped counts are the ids' counts.
    dump = os.path.join(tmp, "dump.json")
    sh(mpi + [w] + RUN + ["--warmup", "0", "--steps", "2", "--eplb-window", "2", "--check",
                          "--workload", "trace:" + trace, "--dump-counts", dump], match="check: passed")
    want_counts = np.stack([[np.bincount(s[l].ravel(), minlength=E) for l in range(L)] for s in want_steps])
    expect_equal(json.load(open(dump))["logical_count"], want_counts, "counts of the replayed top-k trace")
    sim(w, trace, 2)


def location(w, mpi, tmp):
    p2l = physical_map()
    outs = []
    for i, src in enumerate([json.dumps({"physical_to_logical_map": p2l.tolist()}),  # the JSON text itself
                             os.path.join(tmp, "loc.json"), os.path.join(tmp, "loc.pt")]):
        if src.endswith(".json"):
            json.dump({"physical_to_logical_map": p2l.tolist()}, open(src, "w"))
        elif src.endswith(".pt"):
            torch.save({"physical_to_logical_map": torch.tensor(p2l)}, src)
        out = os.path.join(tmp, f"place{i}.json")
        sh(IMPORT + ["sglang-location", src, "--out", out], match="--redundant 2")
        expect_equal(json.load(open(out))["phy2log"], p2l, f"placement from input {i}")
        outs.append(out)
    sh(mpi + [w] + RUN + ["--redundant", "2", "--warmup", "1", "--steps", "2", "--check", "--init-placement", outs[2]],
       match="check: passed")
    # logical_count [buffer, layers, experts] -> a loads file wideep plan reads.
    lc = counts_of(5, 2, 64)
    src = os.path.join(tmp, "lc.pt")
    torch.save({"logical_count": torch.tensor(lc)}, src)
    loads = os.path.join(tmp, "loads.json")
    sh(IMPORT + ["sglang-location", src, "--out", loads], match="loads:")
    expect_equal(json.load(open(loads))["loads"], lc.sum(axis=0), "loads summed over the buffer")
    sh([w, "plan", "--loads", loads, "--replicas", "10", "--gpus", "2", "--json"], match="phy2log")


def plan_export(w, mpi, tmp):
    """wideep plan --format sglang|vllm, read back by the importer: the same placement as --json."""
    loads = os.path.join(tmp, "loads.json")
    json.dump({"loads": counts_of(9, 1, 64)[0].tolist()}, open(loads, "w"))
    base = [w, "plan", "--loads", loads, "--replicas", "10", "--gpus", "2"]
    ref = json.loads(sh(base + ["--json"]))
    for fmt, kind, key in (("sglang", "sglang-location", "physical_to_logical_map"),
                           ("vllm", "vllm", "physical_to_logical_map")):
        f = os.path.join(tmp, f"plan_{fmt}.json")
        text = sh(base + ["--format", fmt])
        open(f, "w").write(text)
        exported = json.loads(text)
        expect_equal(exported[key], ref["phy2log"], f"--format {fmt} {key}")
        if fmt == "vllm":
            expect_equal(exported["logical_replica_count"], ref["logcnt"], "--format vllm logical_replica_count")
        out = os.path.join(tmp, f"back_{fmt}.json")
        sh(IMPORT + [kind, f, "--out", out])
        expect_equal(json.load(open(out))["phy2log"], ref["phy2log"], f"{kind} import of --format {fmt}")
    # vLLM's tensors under DeepSeek's names, from torch.save.
    p2l = physical_map()
    f = os.path.join(tmp, "eplb.pt")
    torch.save({"phy2log": torch.tensor(p2l), "logcnt": torch.tensor([np.bincount(r, minlength=E) for r in p2l])}, f)
    out = os.path.join(tmp, "vllm_place.json")
    sh(IMPORT + ["vllm", f, "--out", out])
    sh(mpi + [w] + RUN + ["--redundant", "2", "--warmup", "1", "--steps", "2", "--check", "--init-placement", out,
                          "--balancer", "eplb", "--eplb-interval", "1"], match="check: passed")


def plot(w, mpi, tmp):
    """launch/plot_run.py draws a run with rebalances and a second run overlaid: a PNG comes out."""
    runs = []
    for i, bal in enumerate(("none", "eplb")):
        f = os.path.join(tmp, f"run{i}.jsonl")
        sh(mpi + [w] + RUN + ["--warmup", "1", "--steps", "6", "--balancer", bal, "--redundant", "2",
                              "--eplb-interval", "2", "--json", f])
        runs.append(f)
    png = os.path.join(tmp, "runs.png")
    sh([sys.executable, os.path.join(HERE, "..", "launch", "plot_run.py")] + runs + ["--out", png], match="wrote")
    with open(png, "rb") as f:
        if f.read(8) != b"\x89PNG\r\n\x1a\n" or os.path.getsize(png) < 10000:
            sys.exit("FAIL: plot_run.py did not write a PNG")
    print(f"ok: {png} ({os.path.getsize(png)} bytes)")
    bad_file = os.path.join(tmp, "bad.jsonl")
    open(bad_file, "w").write('{"type": "summary"}\n')
    sh([sys.executable, os.path.join(HERE, "..", "launch", "plot_run.py"), bad_file], rc=2, match="no step lines")


def bad(case, tmp):
    """One bad input: exit 2 and a message naming the file and the field."""
    p2l = physical_map()
    f = os.path.join(tmp, "bad.pt")
    cases = {
        "stat_no_field": ("sglang-stat", {"rank": 0}, "field \"logical_count\" is missing"),
        "stat_2d": ("sglang-stat", {"logical_count": torch.zeros(2, 8, dtype=torch.int32)},
                    "\"logical_count\" [buffer, layers, experts] must have 3 dimensions"),
        "stat_float": ("sglang-stat", {"logical_count": torch.full((1, 2, 8), 0.5)}, "must hold integers"),
        "stat_negative": ("sglang-stat", {"logical_count": torch.tensor([[[1, -2, 3, 4]]])},
                          "expert 1 is negative"),
        "stat_all_zero": ("sglang-stat", {"logical_count": torch.zeros(2, 1, 4, dtype=torch.int32)},
                          "every step is all zeros"),
        "per_pass_shape": ("sglang-per-pass", {"records": [{"forward_pass_id": 0, "rank": 0,
                                                            "global_physical_count": torch.zeros(2, 9, dtype=torch.int32)}],
                                               "last_physical_to_logical_map": torch.tensor(p2l)},
                           "\"global_physical_count\" has shape [2, 9], the map has [2, 10]"),
        "per_pass_no_map": ("sglang-per-pass", {"records": [{"forward_pass_id": 0, "rank": 0}]},
                            "field \"last_physical_to_logical_map\" is missing"),
        "per_token_id": ("sglang-per-token", {"records": [{"forward_pass_id": 0, "rank": 0,
                                                           "topk_ids_of_layer": torch.tensor([[[0, 1]], [[2, 10]]])}],
                                              "last_physical_to_logical_map": torch.tensor(p2l)},
                         "physical id 10 is outside [0, 9]"),
        "per_token_dup": ("sglang-per-token", {"records": [{"forward_pass_id": 0, "rank": 0,
                                                            "topk_ids_of_layer": torch.tensor([[[0, 9]], [[1, 2]]])}],
                                               "last_physical_to_logical_map": torch.tensor(p2l)},
                          "names logical expert 0 twice"),
        "location_no_field": ("sglang-location", {"something": 1},
                              "needs field \"physical_to_logical_map\" or \"logical_count\""),
        "location_missing_expert": ("sglang-location", {"physical_to_logical_map": [[0, 1, 1, 3]]},
                                    "layer 0: logical expert 2 has no physical slot"),
        "location_negative": ("sglang-location", {"physical_to_logical_map": [[0, -1, 1, 2]]},
                              "layer 0 slot 1: expert id -1 is outside"),
        "location_ragged": ("sglang-location", {"physical_to_logical_map": [[0, 1], [0]]}, "not a rectangular array"),
        "vllm_no_map": ("vllm", {"logcnt": [[1, 1]]}, "needs field \"physical_to_logical_map\" (or \"phy2log\")"),
        "vllm_logcnt": ("vllm", {"physical_to_logical_map": [[0, 1, 0]], "logical_replica_count": [[1, 2]]},
                        "\"logical_replica_count\" layer 0 expert 0: 1 replicas, the map holds 2"),
        "vllm_log2phy": ("vllm", {"phy2log": [[0, 1, 0]], "log2phy": [[[0, 1], [2, -1]]]},
                         "\"log2phy\" layer 0 expert 0: slots [0, 1] differ"),
        "not_json": ("vllm", "{ not json", "not valid JSON"),
        "not_pt": ("sglang-stat", b"not a torch file", "not a readable torch.save file"),
    }
    kind, content, msg = cases[case]
    if isinstance(content, bytes):
        open(f, "wb").write(content)
    elif isinstance(content, str):
        f = os.path.join(tmp, "bad.json")
        open(f, "w").write(content)
    elif kind in ("sglang-location", "vllm") and not any(hasattr(v, "dim") for v in content.values()):
        f = os.path.join(tmp, "bad.json")
        json.dump(content, open(f, "w"))
    else:
        torch.save(content, f)
    out = sh(IMPORT + [kind, f, "--out", os.path.join(tmp, "out.json")], rc=2, match=msg)
    if os.path.basename(f) not in out:
        sys.exit("FAIL: the message does not name the file")


def main():
    w, mpi, case = sys.argv[1], shlex.split(sys.argv[2]), sys.argv[3]
    with tempfile.TemporaryDirectory() as tmp:
        if case.startswith("stat_"):  # stat_FORMAT_BALANCER
            _, fmt, balancer = case.split("_", 2)
            stat_roundtrip(w, mpi, tmp, fmt, balancer.replace("_", ","))
        elif case == "dump_window":
            dump_window(w, mpi, tmp)
        elif case == "per_pass":
            per_pass(w, mpi, tmp)
        elif case == "per_token":
            per_token(w, mpi, tmp)
        elif case == "location":
            location(w, mpi, tmp)
        elif case == "plan_export":
            plan_export(w, mpi, tmp)
        elif case == "plot":
            plot(w, mpi, tmp)
        elif case.startswith("bad_"):
            bad(case[4:], tmp)
        else:
            sys.exit(f"unknown case {case}")
    print(f"PASS: {case}")


if __name__ == "__main__":
    main()
