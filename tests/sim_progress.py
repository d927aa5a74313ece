#!/usr/bin/env python3
"""The progress line of `wideep sim` (issue 29 item 8), one case per call:
  sim_progress.py WIDEEP CASE
  pty      stderr a terminal (a pseudo-terminal of Python's pty module): the
           line "sim: step S/N (layer L) T s" is drawn with \\r, and erased at the
           end (what remains on the terminal's line is blank); stdout, a pipe,
           carries the table and no progress text.
  pipe     stderr a pipe: nothing on stderr at all, the same table on stdout.
  quiet    stderr a terminal, --quiet: nothing on it.
Exits non-zero with one line naming what is wrong.
"""
import os
import pty
import re
import select
import subprocess
import sys

WIDEEP, CASE = sys.argv[1], sys.argv[2]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# 8 ranks, 12 steps (2 warm-up + 10), 2 layers: well under a second.
ARGS = ["sim", "--ranks", "8", "--profile", os.path.join(ROOT, "launch/profiles/h100_nvlink_8x.json"),
        "--experts", "16", "--topk", "4", "--tokens", "32", "--hidden", "128", "--ffn", "64",
        "--layers", "2", "--steps", "10", "--warmup", "2"]


def fail(msg):
    print(f"sim_progress.py {CASE}: FAIL: {msg}")
    sys.exit(1)


def run(extra, stderr_tty):
    """(rc, stdout, stderr) of wideep with stderr on a pseudo-terminal or a pipe."""
    if not stderr_tty:
        p = subprocess.run([WIDEEP] + ARGS + extra, capture_output=True, text=True, timeout=60)
        return p.returncode, p.stdout, p.stderr
    master, slave = pty.openpty()
    p = subprocess.Popen([WIDEEP] + ARGS + extra, stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    err = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            p.kill()
            fail("no end of output within 60 s")
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        err += chunk
    out = p.stdout.read()
    p.wait(timeout=60)
    os.close(master)
    return p.returncode, out, err.decode()


def table(stdout):
    """The table's line count and its lines without measured times (the wall
    time and the balancer's solve time vary from run to run)."""
    lines = stdout.splitlines()
    return len(lines), [l for l in lines if l.startswith(("# E=", "# initial", "balancedness", "nodes per token"))]


rc, out, err = run(["--quiet"] if CASE == "quiet" else [], stderr_tty=CASE != "pipe")
if rc != 0:
    fail(f"exit {rc}: {out}{err}")
if "sim: step" in out:
    fail("progress text on stdout")
if CASE == "pty":
    draws = re.findall(r"\rsim: step (\d+)/(\d+) \(layer (\d+)\) (\d+\.\d) s", err)
    if not draws:
        fail(f"no progress line on the terminal: {err!r}")
    # The first draw comes at once (step 1 of 12, layer 0); steps count up.
    if draws[0][:3] != ("1", "12", "0"):
        fail(f"first draw {draws[0]}, want step 1/12 layer 0")
    if any(int(b[0]) < int(a[0]) for a, b in zip(draws, draws[1:])):
        fail(f"steps do not count up: {draws}")
    # Erased: after the last \r only blanks were written, then \r.
    if not re.search(r"\r +\r$", err):
        fail(f"the line is not erased at the end: {err[-80:]!r}")
    _, plain, _ = run([], stderr_tty=False)
    if table(out) != table(plain):
        fail("the table on stdout differs from a run whose stderr is not a terminal")
    if "balancedness" not in out:
        fail("no table on stdout")
elif err:
    fail(f"stderr not empty: {err!r}")
print(f"sim_progress.py {CASE}: ok")
