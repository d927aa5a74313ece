#!/usr/bin/python3
"""The MoE layer as a PyTorch user writes it, beside wideep's (issue 26).

  torch_moe_ref.py --check-dump FILE...  (CPU, CI) recompute the layer that
      `wideep run --check --dump-layer FILE` wrote, from its top-k ids, gate
      weights and expert input x, with expert weights regenerated here from
      wideep's formula (kernels/det_values.h expert_weight, scales as
      kernels/expert_cpu.cc generate_expert_weights); exit 0 when the output
      equals wideep's --check reference and the run's output within the
      dtype's bound (runtime/step/moe_pipeline.cc check_limit: 1e-4 relative for
      fp32, 2^-5 for bf16 compute), 1 otherwise.
  torch_moe_ref.py --time --tokens 128,4096 [--hidden 7168 --ffn 2048
      --experts 256 --topk 8 --device cuda --json PATH]   time the layer
      (router top-k from logits, sort/index_select permute, torch._grouped_mm
      where present else a per-expert matmul loop, index_add_ un-permute),
      bf16, CUDA events, median after warm-up; one JSON line per (tokens, mode).

The layer: logits -> softmax -> top-k (renormalised) -> argsort of the flat
expert ids -> x.index_select -> per expert SiLU(x W1) W2 -> times the gate
weight -> index_add_ into the output. No shared experts in --time.
"""
import argparse
import json
import math
import statistics
import sys
import time

if __name__ == "__main__":
    import project_python  # launch/: re-runs this under the project's Python where numpy or torch is missing
    project_python.require("numpy", "torch")
import numpy as np  # noqa: E402
import torch  # noqa: E402

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


