# GPU tests of `wideep run --backend nccl` (issue 5): registered always, skipped
# (exit 77 of tests/gpu_or_skip.sh) where no GPU is visible or the build has no
# CUDA. Several ranks on one GPU work because the NCCL communicator gives each
# rank its own NCCL_HOSTID and loopback sockets when ranks outnumber GPUs.
# --check runs the device path in fp32 (the 1e-4 limit); the bf16 default is
# exercised by the runs without --check and by kernels_tests.
set(GPU_SMALL --backend nccl --experts 32 --tokens 32 --hidden 64 --ffn 64 --steps 6 --warmup 1
    --timeout-s 60 --quiet)

foreach(np 1 2 4 8)
  wideep_cli_test(NAME gpu_run_check_np${np} NP ${np} GPU TIMEOUT 300
    ARGS run ${GPU_SMALL} --layers 2 --workload zipf:1.2 --check --json @OUT@
    MATCH "check: passed" [=["backend":"nccl"]=])
endforeach()

# Every balancer, with rebalances (weight exchange over NCCL) mid-run.
foreach(bal "eplb,lplb" "eplb,waterfill" "lplb" "waterfill")
  string(REPLACE "," "_" bal_name ${bal})
  wideep_cli_test(NAME gpu_run_check_np4_${bal_name} NP 4 GPU TIMEOUT 300
    ARGS run ${GPU_SMALL} --steps 12 --balancer ${bal} --redundant 4 --shared-experts 1
         --eplb-interval 4 --eplb-window 4 --check --json @OUT@
    MATCH "check: passed")
endforeach()

# Zero tokens routed to some ranks: a hot expert takes most of the traffic.
wideep_cli_test(NAME gpu_run_check_np8_hot NP 8 GPU TIMEOUT 300
  ARGS run ${GPU_SMALL} --workload hot:0.9 --check MATCH "check: passed")

# The bf16 default (no --check) with the baseline all-to-allv and the JSON contract fields.
wideep_cli_test(NAME gpu_run_bf16_baseline NP 2 GPU TIMEOUT 300
  ARGS run ${GPU_SMALL} --baseline --json @OUT@
  JSON_CHECK contract baseline dtype=bf16 NOMATCH "error")
# An explicit --dtype fp32 without --check.
wideep_cli_test(NAME gpu_run_fp32_explicit NP 2 GPU TIMEOUT 300
  ARGS run ${GPU_SMALL} --dtype fp32 --json @OUT@
  JSON_CHECK contract dtype=fp32 NOMATCH "error")

# Faults on the device path fail the check, naming the token; a corrupted weight
# transfer fails the checksum.
foreach(fault drop misroute corrupt)
  wideep_cli_test(NAME gpu_run_fault_${fault}_detected NP 2 GPU RC 1 TIMEOUT 300
    ARGS run ${GPU_SMALL} --check --inject ${fault}:1:2
    MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+")
endforeach()
wideep_cli_test(NAME gpu_run_fault_corrupt_weights NP 2 GPU RC 1 TIMEOUT 300
  ARGS run ${GPU_SMALL} --balancer eplb --eplb-interval 3 --steps 8 --check --inject corrupt-weights:1
  MATCH "checksum mismatch")

# A rank that hangs ends the run with a timeout naming the phase, not a hang.
wideep_cli_test(NAME gpu_run_hang_times_out NP 2 GPU RC 3 TIMEOUT 300
  ARGS run ${GPU_SMALL} --timeout-s 10 --inject hang:1:2
  MATCH "timeout")
