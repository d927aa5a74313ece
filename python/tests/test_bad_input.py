"""The bad-input table: each wrong argument raises TypeError or ValueError
naming it; C++ failures become Python exceptions; random shapes (many of them
impossible) never abort the interpreter."""
import subprocess
import sys

import numpy as np
import pytest

import wideep

W = np.ones((2, 8))
OK = dict(weight=W, num_replicas=8, num_groups=2, num_nodes=1, num_gpus=4)


def eplb(**kw):
    return lambda: wideep.rebalance_experts(**{**OK, **kw})


def lp(**kw):
    base = dict(phy2log=[0, 1, 1, 2], counts=[4, 6, 2], num_ranks=2)
    return lambda: wideep.solve_lp(**{**base, **kw})


CASES = [  # (id, call, exception, words the message must hold)
    ("weight 1-D", eplb(weight=np.ones(8)), ValueError, "weight"),
    ("weight 3-D", eplb(weight=np.ones((1, 2, 8))), ValueError, "weight"),
    ("weight empty", eplb(weight=np.ones((2, 0))), ValueError, "weight"),
    ("weight ragged", eplb(weight=[[1, 2], [3]]), ValueError, "weight"),
    ("weight negative", eplb(weight=-W), ValueError, "weight"),
    ("weight nan", eplb(weight=np.full((2, 8), np.nan)), ValueError, "weight"),
    ("weight inf", eplb(weight=np.full((2, 8), np.inf)), ValueError, "weight"),
    ("weight strings", eplb(weight=[["a"] * 8]), TypeError, "weight"),
    ("weight bool", eplb(weight=W > 0), TypeError, "weight"),
    ("weight complex", eplb(weight=W + 1j), TypeError, "weight"),
    ("replicas % gpus", eplb(num_replicas=10), ValueError, "num_replicas 10 is not a multiple of num_gpus 4"),
    ("too few replicas", eplb(num_replicas=4), ValueError, "num_replicas 4 is less than"),
    ("replicas zero", eplb(num_replicas=0), ValueError, "num_replicas"),
    ("replicas huge", eplb(num_replicas=2**40), ValueError, "num_replicas"),
    ("replicas float", eplb(num_replicas=8.0), TypeError, "num_replicas"),
    ("replicas str", eplb(num_replicas="8"), TypeError, "num_replicas"),
    ("replicas bool", eplb(num_replicas=True), TypeError, "num_replicas"),
    ("gpus zero", eplb(num_gpus=0), ValueError, "num_gpus"),
    ("gpus % nodes", eplb(num_nodes=3, num_groups=3), ValueError, "num_gpus 4 is not a multiple of num_nodes 3"),
    ("groups do not divide", eplb(num_groups=3), ValueError, "num_groups 3"),
    ("nodes negative", eplb(num_nodes=-1), ValueError, "num_nodes"),
    ("policy unknown", eplb(policy="greedy"), ValueError, "policy"),
    ("policy not str", eplb(policy=1), TypeError, "policy"),
    ("lp id out of range", lp(phy2log=[0, 1, 1, 3]), ValueError, "phy2log"),
    ("lp ids float", lp(phy2log=[0.0, 1.0, 1.0, 2.0]), TypeError, "phy2log"),
    ("lp slots % ranks", lp(phy2log=[0, 1, 2]), ValueError, "phy2log"),
    ("lp ranks zero", lp(num_ranks=0), ValueError, "num_ranks"),
    ("lp negative count", lp(counts=[4, -6, 2]), ValueError, "counts"),
    ("lp tokens, no copy", lp(phy2log=[0, 1, 1, 1]), ValueError, "counts (for phy2log): expert 2 has 2 tokens"),
    ("lp counts too large", lp(counts=[2**61, 2**61, 2**61]), ValueError, "counts (for phy2log): LP: token counts too large"),
    ("lp rank_counts shape", lp(rank_counts=[[4, 6, 2]]), ValueError, "rank_counts"),
    ("lp rank_counts sums", lp(rank_counts=[[4, 6, 2], [1, 0, 0]]), ValueError, "rank_counts"),
    ("lp ranks_per_node", lp(ranks_per_node=-1), ValueError, "ranks_per_node"),
    ("to_vllm 1-D", lambda: wideep.to_vllm([0, 1]), ValueError, "phy2log"),
    ("to_sglang unplaced", lambda: wideep.to_sglang([[0, 0]], num_logical=2), ValueError,
     "phy2log: layer 0: expert 1 has no physical slot"),
    ("from_plan_json field", lambda: wideep.from_plan_json({"phy2log": [[0]]}), ValueError, "experts"),
    ("from_plan_json type", lambda: wideep.from_plan_json(3), TypeError, "plan"),
    ("from_vllm counts", lambda: wideep.from_vllm({"physical_to_logical_map": [[0, 1, 1]],
                                                   "logical_replica_count": [[2, 1]]}), ValueError, "replicas"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input(case):
    _, call, exc, words = case
    with pytest.raises(exc) as info:
        call()
    assert words in str(info.value)


@pytest.mark.parametrize("kind,exc,words", [
    ("usage", ValueError, "num_replicas 3 is not a multiple of num_gpus 2"),
    ("assert", RuntimeError, "internal error"),
    ("bad_alloc", MemoryError, ""),
    ("other", RuntimeError, "plain C++ exception"),
])
def test_cpp_exceptions_translate(kind, exc, words):
    # WIDEEP_ASSERT throws (common/check.h); the module turns it into RuntimeError.
    with pytest.raises(exc) as info:
        wideep._core.raise_cpp(kind)
    assert words in str(info.value)


def test_internal_assert_is_an_exception():
    # Counts whose total overflows int64 slip past balance/lp.cc's size check
    # (the sum wraps) and trip WIDEEP_ASSERT in the Dinkelbach loop (`wideep lp`
    # exits 1 on the same input): the interpreter gets an exception and goes on.
    with pytest.raises((RuntimeError, ValueError)) as info:
        wideep.solve_lp([0, 1, 1, 2], [2**62] * 3, 2)
    assert "internal error" in str(info.value) or "too large" in str(info.value)
    assert wideep.solve_lp([0, 1, 1, 2], [4, 6, 2], 2).max_load == 6


FUZZ = r"""
import numpy as np, wideep
rng = np.random.default_rng(5)
ok = bad = 0
for i in range(400):
    L, E = int(rng.integers(1, 4)), int(rng.integers(1, 20))
    P, G, N, R = (int(x) for x in rng.integers(-1, 24, 4))
    w = rng.integers(0, 100, (L, E))
    for policy in ("deepseek", "wideep"):
        try:
            wideep.rebalance_experts(w, P, G, N, R, policy=policy)
            ok += 1
        except (ValueError, TypeError):
            bad += 1
    p2l = rng.integers(-1, E + 1, int(rng.integers(1, 12)))
    try:
        wideep.solve_lp(p2l, rng.integers(0, 9, E), int(rng.integers(0, 5)))
        ok += 1
    except (ValueError, TypeError):
        bad += 1
print(ok, bad)
"""


def test_random_shapes_never_abort():
    out = subprocess.run([sys.executable, "-c", FUZZ], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, f"rc {out.returncode}: {out.stderr[-2000:]}"
    ok, bad = map(int, out.stdout.split())
    assert ok > 0 and bad > 0  # both kinds of input were met
