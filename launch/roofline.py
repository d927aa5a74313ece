#!/usr/bin/python3
"""The roofline stage of launch/gpu_run.sh (issue 26): what one layer costs on
one GPU, against the chip's own limits and against PyTorch, in one run.

  roofline.py [--rehearse] [--bin DIR] [--out DIR] [--torch-python PY]

On the device (DeepSeek-V3's expert shape: H 7168, F 2048, 256 experts, top-8,
bf16 compute, fp8 dispatch; T = 128 decode and T = 4096 prefill, one rank):
  1. `wideep roofline --backend cuda`: every memory-bound kernel's bytes/s
     against a device-to-device copy of the same bytes (byte counts:
     kernels/roofline_model.cc), the grouped GEMM's TFLOP/s against one dense
     cuBLAS GEMM of the same FLOPs for each WIDEEP_GEMM mode, and the layer's
     kernels back to back (no host wait);
  2. `mpirun -np 1 wideep run --backend nccl --layers 1 --workload uniform`:
     the layer as users run it (step p50) and its host waits (summary
     host_waits); host time per layer = step p50 - the kernels back to back;
  3. launch/torch_moe_ref.py --time: the same layer as a PyTorch user writes
     it (torch of /opt/torch/.venv where present), same GPU;
  4. wideep layer / torch layer (the faster torch variant).
--rehearse: the same steps on this machine's CPU (host backend, --backend mpi,
torch on the CPU) at a tiny shape, in seconds; its numbers say nothing about
a GPU and its goal verdicts are printed but meaningless.

Prints one line per measure: `roofline_<measure>_T<T>  <value>  ratio <r>
goal <g>  PASS|MISS [by how much]`. Exit 0 when every measurement was made
(a missed goal is reported, not a failure: the goals are judged in
docs/results.md), 1 when a command failed or a result is missing, 2 for bad
usage. Logs and JSON lines go to --out.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys

DEVICE = dict(hidden=7168, ffn=2048, experts=256, topk=8, tokens=[128, 4096])
REHEARSAL = dict(hidden=256, ffn=128, experts=16, topk=4, tokens=[32, 128])
KERNEL_GOAL = 0.70        # bytes/s vs D2D copy, every memory-bound kernel
GEMM_GOAL = 0.60          # grouped vs dense, prefill only
HOST_US_GOAL = 30.0       # host time per layer, decode
TORCH_GOALS = (0.5, 1.0)  # wideep / torch: decode, prefill


def verdict(value, goal, at_least):
    """PASS, or MISS with how far from the goal."""
    if value is None:
        return "NOT-MEASURED"
    if (value >= goal) if at_least else (value <= goal):
        return "PASS"
    if at_least:
        return "MISS (%.0f%% short: %.2fx faster needed)" % (100 * (goal - value) / goal, goal / max(value, 1e-12))
    return "MISS (%.0f%% over: %.2fx less needed)" % (100 * (value - goal) / goal, value / goal)


REHEARSAL_NOTE = ""


def line(name, value, unit, ratio, goal_text, v):
    v += REHEARSAL_NOTE
    ratio_text = "ratio %6.3f" % ratio if ratio is not None else "ratio      -"
    text = "%-38s %12s %-8s %s  goal %-14s %s" % (name, "%.2f" % value if value is not None else "-", unit,
                                                  ratio_text, goal_text, v)
    print(text, flush=True)
    return text


def run(cmd, log, env=None, timeout=400):
    with open(log, "w") as f:
        f.write("== %s\n" % " ".join(cmd))
        f.flush()
        try:
            rc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            rc = 124
        except OSError as e:
            f.write("cannot run: %s\n" % e)
            rc = 127
    if rc != 0:
        print("roofline: command failed (rc=%d): %s; log %s:" % (rc, " ".join(cmd), log), flush=True)
        with open(log) as f:
            for l in f.readlines()[-6:]:
                print("    | " + l.rstrip(), flush=True)
    return rc


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rehearse", action="store_true")
    p.add_argument("--bin", help="folder of wideep (default: PATH)")
    p.add_argument("--out", default="roofline_out")
    p.add_argument("--torch-python", help="python with torch (default: /opt/torch/.venv/bin/python where present, "
                   "else /usr/bin/python3)")
    p.add_argument("--steps", type=int, help="measured steps of wideep run (device 20, rehearsal 3)")
    p.add_argument("--iters", type=int, help="timed runs per measurement (device 20, rehearsal 3)")
    args = p.parse_args()
    shape = REHEARSAL if args.rehearse else DEVICE
    global REHEARSAL_NOTE
    REHEARSAL_NOTE = " (rehearsal)" if args.rehearse else ""
    steps = args.steps or (3 if args.rehearse else 20)
    iters = args.iters or (3 if args.rehearse else 20)
    if steps < 1 or iters < 1:
        p.error("--steps and --iters must be positive")
    wideep = os.path.join(args.bin, "wideep") if args.bin else shutil.which("wideep")
    if not wideep or not os.access(wideep, os.X_OK):
        print("roofline: no wideep binary (--bin DIR, or on PATH)", file=sys.stderr)
        return 2
    mpirun = shutil.which("mpirun")
    torch_py = args.torch_python or next(
        (c for c in ("/opt/torch/.venv/bin/python", "/usr/bin/python3") if os.access(c, os.X_OK)), sys.executable)
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    toks = shape["tokens"]
    tok_text = ",".join(str(t) for t in toks)
    common = ["--hidden", str(shape["hidden"]), "--ffn", str(shape["ffn"]), "--experts", str(shape["experts"]),
              "--topk", str(shape["topk"])]
    failed = 0
    mode = "rehearsal: host CPU, tiny shape, numbers say nothing about a GPU" if args.rehearse else "device"
    print("# roofline (%s): H %d, F %d, experts %d, top-%d, bf16 compute, fp8 dispatch, tokens %s, one rank"
          % (mode, shape["hidden"], shape["ffn"], shape["experts"], shape["topk"], tok_text), flush=True)

    # 1. Kernels and GEMMs against the chip's copy and dense GEMM.
    rf_json = os.path.join(out, "roofline.jsonl")
    failed += run([wideep, "roofline", "--backend", "host" if args.rehearse else "cuda", "--tokens", tok_text,
                   "--dtype", "bf16", "--dispatch-dtype", "fp8", "--combine-dtype", "bf16", "--iters", str(iters),
                   "--warmup", "1" if args.rehearse else "3", "--json", rf_json] + common,
                  os.path.join(out, "roofline.log")) != 0
    rf = read_jsonl(rf_json)

    # 2. The layer as users run it, on one rank: step time and host waits.
    runs = {}
    for T in toks:
        j = os.path.join(out, "run_T%d.jsonl" % T)
        cmd = ([mpirun, "-np", "1"] if mpirun else []) + [
            wideep, "run", "--backend", "mpi" if args.rehearse else "nccl", "--tokens", str(T), "--layers", "1",
            "--steps", str(steps), "--warmup", "2" if args.rehearse else "5", "--workload", "uniform",
            "--dtype", "bf16", "--dispatch-dtype", "fp8", "--json", j, "--quiet", "--timeout-s", "120"] + common
        failed += run(cmd, os.path.join(out, "run_T%d.log" % T)) != 0
        s = [r for r in read_jsonl(j) if r.get("type") == "summary"]
        runs[T] = s[-1] if s else None

    # 3. The PyTorch layer, same shape, same device.
    torch_json = os.path.join(out, "torch.jsonl")
    # torch as its users run it: its own libraries, not the bundle's (LD_LIBRARY_PATH of env.sh).
    torch_env = {k: v for k, v in os.environ.items() if k != "LD_LIBRARY_PATH"}
    here = os.path.dirname(os.path.abspath(__file__))
    failed += run([torch_py, os.path.join(here, "torch_moe_ref.py"), "--time", "--tokens", tok_text,
                   "--iters", str(iters), "--warmup", "1" if args.rehearse else "3"]
                  + (["--device", "cpu"] if args.rehearse else []) + ["--json", torch_json] + common,
                  os.path.join(out, "torch.log"), env=torch_env) != 0
    torch_rows = read_jsonl(torch_json)

    # 4. One line per measure.
    lines = []
    for i, T in enumerate(toks):
        role = "decode" if i == 0 else "prefill"
        kern = [r for r in rf if r.get("type") == "kernel" and r["tokens"] == T]
        if not kern:
            failed += 1
            lines.append(line("roofline_kernels_T%d" % T, None, "", None, ">= %.2f" % KERNEL_GOAL, "NOT-MEASURED"))
        for k in kern:
            lines.append(line("roofline_%s_T%d" % (k["name"], T), k["gbps"], "GB/s", k["ratio"],
                              ">= %.2f" % KERNEL_GOAL, verdict(k["ratio"], KERNEL_GOAL, True)))
        for g in [r for r in rf if r.get("type") == "gemm" and r["tokens"] == T]:
            goal = ">= %.2f" % GEMM_GOAL if role == "prefill" else "- (prefill)"
            v = verdict(g["ratio"], GEMM_GOAL, True) if role == "prefill" else "INFO"
            lines.append(line("roofline_gemm_%s_T%d" % (g["mode"], T), g["tflops"], "TFLOP/s", g["ratio"], goal, v))
        layer = next((r["layer_kernels_us"] for r in rf if r.get("type") == "layer" and r["tokens"] == T), None)
        summ = runs.get(T)
        step_us = summ["step_us"]["p50"] if summ else None
        host_us = step_us - layer if step_us is not None and layer is not None else None
        if host_us is None:
            failed += 1
        goal = "<= %.0f us" % HOST_US_GOAL if role == "decode" else "- (decode)"
        v = verdict(host_us, HOST_US_GOAL, False) if role == "decode" else ("INFO" if host_us is not None else
                                                                             "NOT-MEASURED")
        lines.append(line("roofline_host_us_per_layer_T%d" % T, host_us, "us", None, goal, v))
        if summ is not None:
            waits = summ.get("host_waits", [])
            text = "; ".join("%s x%.3g %.1f us" % (w["what"], w["per_layer"], w["us_per_layer"]) for w in waits)
            print("    host waits per layer (T %d, step p50 %.1f us, kernels back to back %s us): %s"
                  % (T, step_us, "%.1f" % layer if layer is not None else "-", text or "none recorded"), flush=True)
        t = [r for r in torch_rows if r["tokens"] == T and "layer_us" in r]
        best = min(t, key=lambda r: r["layer_us"]) if t else None
        ratio = step_us / best["layer_us"] if best and step_us else None
        if ratio is None:
            failed += 1
        g = TORCH_GOALS[0] if role == "decode" else TORCH_GOALS[1]
        lines.append(line("roofline_vs_torch_T%d" % T, step_us, "us", ratio, "<= %.1f" % g, verdict(ratio, g, False)))
        if best:
            print("    torch layer %.1f us (%s, torch %s, %s)%s" % (
                best["layer_us"], best["mode"], best.get("torch"), best.get("device"),
                "; " + ", ".join("%s %.1f us" % (r["mode"], r["layer_us"]) for r in t if r is not best) if len(t) > 1
                else ""), flush=True)
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("# roofline: %d measure(s), %d failure(s)%s" % (len(lines), failed,
          "; rehearsal: verdicts meaningless" if args.rehearse else ""), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
