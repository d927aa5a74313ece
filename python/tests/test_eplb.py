"""rebalance_experts: the eplb.py contract on random inputs, a case worked out
by hand, torch in/out, equality with `wideep plan`, the vLLM policy class."""
import inspect
import json
import subprocess
import sys

import numpy as np
import pytest

import wideep

SHAPES = [  # layers, experts, replicas, groups, nodes, gpus
    (3, 16, 24, 4, 2, 4),   # hierarchical (groups % nodes == 0)
    (2, 16, 20, 3, 2, 4),   # global (3 groups on 2 nodes)
    (4, 8, 8, 1, 1, 8),     # no redundancy, one slot per GPU
    (1, 12, 36, 2, 1, 3),   # 3 copies on average
    (5, 64, 72, 8, 2, 8),
]


def check_contract(w, out, replicas):
    phy2log, log2phy, logcnt = out
    L, E = w.shape
    assert phy2log.dtype == log2phy.dtype == logcnt.dtype == np.int64
    assert phy2log.shape == (L, replicas)
    assert log2phy.shape == (L, E, replicas - E + 1)
    assert logcnt.shape == (L, E)
    assert (logcnt >= 1).all(), "every logical expert has a copy"
    assert (logcnt.sum(axis=1) == replicas).all()
    for l in range(L):
        assert np.array_equal(np.bincount(phy2log[l], minlength=E), logcnt[l])
        for e in range(E):
            row = log2phy[l, e]
            k = logcnt[l, e]
            assert (row[k:] == -1).all(), "padded with -1 after the copies"
            assert sorted(row[:k].tolist()) == np.flatnonzero(phy2log[l] == e).tolist()


@pytest.mark.parametrize("policy", ["deepseek", "wideep"])
@pytest.mark.parametrize("shape", SHAPES)
def test_contract_random(policy, shape):
    L, E, P, G, N, R = shape
    rng = np.random.default_rng(sum(shape))
    for dtype in (np.int64, np.float32, np.float64):
        w = (rng.pareto(1.5, (L, E)) * 100).astype(dtype)
        check_contract(w, wideep.rebalance_experts(w, P, G, N, R, policy=policy), P)


def test_deepseek_by_hand():
    # 4 experts, loads 10,1,1,1, 6 slots on 2 GPUs. Replication: both redundant
    # slots go to expert 0 (10/1, then 10/2 > 1) -> 3 copies of 10/3. Packing
    # (heaviest first into the lightest non-full GPU, ties to the lower index):
    # copies of e0 -> GPU0, GPU1, GPU0; e1, e2 -> GPU1 (4.33, 5.33, full);
    # e3 -> GPU0. Slot order within a GPU is the order of arrival.
    phy2log, log2phy, logcnt = wideep.rebalance_experts([[10, 1, 1, 1]], 6, 1, 1, 2)
    assert phy2log.tolist() == [[0, 0, 3, 0, 1, 2]]
    assert logcnt.tolist() == [[3, 1, 1, 1]]
    assert log2phy.tolist() == [[[0, 1, 3], [4, -1, -1], [5, -1, -1], [2, -1, -1]]]


def test_wideep_never_colocates_and_is_no_worse():
    rng = np.random.default_rng(7)
    w = rng.pareto(1.2, (6, 32)) * 50
    ds = wideep.rebalance_experts(w, 48, 4, 2, 8, policy="deepseek")
    wd = wideep.rebalance_experts(w, 48, 4, 2, 8, policy="wideep")
    check_contract(w, wd, 48)
    for l in range(6):
        per_gpu = wd[0][l].reshape(8, 6)
        assert all(len(set(r)) == 6 for r in per_gpu.tolist())

        def peak(p2l, cnt):
            return max(sum(w[l, e] / cnt[l, e] for e in g) for g in p2l.reshape(8, 6))

        assert peak(wd[0][l], wd[2]) <= peak(ds[0][l], ds[2]) * (1 + 1e-9)


def test_torch_in_torch_out():
    torch = pytest.importorskip("torch")
    w = torch.rand(2, 16, dtype=torch.float32) * 100
    out = wideep.rebalance_experts(w, 24, 4, 2, 4)
    assert all(isinstance(t, torch.Tensor) and t.dtype == torch.int64 for t in out)
    ref = wideep.rebalance_experts(w.numpy(), 24, 4, 2, 4)
    assert all(np.array_equal(a.numpy(), b) for a, b in zip(out, ref))


@pytest.mark.parametrize("policy", ["deepseek", "wideep"])
@pytest.mark.parametrize("shape", SHAPES[:3])
def test_equals_cli_plan(cli, tmp_path, policy, shape):
    L, E, P, G, N, R = shape
    w = np.random.default_rng(E + P).integers(0, 1000, (L, E))
    loads = tmp_path / "loads.json"
    loads.write_text(json.dumps({"loads": w.tolist()}))
    args = ["plan", "--loads", loads, "--replicas", P, "--groups", G, "--nodes", N, "--gpus", R, "--policy", policy]
    phy2log, log2phy, logcnt = wideep.rebalance_experts(w, P, G, N, R, policy=policy)
    vllm = cli(*args, "--format", "vllm")
    assert vllm["physical_to_logical_map"] == phy2log.tolist()
    assert vllm["logical_to_physical_map"] == log2phy.tolist()
    assert vllm["logical_replica_count"] == logcnt.tolist()
    assert wideep.to_vllm(phy2log, E) == vllm
    assert wideep.to_sglang(phy2log, E) == cli(*args, "--format", "sglang")
    plan = cli(*args, "--json")
    assert wideep.to_plan_json(phy2log, w, R, N, G, policy) == plan
    back = wideep.from_plan_json(plan)
    assert all(np.array_equal(a, b) for a, b in zip(back, (phy2log, log2phy, logcnt)))


def test_vllm_policy_interface():
    params = list(inspect.signature(wideep.WideepEplbPolicy.rebalance_experts).parameters)
    assert params == ["weight", "num_replicas", "num_groups", "num_nodes", "num_ranks"]
    w = np.random.default_rng(1).integers(0, 100, (2, 16))
    for cls, policy in ((wideep.WideepEplbPolicy, "wideep"), (wideep.DeepseekEplbPolicy, "deepseek")):
        got = cls.rebalance_experts(w, 24, 4, 2, 4)
        ref = wideep.rebalance_experts(w, 24, 4, 2, 4, policy=policy)
        assert all(np.array_equal(a, b) for a, b in zip(got, ref))
    # Importable without vLLM: the package never imports it.
    code = "import sys, wideep; print('vllm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr
