#!/usr/bin/python3
"""Draws wideep runs from their JSON lines (`wideep run|sim --json RUN.jsonl`).

  plot_run.py RUN.jsonl [MORE.jsonl ...] [-o|--out FILE.png] [--title TEXT]

One PNG: step time per step (every run overlaid), balancedness per step
(overlaid), and one panel per run with its step time and phases per step (route,
balance, layout, dispatch, expert, combine; each the slowest rank's, summed
over layers). EPLB rebalances are marked on every panel as dotted vertical lines in
the run's colour. Needs matplotlib (Debian python3-matplotlib; started by a
python3 without it, it re-runs under the project's Python: launch/project_python.py).
Exit 2 on a file that is not wideep JSON lines.
"""
import argparse
import json
import os
import sys

PHASES = ["route", "balance", "layout", "dispatch", "expert", "combine"]
PHASE_COLOURS = ["#9e9e9e", "#8e6bbf", "#c8b400", "#3b7dd8", "#5aa85a", "#e0783c"]


def fail(msg):
    print(f"plot_run.py: error: {msg}", file=sys.stderr)
    sys.exit(2)


def read_run(path):
    steps, rebalances, summary = [], [], None
    try:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                j = json.loads(line)
                kind = j.get("type")
                if kind == "step":
                    steps.append(j)
                elif kind == "rebalance":
                    rebalances.append(j)
                elif kind == "summary":
                    summary = j
    except (OSError, ValueError) as e:
        fail(f"{path}: not wideep JSON lines ({e})")
    if not steps:
        fail(f"{path}: no step lines (write them with wideep run|sim --json)")
    return {"path": path, "steps": steps, "rebalances": rebalances, "summary": summary or {}}


def label_of(run):
    s = run["summary"]
    name = os.path.splitext(os.path.basename(run["path"]))[0]
    parts = [name]
    if s:
        parts.append(f"{s.get('balancer', '?')}, {s.get('workload', '?')}, {s.get('ranks', '?')} ranks"
                     + (" (sim)" if s.get("simulated") else ""))
    return ": ".join(parts)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", metavar="RUN.jsonl")
    ap.add_argument("-o", "--out", default=None, help="PNG to write (default: the first run's name with .png)")
    ap.add_argument("--title", default=None)
    return ap.parse_args(argv)


def main(argv):
    a = parse_args(argv)
    runs = [read_run(p) for p in a.runs]
    out = a.out or os.path.splitext(a.runs[0])[0] + ".png"

    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(runs)
    # Constrained layout makes room for the figure title above the first
    # panel's own title (tight_layout let the two overlap, issue 29 item 8).
    fig, axes = plt.subplots(2 + n, 1, figsize=(10, 3.0 * (2 + n)), sharex=True, layout="constrained",
                             gridspec_kw={"height_ratios": [1.2, 1.0] + [1.1] * n})
    fig.get_layout_engine().set(h_pad=0.12)  # inches between a panel's title and what is above it
    ax_time, ax_bal, ax_phases = axes[0], axes[1], axes[2:]

    for i, run in enumerate(runs):
        c = colours[i % len(colours)]
        x = [s["step"] for s in run["steps"]]
        ax_time.plot(x, [s["step_us"] / 1e3 for s in run["steps"]], color=c, lw=1.6, label=label_of(run))
        ax_bal.plot(x, [s["balancedness"] for s in run["steps"]], color=c, lw=1.6, marker=".", ms=4)
        ph = [[s["phases_us"].get(p, 0) / 1e3 for s in run["steps"]] for p in PHASES]
        ax = ax_phases[i]
        # Lines, not a stack: each phase is its slowest rank's, and the slowest
        # ranks differ by phase, so stacked phases would overstate the step.
        ax.plot(x, [s["step_us"] / 1e3 for s in run["steps"]], color="black", lw=1.4, label="step")
        for p, c_p, y in zip(PHASES, PHASE_COLOURS, ph):
            ax.plot(x, y, color=c_p, lw=1.2, label=p)
        ax.set_ylabel("ms")
        ax.set_title(f"phases per step (each the slowest rank's, summed over layers): {label_of(run)}",
                     fontsize=9, loc="left")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
        for r in run["rebalances"]:
            for axx in (ax_time, ax_bal, ax):
                axx.axvline(r["step"], color=c, ls=":", lw=1.2)
        if i == 0:
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)

    ax_time.set_ylabel("step time (ms)")
    ax_time.set_title("step time (slowest rank, all layers)" +
                      ("; dotted: EPLB rebalances" if any(r["rebalances"] for r in runs) else ""),
                      fontsize=9, loc="left")
    ax_time.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax_time.grid(alpha=0.3)
    ax_time.set_ylim(bottom=0)
    ax_bal.set_ylabel("balancedness")
    ax_bal.set_title("balancedness (mean / max rank load, mean over layers; 1 = even)", fontsize=9, loc="left")
    ax_bal.set_ylim(0, 1.05)
    ax_bal.grid(alpha=0.3)
    ax_phases[-1].set_xlabel("step (measured steps; warm-up excluded)")
    if a.title:
        fig.suptitle(a.title, fontsize=11)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    print(f"plot_run.py: wrote {out}")
    return 0


if __name__ == "__main__":
    import project_python  # launch/: re-runs this under the project's Python where matplotlib is missing
    project_python.require("matplotlib")
    sys.exit(main(sys.argv[1:]))
