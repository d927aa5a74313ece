# Dispatch modes (issue 12): --dispatch-mode hierarchical and low-latency pass
# --check at the fp32 limit (1e-4; hierarchical's bf16 combine rows are
# rounded twice, which the reference allows: docs/usage.md "Dispatch modes")
# with every balancer (EPLB rebalancing) on 2, 4 and 8 ranks, hierarchical on
# 2 nodes (--gpus-per-node np/2), half of the runs with --overlap tbo; bytes
# are whole rows of the named formats and the run allocates what `wideep mem`
# plans for the mode. Every (dtype pair, balancer) combination of each mode,
# 24 per mode (flat's 24 are tests/wire_dtypes.cmake's), each on one rank
# count: for pair index k and balancer index j, np = (2, 4, 8)[(k + j) % 3],
# so that each rank count meets every pair and every balancer; tbo where
# k + j is odd. Low-latency runs the MPI transport's header rows (no counts
# round) for even k, the default transport (auto: shm where a node holds two
# ranks or more, which sizes every receive) for odd k; hierarchical runs the
# default (np 2 on --gpus-per-node 1 resolves to mpi, 4 and 8 to shm).
set(MODES --backend mpi --experts 16 --tokens 32 --hidden 128 --ffn 64 --layers 2 --steps 4 --warmup 1
    --timeout-s 60 --quiet --workload zipf:1.2)
set(mode_pairs "fp32|fp32" "fp32|bf16" "bf16|fp32" "bf16|bf16" "fp8|fp32" "fp8|bf16")
set(mode_nps 2 4 8)
foreach(mode hierarchical low-latency)
  string(REPLACE "-" "_" mname "${mode}")
  set(k 0)
  foreach(pair ${mode_pairs})
    string(REPLACE "|" ";" dc "${pair}")
    list(GET dc 0 dd)
    list(GET dc 1 cd)
    set(j 0)
    foreach(bal none eplb lplb waterfill)
      math(EXPR npi "(${k} + ${j}) % 3")
      list(GET mode_nps ${npi} np)
      math(EXPR half "${np} / 2")
      set(nodes)
      if(mode STREQUAL "hierarchical")
        set(nodes --gpus-per-node ${half})
      endif()
      math(EXPR k_odd "${k} % 2")
      if(mode STREQUAL "low-latency" AND NOT k_odd)
        list(APPEND nodes --transport mpi)
      endif()
      wideep_balancer_args(${bal} ${np} extra jcheck)
      math(EXPR odd "(${k} + ${j}) % 2")
      set(tbo)
      set(tname)
      if(odd)
        set(tbo --overlap tbo)
        set(tname _tbo)
      endif()
      wideep_cli_test(NAME mode_${mname}_${dd}_${cd}_np${np}_${bal}${tname} NP ${np}
        ARGS run ${MODES} --dispatch-mode ${mode} ${nodes} --balancer ${bal} ${extra} ${tbo}
             --dispatch-dtype ${dd} --combine-dtype ${cd} --check --json @OUT@
        MATCH "check: passed .*limit 0.0001" JSON_CHECK wire=${dd}/${cd} memory ${jcheck})
      math(EXPR j "${j} + 1")
    endforeach()
    math(EXPR k "${k} + 1")
  endforeach()
endforeach()

# A corrupted row is caught under each mode (hierarchical: in its stage-1 row,
# forwarded as received; low-latency: in its single-pair row).
wideep_cli_test(NAME mode_hierarchical_fault_corrupt NP 4 RC 1
  ARGS run ${MODES} --dispatch-mode hierarchical --gpus-per-node 2 --combine-dtype bf16 --check --inject corrupt:1:2
  MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+" "check: FAILED")
wideep_cli_test(NAME mode_low_latency_fault_corrupt NP 4 RC 1
  ARGS run ${MODES} --dispatch-mode low-latency --check --inject corrupt:1:2
  MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+" "check: FAILED")

# Low-latency overflow: a region of --ll-max-tokens / R rows per (slot, source)
# that a hot expert exceeds is an error naming the expert, never a silent drop.
# (Regions per source are the MPI transport's header-row layout.)
wideep_cli_test(NAME mode_low_latency_overflow NP 2 RC 4
  ARGS run ${MODES} --transport mpi --dispatch-mode low-latency --ll-max-tokens 8 --workload hot:0.5 --check
  MATCH "--ll-max-tokens 8: expert [0-9]+ \\(rank [0-9]+, local slot [0-9]+, layer 0\\) would receive [0-9]+ rows from rank [0-9]+ at step 0, more than its region of 4 rows per source"
  NOMATCH "check: passed")
# ... and the worst case (the default) never overflows, even when every token picks the same experts.
wideep_cli_test(NAME mode_low_latency_default_holds_hot NP 4
  ARGS run ${MODES} --transport mpi --dispatch-mode low-latency --workload hot:1.0 --check --json @OUT@
  MATCH "check: passed .*limit 0.0001" JSON_CHECK memory)
# The shm transport sizes every receive: low-latency runs its counts round there.
wideep_cli_test(NAME mode_low_latency_shm NP 4
  ARGS run ${MODES} --dispatch-mode low-latency --transport shm --gpus-per-node 4 --dispatch-dtype fp8
       --combine-dtype bf16 --check --json @OUT@
  MATCH "check: passed .*limit 0.0001" JSON_CHECK wire=fp8/bf16 memory)
wideep_cli_test(NAME mode_hierarchical_shm_tbo NP 4
  ARGS run ${MODES} --dispatch-mode hierarchical --transport shm --gpus-per-node 2 --overlap tbo --check
       --json @OUT@
  MATCH "check: passed .*limit 0.0001" JSON_CHECK memory)
# --baseline times both stages (hierarchical) and the rows without headers (low-latency).
foreach(mode hierarchical low-latency)
  string(REPLACE "-" "_" mname "${mode}")
  wideep_cli_test(NAME mode_${mname}_baseline NP 4
    ARGS run ${MODES} --dispatch-mode ${mode} --gpus-per-node 2 --baseline --check --json @OUT@
    MATCH "check: passed" JSON_CHECK baseline memory)
endforeach()

# Bad input for the modes: exit 2 before any communication, the option named once.
wideep_bad_input_tests(PREFIX bad_mode NP 4 ONCE BASE run ${MODES} ENTRIES
  "unknown|--dispatch-mode ring|--dispatch-mode 'ring': unknown mode"
  "ll_without_mode|--ll-max-tokens 8|--ll-max-tokens sizes the low-latency buffers: it needs --dispatch-mode low-latency"
  "ll_with_hierarchical|--dispatch-mode hierarchical --ll-max-tokens 8|--ll-max-tokens sizes the low-latency buffers"
  "ll_negative|--dispatch-mode low-latency --ll-max-tokens -1|--ll-max-tokens must be >= 0"
  "ll_below_ranks|--dispatch-mode low-latency --ll-max-tokens 3|--ll-max-tokens 3 is split into one region per source rank: 3 / 4 ranks leaves 0 rows"
  "hier_partial_nodes|--dispatch-mode hierarchical --gpus-per-node 3|--gpus-per-node 3 does not divide")
