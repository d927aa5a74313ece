"""solve_lp: a case worked out by hand, invariants on random inputs, equality
with `wideep lp --json`."""
import json

import numpy as np
import pytest

import wideep


def test_by_hand():
    # Rank 0 holds e0, e1; rank 1 holds e1, e2. e0 (4) and e2 (2) are fixed;
    # e1's 6 tokens split 2 / 4 levels both ranks at 6 = (4 + 6 + 2) / 2.
    s = wideep.solve_lp([0, 1, 1, 2], [4, 6, 2], num_ranks=2)
    assert s.copy_tokens.tolist() == [4, 2, 4, 2]
    assert s.rank_loads.tolist() == [6, 6]
    assert s.max_load == 6 and s.lp_opt == 6.0
    assert s.solve_us > 0 and s.components == 1


def random_instance(rng, R=4, S=3, E=8):
    p2l = np.concatenate([np.arange(E), rng.integers(0, E, R * S - E)])
    rank_counts = rng.integers(0, 50, (R, E))
    return p2l, rank_counts


@pytest.mark.parametrize("seed", range(5))
def test_invariants(seed):
    rng = np.random.default_rng(seed)
    p2l, rc = random_instance(rng)
    counts = rc.sum(axis=0)
    s = wideep.solve_lp(p2l, counts, 4, rank_counts=rc, ranks_per_node=2)
    served = np.bincount(p2l, weights=s.copy_tokens, minlength=8)
    assert np.array_equal(served, counts), "every expert fully served"
    assert (s.copy_tokens >= 0).all()
    assert np.array_equal(s.rank_loads, s.copy_tokens.reshape(4, 3).sum(axis=1))
    assert s.max_load == s.rank_loads.max() == int(np.ceil(s.lp_opt - 1e-9))
    assert s.lp_opt >= counts.sum() / 4 - 1e-9


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("rpn", [0, 2])
def test_equals_cli_lp(cli, tmp_path, seed, rpn):
    rng = np.random.default_rng(100 + seed)
    p2l, rc = random_instance(rng, R=4, S=4, E=10)
    counts = rc.sum(axis=0)
    f = tmp_path / "lp.json"
    f.write_text(json.dumps({"ranks": 4, "phy2log": p2l.tolist(), "counts": counts.tolist(),
                             "rank_counts": rc.tolist()}))
    ref = cli("lp", "--input", f, "--json", "--ranks-per-node", rpn)
    s = wideep.solve_lp(p2l, counts, 4, rank_counts=rc, ranks_per_node=rpn)
    assert s.copy_tokens.tolist() == ref["copy_tokens"]
    assert s.rank_loads.tolist() == ref["rank_loads"]
    assert s.max_load == ref["max_load"] and s.lp_opt == ref["lp_opt"]
    assert s.components == ref["components"]


def test_torch_counts():
    torch = pytest.importorskip("torch")
    s = wideep.solve_lp(torch.tensor([0, 1, 1, 2]), torch.tensor([4, 6, 2]), 2)
    assert isinstance(s.copy_tokens, torch.Tensor) and s.copy_tokens.tolist() == [4, 2, 4, 2]
