"""read_run: JSON lines written by hand, and a real `wideep sim --json` file."""
import os
import subprocess

import pytest

import wideep
from conftest import REPO

pd = pytest.importorskip("pandas")

LINES = """{"type": "step", "step": 0, "step_us": 10.5, "phases_us": {"dispatch": 2.0, "combine": 3.0}}
{"type": "rebalance", "step": 1, "plan_us": 7.0}
{"type": "step", "step": 1, "step_us": 12.5, "phases_us": {"dispatch": 2.5, "combine": 3.5}}

{"type": "summary", "steps": 2, "step_us": {"p50": 11.5}}
"""


def test_by_hand(tmp_path):
    f = tmp_path / "run.jsonl"
    f.write_text(LINES)
    r = wideep.read_run(f)
    assert r.steps["step_us"].tolist() == [10.5, 12.5]
    assert r.steps["phases_us.combine"].tolist() == [3.0, 3.5]
    assert r.rebalances["plan_us"].tolist() == [7.0]
    assert r.summary["step_us.p50"].tolist() == [11.5]


def test_bad_line(tmp_path):
    f = tmp_path / "run.jsonl"
    f.write_text('{"type": "step"}\nnot json\n')
    with pytest.raises(ValueError, match="line 2"):
        wideep.read_run(f)
    with pytest.raises(TypeError, match="path"):
        wideep.read_run(3)


def test_sim_output(cli_path, tmp_path):
    f = tmp_path / "sim.jsonl"
    run = subprocess.run([cli_path, "sim", "--profile", os.path.join(REPO, "launch", "profiles", "cpu_here.json"), "--ranks", "4", "--steps", "6", "--warmup", "0", "--balancer", "eplb", "--redundant", "8",
                          "--eplb-interval", "3", "--quiet", "--json", str(f)], capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == 0, run.stderr
    r = wideep.read_run(f)
    assert len(r.steps) == 6 and len(r.summary) == 1 and len(r.rebalances) >= 1
    assert r.summary["steps"].iloc[0] == 6
