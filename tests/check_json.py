#!/usr/bin/env python3
"""check_json.py FILE CHECK: asserts properties of a wideep JSON-lines file.

Checks: contract (the summary has every DESIGN.md field), as_planned (every
step's realised rank loads equal the balancer's plan; `optimal` is its old
name, kept for scripts: it never checked optimality), lp_optimal=INPUT (the
output of `wideep lp --json` on INPUT is a valid split whose max load is the
optimum, computed here independently by max-flow), rebalanced (EPLB ran
and moved exactly the planned bytes), simulated (sim output is marked),
dtype=fp32 / dtype=bf16 (the summary names that activation dtype), baseline
(every step and the summary carry the raw all-to-allv time), memory (the run
holds what the memory plan planned, plus what its steps grew), bytes=D/DC/C/CC
(exact dispatch/combine bytes, total and cross-node, on every step),
async_held=N (asynchronous re-plans waited for a wave held N boundaries).
Exit 0 when the check holds; prints why and exits 1 otherwise."""
import json
import math
import sys
from collections import deque


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


def check_as_planned(lines):
    steps = [l for l in lines if l.get("type") == "step"]
    if not steps:
        fail("no step lines")
    bad = [l["step"] for l in steps if l["load_mismatches"] != 0]
    if bad:
        fail(f"realised loads differ from the balancer's plan at steps {bad}")


def max_flow(n, edges, s, t):
    """Dinic's max-flow on n nodes; edges (u, v, capacity)."""
    graph = [[] for _ in range(n)]
    to, cap = [], []
    for u, v, c in edges:
        graph[u].append(len(to)); to.append(v); cap.append(c)
        graph[v].append(len(to)); to.append(u); cap.append(0)
    flow = 0
    while True:
        level = [-1] * n
        level[s] = 0
        q = deque([s])
        while q:
            u = q.popleft()
            for e in graph[u]:
                if cap[e] > 0 and level[to[e]] < 0:
                    level[to[e]] = level[u] + 1
                    q.append(to[e])
        if level[t] < 0:
            return flow
        it = [0] * n

        def push(u, f):
            if u == t:
                return f
            while it[u] < len(graph[u]):
                e = graph[u][it[u]]
                v = to[e]
                if cap[e] > 0 and level[v] == level[u] + 1:
                    got = push(v, min(f, cap[e]))
                    if got:
                        cap[e] -= got
                        cap[e ^ 1] += got
                        return got
                it[u] += 1
            return 0
        while True:
            f = push(s, float("inf"))
            if not f:
                break
            flow += f


