#!/usr/bin/env python3
"""The mutation suite of issue 15 (run by launch/mutate.sh; see tests/mutants/README.md).

Each mutant of tests/mutants/mutants.txt replaces one exact snippet of one
source file. The suite copies the tree once to a scratch directory, builds it
once in a reused build directory, then per mutant: applies it, rebuilds
incrementally, runs the CTest subset named by the mutant, restores the file.
A mutant is KILLED when a test of its subset fails, SURVIVED when all pass,
STALE when its snippet is not found exactly once (the code moved on: update
the entry), BROKEN when it does not compile, NOTESTS when its regex selects no
test. Any outcome but KILLED (or SURVIVED with an `equivalent:` argument)
makes the suite fail."""
import argparse
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FIELDS = ("file", "find", "repl", "tests", "why", "equivalent")


def parse(path):
    """Blocks of `[id] [ci]` then `key: value` lines; `\\n` in find/repl is a newline."""
    mutants, cur = [], None
    with open(path) as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = re.match(r"^\[([A-Za-z0-9_.-]+)\](\s+ci)?\s*$", line)
            if m:
                cur = {"id": m.group(1), "ci": bool(m.group(2)), "line": n}
                mutants.append(cur)
                continue
            m = re.match(r"^(\w+):\s?(.*)$", line)
            if not m or cur is None or m.group(1) not in FIELDS:
                sys.exit(f"mutate: {path}:{n}: expected '[id] [ci]' or one of {FIELDS}: {line!r}")
            cur[m.group(1)] = m.group(2).replace("\\n", "\n")
    ids = [m["id"] for m in mutants]
    for m in mutants:
        for k in ("file", "find", "repl", "tests"):
            if k not in m:
                sys.exit(f"mutate: {path}:{m['line']}: mutant {m['id']} lacks '{k}:'")
        if ids.count(m["id"]) > 1:
            sys.exit(f"mutate: mutant id {m['id']} appears twice")
    return mutants


