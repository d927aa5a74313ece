#!/usr/bin/python3
"""plot_study.py CSV OUTDIR: the PNGs of launch/study.sh from its study.csv.

balancedness_vs_ranks.png  one panel per workload, one line per balancer
step_time_vs_ranks.png     simulated step time p50 (slowest rank), same layout
cross_node_bytes_vs_topology.png  cross-node dispatch+combine bytes per step at
                           the largest rank count, per balancer/topology and workload

draw_lines() is the drawing of launch/sweep.py's --plot too.
"""
import csv
import os
import sys


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def _number(v):
    try:
        return float(v)
    except ValueError:
        return None


def _key_text(names, values):
    return ", ".join(v if len(names) == 1 else f"{n}={v}" for n, v in zip(names, values))


def draw_lines(rows, x, y, lines, panels, png, ylabel=None, logy=False, title=None):
    """One panel per combination of the `panels` columns' values, and in each
    one line per combination of the `lines` columns' values: `y` against `x`
    (numbers sorted, base-2 log axis where they span 8x or more; other values
    in the order they come). Rows without a `y` value are left out."""
    plt = _pyplot()
    rows = [r for r in rows if r.get(y, "") != ""]
    panel_keys = list(dict.fromkeys(tuple(r[c] for c in panels) for r in rows)) or [()]
    line_keys = list(dict.fromkeys(tuple(r[c] for c in lines) for r in rows))
    colors = {k: plt.cm.tab10(i % 10) for i, k in enumerate(line_keys)}
    xs = list(dict.fromkeys(r[x] for r in rows))
    numeric = all(_number(v) is not None for v in xs)
    if numeric:
        pos = [_number(v) for v in xs]
        logx = min(pos) > 0 and max(pos) >= 8 * min(pos)
    else:
        logx = False
    n = len(panel_keys)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n + 1.0, 3.8), squeeze=False, sharey=not logy, layout="constrained")
    for ax, pk in zip(axes[0], panel_keys):
        for lk in line_keys:
            pts = [(r[x], float(r[y])) for r in rows
                   if tuple(r[c] for c in panels) == pk and tuple(r[c] for c in lines) == lk]
            if not pts:
                continue
            if numeric:
                pts.sort(key=lambda p: _number(p[0]))
                px = [_number(p[0]) for p in pts]
            else:
                px = [xs.index(p[0]) for p in pts]
            ax.plot(px, [p[1] for p in pts], marker="o", label=_key_text(lines, lk) if lines else y,
                    color=colors[lk])
        if logx:
            from matplotlib.ticker import ScalarFormatter
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_formatter(ScalarFormatter())  # 8, 16, 32 rather than 2^3, 2^4, 2^5
        if not numeric:
            ax.set_xticks(range(len(xs)))
            ax.set_xticklabels(xs, rotation=20, fontsize=8)
        if logy:
            ax.set_yscale("log")
        if panels:
            ax.set_title(_key_text(panels, pk) if len(panels) > 1 else f"{panels[0]} {pk[0]}", fontsize=10)
        ax.set_xlabel(x)
        ax.grid(True, alpha=0.3)
    axes[0][0].set_ylabel(ylabel or y)
    axes[0][-1].legend(fontsize=7, loc="best", title=", ".join(lines) if lines else None, title_fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.savefig(png, dpi=110, bbox_inches="tight")
    plt.close(fig)


def label(row):
    return row["balancer"] + ("" if row["topology"] == "-" else " " + row["topology"].split(":")[0])


def main():
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    if len(sys.argv) != 3:
        print("plot_study.py: error: usage: plot_study.py CSV OUTDIR", file=sys.stderr)
        return 2
    path, out = sys.argv[1], sys.argv[2]
    rows = list(csv.DictReader(open(path)))
    if not rows:
        print("plot_study.py: no rows in", path)
        return 1
    workloads = list(dict.fromkeys(r["workload"] for r in rows))
    series = list(dict.fromkeys(label(r) for r in rows))
    for r in rows:
        r["balancer / topology"] = label(r)

    def per_ranks(metric, fname, ylabel, logy):
        draw_lines(rows, "ranks", metric, ["balancer / topology"], ["workload"], os.path.join(out, fname),
                   ylabel=ylabel, logy=logy)

    per_ranks("balancedness_mean", "balancedness_vs_ranks.png", "balancedness (mean/max rank load)", False)
    per_ranks("step_us_p50", "step_time_vs_ranks.png", "simulated step time p50 (us)", True)

    plt = _pyplot()
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
    import project_python  # launch/: re-runs this under the project's Python where matplotlib is missing
    project_python.require("matplotlib")
    sys.exit(main())
