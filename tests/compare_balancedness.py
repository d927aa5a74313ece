#!/usr/bin/python3
"""`wideep sim` against `mpirun -np N wideep run` on the same seed and workload.

Runs both with the same options, then asserts that every measured step has the
IDENTICAL balancedness (per layer too), remote dispatch/combine bytes, load
mismatches and LPLB's automatic choices (lplb_skipped), and that the rebalances moved the same weight bytes. Prints the
step-time agreement (sim p50 / run p50), which is recorded, not asserted.
Usage: compare_balancedness.py WIDEEP PROFILE NP [run/sim options...]
Exit status: 0 identical, 1 a difference, 2 bad usage or a command failed.
"""
import sys
import tempfile

from run_vs_sim import lines, run_both


def main():
    if len(sys.argv) < 4:
        print(__doc__, file=sys.stderr)
        return 2
    wideep, profile, np_, opts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
    with tempfile.TemporaryDirectory() as tmp:
        paths = run_both(wideep, profile, np_, opts, tmp)
        if paths is None:
            return 2
        run_json, sim_json = paths
        run_steps, sim_steps = lines(run_json, "step"), lines(sim_json, "step")
        bad = 0
        if len(run_steps) != len(sim_steps) or not run_steps:
            print("step counts differ: run %d, sim %d" % (len(run_steps), len(sim_steps)))
            return 1
        for a, b in zip(run_steps, sim_steps):
            for key in ("step", "balancedness", "layer_balancedness", "max_rank_load", "dispatch_bytes",
                        "combine_bytes", "load_mismatches"):
                if a[key] != b[key]:
                    print("step %d: %s differs: run %r, sim %r" % (a["step"], key, a[key], b[key]))
                    bad += 1
            if "lplb_skipped" in a and a["lplb_skipped"] != b.get("lplb_skipped"):  # the automatic mode's choices
                print("step %d: lplb_skipped differs: run %r, sim %r" % (a["step"], a["lplb_skipped"], b.get("lplb_skipped")))
                bad += 1
            if not b.get("simulated"):
                print("step %d: sim line lacks \"simulated\": true" % b["step"])
                bad += 1
        run_reb, sim_reb = lines(run_json, "rebalance"), lines(sim_json, "rebalance")
        if [(r["step"], r["bytes"], r["transfers"]) for r in run_reb] != \
           [(r["step"], r["bytes"], r["transfers"]) for r in sim_reb]:
            print("rebalances differ: run %r, sim %r" % ([(r["step"], r["bytes"]) for r in run_reb],
                                                         [(r["step"], r["bytes"]) for r in sim_reb]))
            bad += 1
        run_sum, sim_sum = lines(run_json, "summary")[-1], lines(sim_json, "summary")[-1]
        ratio = sim_sum["step_us"]["p50"] / max(run_sum["step_us"]["p50"], 1e-9)
        print("steps compared: %d, rebalances: %d, balancedness mean run %.6f sim %.6f: %s" % (
            len(run_steps), len(run_reb), run_sum["balancedness"]["mean"], sim_sum["balancedness"]["mean"],
            "IDENTICAL" if bad == 0 else "%d DIFFERENCES" % bad))
        print("step time p50: run %.1f us, sim %.1f us, sim/run %.3f" % (
            run_sum["step_us"]["p50"], sim_sum["step_us"]["p50"], ratio))
        for p in run_sum["phases_us"]:
            print("  %-8s run %10.1f us  sim %10.1f us" % (p, run_sum["phases_us"][p], sim_sum["phases_us"][p]))
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
