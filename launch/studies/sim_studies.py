#!/usr/bin/python3
"""The `wideep sim` studies of issues 12 and 16 (docs/studies/*.md).

Usage: launch/studies/sim_studies.py STUDY [--build DIR] [--out DIR] [--quick]
  STUDY  cross_node_bytes   hierarchical vs flat cross-node bytes, DeepSeek-V3 shape, 16-256 ranks
         mode_times         flat / hierarchical / low-latency dispatch and combine times, 8-256 ranks, T 128 and 4096
         tbo                step time with and without two-batch overlap, 32 and 64 ranks, T 128 and 4096
         eplb_stall         stall_us.max of sync / chunked / async EPLB moves (issue 16's shape)
         all                the four
  --build  the build directory holding `wideep` (default build)
  --out    where STUDY.csv and STUDY.png go (default docs/studies)
  --quick  a CI-sized sweep (small ranks and tokens; seconds)
Each study writes OUT/STUDY.csv, OUT/STUDY.png and prints its table as markdown.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
H100 = os.path.join(ROOT, "launch", "profiles", "h100_nvlink_8x.json")
CPU = os.path.join(ROOT, "launch", "profiles", "cpu_here.json")
# DeepSeek-V3's MoE layer: 256 routed experts, top-8 of them inside the top-4
# of 8 groups, H 7168, expert FFN 2048; DeepEP's wire formats (fp8 / bf16).
DSV3 = ["--experts", "256", "--topk", "8", "--groups", "8", "--hidden", "7168", "--ffn", "2048",
        "--dispatch-dtype", "fp8", "--combine-dtype", "bf16"]


def redundant(ranks):
    """32 redundant slots at 16 and 32 ranks (fewer), one per rank above."""
    return 32 if ranks <= 32 else ranks


def sim(build, args):
    """Runs `wideep sim ARGS --json` and returns its summary line."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "s.jsonl")
        cmd = ["nice", os.path.join(build, "wideep"), "sim", "--quiet", "--json", path] + [str(a) for a in args]
        r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            sys.exit("sim_studies.py: failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout))
        with open(path) as f:
            lines = [json.loads(l) for l in f if l.strip()]
    return [l for l in lines if l["type"] == "summary"][0], [l for l in lines if l["type"] == "rebalance"]


def write_csv(out, name, header, rows):
    with open(os.path.join(out, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def markdown(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


def cross_node_bytes(build, out, quick):
    ranks = [16, 32] if quick else [16, 32, 64, 128, 256]
    tokens = 16 if quick else 128
    header = ["ranks", "nodes", "balancer", "topk_groups", "mode", "dispatch_cross_MB", "combine_cross_MB",
              "cross_MB_per_token", "nodes_per_token_mean", "nodes_per_token_max"]
    rows = []
    # eplb: the run's re-placement (the `wideep` policy, 32 redundant slots at
    # 16 and 32 ranks, one per rank above); none: the static placement, every
    # group's experts on consecutive ranks (a group per node at 64 ranks).
    for r in ranks:
        for bal in ("eplb", "none"):
            for m in (0, 4):
                for mode in ("flat", "hierarchical"):
                    extra = (["--balancer", "eplb", "--redundant", redundant(r), "--eplb-interval", 2,
                              "--eplb-window", 2] if bal == "eplb" else ["--balancer", "none"])
                    s, _ = sim(build, ["--ranks", r, "--gpus-per-node", 8, "--profile", H100] + DSV3 +
                               ["--topk-groups", m, "--tokens", tokens, "--layers", 1, "--warmup", 2, "--steps", 2,
                                "--dispatch-mode", mode] + extra)
                    d, c = s["dispatch_bytes_cross_node"], s["combine_bytes_cross_node"]
                    rows.append([r, r // 8, bal, m, mode, round(d / 1e6, 3), round(c / 1e6, 3),
                                 round((d + c) / (r * tokens) / 1e6, 4), round(s["nodes_per_token"]["mean"], 3),
                                 s["nodes_per_token"]["max"]])
                    print("cross_node_bytes: R=%d %s M=%d %s done" % (r, bal, m, mode), file=sys.stderr)
    write_csv(out, "cross_node_bytes", header, rows)
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = {"flat": "tab:blue", "hierarchical": "tab:red"}
    for bal, style in (("eplb", "-"), ("none", ":")):
        for mode in colors:
            pts = [x for x in rows if x[2] == bal and x[3] == 4 and x[4] == mode]
            ax[0].plot([x[0] for x in pts], [x[5] + x[6] for x in pts], style, color=colors[mode], marker="o",
                       label="%s, balancer %s" % (mode, bal))
        for m, marker in ((0, "s"), (4, "o")):
            flat = {x[0]: x[5] + x[6] for x in rows if x[2] == bal and x[3] == m and x[4] == "flat"}
            hier = {x[0]: x[5] + x[6] for x in rows if x[2] == bal and x[3] == m and x[4] == "hierarchical"}
            ax[1].plot(ranks, [hier[r] / flat[r] for r in ranks], style, color="k", marker=marker,
                       label="balancer %s, %s" % (bal, "top-4 of 8 groups" if m else "no group limit"))
    ax[0].set_xscale("log", base=2)
    ax[0].set_yscale("log")
    ax[0].set_xlabel("ranks (8 per node)")
    ax[0].set_ylabel("cross-node dispatch + combine MB per step")
    ax[0].set_title("DeepSeek-V3 shape (top-4 of 8 groups), T %d per rank, fp8 / bf16" % tokens, fontsize=9)
    ax[0].legend(fontsize=8)
    ax[1].set_xscale("log", base=2)
    ax[1].set_xlabel("ranks (8 per node)")
    ax[1].set_ylabel("hierarchical / flat cross-node bytes")
    ax[1].set_ylim(0, 1)
    ax[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cross_node_bytes.png"), dpi=110)
    print(markdown(header, rows))


def mode_times(build, out, quick):
    ranks = [8, 16] if quick else [8, 16, 32, 64, 128, 256]
    token_set = [16, 64] if quick else [128, 4096]
    header = ["tokens", "ranks", "mode", "dispatch_us", "combine_us", "dispatch_plus_combine_us", "step_us",
              "dispatch_MB", "dispatch_cross_MB"]
    rows = []
    for t in token_set:
        for r in ranks:
            for mode in ("flat", "hierarchical", "low-latency"):
                s, _ = sim(build, ["--ranks", r, "--gpus-per-node", 8, "--profile", H100] + DSV3 +
                           ["--topk-groups", 4, "--tokens", t, "--layers", 1, "--warmup", 2, "--steps", 1,
                            "--balancer", "eplb", "--redundant", redundant(r), "--eplb-interval", 2,
                            "--eplb-window", 2, "--dispatch-mode", mode])
                d, c = s["phases_us"]["dispatch"], s["phases_us"]["combine"]
                rows.append([t, r, mode, round(d, 1), round(c, 1), round(d + c, 1), round(s["step_us"]["p50"], 1),
                             round(s["dispatch_bytes"] / 1e6, 2), round(s["dispatch_bytes_cross_node"] / 1e6, 2)])
                print("mode_times: T=%d R=%d %s done" % (t, r, mode), file=sys.stderr)
    write_csv(out, "mode_times", header, rows)
    fig, ax = plt.subplots(1, len(token_set), figsize=(11, 4))
    colors = {"flat": "tab:blue", "hierarchical": "tab:red", "low-latency": "tab:green"}
    for i, t in enumerate(token_set):
        for mode in colors:
            pts = [x for x in rows if x[0] == t and x[2] == mode]
            ax[i].plot([x[1] for x in pts], [x[3] for x in pts], "-", marker="o", color=colors[mode],
                       label=mode + " dispatch")
            ax[i].plot([x[1] for x in pts], [x[4] for x in pts], "--", marker="s", color=colors[mode],
                       label=mode + " combine")
        ax[i].set_xscale("log", base=2)
        ax[i].set_yscale("log")
        ax[i].set_xlabel("ranks (8 per node)")
        ax[i].set_ylabel("simulated us per layer (slowest rank)")
        ax[i].set_title("T %d per rank, H100 profile, fp8 / bf16" % t)
        ax[i].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "mode_times.png"), dpi=110)
    print(markdown(header, rows))


def tbo(build, out, quick):
    ranks = [16] if quick else [32, 64]
    bars = [16, 256] if quick else [128, 4096]          # the decode and prefill points
    token_set = bars if quick else [16, 32, 64, 128, 256, 1024, 4096]  # and where TBO turns
    header = ["tokens", "ranks", "overlap", "step_us", "dispatch_us", "expert_us", "combine_us",
              "overlap_hidden_us", "overlap_efficiency", "tbo_gain"]
    rows = []
    for t in token_set:
        for r in ranks:
            base = None
            for ov in ("none", "tbo"):
                s, _ = sim(build, ["--ranks", r, "--gpus-per-node", 8, "--profile", H100] + DSV3 +
                           ["--topk-groups", 4, "--tokens", t, "--layers", 1, "--warmup", 2, "--steps", 3,
                            "--balancer", "eplb", "--redundant", redundant(r), "--eplb-interval", 2,
                            "--eplb-window", 2, "--overlap", ov])
                step = s["step_us"]["p50"]
                base = base or step
                ph = s["phases_us"]
                rows.append([t, r, ov, round(step, 1), round(ph["dispatch"], 1), round(ph["expert"], 1),
                             round(ph["combine"], 1), round(s["overlap_hidden_us"], 1),
                             round(s["overlap_efficiency"], 3), "%+.1f %%" % (100 * (base / step - 1))])
                print("tbo: T=%d R=%d %s done" % (t, r, ov), file=sys.stderr)
    write_csv(out, "tbo", header, rows)
    fig, ax = plt.subplots(1, len(bars) + 1, figsize=(15, 4))
    for i, t in enumerate(bars):
        xs = range(len(ranks))
        for j, (ov, color) in enumerate((("none", "tab:gray"), ("tbo", "tab:orange"))):
            ys = [x[3] for r in ranks for x in rows if x[0] == t and x[1] == r and x[2] == ov]
            ax[i].bar([x + 0.4 * j - 0.2 for x in xs], ys, 0.4, color=color, label=ov)
        ax[i].set_xticks(list(xs))
        ax[i].set_xticklabels(["%d ranks" % r for r in ranks])
        ax[i].set_ylabel("simulated step us (1 layer)")
        ax[i].set_title("T %d per rank (%s)" % (t, "decode" if t <= 256 else "prefill"))
        ax[i].legend()
    last = ax[len(bars)]
    for r, color in zip(ranks, ("tab:blue", "tab:red")):
        step = {(x[0], x[2]): x[3] for x in rows if x[1] == r}
        last.plot(token_set, [step[(t, "none")] / step[(t, "tbo")] for t in token_set], "-o", color=color,
                  label="%d ranks" % r)
    last.axhline(1.0, color="k", lw=0.8)
    last.set_xscale("log", base=2)
    last.set_xlabel("tokens per rank")
    last.set_ylabel("speed-up of tbo (step none / step tbo)")
    last.set_title("where TBO wins (> 1) and loses (< 1)")
    last.legend()
    fig.suptitle("Two-batch overlap, DeepSeek-V3 shape, H100 profile")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "tbo.png"), dpi=110)
    print(markdown(header, rows))


def eplb_stall(build, out, quick):
    # The shape of the run's figures in docs/results.md (issue 16).
    shape = ["--ranks", 8, "--workload", "drift:1.2:10", "--layers", 4, "--hidden", 1024, "--ffn", 2048,
             "--tokens", 8, "--steps", 12 if quick else 30, "--warmup", 5, "--balancer", "eplb", "--redundant", 8,
             "--eplb-interval", 10]
    header = ["profile", "mode", "stall_us_max", "stall_us_p99", "step_us_p50", "steps_to_complete",
              "plan_us", "transfer_us", "sync_over_mode"]
    modes = (("sync", []), ("chunked (1 layer per step)", ["--eplb-layers-per-chunk", 1]),
             ("async (4 layers in one chunk)", ["--eplb-async"]),
             ("async, 1 layer per chunk", ["--eplb-async", "--eplb-layers-per-chunk", 1]))
    rows = []
    for prof, path in (("cpu_here", CPU), ("h100_nvlink_8x", H100)):
        sync = None
        for name, extra in modes:
            s, reb = sim(build, shape + ["--profile", path] + extra)
            moved = [x for x in reb if not x["skipped"]]
            stall = s["stall_us"]["max"]
            sync = sync or stall
            rows.append([prof, name, round(stall, 1), round(s["stall_us"]["p99"], 1), round(s["step_us"]["p50"], 1),
                         "/".join(str(x["steps_to_complete"]) for x in moved),
                         round(sum(x["plan_us"] for x in moved) / max(len(moved), 1), 1),
                         round(sum(x["transfer_us"] for x in moved) / max(len(moved), 1), 1),
                         "%.2f" % (sync / stall)])
            print("eplb_stall: %s %s done" % (prof, name), file=sys.stderr)
    write_csv(out, "eplb_stall", header, rows)
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    for i, prof in enumerate(("cpu_here", "h100_nvlink_8x")):
        pts = [x for x in rows if x[0] == prof]
        ax[i].bar(range(len(pts)), [x[2] for x in pts], color="tab:red", label="stall_us max")
        ax[i].bar(range(len(pts)), [x[4] for x in pts], color="tab:gray", label="step_us p50")
        ax[i].set_xticks(range(len(pts)))
        ax[i].set_xticklabels([x[1].replace(" (", "\n(") for x in pts], fontsize=7)
        ax[i].set_ylabel("us")
        ax[i].set_title("profile %s" % prof)
        ax[i].legend(fontsize=8)
    fig.suptitle("EPLB moves: the longest gap between step completions (8 ranks, 4 layers, H 1024, F 2048)")
    fig.tight_layout()
    fig.savefig(os.path.join(out, "eplb_stall.png"), dpi=110)
    print(markdown(header, rows))


STUDIES = {"cross_node_bytes": cross_node_bytes, "mode_times": mode_times, "tbo": tbo, "eplb_stall": eplb_stall}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", choices=list(STUDIES) + ["all"])
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "studies"))
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    if not os.access(os.path.join(a.build, "wideep"), os.X_OK):
        sys.exit("sim_studies.py: %s/wideep not found (build first, or pass --build DIR)" % a.build)
    os.makedirs(a.out, exist_ok=True)
    for name in (list(STUDIES) if a.study == "all" else [a.study]):
        t0 = time.time()
        STUDIES[name](a.build, a.out, a.quick)
        print("sim_studies.py: %s took %.0f s" % (name, time.time() - t0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
