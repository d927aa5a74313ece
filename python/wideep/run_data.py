"""A run's or sim's JSON lines (`wideep run|sim --out FILE`, records typed
step / rebalance / summary) as pandas DataFrames; nested fields become dotted
columns (phases_us.dispatch). pandas is optional for the rest of the package."""
import json
from collections import namedtuple

RunData = namedtuple("RunData", ["steps", "rebalances", "summary"])


def read_run(path):
    """-> RunData(steps, rebalances, summary), one DataFrame each (empty when
    the file has no record of that type). Lines of other types are skipped."""
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("wideep.read_run needs pandas (pip install 'wideep[pandas]')") from None
    if not isinstance(path, (str, bytes)) and not hasattr(path, "__fspath__"):
        raise TypeError(f"path must be a file path, got {type(path).__name__}")
    rows = {"step": [], "rebalance": [], "summary": []}
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except ValueError as e:
                raise ValueError(f"path {path}: line {i} is not JSON ({e})") from None
            if isinstance(rec, dict) and rec.get("type") in rows:
                rows[rec["type"]].append(rec)
    frames = [pd.json_normalize(rows[k]) if rows[k] else pd.DataFrame() for k in ("step", "rebalance", "summary")]
    return RunData(*frames)
