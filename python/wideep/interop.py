"""SGLang and vLLM expert-load and placement files read into wideep's formats.

The one copy of these converters: launch/wideep_import.py (the CLI) loads this
file by path, and the wideep package imports it as wideep.interop. Needs numpy
only (torch for .pt files); imports nothing of the package, so the CLI works
without the compiled module.
"""
import json
import os

import numpy as np


class InputError(ValueError):
    """Bad input: the message names the file and the field (exit status 2)."""


def load_any(path):
    """A .pt (torch.save of a dict), a .json file, or (sglang-location) the JSON text itself."""
    if path.endswith(".pt"):
        try:
            import torch
        except ImportError:
            raise InputError(f"{path}: reading .pt files needs torch (Debian python3-torch; launch/setup.sh installs it)")
        try:
            # weights_only: tensors, lists, dicts and numbers only; no code runs on load.
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises many types for a bad file
            raise InputError(f"{path}: not a readable torch.save file ({type(e).__name__}: {e})")
    if os.path.exists(path):
        try:
            with open(path) as f:
                return json.load(f)
        except (OSError, ValueError) as e:
            raise InputError(f"{path}: not valid JSON ({e})")
    if path.lstrip().startswith("{"):
        try:
            return json.loads(path)
        except ValueError as e:
            raise InputError(f"the JSON text given as input is not valid JSON ({e})")
    raise InputError(f"{path}: no such file")