def best_max_load(ranks, phy2log, counts):
    """The least max rank load of any integer split of each expert's tokens
    among the ranks holding a copy: binary search on L, feasible when a flow
    source -> expert (count) -> rank holding it -> sink (L) carries every token."""
    slots = len(phy2log) // ranks
    experts = len(counts)
    holds = {(phy2log[s], s // slots) for s in range(len(phy2log))}
    total = sum(counts)
    src, sink = experts + ranks, experts + ranks + 1

    def feasible(cap_rank):
        edges = [(src, e, counts[e]) for e in range(experts) if counts[e] > 0]
        edges += [(e, experts + r, total) for e, r in holds]
        edges += [(experts + r, sink, cap_rank) for r in range(ranks)]
        return max_flow(experts + ranks + 2, edges, src, sink) == total

    lo, hi = (total + ranks - 1) // ranks, total
    while lo < hi:
        mid = (lo + hi) // 2
        if feasible(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def check_lp_optimal(input_path):
    def check(lines):
        with open(input_path) as f:
            inp = json.load(f)
        if len(lines) != 1:
            fail(f"expected the one JSON object of `wideep lp --json`, found {len(lines)} lines")
        out = lines[0]
        ranks, p2l, counts = inp["ranks"], inp["phy2log"], inp["counts"]
        slots = len(p2l) // ranks
        ct = out["copy_tokens"]
        if len(ct) != len(p2l) or any(c < 0 for c in ct):
            fail(f"copy_tokens has {len(ct)} entries (or a negative one), the placement {len(p2l)} slots")
        per_expert = [0] * len(counts)
        loads = [0] * ranks
        for s, c in enumerate(ct):
            per_expert[p2l[s]] += c
            loads[s // slots] += c
        if per_expert != counts:
            fail(f"copy_tokens do not sum to each expert's count: {per_expert} vs {counts}")
        if loads != out["rank_loads"] or max(loads) != out["max_load"]:
            fail(f"rank_loads/max_load {out['rank_loads']}/{out['max_load']} are not the split's {loads}")
        best = best_max_load(ranks, p2l, counts)
        if out["max_load"] != best:
            fail(f"max_load {out['max_load']} is not optimal: a split with max load {best} exists")
        if math.ceil(out["lp_opt"] - 1e-6) != best:
            fail(f"lp_opt {out['lp_opt']} does not round up to the integer optimum {best}")
        print(f"check_json.py: max load {best} is optimal (independent max-flow), lp_opt {out['lp_opt']}")
    return check


def check_lplb(spec):
    """lplb=SCOPE:AUTO:PLANNED: the summary names the scope and automatic mode,
    every step and the summary carry lplb_skipped (the summary's the steps'
    sum), and every step planned PLANNED (rank, layer) loads (ranks x layers
    where the plan of the whole job is known) with no mismatch."""
    scope, auto, planned = spec.split(":")
    def check(lines):
        s = summary(lines)
        if s.get("lplb_scope") != scope or s.get("lplb_auto") != auto:
            fail(f"summary has lplb_scope {s.get('lplb_scope')} / lplb_auto {s.get('lplb_auto')}, expected {scope} / {auto}")
        steps = [l for l in lines if l.get("type") == "step"]
        if not steps or any("lplb_skipped" not in l for l in steps):
            fail("a step line lacks lplb_skipped")
        if s.get("lplb_skipped") != sum(l["lplb_skipped"] for l in steps):
            fail(f"summary lplb_skipped {s.get('lplb_skipped')} is not the steps' sum")
        if auto == "off" and s["lplb_skipped"] != 0:
            fail(f"--lplb-auto off skipped {s['lplb_skipped']} layer-steps")
        bad = [l["step"] for l in steps if l["load_planned"] != int(planned) or l["load_mismatches"] != 0]
        if bad:
            fail(f"steps {bad}: load_planned != {planned} or load_mismatches != 0")
        print(f"check_json.py: {len(steps)} steps, loads planned {planned} each, 0 mismatches, "
              f"lplb_skipped {s['lplb_skipped']}")
    return check


def check_rebalanced(lines):
    s = summary(lines)
    reb = [l for l in lines if l.get("type") == "rebalance" and not l.get("skipped")]
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


def check_summary_field(name, want):
    """The summary's `name` is `want` (dtype: the activations as run; transport:
    the one that ran, --transport auto resolved)."""
    def check(lines):
        got = summary(lines).get(name)
        if got != want:
            fail(f"summary {name} is {got!r}, expected {want!r}")
    return check


def check_baseline(lines):
    steps = [l for l in lines if l.get("type") == "step"]
    if not steps or any(not l.get("baseline_a2a_us", 0) > 0 for l in steps):
        fail("a step line lacks a positive baseline_a2a_us")
    if not summary(lines).get("baseline_a2a_us", 0) > 0:
        fail("the summary lacks a positive baseline_a2a_us")


def check_memory(lines):
    """The run holds what the memory plan (`wideep mem`) planned for its
    pipeline, plus what its steps grew, in the receiving memory kind."""
    s = summary(lines)
    grown_kind = "device" if s["backend"] == "nccl" else "host"
    for kind in ("host", "device"):
        want = s[f"planned_{kind}_bytes"] + (s["grown_bytes"] if kind == grown_kind else 0)
        if s[f"{kind}_bytes"] != want:
            fail(f"{kind}_bytes {s[f'{kind}_bytes']} != planned {s[f'planned_{kind}_bytes']} + grown")
    if s["backend"] != "nccl" and s["device_bytes"] != 0:
        fail("a host run reports device bytes")


def check_stall(lines):
    """Every step carries its stall (the gap since the previous completion) and
    the summary their max and p99."""
    steps = [l for l in lines if l.get("type") == "step"]
    if not steps or any(not l.get("stall_us", 0) > 0 for l in steps):
        fail("a step line lacks a positive stall_us")
    st = summary(lines).get("stall_us", {})
    if not st.get("max", 0) >= max(l["stall_us"] for l in steps) - 1e-6 or not st.get("p99", 0) > 0:
        fail(f"summary stall_us {st} does not cover the steps' stalls")


def check_chunked(want_steps):
    def check(lines):
        # A re-plan that kept every layer (--eplb-keep-within) moved nothing: skipped, 0 steps.
        rebs = [l for l in lines if l.get("type") == "rebalance" and not l.get("skipped")]
        if not rebs:
            fail("no rebalance line")
        for r in rebs:
            if r.get("mode") != "chunked" or r.get("steps_to_complete") != want_steps:
                fail(f"rebalance at step {r.get('step')}: mode {r.get('mode')}, steps_to_complete "
                     f"{r.get('steps_to_complete')}, expected chunked over {want_steps} steps")
        check_rebalanced(lines)
    return check


def check_async(lines):
    """--eplb-async: every completed re-plan says so, took at least one step
    boundary after its own, and moved exactly what it planned."""
    rebs = [l for l in lines if l.get("type") == "rebalance" and not l.get("skipped")]
    if not rebs:
        fail("no rebalance line")
    for r in rebs:
        if r.get("mode") != "async" or r.get("steps_to_complete", 0) < 2:
            fail(f"rebalance at step {r.get('step')}: mode {r.get('mode')}, steps_to_complete "
                 f"{r.get('steps_to_complete')}, expected async over >= 2 steps")
    check_rebalanced(lines)


def check_async_held(hold):
    """async_held=N (--inject hold-wave:RANK:N, one wave per chunk): a held
    wave is posted N step boundaries late and can be seen arrived one boundary
    after that at the earliest, so every completed re-plan took at least N + 2
    boundaries (2 without the hold); plus what `async` checks."""
    def check(lines):
        check_async(lines)
        for r in [l for l in lines if l.get("type") == "rebalance"]:
            if r["steps_to_complete"] < hold + 2:
                fail(f"rebalance at step {r['step']} switched after {r['steps_to_complete']} step boundaries: "
                     f"before its wave, held {hold}, could have arrived (expected >= {hold + 2})")
    return check


def check_skipped(lines):
    """--eplb-min-gain: every re-plan was skipped, nothing moved."""
    rebs = [l for l in lines if l.get("type") == "rebalance"]
    s = summary(lines)
    if not rebs or any(not r.get("skipped") or r.get("bytes") for r in rebs):
        fail("a re-plan was not skipped, or moved bytes")
    if s.get("rebalances") != 0 or s.get("rebalances_skipped") != len(rebs) or s.get("weight_bytes_moved") != 0:
        fail(f"summary: rebalances {s.get('rebalances')}, skipped {s.get('rebalances_skipped')}, "
             f"moved {s.get('weight_bytes_moved')}")


def row_bytes(hidden, pairs, dtype):
    """kernels/wire_row.h: | x padded to 16 | fp8: float scale per 128 channels, padded | slot[P] | w[P] | pad |."""
    r16 = lambda n: (n + 15) // 16 * 16
    x = r16(hidden * {"fp32": 4, "bf16": 2, "fp8": 1}[dtype])
    scales = r16(4 * ((hidden + 127) // 128)) if dtype == "fp8" else 0
    return r16(x + scales + 8 * pairs)


def check_wire(want):
    """wire=DISPATCH/COMBINE: the summary names the wire dtypes, and every
    step's dispatch and combine bytes are whole numbers of rows of those
    formats, as many dispatch rows as combine rows (each row comes back once)."""
    dispatch, combine = want.split("/")
    def check(lines):
        s = summary(lines)
        if (s.get("dispatch_dtype"), s.get("combine_dtype")) != (dispatch, combine):
            fail(f"summary wire dtypes {s.get('dispatch_dtype')}/{s.get('combine_dtype')}, expected {want}")
        pairs = 1 if s.get("dispatch_mode") == "low-latency" else s["topk"] + s.get("shared_experts", 0)
        rb, cb = row_bytes(s["hidden"], pairs, dispatch), row_bytes(s["hidden"], 0, combine)
        steps = [l for l in lines if l.get("type") == "step"]
        if not steps or not any(l["dispatch_bytes"] > 0 for l in steps):
            fail("no step moved dispatch bytes")
        for l in steps:
            d, c = l["dispatch_bytes"], l["combine_bytes"]
            if d % rb or c % cb or d // rb != c // cb:
                fail(f"step {l.get('step')}: dispatch {d} B, combine {c} B are not equal counts of "
                     f"{rb} B and {cb} B rows")
    return check


def check_bytes(want):
    """bytes=D/DC/C/CC: every step line and the summary report exactly D
    dispatch bytes (to other ranks, all ranks), DC of them cross-node, C
    combine bytes and CC of them cross-node (values worked out by hand)."""
    d, dc, c, cc = (int(x) for x in want.split("/"))
    keys = ("dispatch_bytes", "dispatch_bytes_cross_node", "combine_bytes", "combine_bytes_cross_node")
    def check(lines):
        rows = [l for l in lines if l.get("type") == "step"] + [summary(lines)]
        for l in rows:
            got = tuple(l.get(k) for k in keys)
            if got != (d, dc, c, cc):
                fail(f"{l.get('type')} {l.get('step', '')}: dispatch {got[0]} B ({got[1]} cross-node, "
                     f"{None if None in got[:2] else got[0] - got[1]} intra-node), combine {got[2]} B ({got[3]} "
                     f"cross-node); expected dispatch {d} ({dc} cross-node, {d - dc} intra-node), combine {c} ({cc})")
    return check


def check_tbo(lines):
    """--overlap tbo: the summary names it and reports the time hidden (a
    number; its efficiency is hidden / min(communication, compute)), and
    every step line carries its own hidden time."""
    s = summary(lines)
    if s.get("overlap") != "tbo":
        fail(f"summary overlap is {s.get('overlap')!r}, expected 'tbo'")
    for k in ("overlap_hidden_us", "overlap_efficiency"):
        if not isinstance(s.get(k), (int, float)):
            fail(f"summary has no number {k}")
    steps = [l for l in lines if l.get("type") == "step"]
    if not steps or any(not isinstance(l.get("overlap_hidden_us"), (int, float)) for l in steps):
        fail("a step line has no overlap_hidden_us")


def check_forecast(kind):
    """forecast=ran|quiet|plans (--lplb-auto on): every re-plan ran the
    automatic mode's forecast: lplb_forecast's plan + probe + quiet verdicts are
    the summary's layers (x2 with --overlap tbo), its time within plan_us; after the
    first re-plan, quiet (wideep sim): every layer-step took the fixed rule
    without a probe (lplb_skipped = layers, solve_us 0) but at multiples of 64
    steps; plans: every layer-step planned (lplb_skipped 0)."""
    def check(lines):
        s = summary(lines)
        reb = [l for l in lines if l.get("type") == "rebalance"]
        mbs = 2 if s["config"].get("overlap") == "tbo" else 1
        f = lambda l: l.get("lplb_forecast", {})
        if not reb or any(f(l).get("plan", 0) + f(l).get("probe", 0) + f(l).get("quiet", 0) != s["layers"] * mbs
                          or not 0 < l.get("lplb_forecast_us", 0) <= l["plan_us"] for l in reb):
            fail(f"re-plans without a forecast of every layer inside plan_us: {[(l['step'], f(l)) for l in reb]}")
        want = {"quiet": "quiet", "plans": "plan"}.get(kind)
        if want and any(f(l)[want] != s["layers"] * mbs for l in reb):
            fail(f"forecasts are not all {want}: {[f(l) for l in reb]}")
        first = min(l["step"] for l in reb)
        steps = [l for l in lines if l.get("type") == "step" and l["step"] > first]
        if not steps:
            fail("no step after the first re-plan")
        if kind == "ran":
            bad = []
        elif kind == "quiet":
            bad = [l["step"] for l in steps if l["step"] % 64 and (l["lplb_skipped"] != s["layers"] or l["solve_us"] != 0)]
        else:
            bad = [l["step"] for l in steps if l["lplb_skipped"] != 0]
        if bad:
            fail(f"steps {bad} are not {kind}")
        print(f"check_json.py: {len(reb)} forecasts, {len(steps)} steps after the first re-plan {kind}")
    return check


CHECKS = {"stall": check_stall, "chunked=1": check_chunked(1), "chunked=2": check_chunked(2),
          "chunked=4": check_chunked(4), "async": check_async, "skipped": check_skipped, "memory": check_memory, "dtype=fp32": check_summary_field("dtype", "fp32"), "dtype=bf16": check_summary_field("dtype", "bf16"),
          "transport=mpi": check_summary_field("transport", "mpi"), "transport=shm": check_summary_field("transport", "shm"),
          "baseline": check_baseline, "contract": check_contract, "as_planned": check_as_planned,
          "optimal": check_as_planned,  # the old name of as_planned (tests/balancers.cmake, sim.cmake, docs)
          "rebalanced": check_rebalanced, "simulated": check_simulated, "tbo": check_tbo}

if __name__ == "__main__":
    check = CHECKS.get(sys.argv[2]) if len(sys.argv) == 3 else None
    if len(sys.argv) == 3 and sys.argv[2].startswith("wire="):
        check = check_wire(sys.argv[2].split("=", 1)[1])
    if len(sys.argv) == 3 and sys.argv[2].startswith("lplb="):
        check = check_lplb(sys.argv[2].split("=", 1)[1])
    if len(sys.argv) == 3 and sys.argv[2] in ("forecast=ran", "forecast=quiet", "forecast=plans"):
        check = check_forecast(sys.argv[2].split("=", 1)[1])
    if len(sys.argv) == 3 and sys.argv[2].startswith("async_held="):
        check = check_async_held(int(sys.argv[2].split("=", 1)[1]))
    if len(sys.argv) == 3 and sys.argv[2].startswith("bytes="):
        check = check_bytes(sys.argv[2].split("=", 1)[1])
    if len(sys.argv) == 3 and sys.argv[2].startswith("lp_optimal="):
        check = check_lp_optimal(sys.argv[2].split("=", 1)[1])
    if check is None:
        fail(f"usage: check_json.py FILE {{{'|'.join(CHECKS)}|lp_optimal=INPUT|forecast=ran|quiet|plans|wire=DISPATCH/COMBINE|bytes=D/DC/C/CC|async_held=N}}")
    check(load(sys.argv[1]))
    print(f"check_json.py: {sys.argv[2]} ok")
