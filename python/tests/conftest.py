"""Shared fixtures of the package's tests: the main build's CLI (WIDEEP_CLI, by
default build/wideep of this checkout) for the equality tests, and a runner."""
import json
import os
import subprocess

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


@pytest.fixture(scope="session")
def cli_path():
    path = os.environ.get("WIDEEP_CLI", os.path.join(REPO, "build", "wideep"))
    if not os.access(path, os.X_OK):
        pytest.skip(f"no wideep CLI at {path} (set WIDEEP_CLI to the main build's build/wideep)")
    return path


@pytest.fixture(scope="session")
def cli(cli_path):
    """Runs `wideep ARGS...` and returns its stdout parsed as JSON."""
    path = cli_path

    def run(*args):
        out = subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    return run
