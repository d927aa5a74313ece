# The cap on experts moved per EPLB re-plan (--eplb-max-moves, issue 29 item
# 10): in the sim every rebalance moves at most the cap and balancedness climbs;
# a 4-rank --check run with the cap realises its plan exactly. The cases and
# their arithmetic: tests/eplb_cap_checks.py; the greedy: balance/eplb_move_cap_test.cc.
set(EPLB_CAP_MPI "${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe --mca btl self,vader -np")
foreach(c sim check)
  add_test(NAME eplb_cap_${c}
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/eplb_cap_checks.py $<TARGET_FILE:wideep> ${EPLB_CAP_MPI} ${c}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(eplb_cap_${c} PROPERTIES TIMEOUT 120 LABELS "eplb"
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endforeach()
set_tests_properties(eplb_cap_sim PROPERTIES LABELS "eplb;sim")
set_tests_properties(eplb_cap_check PROPERTIES LABELS "eplb;mpi")
# Bad values: exit 2, one message naming the option, on run (every rank alike) and sim.
set(EPLB_CAP_BAD --backend mpi --experts 16 --topk 4 --tokens 16 --hidden 16 --ffn 32 --steps 1 --warmup 0
    --timeout-s 5 --balancer eplb)
wideep_bad_input_tests(PREFIX bad_eplb_cap NP 2 ONCE BASE run ${EPLB_CAP_BAD} ENTRIES
  "negative|--eplb-max-moves -1|--eplb-max-moves must be >= 0 \\(0: no cap\\), not -1"
  "fraction|--eplb-max-moves 1.5|--eplb-max-moves = 1.5")
wideep_bad_input_tests(PREFIX sim_bad_eplb_cap BASE sim --ranks 4 --profile ${CMAKE_SOURCE_DIR}/launch/profiles/h100_nvlink_8x.json
  --experts 16 --topk 4 --tokens 16 --hidden 128 --ffn 64 --steps 1 --warmup 0 --balancer eplb ENTRIES
  "negative|--eplb-max-moves -3|--eplb-max-moves must be >= 0 \\(0: no cap\\), not -3"
  "text|--eplb-max-moves many|--eplb-max-moves = many")
