#!/usr/bin/env bash
# README command 1: install, build, then run the main job on the embedded
# default (4 ranks, CPU, MPI backend) and print its table. Extra arguments go
# to `wideep run` (e.g. --balancer eplb,lplb --redundant 16).
set -euo pipefail
cd "$(dirname "$0")/.."
launch/setup.sh
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p out
mpirun --oversubscribe --mca btl self,vader \
  -np 4 build/wideep run --backend mpi --check --json out/quickstart.jsonl "$@"
echo "quickstart: JSON lines in out/quickstart.jsonl"
