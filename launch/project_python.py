"""The project's one Python for launch/*.py (docs/python.md, "One Python"):
`.venv/bin/python`, which launch/setup.sh makes over Debian's /usr/bin/python3.
A script whose interpreter lacks a module it needs re-runs itself there, once.
"""
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV_PYTHON = os.path.join(ROOT, ".venv", "bin", "python")
BASE_PYTHON = "/usr/bin/python3"  # Debian's: python3-numpy, -matplotlib, -torch (launch/setup.sh)
_REEXEC_MARK = "WIDEEP_PROJECT_PYTHON_REEXEC"


def interpreter():
    """The project venv's python where launch/setup.sh made it, else Debian's."""
    return VENV_PYTHON if os.access(VENV_PYTHON, os.X_OK) else BASE_PYTHON


def missing(modules):
    return [m for m in modules if importlib.util.find_spec(m) is None]


def require(*modules):
    """Returns when this interpreter can import every one of `modules`; else
    re-runs the script (sys.argv) under interpreter() once, and where that one
    lacks them too, exits 4 with one message naming them and the fix.

    Only where something is missing: a python3 that has them (the GPU machine's
    /opt/torch/.venv, a user's own environment) runs the script itself."""
    lacking = missing(modules)
    if not lacking:
        os.environ.pop(_REEXEC_MARK, None)  # a script this one starts may re-run itself too
        return
    script = os.path.basename(sys.argv[0])
    target = interpreter()
    if not os.environ.get(_REEXEC_MARK) and os.access(target, os.X_OK):
        env = dict(os.environ, **{_REEXEC_MARK: sys.executable or "?"})
        os.execve(target, [target, os.path.abspath(sys.argv[0])] + sys.argv[1:], env)
    tried = os.environ.get(_REEXEC_MARK, sys.executable)
    print(f"{script}: error: needs {', '.join(lacking)}, which {sys.executable} lacks"
          + (f" (started by {tried})" if tried != sys.executable else "")
          + ": run launch/setup.sh (Debian python3-numpy, python3-matplotlib, python3-torch and the project's .venv)",
          file=sys.stderr)
    sys.exit(4)