# ---- kernels/det_values.h, in numpy uint64 (wrapping) arithmetic ----------
def splitmix64(x):
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) & M64
        x = ((x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & M64
        x = ((x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & M64
    return x ^ (x >> np.uint64(31))


def mix_key(a, b):
    return splitmix64(np.uint64(a) ^ splitmix64(np.uint64(b)))


def unit_float(h):
    # static_cast<int32_t>(h >> 40) - 2^23, times 2^-23: exact in float32.
    return ((h >> np.uint64(40)).astype(np.int64) - (1 << 23)).astype(np.float32) * np.float32(1.0 / (1 << 23))


def expert_weights(seed, layer, expert, hidden, ffn):
    """W1 [H x F] and W2 [F x H] row-major, as generate_expert_weights."""
    n = hidden * ffn
    idx = np.arange(n, dtype=np.uint64)
    out = []
    for which, dim in ((1, hidden), (2, ffn)):
        k = mix_key(mix_key(mix_key(seed, 0x57 + layer), 0x1000 + expert), which)
        scale = np.float32(1.0) / np.sqrt(np.float32(dim))
        out.append(unit_float(mix_key(k, idx)) * scale)
    return out[0].reshape(hidden, ffn), out[1].reshape(ffn, hidden)


def token_activations(seed, step, layer, first_token, tokens, hidden):
    cols = np.arange(hidden, dtype=np.uint64)
    rows = []
    for t in range(tokens):
        k = mix_key(mix_key(mix_key(seed, 0xA0 + step), 0x3000 + layer), first_token + t)
        rows.append(unit_float(mix_key(k, cols)))
    return np.stack(rows)


# ---- the layer as a PyTorch user writes it --------------------------------
def route(x, gate, k):
    """top-k of the router's softmax, renormalised: ids [T, k] long, weights [T, k]."""
    probs = torch.softmax((x @ gate).float(), dim=-1)
    w, ids = torch.topk(probs, k, dim=-1)
    return ids, w / w.sum(dim=-1, keepdim=True)


def has_grouped_mm():
    return hasattr(torch, "_grouped_mm")


def moe_experts(x, ids, w, w1, w2, mode):
    """x [T, H], ids/w [T, K], w1 [E, H, F], w2 [E, F, H] -> out [T, H] (x's dtype)."""
    T, K = ids.shape
    E = w1.shape[0]
    flat = ids.reshape(-1)
    order = torch.argsort(flat, stable=True)          # permute: pairs sorted by expert
    token_of = order // K
    xs = x.index_select(0, token_of)
    counts = torch.bincount(flat, minlength=E)
    if mode == "grouped_mm":
        offs = torch.cumsum(counts, 0).to(torch.int32)
        h = torch._grouped_mm(xs, w1, offs=offs)
        y = torch._grouped_mm(torch.nn.functional.silu(h), w2, offs=offs)
    else:
        y = torch.empty_like(xs)
        start = 0
        for e, n in enumerate(counts.tolist()):       # one host sync: counts to the host
            if n:
                y[start:start + n] = torch.nn.functional.silu(xs[start:start + n] @ w1[e]) @ w2[e]
            start += n
    y = y * w.reshape(-1)[order].unsqueeze(1).to(y.dtype)
    out = torch.zeros(T, x.shape[1], dtype=torch.float32, device=x.device)
    return out.index_add_(0, token_of, y.float())     # un-permute and sum


# ---- --check-dump ---------------------------------------------------------
def check_dump(path):
    d = json.load(open(path))
    print("torch_moe_ref: %s: T %d, H %d, F %d, experts %d+%d, top-%d, %s compute, %s dispatch"
          % (path, d["tokens"], d["hidden"], d["ffn"], d["experts"], d.get("shared_experts", 0), d["topk"],
             d["dtype"], d["dispatch_dtype"]))
    T, H, F, K = d["tokens"], d["hidden"], d["ffn"], d["topk"]
    E, S = d["experts"], d.get("shared_experts", 0)
    seed, step, layer = d["seed"], d["step"], d["layer"]
    x = torch.tensor(d["x"], dtype=torch.float32).reshape(T, H)
    ids = torch.tensor(d["topk_ids"], dtype=torch.int64).reshape(T, K)
    w = torch.tensor(d["gate_weights"], dtype=torch.float32).reshape(T, K)
    # The input is wideep's formula: regenerated here, it equals the dump's x
    # (rounded to bf16 where the run computes in bf16; fp8 is checked by the output).
    raw = torch.from_numpy(token_activations(seed, step, layer, 0, T, H))
    if d["dispatch_dtype"] != "fp8":
        want = raw if d["dtype"] == "fp32" and d["dispatch_dtype"] == "fp32" else raw.to(torch.bfloat16).float()
        if not torch.equal(want, x):
            print("torch_moe_ref: the regenerated activations differ from the dump's x "
                  "(kernels/det_values.h token_activation)")
            return 1
    ws = [expert_weights(seed, layer, e, H, F) for e in range(E + S)]
    w1 = torch.from_numpy(np.stack([a for a, _ in ws]))
    w2 = torch.from_numpy(np.stack([b for _, b in ws]))
    if S:  # shared experts: every token, weight 1, after the routed ones
        ids = torch.cat([ids, torch.arange(E, E + S).repeat(T, 1)], dim=1)
        w = torch.cat([w, torch.ones(T, S)], dim=1)
    out = moe_experts(x, ids, w, w1, w2, "loop")
    limit = 1e-4 if d["dtype"] == "fp32" else 1.0 / 32
    ok = True
    for name in ("reference", "output"):
        other = torch.tensor(d[name], dtype=torch.float32).reshape(T, H)
        scale = max(other.abs().max().item(), 1e-30)
        rel = (out - other).abs().max().item() / scale
        good = rel <= limit
        ok = ok and good
        print("torch_moe_ref: vs wideep %-9s max rel err %.3g (limit %.3g for %s): %s"
              % (name, rel, limit, d["dtype"], "ok" if good else "DIFFERS"))
    return 0 if ok else 1


# ---- --time ---------------------------------------------------------------
def time_layer(args):
    dev = torch.device(args.device)
    cuda = dev.type == "cuda"
    dtype = torch.bfloat16 if cuda else torch.float32
    g = torch.Generator(device="cpu").manual_seed(args.seed)
    E, H, F, K = args.experts, args.hidden, args.ffn, args.topk
    if cuda:  # generated on the device: 15 GB of bf16 at DeepSeek-V3's shape
        gd = torch.Generator(device=dev).manual_seed(args.seed)
        w1 = torch.randn(E, H, F, generator=gd, device=dev, dtype=dtype) / math.sqrt(H)
        w2 = torch.randn(E, F, H, generator=gd, device=dev, dtype=dtype) / math.sqrt(F)
    else:
        w1 = torch.randn(E, H, F, generator=g) / math.sqrt(H)
        w2 = torch.randn(E, F, H, generator=g) / math.sqrt(F)
    gate = (torch.randn(H, E, generator=g) / math.sqrt(H)).to(dev, dtype)
    modes = (["grouped_mm"] if cuda and has_grouped_mm() else []) + ["loop"]
    lines = []
    for T in args.tokens:
        x = torch.randn(T, H, generator=g).to(dev, dtype)

        def layer(mode):
            ids, w = route(x, gate, K)
            return moe_experts(x, ids, w, w1, w2, mode)

        for mode in modes:
            try:
                layer(mode)
            except RuntimeError as e:  # e.g. _grouped_mm unsupported on this device
                lines.append({"type": "torch_layer", "tokens": T, "mode": mode, "error": str(e)[:200]})
                continue
            times = []
            for i in range(args.warmup + args.iters):
                if cuda:
                    a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    a.record()
                    layer(mode)
                    b.record()
                    b.synchronize()
                    us = a.elapsed_time(b) * 1e3
                else:
                    t0 = time.perf_counter()
                    layer(mode)
                    us = (time.perf_counter() - t0) * 1e6
                if i >= args.warmup:
                    times.append(us)
            lines.append({"type": "torch_layer", "tokens": T, "mode": mode, "layer_us": statistics.median(times),
                          "device": torch.cuda.get_device_name(dev) if cuda else "cpu",
                          "torch": torch.__version__, "dtype": str(dtype).replace("torch.", "")})
        del x
    for line in lines:
        print(json.dumps(line))
    if args.json:
        with open(args.json, "w") as f:
            for line in lines:
                f.write(json.dumps(line) + "\n")
    return 0 if any("layer_us" in line for line in lines) else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check-dump", metavar="FILE", nargs="+", help="one or more dumps")
    p.add_argument("--time", action="store_true")
    p.add_argument("--tokens", default="128,4096")
    p.add_argument("--hidden", type=int, default=7168)
    p.add_argument("--ffn", type=int, default=2048)
    p.add_argument("--experts", type=int, default=256)
    p.add_argument("--topk", type=int, default=8)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--iters", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json")
    args = p.parse_args()
    if bool(args.check_dump) == bool(args.time):
        p.error("one of --check-dump FILE or --time")
    if args.check_dump:
        return max(check_dump(f) for f in args.check_dump)
    try:
        args.tokens = [int(t) for t in args.tokens.split(",")]
    except ValueError:
        p.error("--tokens: a comma list of integers")
    if min(args.tokens) < 1 or not 1 <= args.topk <= args.experts or min(args.hidden, args.ffn) < 1:
        p.error("--tokens, --hidden, --ffn positive; --topk in [1, --experts]")
    return time_layer(args)


if __name__ == "__main__":
    sys.exit(main())
