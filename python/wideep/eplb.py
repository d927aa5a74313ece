"""EPLB placement with the contract of DeepSeek's eplb.py and vLLM's EPLB
policies, computed by balance/ (the same C++ as `wideep plan`), and a class
with vLLM's policy interface."""
from . import _args, _core

POLICIES = ("deepseek", "wideep")


def rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_gpus, policy="deepseek"):
    """Replicates and places logical experts on num_gpus GPUs.

    weight: [layers, logical experts] loads (numpy, torch or nested lists;
    ints or floats, finite, >= 0). Returns (phy2log [layers, num_replicas],
    log2phy [layers, logical, num_replicas - logical + 1] padded with -1,
    logcnt [layers, logical]), int64; torch tensors when weight is one.
    policy: "deepseek" (DeepSeek EPLB's hierarchical/global policy, the same
    phy2log) or "wideep" (no co-located copies, local search).
    """
    torch_in = _args.is_torch(weight)
    w = _args.float_matrix(weight, "weight")
    r = _args.count(num_replicas, "num_replicas")
    g = _args.count(num_groups, "num_groups")
    n = _args.count(num_nodes, "num_nodes")
    p = _args.count(num_gpus, "num_gpus")
    if not isinstance(policy, str):
        raise TypeError(f"policy must be a str ({' or '.join(POLICIES)}), got {type(policy).__name__}")
    out = _core.rebalance(w, r, g, n, p, policy)
    return _args.to_torch(out) if torch_in else out


class WideepEplbPolicy:
    """vLLM's EPLB policy interface (vllm.distributed.eplb.policy's
    AbstractEplbPolicy): `rebalance_experts(weight, num_replicas, num_groups,
    num_nodes, num_ranks)`, a classmethod callable on the class. Needs no vLLM
    to import; a subclass picks another policy through `policy`."""

    policy = "wideep"

    @classmethod
    def rebalance_experts(cls, weight, num_replicas, num_groups, num_nodes, num_ranks):
        return rebalance_experts(weight, num_replicas, num_groups, num_nodes, num_ranks, policy=cls.policy)


class DeepseekEplbPolicy(WideepEplbPolicy):
    """The same interface with DeepSeek's policy (what vLLM's default computes)."""

    policy = "deepseek"
