#!/usr/bin/python3
"""Issue 32's study: eplb against eplb,lplb (node / global scope, automatic mode
on / off) in `wideep sim`, DeepSeek-V3 shape with fp8 dispatch, H100 profile.
Writes docs/studies/lplb.csv (one row per point, appended as it goes; rows
already there are kept, so an interrupted sweep resumes) and docs/studies/lplb.png.
Usage: launch/studies/lplb_study.py [--build DIR] [--out DIR] [--ranks 8,32,...]
       [--tokens 128,4096] [--configs ...] [--repeat N] [--plot-only] [--replace --run-label LABEL]
--replace reruns the selected points and replaces their rows (their `run` column: LABEL)."""
import argparse, csv, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIGS = {  # label: balancer options
    "eplb": ["--balancer", "eplb"],
    "node-auto": ["--balancer", "eplb,lplb", "--lplb-scope", "node", "--lplb-auto", "on"],
    "node-off": ["--balancer", "eplb,lplb", "--lplb-scope", "node", "--lplb-auto", "off"],
    "global-auto": ["--balancer", "eplb,lplb"],  # the defaults: --lplb-scope global --lplb-auto on
    "global-off": ["--balancer", "eplb,lplb", "--lplb-scope", "global", "--lplb-auto", "off"],
}
RUN_LABEL = "first pass"  # --run-label: which pass a row comes from (rows rerun later say so)
WORKLOADS = ["zipf:0.8", "zipf:1.2", "drift:1.2:5", "noise:0.5"]
FIELDS = ["workload", "tokens", "ranks", "config", "redundant", "step_us_p50", "balancedness_mean",
          "dispatch_us_p50", "expert_us_p50", "balance_us_p50", "dispatch_bytes_cross_node", "lplb_skipped",
          "scopes_x_steps", "sim_wall_s", "run", "repeats", "p50_spread"]


