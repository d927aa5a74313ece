#!/usr/bin/python3
"""Sweeps `wideep sim` over a grid of its options: one CSV row per point.

  sweep.py [--out CSV] [--build DIR] [--plot METRIC --x OPTION [--lines OPTION,...] [--png FILE]]
           --ranks 8,32,128 --balancer eplb,eplb+lplb --tokens 128,4096 [any sim option VALUE[,VALUE...]] ...
  sweep.py --from CSV --plot METRIC --x OPTION [--lines OPTION,...] [--png FILE]   (draws, runs nothing)

Every sim option given with a comma list is an axis; the grid is their product
(the first option outermost) and each point is one `wideep sim` run. In
--balancer values `+` joins balancers (`eplb+lplb` runs `--balancer eplb,lplb`):
`,` separates points everywhere. Options without a value (`--eplb-async`) go to
every point. `--profile` defaults to launch/profiles/h100_nvlink_8x.json.

The CSV (default out/sweeps/sweep.csv): one column per option given (its name
with `_` for `-`, the values as typed), `profile`, then the figures of the sim's
JSON summary (METRICS below; `steady_*` from the first completed re-placement
on, empty where there was none). A point that fails stops the sweep with the
sim's message and exit status (2 on bad input, before any point runs where the
sweep's own options are wrong).

--plot METRIC draws METRIC (a column) against --x, one line per value of
--lines (default: every other option that varies) and one panel per value of
the options left, into --png (default: the CSV's path with .png); the drawing
is launch/plot_study.py's draw_lines.
"""
import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_PROFILE = "launch/profiles/h100_nvlink_8x.json"  # in the repository, wherever the sweep runs from

# (CSV column, path in the summary JSON). The phases are each the slowest
# rank's p50 over steps, as in the run's table: they do not sum to the step.
METRICS = [("step_us_p50", "step_us.p50"), ("step_us_p99", "step_us.p99"), ("step_us_mean", "step_us.mean"),
           ("balancedness_mean", "balancedness.mean"), ("balancedness_min", "balancedness.min"),
           ("gamma", "gamma"),
           ("steady_from_step", "steady.from_step"), ("steady_step_us_p50", "steady.step_us.p50"),
           ("steady_step_us_p99", "steady.step_us.p99"),
           ("steady_balancedness_mean", "steady.balancedness.mean"),
           ("steady_balancedness_min", "steady.balancedness.min")] + \
          [(f"phase_{p}_us", f"phases_us.{p}") for p in ("route", "balance", "layout", "dispatch", "expert", "combine")] + \
          [("dispatch_bytes", "dispatch_bytes"), ("combine_bytes", "combine_bytes"),
           ("dispatch_bytes_cross_node", "dispatch_bytes_cross_node"),
           ("combine_bytes_cross_node", "combine_bytes_cross_node"), ("nodes_per_token_mean", "nodes_per_token.mean"),
           ("rebalances", "rebalances"), ("experts_moved", "experts_moved"),
           ("weight_bytes_moved", "weight_bytes_moved"), ("rebalance_us", "rebalance_us"),
           ("stall_us_max", "stall_us.max"), ("solve_us_p50", "solve_us.p50"),
           ("eplb_policy_chosen", "eplb_policy_chosen"), ("sim_wall_s", "sim_wall_s")]
METRIC_NAMES = [m for m, _ in METRICS]
OWN = ("--json", "--quiet")  # the sweep sets these itself


class InputError(Exception):
    pass


def parse_sim_options(tokens):
    """`--name v1,v2 --flag ...` -> [(name, [values] or None for a flag)], in order."""
    opts, i = [], 0
    while i < len(tokens):
        name = tokens[i]
        if not name.startswith("--") or name == "--":
            raise InputError(f"{name!r}: expected a sim option (--name VALUE[,VALUE...])")
        if name in OWN:
            raise InputError(f"{name}: the sweep sets it for every point; leave it out")
        if any(o[0] == name for o in opts):
            raise InputError(f"{name} given twice: give its values as one comma list")
        if i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            values = tokens[i + 1].split(",")
            if any(v == "" for v in values):
                raise InputError(f"{name} {tokens[i + 1]}: an empty value in the list")
            opts.append((name, values))
            i += 2
        else:
            opts.append((name, None))
            i += 1
    if not any(o[0] == "--ranks" for o in opts):
        raise InputError("--ranks: required (wideep sim's virtual ranks; a comma list sweeps them)")
    if not any(o[0] == "--profile" for o in opts):
        opts.append(("--profile", [DEFAULT_PROFILE]))
    return opts


def column(name):
    return name[2:].replace("-", "_")


def sim_value(name, value):
    if name == "--balancer":
        return value.replace("+", ",")
    if name == "--profile" and value == DEFAULT_PROFILE:
        return os.path.join(ROOT, DEFAULT_PROFILE)
    return value


def pick(summary, path):
    v = summary
    for part in path.split("."):
        if not isinstance(v, dict) or part not in v:
            return ""
        v = v[part]
    if isinstance(v, dict):  # eplb_policy_chosen: {"wideep": 2} -> wideep:2
        return " ".join(f"{k}:{n}" for k, n in v.items())
    return "" if v is None else v


