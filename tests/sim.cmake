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
# Two-batch overlap: each micro-batch routed and balanced on its own, as the run.
add_test(NAME sim_consistency_8ranks_tbo
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep> ${SIM_CPU} 8
          --experts 32 --topk 4 --tokens 48 --hidden 128 --ffn 64 --steps 6 --warmup 1 --seed 4
          --balancer eplb,lplb --redundant 16 --gpus-per-node 4 --eplb-interval 3 --overlap tbo --tbo-split 0.3
          --dispatch-dtype fp8 --combine-dtype bf16)
set_tests_properties(sim_consistency_8ranks sim_consistency_8ranks_waterfill sim_consistency_8ranks_tbo PROPERTIES
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
  ARGS sim --ranks 1024 --profile ${SIM_H100} --experts 256 MATCH "--experts 256 \\+ --redundant 0 = 256 physical slots are fewer than the 1024 ranks")
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

# Dispatch modes, wire dtypes, two-batch overlap and EPLB modes in the sim
# (docs/sim.md; unit tests: runtime/sim/sim_modes_test.cc, sim_engine_test.cc;
# run/sim byte identity: tests/sim_identity.cmake).
set(SIM_NODES --ranks 16 --gpus-per-node 8 --profile ${SIM_H100} --experts 64 --topk 8 --tokens 64 --hidden 256
    --ffn 512 --steps 4 --warmup 1)
wideep_cli_test(NAME sim_mode_hierarchical_fp8 LABELS sim
  ARGS sim ${SIM_NODES} --dispatch-mode hierarchical --dispatch-dtype fp8 --combine-dtype bf16 --json @OUT@
  MATCH "dispatch hierarchical \\(fp8 rows, bf16 back\\), overlap none: cross-node dispatch 0\\.[0-9]+ MB/step"
  JSON_CHECK simulated)
wideep_cli_test(NAME sim_mode_low_latency LABELS sim
  ARGS sim ${SIM_NODES} --dispatch-mode low-latency --ll-max-tokens 1024 --groups 8 --topk-groups 4
  MATCH "dispatch low-latency \\(fp32 rows, fp32 back\\)")
wideep_cli_test(NAME sim_overlap_tbo LABELS sim
  ARGS sim ${SIM_NODES} --tokens 2048 --overlap tbo --tbo-split 0.4
  MATCH "overlap tbo:" "overlap hidden [1-9][0-9.]* us/step, efficiency 0\\.[0-9]+")
set(SIM_EPLB --ranks 8 --profile ${SIM_CPU} --experts 32 --topk 4 --tokens 32 --hidden 128 --ffn 256 --layers 4
    --steps 12 --warmup 0 --workload drift:1.2:4 --balancer eplb --redundant 8 --eplb-interval 4 --eplb-window 4)
wideep_cli_test(NAME sim_eplb_chunked LABELS sim
  ARGS sim ${SIM_EPLB} --eplb-layers-per-chunk 1 --json @OUT@
  MATCH "stall \\(gap between step completions, rebalances included\\) max [0-9.]+ us" JSON_CHECK simulated rebalanced)
wideep_cli_test(NAME sim_eplb_async LABELS sim
  ARGS sim ${SIM_EPLB} --eplb-async --eplb-layers-per-chunk 2 --json @OUT@
  MATCH "stall \\(gap" JSON_CHECK simulated rebalanced)
wideep_cli_test(NAME sim_eplb_min_gain LABELS sim
  ARGS sim ${SIM_EPLB} --eplb-min-gain 1 MATCH "rebalances 3  weight bytes moved 0 ")