def point_args(wideep, ranks, tokens, workload, steps, warmup):
    # 256 experts (DeepSeek-V3) + 64 redundant, at least one slot per rank; a
    # rank needs an expert of its own, so beyond 256 ranks 1024 experts + 25 %.
    experts = 256 if ranks <= 256 else 1024
    spr = -(-(experts * 5 // 4) // ranks)
    red = ranks * spr - experts
    return red, [wideep, "sim", "--profile", os.path.join(ROOT, "launch/profiles/h100_nvlink_8x.json"),
                 "--ranks", str(ranks), "--gpus-per-node", "8", "--experts", str(experts), "--topk", "8",
                 "--hidden", "7168", "--ffn", "2048", "--tokens", str(tokens), "--layers", "1",
                 "--steps", str(steps), "--warmup", str(warmup), "--eplb-interval", "5", "--eplb-window", "5",
                 "--seed", "1", "--dispatch-dtype", "fp8", "--combine-dtype", "bf16", "--redundant", str(red),
                 "--workload", workload, "--quiet"]


def run_point(wideep, ranks, tokens, workload, config, steps, warmup):
    red, args = point_args(wideep, ranks, tokens, workload, steps, warmup)
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as f:
        subprocess.run(args + CONFIGS[config] + ["--json", f.name], check=True, stdout=subprocess.DEVNULL)
        lines = [json.loads(l) for l in open(f.name) if l.strip()]
    s = lines[-1]
    return {"workload": workload, "tokens": tokens, "ranks": ranks, "config": config, "redundant": red,
            "step_us_p50": round(s["step_us"]["p50"], 2), "balancedness_mean": round(s["balancedness"]["mean"], 4),
            "dispatch_us_p50": round(s["phases_us"]["dispatch"], 2), "expert_us_p50": round(s["phases_us"]["expert"], 2),
            "balance_us_p50": round(s["phases_us"]["balance"], 2),
            "dispatch_bytes_cross_node": s.get("dispatch_bytes_cross_node", 0),
            "lplb_skipped": s.get("lplb_skipped", ""),
            "scopes_x_steps": steps * ((ranks + 7) // 8 if "node" in config else 1),
            "sim_wall_s": round(s.get("sim_wall_s", 0), 2), "run": RUN_LABEL}


def run_best(wideep, ranks, tokens, workload, configs, steps, warmup, repeat):
    """Each configuration `repeat` times, interleaved (eplb, then the others,
    then again), keeping each one's run with the lowest step p50: the balance
    phase is measured CPU time, and a run's memory layout moves it by up to
    40 % at T = 4096 (docs/studies/lplb.md, "Noise"). p50_spread: that
    configuration's largest p50 over its smallest, less 1."""
    best, p50s = {}, {c: [] for c in configs}
    for _ in range(repeat):
        for c in configs:
            r = run_point(wideep, ranks, tokens, workload, c, steps, warmup)
            p50s[c].append(r["step_us_p50"])
            if c not in best or r["step_us_p50"] < best[c]["step_us_p50"]:
                best[c] = r
    for c in configs:
        best[c]["repeats"] = repeat
        best[c]["p50_spread"] = round(max(p50s[c]) / min(p50s[c]) - 1, 5)
    return [best[c] for c in configs]


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), sharex=True)
    for i, tokens in enumerate([128, 4096]):
        for j, w in enumerate(WORKLOADS):
            ax = axes[i][j]
            base = {r["ranks"]: r["step_us_p50"] for r in rows
                    if r["tokens"] == tokens and r["workload"] == w and r["config"] == "eplb"}
            for c in CONFIGS:
                if c == "eplb":
                    continue
                pts = sorted((r["ranks"], r["step_us_p50"] / base[r["ranks"]], r.get("run") == "first pass")
                             for r in rows
                             if r["tokens"] == tokens and r["workload"] == w and r["config"] == c and r["ranks"] in base)
                if pts:
                    line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], label=c)
                    # Filled: rows of a later pass (the csv's run column); hollow: the first pass.
                    for first in (True, False):
                        sub = [p for p in pts if p[2] == first]
                        if sub:
                            ax.plot([p[0] for p in sub], [p[1] for p in sub], "o", color=line.get_color(),
                                    markerfacecolor="none" if first else line.get_color())
            ax.axhline(1.0, color="gray", lw=0.8)
            ax.set_xscale("log", base=2)
            ax.set_title(f"{w}, T={tokens}", fontsize=9)
            if j == 0:
                ax.set_ylabel("step p50 / eplb")
            if i == 1:
                ax.set_xlabel("ranks")
    axes[0][0].legend(fontsize=7)
    fig.suptitle("eplb,lplb step p50 over eplb's (wideep sim, DeepSeek-V3 shape, fp8 dispatch, H100 profile;"
                 " filled markers: rerun points, hollow: first pass)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--out", default=os.path.join(ROOT, "docs/studies"))
    ap.add_argument("--ranks", default="8,32,128,512,1024")
    ap.add_argument("--tokens", default="128,4096")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration and point; the lowest p50 is kept")
    ap.add_argument("--plot-only", action="store_true")
    ap.add_argument("--run-label", default=RUN_LABEL, help="the 'run' column of the rows this sweep writes")
    ap.add_argument("--replace", action="store_true",
                    help="rerun the selected points even where the csv has them, replacing their rows")
    a = ap.parse_args()
    if a.repeat < 1:
        ap.error(f"--repeat {a.repeat}: needs at least 1 run per configuration")
    globals()["RUN_LABEL"] = a.run_label
    path = os.path.join(a.out, "lplb.csv")
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for r in csv.DictReader(f):
                for k in ("tokens", "ranks"):
                    r[k] = int(r[k])
                r["step_us_p50"] = float(r["step_us_p50"])
                rows.append(r)
    for r in rows:
        r["run"] = r.get("run") or "first pass"
    key = lambda r: (r["workload"], r["tokens"], r["ranks"], r["config"])
    done = {key(r) for r in rows}
    if a.replace and not a.plot_only:
        sel = {(wl, t, n, c) for t in map(int, a.tokens.split(",")) for n in map(int, a.ranks.split(","))
               for wl in a.workloads.split(",") for c in a.configs.split(",")}
        rows = [r for r in rows if key(r) not in sel]
        done -= sel
        with open(path, "w", newline="") as f:  # the kept rows; the sweep appends the new ones
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
    if not a.plot_only and os.path.exists(path) and not a.replace:
        with open(path, "w", newline="") as f:  # the header as FIELDS has it (older files lack "run")
            w = csv.DictWriter(f, fieldnames=FIELDS)
            w.writeheader()
            w.writerows(rows)
    if not a.plot_only:
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=FIELDS)
            if new:
                w.writeheader()
            for tokens in map(int, a.tokens.split(",")):
                for ranks in map(int, a.ranks.split(",")):
                    for wl in a.workloads.split(","):
                        todo = [c for c in a.configs.split(",") if (wl, tokens, ranks, c) not in done]
                        if not todo:
                            continue
                        for r in run_best(os.path.join(a.build, "wideep"), ranks, tokens, wl, todo, a.steps, a.warmup,
                                          a.repeat):
                            w.writerow(r)
                            f.flush()
                            rows.append(r)
                            print(f"{wl} T={tokens} R={ranks} {r['config']}: p50 {r['step_us_p50']} us "
                                  f"(best of {a.repeat}, spread {r['p50_spread']})", flush=True)
    plot(rows, os.path.join(a.out, "lplb.png"))


if __name__ == "__main__":
    main()
