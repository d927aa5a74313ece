# Group-limited routing (issue 12, --groups G --topk-groups M): `wideep run
# --check` passes with tokens limited to their top-M groups for every balancer
# at 2 and 4 ranks (4 ranks as 2 nodes of 2, so EPLB takes its hierarchical
# policy, groups onto nodes); the sim routes the same way as the run (identical
# per-step balancedness and bytes); bad --topk-groups values exit 2 naming it.
set(GSMALL --backend mpi --experts 32 --topk 4 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1
    --timeout-s 30 --quiet --groups 4 --topk-groups 2)

foreach(np 2 4)
  foreach(bal none eplb lplb)
    set(extra)
    set(checks)
    if(bal STREQUAL "eplb")
      set(extra --redundant ${np} --eplb-interval 2 --eplb-window 2)
      set(checks rebalanced)
    endif()
    wideep_cli_test(NAME groups_check_np${np}_${bal} NP ${np}
      ARGS run ${GSMALL} --gpus-per-node 2 --balancer ${bal} ${extra} --workload zipf:1.2 --layers 2
           --check --json @OUT@
      MATCH "check: passed" JSON_CHECK ${checks})
  endforeach()
endforeach()
# hot and drift under the limit, and DeepSeek-V3's G 8 M 4 on a small shape.
wideep_cli_test(NAME groups_check_np4_hot NP 4
  ARGS run ${GSMALL} --balancer lplb --workload hot:0.1 --check MATCH "check: passed")
wideep_cli_test(NAME groups_check_np4_drift_g8_m4 NP 4
  ARGS run --backend mpi --experts 64 --topk 8 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1
       --timeout-s 30 --quiet --groups 8 --topk-groups 4 --gpus-per-node 2 --balancer eplb --redundant 8
       --eplb-interval 2 --workload drift:1.2:3 --check
  MATCH "check: passed")

# The sim routes with the same limit as the run: identical balancedness and bytes.
add_test(NAME groups_sim_consistency_4ranks
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep>
          ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json 4
          --experts 32 --topk 4 --tokens 48 --hidden 32 --ffn 64 --steps 8 --warmup 1 --seed 5
          --groups 4 --topk-groups 2 --gpus-per-node 2 --balancer eplb,lplb --redundant 8 --eplb-interval 3)
set_tests_properties(groups_sim_consistency_4ranks PROPERTIES
  TIMEOUT 180 LABELS "sim;mpi"
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
wideep_cli_test(NAME groups_sim_deepseek_v3_shape LABELS sim
  ARGS sim --ranks 32 --gpus-per-node 8 --profile ${CMAKE_SOURCE_DIR}/launch/profiles/h100_nvlink_8x.json
       --experts 256 --topk 8 --groups 8 --topk-groups 4 --tokens 16 --hidden 64 --ffn 128 --steps 3
       --warmup 1 --balancer eplb --redundant 32 --eplb-interval 2
  MATCH "32 virtual ranks \\(4 nodes x 8\\)")

# Bad input: exit 2, one message naming the option (run under mpirun, and sim).
set(GBAD --backend mpi --experts 16 --tokens 16 --hidden 32 --ffn 64 --steps 1 --warmup 1 --quiet --timeout-s 5)
wideep_bad_input_tests(PREFIX bad_groups NP 2 ONCE BASE run ${GBAD} ENTRIES
  "m_above_g|--topk 2 --groups 2 --topk-groups 3|--topk-groups 3 exceeds --groups 2"
  "topk_unreachable|--topk 8 --groups 8 --topk-groups 1|--topk 8 exceeds the 2 experts of --topk-groups 1 groups of 2"
  "m_negative|--topk 2 --groups 2 --topk-groups -1|--topk-groups must be >= 0")
wideep_cli_test(NAME bad_groups_sim_m_above_g RC 2 LABELS sim
  ARGS sim --ranks 4 --profile ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json --experts 16 --topk 2
       --groups 2 --topk-groups 3
  MATCH "--topk-groups 3 exceeds --groups 2")
