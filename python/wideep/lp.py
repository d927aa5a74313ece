"""The exact per-step LPLB problem (balance/lp.h, what `wideep lp` solves):
tokens per physical slot that serve every expert with the busiest rank's load
minimal."""
from dataclasses import dataclass

import numpy as np

from . import _args, _core


@dataclass(frozen=True)
class LpSolution:
    copy_tokens: np.ndarray  # [P] int64 tokens each physical slot takes
    rank_loads: np.ndarray   # [R] int64 tokens per rank
    max_load: int            # the largest rank load (ceil of lp_opt)
    lp_opt: float            # the exact optimum of the fractional LP
    solve_us: float          # the C++ solve's wall time
    components: int          # independent components of the copy graph


def solve_lp(phy2log, counts, num_ranks, rank_counts=None, ranks_per_node=0):
    """phy2log [P] (rank r owns slots [r*P/R, (r+1)*P/R)), counts [E] tokens
    per logical expert this step, num_ranks R; rank_counts [R, E] (tokens per
    source rank and expert, columns summing to counts) and ranks_per_node only
    steer the secondary (locality) objective."""
    torch_in = _args.is_torch(counts)
    p2l = _args.int_array(phy2log, "phy2log", 1, "[slots]")
    c = _args.int_array(counts, "counts", 1, "[experts]")
    r = _args.count(num_ranks, "num_ranks")
    rpn = _args.count(ranks_per_node, "ranks_per_node", minimum=0)
    if (c < 0).any():
        raise ValueError(f"counts: expert {int(np.argmax(c < 0))} has a negative count")
    rc = None
    if rank_counts is not None:
        rc = _args.int_array(rank_counts, "rank_counts", 2, "[num_ranks, experts]")
        if rc.shape != (r, c.shape[0]):
            raise ValueError(f"rank_counts must have shape [num_ranks, experts] = [{r}, {c.shape[0]}], "
                             f"has {list(rc.shape)}")
        if (rc < 0).any():
            raise ValueError("rank_counts has a negative entry")
        if not np.array_equal(rc.sum(axis=0), c):
            raise ValueError("rank_counts: columns do not sum to counts")
    tok, loads, max_load, lp_opt, solve_us, comps = _core.lp_solve(p2l, r, c, rc, rpn)
    if torch_in:
        tok, loads = _args.to_torch((tok, loads))
    return LpSolution(tok, loads, int(max_load), float(lp_opt), float(solve_us), int(comps))
