"""The harness of the run-against-sim tests (compare_balancedness.py,
sim_identity.py): `mpirun -np N wideep run` and `wideep sim --ranks N` with the
same options, each writing JSON lines into a directory, and their lines by type."""
import json
import os
import subprocess
import sys

MPIRUN = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--mca", "btl", "self,vader"]


def run_both(wideep, profile, np_, opts, tmp):
    """Runs both into tmp; returns (run JSON path, sim JSON path), or None after
    printing the command that failed and its output."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    run_json, sim_json = os.path.join(tmp, "run.jsonl"), os.path.join(tmp, "sim.jsonl")
    cmds = [MPIRUN + ["-np", np_, wideep, "run", "--backend", "mpi", "--quiet", "--json", run_json] + opts,
            [wideep, "sim", "--ranks", np_, "--profile", profile, "--quiet", "--json", sim_json] + opts]
    for cmd in cmds:
        r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            print("command failed (%d): %s\n%s" % (r.returncode, " ".join(cmd), r.stdout), file=sys.stderr)
            return None
    return run_json, sim_json


def lines(path, kind):
    with open(path) as f:
        return [j for j in (json.loads(l) for l in f if l.strip()) if j["type"] == kind]
