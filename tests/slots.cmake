# Rank counts whose physical slots divide but whose experts do not (issue 27):
# --check on real ranks for every balancer, EPLB re-plans moving exactly the
# planned weight bytes; run = sim balancedness and bytes at 8 ranks; the
# anchors' deployments in `wideep sim` and `wideep mem`; bad input for slots
# that do not divide and for topologies that have no layout there.
# --eplb-keep-within 0: every re-plan moves what it plans (these tests are of the moves, not of the keep)
set(SLSMALL --backend mpi --tokens 32 --hidden 32 --ffn 64 --steps 8 --warmup 1 --timeout-s 30 --quiet
    --eplb-interval 3 --eplb-window 4 --eplb-keep-within 0 --workload zipf:1.2)

# NAME|ranks|options. 8 ranks x 2 slots hold 12 experts + 4 copies (E % R = 4);
# 6 x 3 hold 16 + 2 (E % R = 4); 4 x 1 hold 2 + 2 or 4 + 0 (one expert per rank).
set(slots_cases
  "np8_e12_r4_none|8|--experts 12 --redundant 4 --topk 4 --balancer none"
  "np8_e12_r4_eplb|8|--experts 12 --redundant 4 --topk 4 --balancer eplb"
  "np8_e12_r4_lplb|8|--experts 12 --redundant 4 --topk 4 --balancer lplb"
  "np8_e12_r4_eplb_lplb|8|--experts 12 --redundant 4 --topk 4 --balancer eplb,lplb --gpus-per-node 4"
  "np8_e12_r4_eplb_waterfill|8|--experts 12 --redundant 4 --topk 4 --balancer eplb,waterfill --shared-experts 1"
  "np6_e16_r2_eplb_lplb_bf16|6|--experts 16 --redundant 2 --topk 4 --balancer eplb,lplb --layers 2 --dtype bf16"
  "np6_e16_r2_none|6|--experts 16 --redundant 2 --topk 4 --balancer none --shared-experts 1"
  "np4_e2_r2_eplb_lplb|4|--experts 2 --redundant 2 --topk 2 --balancer eplb,lplb"
  "np4_e4_r0_eplb_waterfill|4|--experts 4 --redundant 0 --topk 2 --balancer eplb,waterfill --shared-experts 1")
foreach(entry ${slots_cases})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 np)
  list(GET parts 2 opts)
  separate_arguments(opts)
  set(checks)
  if(opts MATCHES "lplb")
    list(APPEND checks optimal)
  endif()
  if(opts MATCHES "eplb")
    list(APPEND checks rebalanced)
  endif()
  if(opts MATCHES "bf16")  # the device path's configuration on the host (tests/devpath.cmake)
    list(APPEND checks dtype=bf16 memory)
  endif()
  wideep_cli_test(NAME slots_${name} NP ${np}
    ARGS run ${SLSMALL} ${opts} --check --json @OUT@
    MATCH "check: passed" JSON_CHECK ${checks})
endforeach()

# Same seed: identical balancedness per step, bytes and weight bytes moved, run vs sim.
add_test(NAME slots_sim_consistency_np8_e12_r4
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep>
          ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json 8
          --experts 12 --topk 4 --tokens 48 --hidden 32 --ffn 64 --steps 8 --warmup 1 --seed 5
          --balancer eplb,lplb --redundant 4 --gpus-per-node 4 --eplb-interval 3 --eplb-window 4 --workload zipf:1.2)
# Bytes per link class, step by step, in the low-latency mode with fp8 rows.
add_test(NAME slots_sim_identity_np8_e12_r4_low_latency
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/sim_identity.py $<TARGET_FILE:wideep>
          ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json 8 --gpus-per-node 4 --experts 12 --topk 4 --tokens 32
          --hidden 128 --ffn 128 --layers 2 --steps 3 --warmup 1 --balancer eplb,lplb --redundant 4
          --eplb-interval 2 --seed 5 --dispatch-mode low-latency --dispatch-dtype fp8 --combine-dtype bf16)
