#!/usr/bin/env bash
# Installs the Debian packages wideep builds with (idempotent, quiet), then
# configures and builds Release into build/, and makes the project's Python,
# .venv/ (docs/python.md, "One Python"). Options: --sanitize (ASan+UBSan
# into build-sanitize/, without the benchmarks), --build-dir DIR, --cuda ON|OFF|AUTO (AUTO: where nvcc is).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build
cuda=AUTO
extra=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --sanitize) build_dir=build-sanitize; extra+=(-DWIDEEP_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo -DWIDEEP_CUDA=OFF -DWIDEEP_BUILD_BENCH=OFF); shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --cuda) cuda=$2; shift 2 ;;
    *) echo "setup.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

packages=(cmake ninja-build g++ pkg-config libopenmpi-dev openmpi-bin libhwloc-dev hwloc
          libcli11-dev nlohmann-json3-dev libfmt-dev libopenblas-dev libglpk-dev
          libgtest-dev libgmock-dev libbenchmark-dev python3 python3-venv python3-matplotlib time
          python3-numpy python3-torch  # launch/wideep_import.py (.pt dumps of SGLang/vLLM) and its tests
          clang libclang-rt-14-dev)  # clang and its sanitizer/fuzzer runtimes: launch/fuzz.sh
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  echo "setup.sh: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The CUDA toolkit is not a Debian package here; it is used where it is installed.
if [[ -d /usr/local/cuda/bin ]]; then export PATH=/usr/local/cuda/bin:$PATH; fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DWIDEEP_CUDA="$cuda" "${extra[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
echo "setup.sh: built $build_dir/wideep"

# The project's one Python: .venv over Debian's /usr/bin/python3 (its numpy,
# matplotlib and torch through --system-site-packages) with the wideep package
# and the pinned test extras. launch/*.py re-run themselves under it where the
# python3 that started them lacks a module (launch/project_python.py). pip runs
# only when the package's sources changed since the last install: a no-op
# `pip install .` still costs ~45 s, a first one ~75 s. A failed pip (no
# network) leaves .venv without the package; the scripts still run.
[[ -x .venv/bin/python ]] || /usr/bin/python3 -m venv --system-site-packages .venv
stamp=.venv/wideep-installed.stamp
package_sources=(pyproject.toml CMakeLists.txt cmake common balance python/CMakeLists.txt python/src python/wideep
                 runtime/io/plan_json.cc runtime/io/plan_json.h)
if [[ ! -f $stamp || -n $(find "${package_sources[@]}" -newer "$stamp" -type f -print -quit 2>/dev/null) ]]; then
  echo "setup.sh: pip install '.[test]' into .venv (the wideep package, pytest, pandas)"
  touch "$stamp.new"
  if .venv/bin/python -m pip install -q ".[test]"; then
    mv "$stamp.new" "$stamp"
  else
    rm -f "$stamp.new"
    echo "setup.sh: warning: pip install into .venv failed: launch/*.py still run, \`import wideep\` does not" >&2
  fi
fi
