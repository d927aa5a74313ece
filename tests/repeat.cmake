# Repeatability (issue 8): the same seed gives bit-identical outputs, placements,
# LP splits and JSON (timings aside) on two runs; tests/compare_runs.py runs the
# command twice and compares, and with --differ-with checks that another seed
# changes every step's output_checksum. Only the MPI backend runs on hosts; the
# NCCL backend sums in a different order on the device (docs/reliability.md).
set(MPIRUN_REP ${WIDEEP_MPIRUN})
set(REP_SMALL --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 8 --warmup 1 --quiet --check)
function(repeat_test name)
  add_test(NAME ${name} COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_runs.py ${ARGN}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 180 LABELS "repeat"
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endfunction()

repeat_test(repeat_run_np4_eplb_lplb --differ-with "--seed 2" --
  ${MPIRUN_REP} -np 4 $<TARGET_FILE:wideep> run ${REP_SMALL} --balancer eplb,lplb --redundant 8
  --eplb-interval 2 --eplb-window 3 --layers 2 --json @OUT@)
repeat_test(repeat_run_np8_drift_waterfill --differ-with "--seed 5" --
  ${MPIRUN_REP} -np 8 $<TARGET_FILE:wideep> run ${REP_SMALL} --balancer eplb,lplb,waterfill --shared-experts 1
  --redundant 8 --topology ring --workload drift:1.2:3 --eplb-interval 3 --json @OUT@)
repeat_test(repeat_run_np2_trace --
  ${MPIRUN_REP} -np 2 $<TARGET_FILE:wideep> run --experts 16 --topk 4 --tokens 32 --hidden 32 --ffn 64 --layers 2
  --steps 6 --warmup 1 --quiet --workload trace:${CMAKE_SOURCE_DIR}/launch/traces/example_topk.json --json @OUT@)
repeat_test(repeat_plan -- $<TARGET_FILE:wideep> plan --loads ${CMAKE_SOURCE_DIR}/tests/data/plan_readme.json
  --replicas 16 --groups 4 --nodes 2 --gpus 8 --json)
repeat_test(repeat_lp -- $<TARGET_FILE:wideep> lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_rank_counts.json --json)
repeat_test(repeat_sim -- $<TARGET_FILE:wideep> sim --ranks 64 --profile ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json
  --experts 64 --topk 8 --tokens 64 --hidden 64 --ffn 128 --steps 10 --warmup 2 --balancer eplb,lplb --redundant 64
  --eplb-interval 3 --json @OUT@)
