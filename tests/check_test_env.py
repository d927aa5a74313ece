#!/usr/bin/env python3
"""check_test_env.py CTEST BUILD_DIR VAR=VALUE: every test CTest lists in
BUILD_DIR (unit tests discovered from the GoogleTest binaries and the
add_test ones) runs with VAR=VALUE in its environment. The sanitizer build
registers it (issue 24: HWLOC_PLUGINS_BLACKLIST=hwloc_pci), so that a test
registered without the sanitizer environment fails CI. Exit 1 naming the
tests that lack it."""
import json
import subprocess
import sys


def main(ctest, build_dir, want):
    out = subprocess.run([ctest, "--show-only=json-v1"], cwd=build_dir, check=True,
                         capture_output=True, text=True).stdout
    tests = json.loads(out)["tests"]
    missing, not_built = [], []
    for t in tests:
        if t["name"].endswith("_NOT_BUILT"):  # a unit binary not built: its tests are not listed
            not_built.append(t["name"])
            continue
        env = next((p["value"] for p in t.get("properties", []) if p["name"] == "ENVIRONMENT"), [])
        if want not in env:
            missing.append(t["name"])
    if not_built:
        print(f"check_test_env.py: binaries not built, their tests unlisted: {' '.join(not_built)}")
        return 1
    if len(tests) < 2:
        print(f"check_test_env.py: only {len(tests)} test(s) listed in {build_dir}")
        return 1
    if missing:
        print(f"check_test_env.py: {len(missing)} of {len(tests)} tests run without {want}: "
              + " ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""))
        return 1
    print(f"check_test_env.py: all {len(tests)} tests run with {want}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        print("usage: check_test_env.py CTEST BUILD_DIR VAR=VALUE")
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