set_tests_properties(slots_sim_consistency_np8_e12_r4 slots_sim_identity_np8_e12_r4_low_latency PROPERTIES TIMEOUT 180 LABELS "sim;mpi"
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")

# The anchors' deployments (SGLang: 256 + 32 on 72 GPUs; DeepSeek: 256 + 64 on
# 320, one expert per GPU), a few steps each.
set(SLOTS_H100 ${CMAKE_SOURCE_DIR}/launch/profiles/h100_nvlink_8x.json)
set(SLOTS_DSV3 --experts 256 --topk 8 --hidden 7168 --ffn 2048 --tokens 128 --gpus-per-node 8 --layers 1
    --steps 4 --warmup 1 --eplb-interval 2 --eplb-window 2 --dispatch-mode low-latency --dispatch-dtype fp8
    --combine-dtype bf16)
wideep_cli_test(NAME slots_sim_72_ranks_288_slots LABELS sim
  ARGS sim --ranks 72 --redundant 32 --profile ${SLOTS_H100} ${SLOTS_DSV3} --balancer eplb,lplb --json @OUT@
  MATCH "72 virtual ranks \\(9 nodes x 8\\)" "redundant=32"
  JSON_CHECK simulated optimal rebalanced)
wideep_cli_test(NAME slots_sim_320_ranks_one_per_gpu LABELS sim
  ARGS sim --ranks 320 --redundant 64 --profile ${SLOTS_H100} ${SLOTS_DSV3} --balancer eplb --json @OUT@
  MATCH "320 virtual ranks \\(40 nodes x 8\\)" "redundant=64"
  JSON_CHECK simulated rebalanced)
wideep_cli_test(NAME slots_mem_72_ranks ARGS mem --ranks 72 --backend nccl --dtype bf16 --experts 256 --redundant 32
  --hidden 7168 --ffn 2048 --tokens 128 --balancer eplb,lplb MATCH "72 ranks" "total +device")

# Bad input: slots that do not divide, fewer slots than ranks, a topology with no
# layout where the experts do not divide, nodes that do not divide the ranks.
wideep_bad_input_tests(PREFIX slots_bad NP 4 ONCE BASE run ${SLSMALL} ENTRIES
  "slots_split|--experts 6 --redundant 1 --topk 2|--experts 6 \\+ --redundant 1 = 7 physical slots do not divide among 4 ranks"
  "slots_fewer|--experts 2 --redundant 0 --topk 2|--experts 2 \\+ --redundant 0 = 2 physical slots are fewer than the 4 ranks"
  "topology_experts_split|--experts 6 --redundant 2 --topk 2 --balancer lplb --topology ring|--topology ring: its copy layout .* 6 experts do not divide among 4 ranks"
  "nodes_split|--experts 6 --redundant 2 --topk 2 --gpus-per-node 3|--gpus-per-node 3 does not divide 4 ranks into whole nodes")
wideep_bad_input_tests(PREFIX slots_bad_sim BASE sim --profile ${SLOTS_H100} ENTRIES
  "slots_split|--ranks 72 --experts 256 --redundant 64|--experts 256 \\+ --redundant 64 = 320 physical slots do not divide among 72 ranks")

# `wideep plan` with one slot per GPU (12 experts + 4 copies on 16 GPUs), worked
# by hand: layer 0's loads sum to 1033 (mean 64.56 per GPU); the copies go to the
# largest load per copy, 183, 165, 132, 104, so the max is 183/2 = 91.50 and
# balancedness 64.5625/91.5 = 0.7056. Layer 1: sum 1156 (72.25); copies to 197,
# 187, 172, 157; the max is the single 107; 72.25/107 = 0.6752.
wideep_cli_test(NAME slots_plan_one_slot_per_gpu
  ARGS plan --loads ${CMAKE_SOURCE_DIR}/tests/data/plan_readme.json --replicas 16 --gpus 16 --nodes 2
  MATCH "12 experts -> 16 slots on 16 GPUs" "0 +91.50 +64.56 +0.7056" "1 +107.00 +72.25 +0.6752")
