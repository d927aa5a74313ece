#!/usr/bin/env python3
"""transport_bench.py [--build DIR] [--runs N] [--ranks 2,8] [--steps S] [--warmup W]: issue 12's benchmark.

`wideep run --baseline --phase-barrier` at H 2048, T 512, top-8 of 64 experts:
dispatch + combine (exchange after a barrier) against the raw MPI_Alltoallv of
the same bytes, measured in the same run. The baseline runs under three Open
MPI settings (single copy through CMA, the default; no single copy; the tuned
collective's pairwise all-to-allv) with --transport mpi, then --transport shm
runs under the setting whose raw all-to-allv was fastest. Prints one line per
run and min / median / max of every ratio."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

MCA = {
    "cma (defaults)": [],
    "single copy none": ["--mca", "btl_vader_single_copy_mechanism", "none"],
    "coll tuned pairwise": ["--mca", "coll_tuned_use_dynamic_rules", "1", "--mca", "coll_tuned_alltoallv_algorithm", "2"],
}


def run(build, np, mca, transport, steps, warmup, tmp):
    out = os.path.join(tmp, "run.jsonl")
    cmd = (["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader"] + MCA[mca] +
           ["-np", str(np), os.path.join(build, "wideep"), "run", "--backend", "mpi", "--transport", transport,
            "--baseline", "--phase-barrier", "--hidden", "2048", "--tokens", "512", "--experts", "64", "--topk", "8",
            "--ffn", "128", "--layers", "1", "--steps", str(steps), "--warmup", str(warmup), "--quiet", "--json", out])
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    s = [json.loads(l) for l in open(out)][-1]
    return s["dispatch_combine_us"], s["baseline_a2a_us"], s["phases_us"]["dispatch"], s["phases_us"]["combine"]


def summary(name, xs):
    return f"{name}: min {min(xs):.3f} median {statistics.median(xs):.3f} max {max(xs):.3f} ({len(xs)} runs)"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ranks", default="2,8")
    ap.add_argument("--steps", type=int, default=14)
    # Receive buffers grow to their largest need in the first steps (a growing
    # rank holds up the others' exchange): those are warmup.
    ap.add_argument("--warmup", type=int, default=6)
    a = ap.parse_args()
    os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    with tempfile.TemporaryDirectory() as tmp:
        for np in [int(x) for x in a.ranks.split(",")]:
            base = {}
            for mca in MCA:
                res = [run(a.build, np, mca, "mpi", a.steps, a.warmup, tmp) for _ in range(a.runs)]
                for dc, raw, d, c in res:
                    print(f"np {np} {mca:20s} mpi: dispatch+combine {dc / 1e3:8.2f} ms (dispatch {d / 1e3:.2f}, "
                          f"combine {c / 1e3:.2f}), raw all-to-allv {raw / 1e3:8.2f} ms, ratio {dc / raw:.3f}")
                base[mca] = res
                print(summary(f"np {np} {mca} raw all-to-allv ms", [r[1] / 1e3 for r in res]))
                print(summary(f"np {np} {mca} mpi ratio", [r[0] / r[1] for r in res]))
            best = min(base, key=lambda m: statistics.median(r[1] for r in base[m]))
            print(f"np {np}: fastest raw all-to-allv under '{best}'")
            res = [run(a.build, np, best, "shm", a.steps, a.warmup, tmp) for _ in range(a.runs)]
            for dc, raw, d, c in res:
                print(f"np {np} {best:20s} shm: dispatch+combine {dc / 1e3:8.2f} ms (dispatch {d / 1e3:.2f}, "
                      f"combine {c / 1e3:.2f}), raw all-to-allv {raw / 1e3:8.2f} ms, ratio {dc / raw:.3f}")
            print(summary(f"np {np} {best} shm ratio", [r[0] / r[1] for r in res]))
            print(summary(f"np {np} {best} shm dispatch+combine ms", [r[0] / 1e3 for r in res]))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
