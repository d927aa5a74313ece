# `wideep sim` and `wideep topo` tests: the JSON contract and "simulated" mark,
# the 8-rank consistency with `mpirun -np 8 wideep run` (identical per-step
# balancedness, bytes and rebalances: tests/compare_balancedness.py), bad input
# (exit 2 naming the option), and hwloc's view of this node.
set(SIM_CPU ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json)
set(SIM_H100 ${CMAKE_SOURCE_DIR}/launch/profiles/h100_nvlink_8x.json)
set(SIM_SMALL --experts 64 --topk 8 --tokens 64 --hidden 64 --ffn 128 --steps 10 --warmup 2)

wideep_cli_test(NAME sim_contract LABELS sim
  ARGS sim --ranks 8 --profile ${SIM_CPU} ${SIM_SMALL} --balancer eplb,lplb --redundant 8 --eplb-interval 3 --json @OUT@
  MATCH "wideep sim: 8 virtual ranks" "balancedness mean" "rebalances 4"
  JSON_CHECK simulated rebalanced)
wideep_cli_test(NAME sim_waterfill_h100_64 LABELS sim
  ARGS sim --ranks 64 --gpus-per-node 8 --profile ${SIM_H100} ${SIM_SMALL} --balancer lplb,waterfill
       --shared-experts 1 --redundant 64 --topology ring --json @OUT@
  MATCH "64 virtual ranks \\(8 nodes x 8\\)" "cross-node dispatch [0-9.]+ MB/step"
  JSON_CHECK simulated optimal)
wideep_cli_test(NAME sim_help LABELS sim ARGS sim --help MATCH "--ranks" "--profile" "--balancer")

# Same seed and workload: identical balancedness per step (sim vs 8 MPI ranks).
add_test(NAME sim_consistency_8ranks
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep> ${SIM_CPU} 8
          --experts 64 --topk 8 --tokens 64 --hidden 64 --ffn 128 --steps 12 --warmup 2 --seed 3
          --balancer eplb,lplb --redundant 8 --eplb-interval 4 --eplb-window 6)
add_test(NAME sim_consistency_8ranks_waterfill
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep> ${SIM_CPU} 8
          --experts 32 --topk 4 --tokens 48 --hidden 32 --ffn 64 --steps 8 --warmup 1 --seed 9
          --balancer eplb,lplb,waterfill --shared-experts 1 --redundant 16 --gpus-per-node 4
          --eplb-interval 3 --workload drift:1.2:4)
set_tests_properties(sim_consistency_8ranks sim_consistency_8ranks_waterfill PROPERTIES
  TIMEOUT 180 LABELS "sim;mpi"
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")

# Bad input: exit status 2 and a message naming the option or file.
wideep_cli_test(NAME sim_bad_ranks_zero RC 2 LABELS sim
  ARGS sim --ranks 0 --profile ${SIM_CPU} MATCH "--ranks must be positive")
wideep_cli_test(NAME sim_bad_ranks_missing RC 2 LABELS sim
  ARGS sim --profile ${SIM_CPU} MATCH "--ranks is required")
wideep_cli_test(NAME sim_bad_profile_missing_option RC 2 LABELS sim
  ARGS sim --ranks 8 MATCH "--profile is required")
wideep_cli_test(NAME sim_bad_profile_no_file RC 2 LABELS sim
  ARGS sim --ranks 8 --profile ${CMAKE_SOURCE_DIR}/tests/data/no_such_profile.json
  MATCH "--profile .*no_such_profile.json: cannot open")
wideep_cli_test(NAME sim_bad_profile_malformed RC 2 LABELS sim
  ARGS sim --ranks 8 --profile ${CMAKE_SOURCE_DIR}/tests/data/plan_malformed.json
  MATCH "--profile .*plan_malformed.json: not valid JSON")
wideep_cli_test(NAME sim_bad_profile_incomplete RC 2 LABELS sim
  ARGS sim --ranks 8 --profile ${CMAKE_SOURCE_DIR}/tests/data/plan_readme.json
  MATCH "--profile .*plan_readme.json: \"links\" is missing")
wideep_cli_test(NAME sim_bad_experts_divide RC 2 LABELS sim
  ARGS sim --ranks 1024 --profile ${SIM_H100} --experts 256 MATCH "--experts 256 does not divide among 1024 ranks")
wideep_cli_test(NAME sim_bad_check RC 2 LABELS sim
  ARGS sim --ranks 8 --profile ${SIM_CPU} --check MATCH "--check has no meaning for wideep sim")
wideep_cli_test(NAME sim_bad_topology RC 2 LABELS sim
  ARGS sim --ranks 12 --profile ${SIM_CPU} --experts 48 --gpus-per-node 4 --balancer lplb --topology cube --redundant 24
  MATCH "--topology cube")

wideep_cli_test(NAME topo_table LABELS topo
  ARGS topo --ranks-per-node 4 MATCH "packages [0-9]+ +NUMA nodes [0-9]+ +cores [0-9]+" "GPUs: " "binding for --ranks-per-node 4")
wideep_cli_test(NAME topo_json LABELS topo
  ARGS topo --json MATCH "\"binding\":" "\"numa_nodes\":[0-9]+" "\"gpus\":")
wideep_cli_test(NAME topo_bad_ranks RC 2 LABELS topo
  ARGS topo --ranks-per-node 0 MATCH "--ranks-per-node must be in")

# The CI-sized topology study: every (balancer, ranks) point of the quick sweep
# lands in the CSV, and the three plots are drawn.
add_test(NAME study_quick
  COMMAND /bin/bash -c "rm -rf \"$1\" && \"$0\"/launch/study.sh --quick --build \"$2\" --out \"$1\" && \
test \"$(tail -n +2 \"$1\"/study.csv | wc -l)\" -eq 16 && \
ls \"$1\"/balancedness_vs_ranks.png \"$1\"/step_time_vs_ranks.png \"$1\"/cross_node_bytes_vs_topology.png"
    ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/study-quick ${CMAKE_BINARY_DIR})
set_tests_properties(study_quick PROPERTIES LABELS sim TIMEOUT 600)