def run_point(wideep, opts, point, tmp):
    path = os.path.join(tmp, "point.jsonl")
    cmd = [wideep, "sim", "--quiet", "--json", path]
    for (name, values), v in zip(opts, point):
        cmd += [name] if values is None else [name, sim_value(name, v)]
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        return r.returncode, r.stdout.strip(), None
    with open(path) as f:
        lines = [json.loads(l) for l in f if l.strip()]
    return 0, "", [l for l in lines if l.get("type") == "summary"][-1]


def plot(rows, axes, a, png):
    from plot_study import draw_lines  # launch/: its drawing, shared
    if a.plot not in rows[0]:
        raise InputError(f"--plot {a.plot}: no such column (columns: {', '.join(rows[0])})")
    varying = [c for c in axes if len({r[c] for r in rows}) > 1]
    lines = a.lines.split(",") if a.lines else [c for c in varying if c != a.x]
    for c in lines:
        if c not in axes:
            raise InputError(f"--lines {c}: not an option of the sweep (options: {', '.join(axes)})")
    panels = [c for c in varying if c != a.x and c not in lines]
    profile = {r.get("profile", "") for r in rows}
    title = f"{a.plot} vs {a.x}" + (f", sim {os.path.splitext(os.path.basename(profile.pop()))[0]}"
                                     if len(profile) == 1 else "")
    draw_lines(rows, a.x, a.plot, lines, panels, png, title=title)
    print(f"sweep.py: drew {a.plot} against {a.x} into {png}")


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="sweep.py", description=__doc__.split("\n\n")[0], allow_abbrev=False,
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--out", default=os.path.join("out", "sweeps", "sweep.csv"), help="the CSV to write")
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="the build folder holding wideep")
    ap.add_argument("--from", dest="from_csv", metavar="CSV", help="draw this sweep's CSV; run nothing")
    ap.add_argument("--plot", metavar="METRIC", help="a column to draw (e.g. step_us_p50, balancedness_mean)")
    ap.add_argument("--x", metavar="OPTION", help="the option along the x axis (e.g. ranks)")
    ap.add_argument("--lines", metavar="OPTION[,OPTION]", help="one line per value of these options")
    ap.add_argument("--png", help="the PNG to write (default: the CSV's path with .png)")
    return ap.parse_known_args(argv)


def main(argv):
    a, rest = parse_args(argv)
    try:
        if a.plot and not a.x:
            raise InputError("--plot needs --x OPTION (the option along the x axis)")
        if a.from_csv:
            if rest:
                raise InputError(f"--from draws a CSV: no sim options ({' '.join(rest)})")
            if not a.plot:
                raise InputError("--from needs --plot METRIC --x OPTION")
            try:
                with open(a.from_csv, newline="") as f:
                    rows = list(csv.DictReader(f))
            except OSError as e:
                raise InputError(f"--from {a.from_csv}: {e.strerror}")
            if not rows:
                raise InputError(f"--from {a.from_csv}: no rows")
            axes = [c for c in rows[0] if c not in METRIC_NAMES]
            if a.x not in axes:
                raise InputError(f"--x {a.x}: not an option of the sweep (options: {', '.join(axes)})")
            plot(rows, axes, a, a.png or os.path.splitext(a.from_csv)[0] + ".png")
            return 0
        opts = parse_sim_options(rest)
        axes = [column(n) for n, _ in opts]
        if a.plot:
            if a.x not in axes:
                raise InputError(f"--x {a.x}: not an option of the sweep (options: {', '.join(axes)})")
            if a.plot not in METRIC_NAMES and a.plot not in axes:
                raise InputError(f"--plot {a.plot}: not a column (metrics: {', '.join(METRIC_NAMES)})")
        wideep = os.path.join(a.build, "wideep")
        if not os.access(wideep, os.X_OK):
            raise InputError(f"--build {a.build}: no wideep there (launch/setup.sh builds build/wideep)")
    except InputError as e:
        print(f"sweep.py: error: {e}", file=sys.stderr)
        return 2
    if a.plot:
        import project_python
        project_python.require("matplotlib")  # before the sims: a re-run starts over

    grid = list(itertools.product(*[[None] if v is None else v for _, v in opts]))
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    header = axes + METRIC_NAMES
    rows, t0 = [], time.time()
    print(f"sweep.py: {len(grid)} points of wideep sim "
          + " x ".join(f"{column(n)} {len(v)}" for n, v in opts if v is not None and len(v) > 1), file=sys.stderr)
    with open(a.out, "w", newline="") as f, tempfile.TemporaryDirectory() as tmp:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for i, point in enumerate(grid, 1):
            code, log, s = run_point(wideep, opts, point, tmp)
            where = " ".join(f"{column(n)}={v}" for (n, vals), v in zip(opts, point) if vals and len(vals) > 1)
            if code != 0:
                print(f"sweep.py: point {i}/{len(grid)} ({where}) failed with exit {code}:\n{log}", file=sys.stderr)
                return code
            values = ["true" if v is None else v for v in point] + [pick(s, path) for _, path in METRICS]
            w.writerow(values)
            f.flush()
            rows.append(dict(zip(header, [str(v) for v in values])))
            print(f"sweep.py: {i}/{len(grid)} {where}: step p50 {s['step_us']['p50']:.1f} us, "
                  f"balancedness {s['balancedness']['mean']:.4f}", file=sys.stderr)
    print(f"sweep.py: wrote {a.out} ({len(rows)} points, {time.time() - t0:.1f} s)")
    if a.plot:
        try:
            plot(rows, axes, a, a.png or os.path.splitext(a.out)[0] + ".png")
        except InputError as e:
            print(f"sweep.py: error: {e}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
