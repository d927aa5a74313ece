#!/usr/bin/env python3
"""compare_runs.py [--differ-with ARGS] -- COMMAND...: repeatability check.

Runs COMMAND twice and asserts that the two outputs are identical except for
timing fields (keys ending in _us, gbps, _kb, _s, _efficiency or _share_of_X: wall-clock figures
and their ratios). The
output is the JSON-lines file named by @OUT@ in COMMAND (replaced by a fresh
temporary path per run), or stdout when COMMAND has no @OUT@ (`wideep lp/plan
--json`). Every other field must match bit for bit: step lines with their
output_checksum and placement_checksum (every rank's outputs, placements and
realised LP splits), rebalance lines, the summary. --differ-with ARGS runs a
third time with ARGS appended (e.g. "--seed 2") and asserts that the
checksums differ then, so that a constant checksum cannot pass."""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

TIMING = re.compile(r"(_us|gbps|_kb|_s|_share_of_[a-z]+|_efficiency)$")


def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if not TIMING.search(k)}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v


def run(cmd, tmp, tag):
    path = os.path.join(tmp, f"{tag}.jsonl")
    argv = [a.replace("@OUT@", path) for a in cmd]
    p = subprocess.run(argv, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stdout.write(p.stdout + p.stderr)
        sys.exit(f"compare_runs.py: {shlex.join(argv)} exited {p.returncode}")
    text = open(path).read() if any("@OUT@" in a for a in cmd) else p.stdout
    lines = [strip(json.loads(l)) for l in text.splitlines() if l.strip().startswith("{")]
    for l in lines:  # the summary's command line names this run's output file: compared as @OUT@
        if isinstance(l.get("argv"), list):
            l["argv"] = [a.replace(path, "@OUT@") if isinstance(a, str) else a for a in l["argv"]]
    if not lines:
        sys.exit(f"compare_runs.py: no JSON from {shlex.join(argv)}")
    return lines


def main():
    args = sys.argv[1:]
    differ = None
    if args[:1] == ["--differ-with"]:
        differ, args = shlex.split(args[1]), args[2:]
    if args[:1] != ["--"] or len(args) < 2:
        sys.exit(__doc__)
    cmd = args[1:]
    with tempfile.TemporaryDirectory() as tmp:
        a, b = run(cmd, tmp, "a"), run(cmd, tmp, "b")
        if len(a) != len(b):
            sys.exit(f"compare_runs.py: {len(a)} vs {len(b)} JSON lines")
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
                sys.exit(f"compare_runs.py: line {i + 1} differs in {keys}: {x} vs {y}")
        sums = [l.get("output_checksum") for l in a if "output_checksum" in l]
        print(f"compare_runs.py: {len(a)} JSON lines identical (timings aside), "
              f"{len(sums)} step checksums")
        if differ:
            c = run(cmd + differ, tmp, "c")
            other = [l.get("output_checksum") for l in c if "output_checksum" in l]
            same = sum(1 for s, o in zip(sums, other) if s == o)
            if not sums or same:
                sys.exit(f"compare_runs.py: with {differ}: {same} of {len(sums)} step checksums unchanged")
            print(f"compare_runs.py: with {shlex.join(differ)} every step checksum differs")


if __name__ == "__main__":
    main()