# Bad input of the new options: exit 2 naming the option.
set(SIM_BASE --ranks 8 --profile ${SIM_CPU} --experts 32 --topk 4 --tokens 32 --hidden 128 --ffn 256 --steps 2 --warmup 0)
set(sim_bad_new
  "dispatch_mode|--dispatch-mode ring|--dispatch-mode 'ring': unknown mode"
  "dispatch_dtype|--dispatch-dtype fp16|--dispatch-dtype 'fp16': unknown dtype"
  "combine_fp8|--combine-dtype fp8|--combine-dtype fp8: combined rows"
  "fp8_hidden|--dispatch-dtype fp8 --hidden 100|--dispatch-dtype fp8 scales each 128 channels"
  "ll_without_mode|--ll-max-tokens 8|--ll-max-tokens sizes the low-latency buffers"
  "ll_negative|--dispatch-mode low-latency --ll-max-tokens -1|--ll-max-tokens must be >= 0"
  "ll_overflow|--dispatch-mode low-latency --ll-max-tokens 2 --workload hot:0.5|--ll-max-tokens 2: expert [0-9]+ \\(rank [0-9]+, local slot [0-9]+, layer [0-9]+\\) would receive [0-9]+ rows from one rank"
  "overlap|--overlap dbo|--overlap 'dbo': unknown overlap"
  "tbo_split|--overlap tbo --tbo-split 1|--tbo-split must be in"
  "tbo_split_alone|--tbo-split 0.3|--tbo-split splits the tokens"
  "tbo_one_token|--overlap tbo --tokens 1|--overlap tbo splits the tokens"
  "topk_groups|--groups 4 --topk-groups 5|--topk-groups 5 exceeds --groups 4"
  "eplb_async_alone|--eplb-async|they need --balancer with eplb"
  "eplb_chunk_interval|--balancer eplb --redundant 8 --layers 4 --eplb-layers-per-chunk 1 --eplb-interval 2|--eplb-interval must be at least that"
  "eplb_min_gain|--balancer eplb --redundant 8 --eplb-min-gain 2|--eplb-min-gain must be in"
  "transport|--transport shm|--transport has no meaning for wideep sim"
  "counts_rounds|--profile ${CMAKE_SOURCE_DIR}/tests/data/sim_profile_counts_rounds.json|\"rounds.counts\" must be <= rounds.dispatch")
wideep_bad_input_tests(PREFIX sim_bad BASE sim ${SIM_BASE} ENTRIES ${sim_bad_new})

# The issue 12/16 studies (launch/studies/sim_studies.py) in their CI-sized form:
# every study writes its CSV and PNG.
add_test(NAME study_sim_quick
  COMMAND /bin/bash -c "rm -rf \"$1\" && /usr/bin/python3 \"$0\"/launch/studies/sim_studies.py all --quick --build \"$2\" --out \"$1\" > /dev/null && \
for s in cross_node_bytes mode_times tbo eplb_stall; do test -s \"$1\"/$s.csv && test -s \"$1\"/$s.png || exit 1; done"
    ${CMAKE_SOURCE_DIR} ${CMAKE_BINARY_DIR}/study-sim-quick ${CMAKE_BINARY_DIR})
set_tests_properties(study_sim_quick PROPERTIES LABELS sim TIMEOUT 300)

# The automatic LPLB's forecast at each EPLB re-plan (balance/lplb_forecast.h),
# DeepSeek-V3 shape on the H100 profile as in docs/studies/lplb.md: at T 128,
# 32 ranks, noise, the LP cannot pay, so after the first re-plan no layer-step
# probes (the probe schedule alone probed at steps 8 and 16); at T 4096 on one
# node, zipf 1.2, it pays, so every layer-step plans from the first re-plan on
# (the probe schedule alone waited for step 8).
set(SIM_DSV3 --profile ${SIM_H100} --gpus-per-node 8 --experts 256 --topk 8 --hidden 7168 --ffn 2048 --layers 1
    --steps 16 --warmup 5 --eplb-interval 5 --eplb-window 5 --seed 1 --dispatch-dtype fp8 --combine-dtype bf16
    --redundant 64 --balancer eplb,lplb --quiet)
wideep_cli_test(NAME sim_lplb_forecast_quiet LABELS sim
  ARGS sim ${SIM_DSV3} --ranks 32 --tokens 128 --workload noise:0.5 --json @OUT@ JSON_CHECK forecast=quiet)
wideep_cli_test(NAME sim_lplb_forecast_plans LABELS sim
  ARGS sim ${SIM_DSV3} --ranks 8 --tokens 4096 --workload zipf:1.2 --json @OUT@ JSON_CHECK forecast=plans)
