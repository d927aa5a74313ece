#!/usr/bin/python3
"""Run/sim byte identity (issue 12): `mpirun -np N wideep run` and `wideep sim
--ranks N` with the same options must report IDENTICAL dispatch_bytes,
combine_bytes, dispatch_bytes_cross_node and combine_bytes_cross_node, in every
measured step line and in the summary, and both must say they used the dispatch
mode and wire dtypes asked for (so that a run which ignored an option cannot
pass by matching a sim which ignored it too).
Usage: sim_identity.py WIDEEP PROFILE NP [run/sim options...]
Exit status: 0 identical, 1 a difference, 2 bad usage or a command failed.
"""
import sys
import tempfile

from run_vs_sim import lines, run_both

BYTES = ("dispatch_bytes", "combine_bytes", "dispatch_bytes_cross_node", "combine_bytes_cross_node")


def option(opts, name, default):
    """The last value of `name` in opts (CLI11 takes the last), else default."""
    value = default
    for i, o in enumerate(opts[:-1]):
        if o == name:
            value = opts[i + 1]
    return value


def read(path):
    return lines(path, "step"), lines(path, "summary")


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
        (run_steps, run_sum), (sim_steps, sim_sum) = read(run_json), read(sim_json)
        if len(run_sum) != 1 or len(sim_sum) != 1:
            print("expected one summary line each: run %d, sim %d" % (len(run_sum), len(sim_sum)))
            return 1
        run_sum, sim_sum = run_sum[0], sim_sum[0]
        bad = 0
        # `auto` is fp32 on the host path (the run's --dtype auto with --backend mpi) and in the sim.
        want = {"dispatch_mode": option(opts, "--dispatch-mode", "flat"),
                "dispatch_dtype": option(opts, "--dispatch-dtype", "auto").replace("auto", "fp32"),
                "combine_dtype": option(opts, "--combine-dtype", "auto").replace("auto", "fp32")}
        for key, value in want.items():
            for side, s in (("run", run_sum), ("sim", sim_sum)):
                if s.get(key) != value:
                    print("%s summary: %s is %r, asked for %r" % (side, key, s.get(key), value))
                    bad += 1
        if len(run_steps) != len(sim_steps) or not run_steps:
            print("step counts differ: run %d, sim %d" % (len(run_steps), len(sim_steps)))
            return 1
        for a, b in zip(run_steps, sim_steps):
            for key in ("step",) + BYTES:
                if a.get(key) != b.get(key):
                    print("step %d: %s differs: run %r, sim %r" % (a["step"], key, a.get(key), b.get(key)))
                    bad += 1
        for key in BYTES:
            if run_sum.get(key) != sim_sum.get(key):
                print("summary: %s differs: run %r, sim %r" % (key, run_sum.get(key), sim_sum.get(key)))
                bad += 1
        if run_sum["dispatch_bytes_cross_node"] <= 0 and int(option(opts, "--gpus-per-node", "8")) < int(np_):
            print("no cross-node bytes on %s ranks of several nodes: nothing was compared" % np_)
            bad += 1
        print("%s %s/%s: dispatch %d (cross-node %d), combine %d (cross-node %d) bytes per step: %s" % (
            want["dispatch_mode"], want["dispatch_dtype"], want["combine_dtype"], sim_sum["dispatch_bytes"],
            sim_sum["dispatch_bytes_cross_node"], sim_sum["combine_bytes"], sim_sum["combine_bytes_cross_node"],
            "identical" if bad == 0 else "%d differences" % bad))
        return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
