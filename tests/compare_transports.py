#!/usr/bin/env python3
"""compare_transports.py -- COMMAND...: --transport shm moves the very bytes --transport mpi does.

Runs COMMAND (a `wideep run` with @OUT@ for its JSON lines) with
`--transport mpi` and with `--transport shm` appended, and asserts that both
exit 0 and that their JSON lines are identical except for timing fields (as
tests/compare_runs.py strips them) and the `transport` field, which must name
the transport asked for: every step's output_checksum (every rank's outputs),
dispatch/combine bytes (remote and cross-node), placements and the summary."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare_runs import run  # noqa: E402  (runs COMMAND, strips timings)

# Ratios of timings that compare_runs.TIMING does not name.
ALSO_TIMING = ("overlap_efficiency",)


def main():
    args = sys.argv[1:]
    if args[:1] != ["--"] or len(args) < 2:
        sys.exit(__doc__)
    cmd = args[1:]
    with tempfile.TemporaryDirectory() as tmp:
        out = {t: run(cmd + ["--transport", t], tmp, t) for t in ("mpi", "shm")}
    for t, lines in out.items():
        named = [l["transport"] for l in lines if "transport" in l]
        if not named or any(n != t for n in named):
            sys.exit(f"compare_transports.py: --transport {t} reported transport {named}")
        for l in lines:
            for k in ("transport",) + ALSO_TIMING:
                l.pop(k, None)
            # The recorded command line and configuration name the transport asked for.
            if isinstance(l.get("argv"), list) and l["argv"][-2:] == ["--transport", t]:
                l["argv"] = l["argv"][:-2]
            if isinstance(l.get("config"), dict) and l["config"].get("transport") == t:
                l["config"].pop("transport")
    a, b = out["mpi"], out["shm"]
    if len(a) != len(b):
        sys.exit(f"compare_transports.py: {len(a)} vs {len(b)} JSON lines")
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            keys = sorted(k for k in set(x) | set(y) if x.get(k) != y.get(k))
            sys.exit(f"compare_transports.py: line {i + 1} differs in {keys}: mpi {x} vs shm {y}")
    sums = [l["output_checksum"] for l in a if "output_checksum" in l]
    moved = sum(l.get("dispatch_bytes", 0) for l in a if "output_checksum" in l)
    if not sums or moved <= 0:
        sys.exit(f"compare_transports.py: {len(sums)} step checksums, {moved} dispatch bytes: nothing compared")
    print(f"compare_transports.py: mpi and shm identical (timings aside): {len(a)} JSON lines, "
          f"{len(sums)} step checksums, {moved} dispatch bytes")


if __name__ == "__main__":
    main()
