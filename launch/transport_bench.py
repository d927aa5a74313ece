#!/usr/bin/python3
"""transport_bench.py [--build DIR] [--runs N] [--ranks 2,8] [--steps S] [--warmup W] [--default]: issue 12's benchmark.

`wideep run --baseline --phase-barrier` at H 2048, T 512, top-8 of 64 experts:
dispatch + combine (exchange after a barrier) against the raw MPI_Alltoallv of
the same bytes, measured in the same run. The baseline runs under three Open
MPI settings (single copy through CMA, the default; no single copy; the tuned
collective's pairwise all-to-allv) with --transport mpi, then --transport shm
runs under the setting whose raw all-to-allv was fastest. Prints the machine,
one line per run and min / median / max of every ratio. A setting that fails
to run (CMA where a container forbids process_vm_readv) is reported and left
out; the exit status is 1 only when a rank count got no result at all. On the
GPU machine (16 cores: a core per rank at 8 ranks) it runs as gpu_run.sh's
transport stage.

--default (issue 24's goal): only the default options (no --transport, so
auto, under Open MPI's defaults), each run's ratio, the transport that ran
and the median; exit 1 where the median exceeds 1.0."""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

MCA = {
    "cma (defaults)": [],
    "single copy none": ["--mca", "btl_vader_single_copy_mechanism", "none"],
    "coll tuned pairwise": ["--mca", "coll_tuned_use_dynamic_rules", "1", "--mca", "coll_tuned_alltoallv_algorithm", "2"],
}



def run(build, np, mca, transport, steps, warmup, tmp, backing):
    """One run; None where it failed (e.g. CMA where a container forbids process_vm_readv).
    transport "default": no --transport option (auto)."""
    out = os.path.join(tmp, "run.jsonl")
    chosen = [] if transport == "default" else ["--transport", transport]
    cmd = (["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader"] + backing + MCA[mca] +
           ["-np", str(np), os.path.join(build, "wideep"), "run", "--backend", "mpi"] + chosen +
           ["--baseline", "--phase-barrier", "--hidden", "2048", "--tokens", "512", "--experts", "64", "--topk", "8",
            "--ffn", "128", "--layers", "1", "--steps", str(steps), "--warmup", str(warmup), "--quiet", "--json", out])
    try:
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        print(f"np {np} {mca} {transport}: no result within 600 s")
        return None
    if p.returncode != 0:
        last = (p.stderr.strip().splitlines() or ["(no message)"])[-1]
        print(f"np {np} {mca} {transport}: failed (exit {p.returncode}): {last}")
        return None
    s = [json.loads(l) for l in open(out)][-1]
    return (s["dispatch_combine_us"], s["baseline_a2a_us"], s["phases_us"]["dispatch"], s["phases_us"]["combine"],
            s.get("transport", "?"))


def runs(a, np, mca, transport, tmp, backing):
    """a.runs runs, each printed; those that gave a result."""
    res = [r for r in (run(a.build, np, mca, transport, a.steps, a.warmup, tmp, backing) for _ in range(a.runs)) if r]
    for dc, raw, d, c, ran in res:
        shown = transport if transport == ran else f"{transport} ({ran} ran)"
        print(f"np {np} {mca:20s} {shown}: dispatch+combine {dc / 1e3:8.2f} ms (dispatch {d / 1e3:.2f}, "
              f"combine {c / 1e3:.2f}), raw all-to-allv {raw / 1e3:8.2f} ms, ratio {dc / raw:.3f}")
    return res


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
    ap.add_argument("--default", action="store_true", help="only the default options (issue 24's goal)")
    a = ap.parse_args()
    os.environ.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    # Open MPI's shared-memory files (vader's segments, the shared windows) live in
    # /dev/shm; a container may give it only 64 MB: then /tmp, a local disk, holds them.
    shm_free_gib = shutil.disk_usage("/dev/shm").free / 2**30 if os.path.isdir("/dev/shm") else 0
    backing = []
    if shm_free_gib < 2:
        backing = ["--mca", "btl_vader_backing_directory", "/tmp", "--mca", "osc_sm_backing_directory", "/tmp"]
    print(f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), {cpu}, Linux {os.uname().release}, "
          f"/dev/shm {shm_free_gib:.1f} GiB free" + (": shared-memory files in /tmp" if backing else ""))
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        if a.default:
            for np in [int(x) for x in a.ranks.split(",")]:
                res = runs(a, np, "cma (defaults)", "default", tmp, backing)
                if not res:
                    ok = False
                    continue
                ratio = statistics.median(r[0] / r[1] for r in res)
                print(summary(f"np {np} default options ratio", [r[0] / r[1] for r in res]))
                print(f"np {np} default options: median ratio {ratio:.3f} "
                      f"({'within' if ratio <= 1.0 else 'ABOVE'} 1.0), transport {sorted(set(r[4] for r in res))}")
                ok = ok and ratio <= 1.0
            return 0 if ok else 1
        for np in [int(x) for x in a.ranks.split(",")]:
            base = {}
            for mca in MCA:
                res = runs(a, np, mca, "mpi", tmp, backing)
                if not res:
                    continue
                base[mca] = res
                print(summary(f"np {np} {mca} raw all-to-allv ms", [r[1] / 1e3 for r in res]))
                print(summary(f"np {np} {mca} mpi ratio", [r[0] / r[1] for r in res]))
            if not base:
                print(f"np {np}: no MCA setting ran")
                ok = False
                continue
            best = min(base, key=lambda m: statistics.median(r[1] for r in base[m]))
            print(f"np {np}: fastest raw all-to-allv under '{best}'")
            res = runs(a, np, best, "shm", tmp, backing)
            if not res:
                ok = False
                continue
            print(summary(f"np {np} {best} shm ratio", [r[0] / r[1] for r in res]))
            print(summary(f"np {np} {best} shm dispatch+combine ms", [r[0] / 1e3 for r in res]))
            sys.stdout.flush()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
