"""Converters: SGLang/vLLM objects and files in (the code of
launch/wideep_import.py), round trips, and that CLI still works through the
shared module."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import wideep
from conftest import REPO


def placement():
    w = np.random.default_rng(3).integers(0, 500, (3, 16))
    return wideep.rebalance_experts(w, 24, 4, 2, 4)


def same(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def test_vllm_round_trip():
    out = placement()
    assert same(wideep.from_vllm(wideep.to_vllm(out[0], 16)), out)
    # DeepSeek's names (phy2log, logcnt) and tensors are read as well.
    torch = pytest.importorskip("torch")
    d = {"phy2log": torch.from_numpy(out[0]), "logcnt": torch.from_numpy(out[2])}
    assert same(wideep.from_vllm(d), out)


def test_sglang_round_trip_and_json_text():
    out = placement()
    text = json.dumps(wideep.to_sglang(out[0]))
    assert same(wideep.from_sglang(text), out)


def test_sglang_loads_are_not_a_placement():
    with pytest.raises(ValueError, match="logical_count"):
        wideep.from_sglang({"logical_count": [[1, 2, 3]]})


def test_plan_json_file(tmp_path):
    out = placement()
    w = np.ones((3, 16))
    f = tmp_path / "plan.json"
    f.write_text(json.dumps(wideep.to_plan_json(out[0], w, 4, policy="deepseek")))
    assert same(wideep.from_plan_json(str(f)), out)


def test_import_cli_uses_the_shared_module(tmp_path):
    # launch/wideep_import.py vllm on a file written by to_vllm: the placement
    # it writes is the one from_vllm reads.
    out = placement()
    src, dst = tmp_path / "maps.json", tmp_path / "placement.json"
    src.write_text(json.dumps(wideep.to_vllm(out[0])))
    cmd = [sys.executable, os.path.join(REPO, "launch", "wideep_import.py"), "vllm", str(src), "--out", str(dst)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    got = json.loads(dst.read_text())
    assert got["phy2log"] == out[0].tolist() and got["logcnt"] == out[2].tolist()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"physical_to_logical_map": [[0, 1, 1]], "logical_replica_count": [[2, 1]]}))
    run = subprocess.run(cmd[:3] + [str(bad), "--out", str(dst)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "replicas" in run.stderr
