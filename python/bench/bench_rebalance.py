#!/usr/bin/env python3
"""Benchmark of wideep.rebalance_experts (docs/results.md, "Python package").

  python python/bench/bench_rebalance.py [--repeat N]

1. DeepSeek-V3's shape (58 MoE layers, 256 experts, 288 replicas, 4 nodes x 8
   GPUs, 8 groups): wideep.rebalance_experts(policy="deepseek") against a
   straightforward numpy version of DeepSeek's hierarchical EPLB written here
   from the algorithm's description (pack groups onto nodes, replicate the
   heaviest per-copy expert within each node, pack the copies onto the node's
   GPUs; float32 sums; heaviest first into the lightest non-full pack, ties to
   the lower index). Both must give the same phy2log; the ratio is of medians.
2. Call overhead: the median time of one call on a tiny input (1 layer, 4
   experts, 4 replicas, 1 GPU), Python to Python.
"""
import argparse
import platform
import time

import numpy as np

import wideep


def pack(weight, num_packs):
    """weight [rows, n] -> (pack [rows, n], rank_in_pack [rows, n]): n / num_packs items per pack."""
    rows, n = weight.shape
    per_pack = n // num_packs
    pack_of = np.empty((rows, n), dtype=np.int64)
    rank_of = np.empty((rows, n), dtype=np.int64)
    if per_pack == 1:  # every item alone: item i is pack i
        pack_of[:] = np.arange(n)
        rank_of[:] = 0
        return pack_of, rank_of
    for r in range(rows):
        load = np.zeros(num_packs, dtype=np.float32)
        items = np.zeros(num_packs, dtype=np.int64)
        for i in np.argsort(-weight[r], kind="stable"):
            best = int(np.argmin(np.where(items < per_pack, load, np.inf)))
            pack_of[r, i] = best
            rank_of[r, i] = items[best]
            items[best] += 1
            load[best] += weight[r, i]
    return pack_of, rank_of


def replicate(weight, num_phy):
    """weight [rows, n_log] -> (phy2log [rows, num_phy], logcnt [rows, n_log]): each extra slot
    copies the expert of the largest per-copy load."""
    rows, n_log = weight.shape
    phy2log = np.empty((rows, num_phy), dtype=np.int64)
    phy2log[:, :n_log] = np.arange(n_log)
    logcnt = np.ones((rows, n_log), dtype=np.int64)
    idx = np.arange(rows)
    for i in range(n_log, num_phy):
        best = np.argmax(weight / logcnt.astype(np.float32), axis=1)
        phy2log[:, i] = best
        logcnt[idx, best] += 1
    return phy2log, logcnt


def numpy_deepseek(weight, num_replicas, num_groups, num_nodes, num_gpus):
    """DeepSeek's hierarchical EPLB (global: one group on one node) -> phy2log [L, P]."""
    w = np.asarray(weight, dtype=np.float32)
    if num_groups % num_nodes:
        num_groups = num_nodes = 1
    L, E = w.shape
    group_size, gpn = E // num_groups, num_groups // num_nodes
    log_per_node, phy_per_node = E // num_nodes, num_replicas // num_nodes
    # Groups onto nodes; the "node-major" order of logical experts follows.
    gpack, grank = pack(w.reshape(L, num_groups, group_size).sum(-1, dtype=np.float32), num_nodes)
    log2m = (((gpack * gpn + grank) * group_size)[:, :, None] + np.arange(group_size)).reshape(L, E)
    m2log = np.empty_like(log2m)
    np.put_along_axis(m2log, log2m, np.arange(E)[None, :].repeat(L, 0), axis=1)
    node_w = np.take_along_axis(w, m2log, axis=1).reshape(L * num_nodes, log_per_node)
    # Copies within each node, then copies onto the node's GPUs.
    phy2m, mcnt = replicate(node_w, phy_per_node)
    per_copy = np.take_along_axis(node_w / mcnt.astype(np.float32), phy2m, axis=1)
    ppack, prank = pack(per_copy, num_gpus // num_nodes)
    slot = ppack * (num_replicas // num_gpus) + prank  # slot within the node
    node_p2m = np.empty_like(phy2m)
    np.put_along_axis(node_p2m, slot, phy2m, axis=1)
    p2m = (node_p2m.reshape(L, num_nodes, phy_per_node) + (np.arange(num_nodes) * log_per_node)[None, :, None])
    return np.take_along_axis(m2log, p2m.reshape(L, num_replicas), axis=1)


def median_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each implementation (median)")
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    weight = rng.pareto(1.2, (58, 256)).astype(np.float32) * 1000  # skewed, like real expert loads
    args = (288, 8, 4, 32)
    ref = numpy_deepseek(weight, *args)
    got = wideep.rebalance_experts(weight, *args, policy="deepseek")[0]
    same = np.array_equal(ref, got)
    t_np = median_time(lambda: numpy_deepseek(weight, *args), a.repeat)
    t_wd = median_time(lambda: wideep.rebalance_experts(weight, *args, policy="deepseek"), a.repeat * 20)
    t_wide = median_time(lambda: wideep.rebalance_experts(weight, *args, policy="wideep"), a.repeat)
    tiny = np.array([[1.0, 2.0, 3.0, 4.0]])
    for _ in range(1000):
        wideep.rebalance_experts(tiny, 4, 1, 1, 1)
    t_tiny = median_time(lambda: wideep.rebalance_experts(tiny, 4, 1, 1, 1), 20000)
    print(f"python {platform.python_version()} numpy {np.__version__}, DeepSeek-V3 shape 58x256 -> 288 slots, "
          f"4 nodes x 8 GPUs, 8 groups")
    print(f"{'case':<40} {'median_ms':>10}")
    print(f"{'numpy DeepSeek EPLB (this file)':<40} {t_np * 1e3:>10.3f}")
    print(f"{'wideep.rebalance_experts deepseek':<40} {t_wd * 1e3:>10.3f}")
    print(f"{'wideep.rebalance_experts wideep':<40} {t_wide * 1e3:>10.3f}")
    print(f"same phy2log as numpy: {same}")
    print(f"ratio wideep(deepseek) / numpy: {t_wd / t_np:.4f} (target <= 0.1)")
    print(f"call overhead, tiny input: {t_tiny * 1e6:.2f} us (target <= 20)")
    return 0 if same and t_wd / t_np <= 0.1 and t_tiny <= 20e-6 else 1


if __name__ == "__main__":
    raise SystemExit(main())