def as_int_array(value, where, ndim):
    """An integer array of ndim dimensions from a tensor, numpy array or nested lists."""
    if value is None:
        raise InputError(f"{where} is missing")
    if hasattr(value, "detach"):  # a torch tensor
        if value.is_floating_point() or value.is_complex():
            raise InputError(f"{where} must hold integers, has dtype {value.dtype}")
        value = value.detach().cpu().numpy()
    try:
        a = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise InputError(f"{where} is not a rectangular array ({e})")
    if a.dtype == object:
        raise InputError(f"{where} is not a rectangular array of numbers")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if np.issubdtype(a.dtype, np.floating) and np.all(np.isfinite(a)) and np.all(a == np.round(a)):
            a = a.astype(np.int64)
        else:
            raise InputError(f"{where} must hold whole numbers, has dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.ndim != ndim:
        raise InputError(f"{where} must have {ndim} dimensions, has shape {list(a.shape)}")
    if a.size == 0:
        raise InputError(f"{where} is empty (shape {list(a.shape)})")
    return a


def field(d, key, where):
    if not isinstance(d, dict):
        raise InputError(f"{where} must be a dict (torch.save of a dict, or a JSON object), is {type(d).__name__}")
    if key not in d:
        raise InputError(f"{where}: field \"{key}\" is missing (keys: {', '.join(map(str, d.keys()))})")
    return d[key]


def check_map(p2l, where, experts=None):
    """physical_to_logical_map [layers, slots]: ids in [0, E), every expert placed."""
    if experts is None:
        experts = int(p2l.max()) + 1
    bad = np.argwhere((p2l < 0) | (p2l >= experts))
    if len(bad):
        l, s = bad[0]
        raise InputError(f"{where} layer {l} slot {s}: expert id {p2l[l, s]} is outside [0, {experts - 1}]")
    for l in range(p2l.shape[0]):
        missing = np.setdiff1d(np.arange(experts), p2l[l])
        if len(missing):
            raise InputError(f"{where} layer {l}: logical expert {missing[0]} has no physical slot")
    return experts


def counts_trace(steps, source):
    """steps: [n, layers, experts] non-negative counts -> a wideep counts trace (drops all-zero steps)."""
    if np.any(steps < 0):
        s, l, e = np.argwhere(steps < 0)[0]
        raise InputError(f"{source}: count of step {s} layer {l} expert {e} is negative ({steps[s, l, e]})")
    if np.any(steps > 2**31 - 1):
        raise InputError(f"{source}: a count exceeds 2^31 - 1")
    keep = [i for i in range(steps.shape[0]) if steps[i].sum() > 0]
    dropped = steps.shape[0] - len(keep)
    if not keep:
        raise InputError(f"{source}: every step is all zeros (an empty recorder buffer)")
    steps = steps[keep]
    sums = sorted(set(int(x) for x in steps.sum(axis=2).ravel()))
    trace = {"format": "wideep-trace", "version": 1, "kind": "counts",
             "experts": int(steps.shape[2]), "layers": int(steps.shape[1]), "source": source,
             "steps": [{"layers": steps[i].tolist()} for i in range(steps.shape[0])]}
    note = f"{steps.shape[0]} steps, {steps.shape[1]} layers, {steps.shape[2]} experts"
    if dropped:
        note += f"; dropped {dropped} all-zero steps (unfilled recorder buffer)"
    if len(sums) == 1:
        note += (f"; every step sums to {sums[0]} picks: it replays exactly where ranks x --tokens x --topk = "
                 f"{sums[0]}")
    else:
        note += f"; step sums differ ({sums[0]}..{sums[-1]}): it replays as a popularity"
    return trace, note


def import_sglang_stat(inputs):
    if len(inputs) != 1:
        raise InputError("sglang-stat takes one dump (rank 0 writes the counts summed over ranks)")
    path = inputs[0]
    d = load_any(path)
    lc = as_int_array(field(d, "logical_count", path), f"{path}: \"logical_count\" [buffer, layers, experts]", 3)
    return counts_trace(lc, f"sglang-stat {os.path.basename(path)}")


def per_rank_records(inputs, kind, key):
    """(records, map) of SGLang's _DetailAccumulator dumps, one file per rank."""
    records, p2l = [], None
    for path in inputs:
        d = load_any(path)
        recs = field(d, "records", path)
        if not isinstance(recs, list) or not recs:
            raise InputError(f"{path}: \"records\" must be a non-empty list")
        m = as_int_array(field(d, "last_physical_to_logical_map", path),
                         f"{path}: \"last_physical_to_logical_map\" [layers, slots]", 2)
        if p2l is None:
            p2l = m
        elif m.shape != p2l.shape or np.any(m != p2l):
            raise InputError(f"{path}: \"last_physical_to_logical_map\" differs from {inputs[0]}'s (dumps of one run?)")
        for i, r in enumerate(recs):
            where = f"{path}: records[{i}]"
            fid = field(r, "forward_pass_id", where)
            rank = field(r, "rank", where)
            if not isinstance(fid, int) or not isinstance(rank, int) or rank < 0:
                raise InputError(f"{where}: \"forward_pass_id\" and \"rank\" must be whole numbers")
            records.append((fid, rank, field(r, key, where), where))
    return records, p2l


def import_sglang_per_pass(inputs):
    records, p2l = per_rank_records(inputs, "sglang-per-pass", "global_physical_count")
    L, P = p2l.shape
    E = check_map(p2l, f"{inputs[0]}: \"last_physical_to_logical_map\"")
    passes = {}
    seen = set()
    for fid, rank, value, where in records:
        if (fid, rank) in seen:
            raise InputError(f"{where}: forward pass {fid} of rank {rank} appears twice")
        seen.add((fid, rank))
        c = as_int_array(value, f"{where}: \"global_physical_count\" [layers, slots]", 2)
        if c.shape != (L, P):
            raise InputError(f"{where}: \"global_physical_count\" has shape {list(c.shape)}, the map has [{L}, {P}]")
        passes[fid] = passes.get(fid, 0) + c
    steps = []
    for fid in sorted(passes):
        logical = np.zeros((L, E), dtype=np.int64)
        for l in range(L):
            np.add.at(logical[l], p2l[l], passes[fid][l])
        steps.append(logical)
    return counts_trace(np.stack(steps), f"sglang-per-pass {len(inputs)} rank file(s)")


def import_sglang_per_token(inputs):
    records, p2l = per_rank_records(inputs, "sglang-per-token", "topk_ids_of_layer")
    L, P = p2l.shape
    E = check_map(p2l, f"{inputs[0]}: \"last_physical_to_logical_map\"")
    passes = {}
    topk = None
    for fid, rank, value, where in records:
        ids = as_int_array(value, f"{where}: \"topk_ids_of_layer\" [layers, tokens, k]", 3)
        if ids.shape[0] != L:
            raise InputError(f"{where}: \"topk_ids_of_layer\" has {ids.shape[0]} layers, the map has {L}")
        bad = np.argwhere((ids < -1) | (ids >= P))
        if len(bad):
            l, t, k = bad[0]
            raise InputError(f"{where}: \"topk_ids_of_layer\" layer {l} token {t}: physical id {ids[l, t, k]} "
                             f"is outside [0, {P - 1}] (or -1 for none)")
        # -1 pads unused columns (SGLang's buffer holds 8) and unused token rows.
        valid = ids >= 0
        used_tokens = valid.any(axis=(0, 2))
        ids, valid = ids[:, used_tokens], valid[:, used_tokens]
        k_of_token = valid.sum(axis=2)
        if ids.shape[1] == 0:
            continue
        if k_of_token.min() != k_of_token.max():
            l, t = np.argwhere(k_of_token != k_of_token.max())[0]
            raise InputError(f"{where}: \"topk_ids_of_layer\" layer {l} token {t} has {k_of_token[l, t]} experts, "
                             f"others {k_of_token.max()}")
        k = int(k_of_token.max())
        if topk is None:
            topk = k
        elif k != topk:
            raise InputError(f"{where}: tokens pick {k} experts, earlier records {topk}")
        logical = np.empty((L, ids.shape[1], k), dtype=np.int64)
        for l in range(L):
            phys = ids[l][valid[l]].reshape(ids.shape[1], k)
            logical[l] = p2l[l][phys]
        srt = np.sort(logical, axis=2)
        dup = np.argwhere(srt[:, :, 1:] == srt[:, :, :-1])
        if len(dup):
            l, t, _ = dup[0]
            raise InputError(f"{where}: layer {l} token {t} names logical expert {srt[l, t, 0]} twice after the map")
        passes.setdefault(fid, []).append((rank, logical))
    if not passes:
        raise InputError(f"{inputs[0]}: no token with an expert id in any record")
    steps = []
    for fid in sorted(passes):
        parts = [lg for _, lg in sorted(passes[fid], key=lambda x: x[0])]  # rank order
        steps.append({"layers": np.concatenate(parts, axis=1).tolist()})
    trace = {"format": "wideep-trace", "version": 1, "kind": "topk", "experts": int(E), "topk": int(topk),
             "layers": int(L), "source": f"sglang-per-token {len(inputs)} rank file(s)", "steps": steps}
    return trace, f"{len(steps)} steps (forward passes), {L} layers, {E} experts, top-{topk}"


def placement(p2l, where, logcnt=None, logcnt_where="", log2phy=None, log2phy_where="", experts=None):
    """A wideep placement (the --init-placement file), checked against the optional counts/maps."""
    E = check_map(p2l, where, experts)
    L, P = p2l.shape
    occ = np.stack([np.bincount(p2l[l], minlength=E) for l in range(L)])
    if logcnt is not None:
        if logcnt.shape != (L, E):
            raise InputError(f"{logcnt_where}: shape {list(logcnt.shape)}, the map implies [{L}, {E}]")
        diff = np.argwhere(logcnt != occ)
        if len(diff):
            l, e = diff[0]
            raise InputError(f"{logcnt_where} layer {l} expert {e}: {logcnt[l, e]} replicas, "
                             f"the map holds {occ[l, e]}")
    if log2phy is not None:
        if log2phy.shape[:2] != (L, E):
            raise InputError(f"{log2phy_where}: shape {list(log2phy.shape)}, the map implies [{L}, {E}, X]")
        for l in range(L):
            for e in range(E):
                slots = sorted(int(s) for s in log2phy[l, e] if s != -1)
                if slots != sorted(np.flatnonzero(p2l[l] == e).tolist()):
                    raise InputError(f"{log2phy_where} layer {l} expert {e}: slots {slots} differ from "
                                     f"those of the physical-to-logical map")
    return {"phy2log": p2l.tolist(), "logcnt": occ.tolist(), "layers": int(L), "experts": int(E),
            "slots": int(P)}, f"placement: {L} layers, {E} experts, {P} slots (run with --redundant {P - E})"


def import_sglang_location(inputs):
    if len(inputs) != 1:
        raise InputError("sglang-location takes one file (or one JSON text)")
    src = inputs[0]
    return sglang_location(load_any(src), src if len(src) < 80 else "the JSON text")


def sglang_location(d, name):
    """SGLang's --init-expert-location object -> (a placement or a loads file, note)."""
    if isinstance(d, dict) and "physical_to_logical_map" in d:  # SGLang's own precedence
        p2l = as_int_array(d["physical_to_logical_map"], f"{name}: \"physical_to_logical_map\" [layers, slots]", 2)
        return placement(p2l, f"{name}: \"physical_to_logical_map\"")
    if isinstance(d, dict) and "logical_count" in d:
        lc = d["logical_count"]
        where = f"{name}: \"logical_count\" [layers, experts] or [buffer, layers, experts]"
        nd = lc.dim() if hasattr(lc, "dim") else np.asarray(lc, dtype=object).ndim
        arr = as_int_array(lc, where, nd if nd in (2, 3) else 2)
        if arr.ndim == 3:  # [buffer, layers, experts]: summed over the buffer, as SGLang's init_by_eplb does
            arr = arr.sum(axis=0)
        if np.any(arr < 0):
            raise InputError(f"{name}: \"logical_count\" holds a negative count")
        return {"loads": arr.tolist()}, f"loads: {arr.shape[0]} layers, {arr.shape[1]} experts (wideep plan --loads)"
    raise InputError(f"{name}: needs field \"physical_to_logical_map\" or \"logical_count\"")


def import_vllm(inputs):
    if len(inputs) != 1:
        raise InputError("vllm takes one file")
    return vllm_placement(load_any(inputs[0]), inputs[0])


def vllm_placement(d, path):
    """vLLM's/DeepSeek's EPLB maps (a dict) -> (placement, note); `path` names the source in errors."""
    if not isinstance(d, dict):
        raise InputError(f"{path} must be a dict (torch.save of a dict, or a JSON object)")
    key = "physical_to_logical_map" if "physical_to_logical_map" in d else "phy2log" if "phy2log" in d else None
    if key is None:
        raise InputError(f"{path}: needs field \"physical_to_logical_map\" (or \"phy2log\")")
    p2l = as_int_array(d[key], f"{path}: \"{key}\" [layers, slots]", 2)
    ckey = "logical_replica_count" if "logical_replica_count" in d else "logcnt" if "logcnt" in d else None
    logcnt = as_int_array(d[ckey], f"{path}: \"{ckey}\" [layers, experts]", 2) if ckey else None
    lkey = "logical_to_physical_map" if "logical_to_physical_map" in d else "log2phy" if "log2phy" in d else None
    log2phy = as_int_array(d[lkey], f"{path}: \"{lkey}\" [layers, experts, X]", 3) if lkey else None
    return placement(p2l, f"{path}: \"{key}\"", logcnt, f"{path}: \"{ckey}\"", log2phy, f"{path}: \"{lkey}\"",
                     experts=logcnt.shape[1] if logcnt is not None else None)