def tree_files(src):
    """The files a clean checkout has: tracked plus untracked-but-not-ignored."""
    try:
        out = subprocess.run(["git", "-C", src, "ls-files", "-co", "--exclude-standard", "-z"],
                             check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout.decode()
        files = [f for f in out.split("\0") if f and os.path.isfile(os.path.join(src, f))]
    except (subprocess.CalledProcessError, FileNotFoundError):
        files = []
        for d, dirs, fs in os.walk(src):
            dirs[:] = [x for x in dirs if not x.startswith((".git", "build"))]
            files += [os.path.relpath(os.path.join(d, f), src) for f in fs]
    return sorted(files)


def sync(src, dst):
    """Copies src's files into dst, rewriting only files whose content differs
    (fresh mtime, so the incremental build recompiles exactly those), and
    deletes files of dst that src no longer has."""
    files = tree_files(src)
    os.makedirs(dst, exist_ok=True)
    want = set(files)
    for f in files:
        a, b = os.path.join(src, f), os.path.join(dst, f)
        with open(a, "rb") as x:
            data = x.read()
        if os.path.exists(b):
            with open(b, "rb") as y:
                if y.read() == data:
                    continue
        os.makedirs(os.path.dirname(b), exist_ok=True)
        with open(b, "wb") as y:
            y.write(data)
        shutil.copymode(a, b)
    for d, _, fs in os.walk(dst):
        for f in fs:
            rel = os.path.relpath(os.path.join(d, f), dst)
            if rel not in want:
                os.remove(os.path.join(d, f))
    return len(files)


def run(cmd, log, timeout, cwd=None):
    with open(log, "w") as f:
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            return 124


def build(scratch, build_dir, jobs, log):
    if not os.path.exists(os.path.join(build_dir, "build.ninja")):
        rc = run(["cmake", "-S", scratch, "-B", build_dir, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
                  "-DWIDEEP_CUDA=OFF", "-DWIDEEP_BUILD_BENCH=OFF"], log, 600)
        if rc:
            return rc
    return run(["cmake", "--build", build_dir, "-j", str(jobs)], log, 3600)


def ctest(build_dir, regex, log, timeout):
    """Runs the subset, stopping at the first failure. Returns (status, failed tests, count run)."""
    rc = run(["ctest", "-R", regex, "--stop-on-failure", "--output-on-failure", "--timeout", "300"], log, timeout, cwd=build_dir)
    text = open(log, errors="replace").read()
    failed = re.findall(r"Test +#\d+: (\S+) ?\.*\s*\*+(?:Failed|Timeout|Exception|Not Run)", text)
    ran = len(re.findall(r"Test +#\d+: ", text))
    if "No tests were found" in text or ran == 0:
        return "NOTESTS", [], 0
    if rc == 124:
        return "KILLED", failed or ["(suite timeout)"], ran
    return ("KILLED" if rc != 0 else "SURVIVED"), failed, ran


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ci", action="store_true", help="only the mutants marked ci (the CI subset)")
    ap.add_argument("--only", default="", help="comma list of mutant ids (or a regex) to run")
    ap.add_argument("--list", default=os.path.join(HERE, "mutants.txt"))
    ap.add_argument("--src", default=ROOT, help="the tree to mutate (default: this checkout)")
    ap.add_argument("--work", default=os.environ.get("WIDEEP_MUTANT_DIR", "/tmp/wideep-mutant"),
                    help="scratch tree and build dir (reused between runs)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--baseline", action="store_true",
                    help="first run every selected subset on the unmutated tree (must pass)")
    ap.add_argument("--table", default="", help="write the results as a markdown table here")
    ap.add_argument("--check-only", action="store_true", help="only check that every snippet is found once")
    a = ap.parse_args()

    mutants = parse(a.list)
    if a.ci:
        mutants = [m for m in mutants if m["ci"]]
    if a.only:
        keys = a.only.split(",")
        mutants = [m for m in mutants if m["id"] in keys or any(re.fullmatch(k, m["id"]) for k in keys)]
    if not mutants:
        sys.exit("mutate: no mutant selected")
    scratch, build_dir, logs = (os.path.join(a.work, x) for x in ("src", "build", "logs"))
    t0 = time.time()
    if not a.check_only:
        os.makedirs(logs, exist_ok=True)
        lock = open(os.path.join(a.work, "lock"), "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # one suite at a time per scratch dir
        except OSError:
            sys.exit(f"mutate: another mutate.py uses {a.work} (set WIDEEP_MUTANT_DIR or --work)")
        n = sync(a.src, scratch)
        print(f"mutate: {n} files synced from {a.src} to {scratch}", flush=True)

    # Stale entries first: a snippet must occur exactly once in the file.
    stale = {}
    for m in mutants:
        p = os.path.join(a.src if a.check_only else scratch, m["file"])
        text = open(p).read() if os.path.exists(p) else ""
        c = text.count(m["find"])
        if c != 1:
            stale[m["id"]] = "file missing" if not text else f"snippet found {c} times"
    if a.check_only:
        for m in mutants:
            print(f"{m['id']:34} {'STALE (' + stale[m['id']] + ')' if m['id'] in stale else 'ok'}")
        return 1 if stale else 0

    rc = build(scratch, build_dir, a.jobs, os.path.join(logs, "build-base.log"))
    if rc:
        sys.exit(f"mutate: the unmutated tree does not build (see {logs}/build-base.log)")
    print(f"mutate: unmutated build ready ({time.time() - t0:.0f} s)", flush=True)
    if a.baseline:
        # The union of the subsets, by name (CMake's regex engine allows few groups).
        names = set()
        for m in mutants:
            if m["id"] not in stale:
                out = subprocess.run(["ctest", "-N", "-R", m["tests"]], cwd=build_dir, stdout=subprocess.PIPE,
                                     text=True).stdout
                names.update(re.findall(r"Test +#\d+: (\S+)", out))
        names = sorted(names)
        for i in range(0, len(names), 40):
            regex = "|".join("^" + n.replace(".", "\\.") + "$" for n in names[i:i + 40])
            status, failed, ran = ctest(build_dir, regex, os.path.join(logs, f"baseline-{i // 40}.log"), 7200)
            if status != "SURVIVED":
                sys.exit(f"mutate: the unmutated tree fails its tests ({status}: {failed}); see {logs}/baseline-*.log")
        print(f"mutate: baseline passed ({len(names)} tests)", flush=True)

    results = []
    for m in mutants:
        t1 = time.time()
        if m["id"] in stale:
            results.append((m, "STALE", stale[m["id"]], 0.0))
            print(f"{m['id']:34} STALE     {stale[m['id']]}", flush=True)
            continue
        path = os.path.join(scratch, m["file"])
        original = open(path).read()
        try:
            with open(path, "w") as f:
                f.write(original.replace(m["find"], m["repl"], 1))
            log = os.path.join(logs, m["id"] + ".log")
            if build(scratch, build_dir, a.jobs, log):
                status, by = "BROKEN", f"does not build (see {log})"
            else:
                status, failed, ran = ctest(build_dir, m["tests"], log, 1800)
                by = ", ".join(failed) if failed else ("" if status == "SURVIVED" else "")
                if status == "SURVIVED":
                    by = f"{ran} tests passed"
                    if m.get("equivalent"):
                        status = "EQUIVALENT"
        finally:
            with open(path, "w") as f:  # a fresh mtime: the next build recompiles the original
                f.write(original)
        dt = time.time() - t1
        results.append((m, status, by, dt))
        print(f"{m['id']:34} {status:9} {by}  ({dt:.0f} s)", flush=True)

    killed = sum(1 for r in results if r[1] == "KILLED")
    equiv = sum(1 for r in results if r[1] == "EQUIVALENT")
    scored = len(results) - equiv
    score = 100.0 * killed / scored if scored else 100.0
    print(f"mutate: {killed} killed of {scored} ({score:.1f} %), {equiv} argued equivalent, "
          f"{len(results)} mutants, {time.time() - t0:.0f} s", flush=True)
    if a.table:
        with open(a.table, "w") as f:
            f.write("| mutant | file | what it breaks | result | caught by |\n|---|---|---|---|---|\n")
            for m, status, by, _ in results:
                f.write(f"| `{m['id']}`{' (ci)' if m['ci'] else ''} | {m['file']} | {m.get('why', '')} "
                        f"| {status} | {by if status != 'EQUIVALENT' else m['equivalent']} |\n")
            f.write(f"\nScore: {killed} killed of {scored} ({score:.1f} %)"
                    f"{f', {equiv} argued equivalent' if equiv else ''}.\n")
    bad = [r for r in results if r[1] not in ("KILLED", "EQUIVALENT")]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
