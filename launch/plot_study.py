#!/usr/bin/python3
"""plot_study.py CSV OUTDIR: the PNGs of launch/study.sh from its study.csv.

balancedness_vs_ranks.png  one panel per workload, one line per balancer
step_time_vs_ranks.png     simulated step time p50 (slowest rank), same layout
cross_node_bytes_vs_topology.png  cross-node dispatch+combine bytes per step at
                           the largest rank count, per balancer/topology and workload
"""
import csv
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def label(row):
    return row["balancer"] + ("" if row["topology"] == "-" else " " + row["topology"].split(":")[0])


def main():
    path, out = sys.argv[1], sys.argv[2]
    rows = list(csv.DictReader(open(path)))
    if not rows:
        print("plot_study.py: no rows in", path)
        return 1
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    series = list(dict.fromkeys(label(r) for r in rows))
    colors = {s: plt.cm.tab10(i % 10) for i, s in enumerate(series)}

    def per_ranks(metric, fname, ylabel, logy):
        n = len(workloads)
        fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), squeeze=False, sharey=not logy)
        for ax, w in zip(axes[0], workloads):
            for s in series:
                pts = sorted((int(r["ranks"]), float(r[metric])) for r in rows if r["workload"] == w and label(r) == s)
                if pts:
                    ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=s, color=colors[s])
            ax.set_xscale("log", base=2)
            if logy:
                ax.set_yscale("log")
            ax.set_title(w)
            ax.set_xlabel("ranks (EP size)")
            ax.grid(True, alpha=0.3)
        axes[0][0].set_ylabel(ylabel)
        axes[0][-1].legend(fontsize=7, loc="best")
        fig.tight_layout()
        fig.savefig(os.path.join(out, fname), dpi=110)
        plt.close(fig)

    per_ranks("balancedness_mean", "balancedness_vs_ranks.png", "balancedness (mean/max rank load)", False)
    per_ranks("step_us_p50", "step_time_vs_ranks.png", "simulated step time p50 (us)", True)

    rmax = max(int(r["ranks"]) for r in rows)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(workloads)
    lowest = []
    for i, w in enumerate(workloads):
        vals = []
        for s in series:
            v = [(int(r["dispatch_bytes_cross_node"]) + int(r["combine_bytes_cross_node"])) / 1e6
                 for r in rows if r["workload"] == w and label(r) == s and int(r["ranks"]) == rmax]
            vals.append(v[0] if v else 0)
        ax.bar([k + i * width for k in range(len(series))], vals, width, label=w)
        lowest += [v for v in vals if v > 0]
    if lowest:  # the differences are a few percent: start the axis near them
        ax.set_ylim(bottom=0.9 * min(lowest))
    ax.set_xticks([k + 0.4 - width / 2 for k in range(len(series))])
    ax.set_xticklabels(series, rotation=20, fontsize=8)
    ax.set_ylabel("cross-node MB per step (dispatch + combine)")
    ax.set_title(f"cross-node traffic by balancer / LPLB topology, {rmax} ranks, 8 per node")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "cross_node_bytes_vs_topology.png"), dpi=110)
    plt.close(fig)
    return 0


if __name__ == "__main__":
    sys.exit(main())
