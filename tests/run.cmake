# Multi-rank tests of `wideep run` (issue 2): --check on 1, 2, 4 and 8 ranks for
# each workload and layer count; injected faults must fail the check; bad input
# must give exit 2 with a message naming the option, on every rank alike.
# The MPI transport and the default (--transport auto: shm on one node) are
# both covered: one layer on --transport mpi, two on the default.
set(SMALL --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1 --timeout-s 30 --quiet)

foreach(np 1 2 4 8)
  foreach(wl uniform zipf:1.2 hot:0.1)
    foreach(layers 1 2)
      string(REPLACE ":" "_" wl_name ${wl})
      set(transport)
      if(layers EQUAL 1)
        set(transport --transport mpi)
      endif()
      wideep_cli_test(NAME run_check_np${np}_${wl_name}_L${layers} NP ${np}
        ARGS run ${SMALL} --layers ${layers} --workload ${wl} ${transport} --check --json @OUT@
        MATCH "check: passed")
    endforeach()
  endforeach()
endforeach()

# The summary line holds every contract field (DESIGN.md).
wideep_cli_test(NAME run_json_contract NP 8
  ARGS run ${SMALL} --workload zipf:1.2 --check --baseline --json @OUT@
  MATCH "check: passed" JSON_CHECK contract baseline dtype=fp32)

# A dropped, duplicated, misrouted or corrupted token must fail the check and
# name the token: drop and misroute on --transport mpi, the others on the default.
foreach(fault drop dup misroute corrupt)
  set(transport)
  if(fault STREQUAL "drop" OR fault STREQUAL "misroute")
    set(transport --transport mpi)
  endif()
  wideep_cli_test(NAME run_fault_${fault}_detected NP 4 RC 1
    ARGS run ${SMALL} ${transport} --check --inject ${fault}:1:2
    MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+" "check: FAILED")
endforeach()

# Bad input: exit 2, one message naming the option, before any communication.
set(bad_inputs
  "experts_not_divisible|--experts 30|--experts 30 \\+ --redundant 0 = 30 physical slots do not divide among 4 ranks"
  "topk_above_experts|--topk 40|--topk 40 exceeds --experts"
  "zero_tokens|--tokens 0|--tokens must be positive"
  "negative_hidden|--hidden -4|--hidden must be positive"
  "zero_layers|--layers 0|--layers must be positive"
  "unknown_workload|--workload pareto:1|--workload 'pareto:1': unknown workload"
  "bad_zipf|--workload zipf:abc|--workload zipf:S"
  "unknown_balancer|--balancer magic|unknown balancer 'magic'"
  "unknown_option|--expertz 4|--expertz"
  "missing_trace|--workload trace:/nonexistent.json|trace:/nonexistent.json: cannot open"
  "malformed_trace|--workload trace:${CMAKE_SOURCE_DIR}/tests/data/trace_malformed.json|not valid JSON"
  "short_trace|--experts 16 --topk 4 --workload trace:${CMAKE_SOURCE_DIR}/launch/traces/example_topk.json --steps 500|the run needs 501"
  "bad_inject|--inject drop:9:1|rank 9 does not exist")
wideep_bad_input_tests(PREFIX run_bad NP 4 BASE run ${SMALL} ENTRIES ${bad_inputs})

# Trace replay from the shipped example (top-k ids and per-expert counts).
wideep_cli_test(NAME run_trace_topk NP 2
  ARGS run --backend mpi --experts 16 --topk 4 --tokens 32 --hidden 32 --ffn 64 --layers 2 --steps 6 --warmup 1 --quiet
       --workload trace:${CMAKE_SOURCE_DIR}/launch/traces/example_topk.json --check
  MATCH "check: passed")
wideep_cli_test(NAME run_trace_counts NP 2
  ARGS run --backend mpi --experts 16 --topk 4 --tokens 32 --hidden 32 --ffn 64 --layers 2 --steps 6 --warmup 1 --quiet
       --workload trace:${CMAKE_SOURCE_DIR}/launch/traces/example_counts.json --check
  MATCH "check: passed")
