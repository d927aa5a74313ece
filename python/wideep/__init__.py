"""wideep for Python: the EPLB policies, the exact LPLB solver, placement
converters and run data of the wideep C++ runtime (docs/python.md).

    import numpy as np, wideep
    w = np.random.default_rng(0).integers(0, 1000, (58, 256))
    phy2log, log2phy, logcnt = wideep.rebalance_experts(w, 288, 8, 4, 32)
"""
from .eplb import DeepseekEplbPolicy, WideepEplbPolicy, rebalance_experts
from .formats import from_plan_json, from_sglang, from_vllm, to_plan_json, to_sglang, to_vllm
from .lp import LpSolution, solve_lp
from .run_data import RunData, read_run

__all__ = [
    "rebalance_experts", "WideepEplbPolicy", "DeepseekEplbPolicy", "solve_lp", "LpSolution",
    "to_plan_json", "to_sglang", "to_vllm", "from_plan_json", "from_sglang", "from_vllm",
    "read_run", "RunData",
]
