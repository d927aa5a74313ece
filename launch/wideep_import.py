#!/usr/bin/python3
"""Imports SGLang and vLLM expert-load and placement files into wideep's formats.

  wideep_import.py KIND INPUT... --out OUTPUT

KIND (formats and their sources in docs/usage.md, "Interoperability"):
  sglang-stat      SGLang expert-distribution dump, mode stat/stat_approx (.pt or .json):
                   logical_count [buffer, layers, experts] -> a wideep `counts` trace
  sglang-per-pass  SGLang per_pass dumps, one file per rank: records[].global_physical_count
                   [layers, slots] + last_physical_to_logical_map -> a `counts` trace
  sglang-per-token SGLang per_token dumps, one file per rank: records[].topk_ids_of_layer
                   [layers, tokens, k] of physical ids -> a `topk` trace (logical ids)
  sglang-location  SGLang --init-expert-location (.json, .pt or the JSON text itself):
                   physical_to_logical_map -> a placement (--init-placement);
                   logical_count -> a loads file (wideep plan --loads)
  vllm             vLLM/DeepSeek EPLB placement: physical_to_logical_map or phy2log
                   [layers, slots], with logical_replica_count/logcnt -> a placement

Every input is checked (shapes, ids, counts); a wrong one exits with status 2 and
a message naming the file and the field. Python 3 with numpy; .pt through torch.
"""
import argparse
import importlib.util
import json
import os
import sys

if __name__ == "__main__":
    import project_python  # launch/: re-runs this under the project's Python where numpy (torch for .pt) is missing
    project_python.require("numpy", *(["torch"] if any(a.endswith(".pt") for a in sys.argv[1:]) else []))


def _interop():
    """python/wideep/interop.py, the converters shared with the wideep package."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python", "wideep", "interop.py")
    spec = importlib.util.spec_from_file_location("wideep_interop", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_io = _interop()
InputError = _io.InputError
KINDS = ("sglang-stat", "sglang-per-pass", "sglang-per-token", "sglang-location", "vllm")


def main(argv):
    ap = argparse.ArgumentParser(prog="wideep_import.py", description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("kind", choices=KINDS)
    ap.add_argument("inputs", nargs="+", metavar="INPUT")
    ap.add_argument("--out", required=True, help="the wideep file to write (JSON)")
    a = ap.parse_args(argv)  # exits 2 on unknown kinds and options
    fn = {"sglang-stat": _io.import_sglang_stat, "sglang-per-pass": _io.import_sglang_per_pass,
          "sglang-per-token": _io.import_sglang_per_token, "sglang-location": _io.import_sglang_location,
          "vllm": _io.import_vllm}[a.kind]
    try:
        out, note = fn(a.inputs)
    except InputError as e:
        print(f"wideep_import.py {a.kind}: error: {e}", file=sys.stderr)
        return 2
    try:
        with open(a.out, "w") as f:
            json.dump(out, f)
            f.write("\n")
    except OSError as e:
        print(f"wideep_import.py {a.kind}: error: --out {a.out}: {e}", file=sys.stderr)
        return 2
    print(f"wideep_import.py {a.kind}: wrote {a.out}: {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
