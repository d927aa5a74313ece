#!/usr/bin/env bash
# Launches `wideep run` under mpirun with the mapping and binding of
# `wideep topo`: one rank per GPU bound to the GPU's NUMA node, the NCCL
# environment set; on a machine without GPUs, ranks bound to cores (and
# --oversubscribe when there are more ranks than cores).
# Usage: launch/mpirun.sh [-n RANKS] [-N RANKS_PER_NODE] [--hostfile FILE] [--build DIR]
#                         [--dry-run] [-- extra mpirun args ::] wideep-run-options...
# Example (2 nodes x 8 GPUs): launch/mpirun.sh --hostfile launch/hostfile.example -n 16 -N 8 \
#          --balancer eplb,lplb --redundant 16 --json run.jsonl
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD="$ROOT/build"; NP=""; RPN=""; HOSTFILE=""; DRY=0; EXTRA=()
while [[ $# -gt 0 ]]; do
  case $1 in
    -n) NP=$2; shift 2 ;;
    -N) RPN=$2; shift 2 ;;
    --hostfile) HOSTFILE=$2; shift 2 ;;
    --build) BUILD=$2; shift 2 ;;
    --dry-run) DRY=1; shift ;;
    --) shift; while [[ $# -gt 0 && $1 != "::" ]]; do EXTRA+=("$1"); shift; done; [[ $# -gt 0 ]] && shift ;;
    -h|--help) sed -n 2,10p "$0"; exit 0 ;;
    *) break ;;
  esac
done
WIDEEP="$BUILD/wideep"
[[ -x $WIDEEP ]] || { echo "mpirun.sh: $WIDEEP not found (build first, or pass --build DIR)" >&2; exit 2; }
[[ -z $HOSTFILE || -r $HOSTFILE ]] || { echo "mpirun.sh: --hostfile $HOSTFILE: cannot read it" >&2; exit 2; }
# This node as hwloc sees it (the launch node; nodes of one job are assumed alike).
TOPO=$("$WIDEEP" topo --json ${RPN:+--ranks-per-node "$RPN"})
read -r GPUS NUMA CORES DEFAULT_RPN < <(/usr/bin/python3 -c '
import json, sys
t = json.loads(sys.argv[1])
print(len(t["gpus"]), max(t["numa_nodes"], 1), max(t["cores"], 1), t["ranks_per_node"])' "$TOPO")
RPN=${RPN:-$DEFAULT_RPN}
if [[ -z $NP ]]; then
  NODES=1
  [[ -n $HOSTFILE ]] && NODES=$(grep -cvE '^\s*(#|$)' "$HOSTFILE")
  NP=$((RPN * NODES))
fi
ARGS=(-np "$NP")
[[ -n $HOSTFILE ]] && ARGS+=(--hostfile "$HOSTFILE")
if [[ $GPUS -gt 0 ]]; then
  # One rank per GPU; ranks spread evenly over the NUMA nodes and bound to them,
  # so local rank i (GPU i) sits on the NUMA node that hwloc lists for GPU i.
  PER_NUMA=$(( (RPN + NUMA - 1) / NUMA ))
  ARGS+=(--map-by "ppr:${PER_NUMA}:numa" --bind-to numa)
  ARGS+=(-x NCCL_IB_DISABLE=0 -x NCCL_NET_GDR_LEVEL=PHB -x NCCL_CROSS_NIC=0 -x NCCL_DEBUG=${NCCL_DEBUG:-WARN})
  [[ -n ${NCCL_SOCKET_IFNAME:-} ]] && ARGS+=(-x NCCL_SOCKET_IFNAME)
else
  # A CPU machine: one rank per core while they fit, else oversubscribe.
  if [[ $RPN -le $CORES ]]; then ARGS+=(--map-by core --bind-to core)
  else ARGS+=(--oversubscribe --bind-to none --mca btl self,vader); fi
fi
[[ $(id -u) -eq 0 ]] && ARGS+=(--allow-run-as-root)
CMD=(mpirun "${ARGS[@]}" "${EXTRA[@]}" "$WIDEEP" run "$@")
echo "mpirun.sh: ${CMD[*]}" >&2
[[ $DRY == 1 ]] && exit 0
exec "${CMD[@]}"
