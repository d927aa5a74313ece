#!/usr/bin/env python3
"""mem_checks.py deepseek WIDEEP | matches-run WIDEEP "MPIRUN..." RUN_OPTIONS...

deepseek: `wideep mem` of the DeepSeek-V3 shape (H 7168, F 2048, E 256, 64
redundant, top-8, bf16, T 4096) on 64 ranks with the NCCL backend plans under
16 GiB of device memory per rank.
matches-run: a 2-rank `wideep run` with RUN_OPTIONS reports, as host_bytes and
device_bytes, exactly what `wideep mem` plans for the pipeline plus what its
steps grew (grown_bytes). Exit 1 with the reason otherwise."""
import json
import os
import subprocess
import sys
import tempfile

GiB = 1 << 30


def fail(msg):
    print(f"mem_checks.py: {msg}")
    sys.exit(1)


def mem_json(wideep, args):
    out = subprocess.run([wideep, "mem", "--json"] + args, capture_output=True, text=True)
    if out.returncode != 0:
        fail(f"wideep mem exited {out.returncode}: {out.stderr}")
    return json.loads(out.stdout)


def deepseek(wideep):
    args = ["--ranks", "64", "--backend", "nccl", "--dtype", "bf16", "--hidden", "7168", "--ffn", "2048",
            "--experts", "256", "--redundant", "64", "--topk", "8", "--tokens", "4096", "--balancer", "eplb,lplb"]
    j = mem_json(wideep, args)
    dev = j["device_bytes"]
    print(f"DeepSeek-V3 shape, 64 ranks: device plan {dev / GiB:.2f} GiB, host plan {j['host_bytes'] / GiB:.2f} GiB")
    if not 0 < dev < 16 * GiB:
        fail(f"device plan {dev} bytes is not under 16 GiB")
    if sum(j["buffers"].values()) != j["host_bytes"] + j["device_bytes"]:
        fail("the buffers do not add up to the totals")


def matches_run(wideep, mpirun, run_args):
    ranks = 2
    plan = mem_json(wideep, ["--ranks", str(ranks)] + run_args)
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "run.jsonl")
        cmd = mpirun.split(";") + ["-np", str(ranks), wideep, "run", "--json", path] + run_args
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            fail(f"run exited {out.returncode}: {out.stdout[-2000:]} {out.stderr[-2000:]}")
        lines = [json.loads(l) for l in open(path) if l.strip()]
    s = [l for l in lines if l.get("type") == "summary"][0]
    for kind in ("host", "device"):
        planned = plan[f"pipeline_{kind}_bytes"]
        grown = s["grown_bytes"] if kind == ("device" if plan["backend"] == "nccl" else "host") else 0
        print(f"{kind}: planned {planned}, run reports {s[kind + '_bytes']}, grown {grown}")
        if s[f"planned_{kind}_bytes"] != planned:
            fail(f"the run planned {s[f'planned_{kind}_bytes']} {kind} bytes, wideep mem {planned}")
        if s[f"{kind}_bytes"] != planned + grown:
            fail(f"the run holds {s[kind + '_bytes']} {kind} bytes, the plan {planned} + grown {grown}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "deepseek":
        deepseek(sys.argv[2])
    elif len(sys.argv) >= 4 and sys.argv[1] == "matches-run":
        matches_run(sys.argv[2], sys.argv[3], sys.argv[4:])
    else:
        print(__doc__)
        sys.exit(2)
