#!/usr/bin/env bash
# tests/torch_ref_check.sh WIDEEP CASE: launch/torch_moe_ref.py recomputes in
# PyTorch (CPU, Debian's /usr/bin/python3) layers that `wideep run --check
# --dump-layer` wrote. `agrees`: an fp32 layer and a bf16-compute, fp8-dispatch
# layer with a shared expert both equal wideep's reference and output within
# the dtype's bound. `detects`: the fp32 dump with one top-k id changed must
# fail (exit 1), so the agreement is not vacuous. Exit 77 (skip) without torch.
set -u
wideep=$1 case=$2
root=$(cd "$(dirname "$0")/.." && pwd)
/usr/bin/python3 -c 'import torch, numpy' 2>/dev/null || { echo "torch or numpy missing for /usr/bin/python3: skipped"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
shape=(--backend mpi --experts 8 --topk 2 --hidden 128 --ffn 32 --tokens 16 --layers 1 --steps 1 --warmup 0 --check --quiet)
"$wideep" run "${shape[@]}" --dtype fp32 --dump-layer "$dir/fp32.json" || exit 1
case $case in
  agrees)
    "$wideep" run "${shape[@]}" --dtype bf16 --dispatch-dtype fp8 --shared-experts 1 --dump-layer "$dir/bf16.json" || exit 1
    exec /usr/bin/python3 "$root/launch/torch_moe_ref.py" --check-dump "$dir/fp32.json" "$dir/bf16.json" ;;
  detects)
    /usr/bin/python3 - "$dir/fp32.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
ids, k = d["topk_ids"], d["topk"]
ids[0] = next(e for e in range(d["experts"]) if e not in ids[0:k])  # token 0: an expert it did not pick
json.dump(d, open(sys.argv[1], "w"))
PY
    /usr/bin/python3 "$root/launch/torch_moe_ref.py" --check-dump "$dir/fp32.json"
    rc=$?
    [[ $rc -eq 1 ]] && { echo "a changed routing is detected: ok"; exit 0; }
    echo "expected exit 1 for a changed routing, got $rc"
    exit 1 ;;
  *) echo "unknown case $case"; exit 2 ;;
esac
