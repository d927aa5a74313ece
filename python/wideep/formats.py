"""Placements to and from `wideep plan`'s JSON, SGLang's and vLLM's formats.
Out: runtime/io/plan_json.cc, the code `wideep plan --json|--format` prints with.
In: wideep.interop, the code of launch/wideep_import.py; tables rebuilt and
checked by balance/ (Placement::from_phy2log)."""
import json

from . import _args, _core, interop


def _phy2log(phy2log, num_logical):
    p2l = _args.int_array(phy2log, "phy2log", 2, "[layers, slots]")
    if num_logical is None:
        num_logical = int(p2l.max()) + 1 if p2l.max() >= 0 else 1
    return p2l, _args.count(num_logical, "num_logical")


def to_plan_json(phy2log, weight, num_gpus, num_nodes=1, num_groups=1, policy="wideep"):
    """The object `wideep plan --json` prints for this placement and weight
    [layers, experts] (GPU loads, balancedness, log2phy at the widest copy count)."""
    w = _args.float_matrix(weight, "weight")
    p2l = _args.int_array(phy2log, "phy2log", 2, "[layers, slots]")
    text = _core.plan_json(p2l, _args.count(num_gpus, "num_gpus"), w.shape[1], w, "wideep", str(policy),
                           _args.count(num_nodes, "num_nodes"), _args.count(num_groups, "num_groups"))
    return json.loads(text)


def to_sglang(phy2log, num_logical=None):
    """{"physical_to_logical_map": ...}: SGLang's --init-expert-location."""
    p2l, e = _phy2log(phy2log, num_logical)
    return json.loads(_core.plan_json(p2l, 1, e, None, "sglang", "", 1, 1))


def to_vllm(phy2log, num_logical=None):
    """vLLM's EplbState maps: physical_to_logical_map, logical_to_physical_map
    [L, E, P - E + 1] -1 padded, logical_replica_count."""
    p2l, e = _phy2log(phy2log, num_logical)
    return json.loads(_core.plan_json(p2l, 1, e, None, "vllm", "", 1, 1))


def _load(obj, name):
    if isinstance(obj, dict):
        return obj
    if isinstance(obj, str):
        return interop.load_any(obj)
    raise TypeError(f"{name} must be a dict, a file path or JSON text, got {type(obj).__name__}")


def _tables(p2l, num_gpus, num_logical):
    width = p2l.shape[1] - num_logical + 1
    return _core.placement_tables(p2l, num_gpus, num_logical, width)


def from_plan_json(plan):
    """`wideep plan --json` output (dict, path or text) -> (phy2log, log2phy,
    logcnt) as rebalance_experts returns them (log2phy [L, E, P - E + 1])."""
    d = _load(plan, "plan")
    for key in ("phy2log", "experts", "gpus"):
        if key not in d:
            raise ValueError(f"plan: field \"{key}\" is missing (the output of `wideep plan --json`?)")
    p2l = _args.int_array(d["phy2log"], "plan: \"phy2log\"", 2, "[layers, slots]")
    return _tables(p2l, _args.count(d["gpus"], "plan: \"gpus\""), _args.count(d["experts"], "plan: \"experts\""))


def from_sglang(location):
    """SGLang's --init-expert-location (dict, .json/.pt path or JSON text) with
    physical_to_logical_map -> (phy2log, log2phy, logcnt)."""
    d = _load(location, "location")
    out, _ = interop.sglang_location(d, location if isinstance(location, str) and len(location) < 80 else "location")
    if "phy2log" not in out:
        raise ValueError("location holds logical_count (loads), not a placement: pass the loads to rebalance_experts")
    p2l = _args.int_array(out["phy2log"], "physical_to_logical_map", 2, "[layers, slots]")
    return _tables(p2l, 1, out["experts"])


def from_vllm(maps):
    """vLLM's/DeepSeek's EPLB maps (dict of tensors/lists, .json/.pt path) ->
    (phy2log, log2phy, logcnt); the given counts and maps are checked against
    physical_to_logical_map."""
    d = _load(maps, "maps")
    out, _ = interop.vllm_placement(d, maps if isinstance(maps, str) else "maps")
    p2l = _args.int_array(out["phy2log"], "physical_to_logical_map", 2, "[layers, slots]")
    return _tables(p2l, 1, out["experts"])
