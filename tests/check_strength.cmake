# Tests that the checks catch what they promise (issue 15): a NaN in a
# dispatched row, a corrupted byte at the end of W2, the static copy rule in the
# simulator's consistency with the run, and LP optimality checked by an
# independent max-flow. Unit tests of the same issue: Reference.*, ExpertStore.*,
# Inject.*, Eplb.* floors. launch/mutate.sh keeps them honest (tests/mutants/).
set(CSMALL --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1 --timeout-s 30 --quiet)

# A NaN written into one dispatched activation must fail --check (a comparison
# `err > max` would let it through). Needs the runner to apply Fault::Kind::kNan
# in its row-fault function, like corrupt.
wideep_cli_test(NAME run_fault_nan_detected NP 4 RC 1
  ARGS run ${CSMALL} --check --inject nan:1:2
  MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+ .*max abs err inf" "check: FAILED")

# The last byte of a received slot (the end of W2) flipped: the checksum must
# cover the whole slot, not only W1 or its first bytes.
wideep_cli_test(NAME bal_corrupt_weights_w2_detected NP 4 RC 1
  ARGS run ${CSMALL} --balancer eplb --redundant 8 --eplb-interval 3 --eplb-window 4 --inject corrupt-weights:2:w2
  MATCH "rank 2: .*layer [0-9]+ slot [0-9]+ .*checksum mismatch")

set(cs_bad
  "inject_weights_part|--inject corrupt-weights:1:w3|expected corrupt-weights:RANK\\[:w1.w2\\], got 'w3'"
  "inject_nan_missing_step|--inject nan:1|expected nan:RANK:STEP")
wideep_bad_input_tests(PREFIX bad_run NP 4 ONCE BASE run ${CSMALL} ENTRIES ${cs_bad})

# The simulator against 8 MPI ranks with the static copy rule (balancers none
# and eplb: token i of expert e on rank r goes to copy (i + r) mod logcnt), the
# rule the LPLB consistency tests of sim.cmake never reach.
set(CS_SIM_CPU ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json)
add_test(NAME sim_consistency_8ranks_eplb_static
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep> ${CS_SIM_CPU} 8
          --experts 32 --topk 4 --tokens 48 --hidden 32 --ffn 64 --steps 8 --warmup 1 --seed 5
          --balancer eplb --redundant 16 --gpus-per-node 4 --eplb-interval 3 --eplb-window 4 --workload zipf:1.2)
add_test(NAME sim_consistency_4ranks_none_redundant
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep> ${CS_SIM_CPU} 4
          --experts 32 --topk 4 --tokens 48 --hidden 32 --ffn 64 --steps 6 --warmup 1 --seed 7
          --balancer none --redundant 8 --workload hot:0.1)
set_tests_properties(sim_consistency_8ranks_eplb_static sim_consistency_4ranks_none_redundant PROPERTIES
  TIMEOUT 180 LABELS "sim;mpi"
  ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")

# `wideep lp` claims the optimal max load: an independent max-flow in
# tests/check_json.py (lp_optimal=INPUT) computes the optimum and checks the split.
foreach(input lp_good lp_rank_counts lp_optimal_random)
  add_test(NAME lp_optimal_${input}
    COMMAND /bin/bash -c "mkdir -p \"$(dirname \"$2\")\" && \"$0\" lp --input \"$1\" --json > \"$2\" && python3 \"$3\" \"$2\" lp_optimal=\"$1\""
            $<TARGET_FILE:wideep> ${CMAKE_SOURCE_DIR}/tests/data/${input}.json
            ${CMAKE_BINARY_DIR}/test_out/lp_optimal_${input}.json ${CMAKE_SOURCE_DIR}/tests/check_json.py)
  set_tests_properties(lp_optimal_${input} PROPERTIES LABELS lp TIMEOUT 60)
endforeach()
