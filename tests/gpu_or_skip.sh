#!/usr/bin/env bash
# gpu_or_skip.sh HAVE_CUDA command...
# Runs the command where this build has the CUDA path (HAVE_CUDA is CMake's
# WIDEEP_HAVE_CUDA: ON/OFF) and `nvidia-smi -L` lists a GPU; otherwise prints
# why and exits 77, which CTest reports as a skip (SKIP_RETURN_CODE 77).
have_cuda=$1; shift
case ${have_cuda^^} in
  ON|TRUE|1|YES) ;;
  *) echo "gpu_or_skip: SKIP: this build has no CUDA path"; exit 77 ;;
esac
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "gpu_or_skip: SKIP: no GPU visible (nvidia-smi -L lists none)"
  exit 77
fi
exec "$@"
