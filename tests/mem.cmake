# wideep mem (issue 17): the plan of the DeepSeek-V3 shape on 64 GPUs fits in
# 16 GiB per rank; a run allocates exactly what `wideep mem` plans (plus what
# its steps grew, reported apart); a plan larger than the node is refused
# before anything is allocated; bad input for its own options.
add_test(NAME mem_deepseek_v3_64_under_16gib
  COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/mem_checks.py deepseek $<TARGET_FILE:wideep>)
foreach(case "mpi|fp32|--workload uniform" "mpi|bf16|--balancer eplb,lplb --redundant 8 --shared-experts 1 --check"
             "mpi|fp32|--workload hot:0.9 --baseline"
             # The second micro-batch's backend and the joined views (--overlap tbo), the
             # dispatch modes' buffers (issue 12: forwarder, low-latency regions and headers).
             "mpi|fp32|--overlap tbo --tbo-split 0.4"
             "mpi|bf16|--dispatch-mode hierarchical --gpus-per-node 1 --overlap tbo --dispatch-dtype fp8 --hidden 128"
             # Regions per source: the MPI transport's header-row layout.
             "mpi|fp32|--dispatch-mode low-latency --ll-max-tokens 64 --combine-dtype bf16 --transport mpi")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 backend)
  list(GET parts 1 dtype)
  list(GET parts 2 extra)
  string(MAKE_C_IDENTIFIER "${dtype}_${extra}" cname)
  separate_arguments(extra)
  add_test(NAME mem_matches_run_${cname}
    COMMAND python3 ${CMAKE_SOURCE_DIR}/tests/mem_checks.py matches-run $<TARGET_FILE:wideep> "${WIDEEP_MPIRUN}"
            --backend ${backend} --dtype ${dtype} --experts 32 --tokens 32 --hidden 64 --ffn 64 --steps 3 --warmup 1
            --quiet ${extra})
  set_tests_properties(mem_matches_run_${cname} PROPERTIES LABELS "mpi;devpath" TIMEOUT 120 ENVIRONMENT
    "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endforeach()
wideep_cli_test(NAME mem_table ARGS mem --ranks 8 --backend nccl --dtype bf16
  MATCH "receive rows" "grouped h" "expert weight mirror" "total +device")
# --check's reference at the 8-rank shape of issue 24: 4 experts' weights
# (4 x 2 x 1024 x 2048 x 4 bytes), not every expert of every layer (4 GiB):
# 1.32 GiB per rank in all, not 5.26 GiB.
wideep_cli_test(NAME mem_check_reference_is_a_few_experts
  ARGS mem --ranks 8 --balancer eplb --redundant 16 --layers 4 --hidden 1024 --ffn 2048 --tokens 32 --check
  MATCH "--check reference: weight cache, fp32 .* host +67108864 " "--check reference: one layer's tokens .* host +788736 "
        "total +host +[0-9]+  1\\.[0-9]+ GiB")
# A run whose plan exceeds this node's memory: exit 2 before any allocation or communication.
wideep_bad_input_tests(PREFIX bad_mem_run NP 2 ONCE BASE run --backend mpi --quiet --timeout-s 5 ENTRIES
  "too_big_for_node|--layers 64 --hidden 8192 --ffn 16384 --experts 64|memory plan needs .* largest buffers: expert weights")
set(bad_mem
  "ranks_zero|--ranks 0|--ranks must be in"
  "backend_unknown|--backend tcp|--backend 'tcp': unknown backend"
  "experts_indivisible|--ranks 3|--experts 64 \\+ --redundant 0 = 64 physical slots do not divide among 3 ranks")
wideep_bad_input_tests(PREFIX bad_mem BASE mem ENTRIES ${bad_mem})
