# wideep_cli_test(NAME n [NP ranks] [RC status] [TIMEOUT s] ARGS args... [MATCH regex...] [NOMATCH regex...] [LABELS l...])
# Runs build/wideep ARGS (under mpirun -np NP when NP is given) through tests/expect.sh,
# which asserts the exit status and that the output matches every MATCH regex
# (grep -E) and no NOMATCH regex. "@OUT@" in ARGS is the test's JSON lines file;
# JSON_CHECK names checks of tests/check_json.py to run on it afterwards.
set(WIDEEP_MPIRUN ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe
    --mca btl self,vader --mca btl_vader_single_copy_mechanism none CACHE INTERNAL "")
function(wideep_cli_test)
  cmake_parse_arguments(A "" "NAME;NP;RC;TIMEOUT" "ARGS;MATCH;NOMATCH;LABELS;JSON_CHECK" ${ARGN})
  if(NOT DEFINED A_RC)
    set(A_RC 0)
  endif()
  if(NOT DEFINED A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  set(cmd $<TARGET_FILE:wideep> ${A_ARGS})
  if(DEFINED A_NP)
    set(cmd ${WIDEEP_MPIRUN} -np ${A_NP} ${cmd})
    list(APPEND A_LABELS mpi)
  endif()
  set(expect_args)
  foreach(m ${A_MATCH})
    list(APPEND expect_args --match "${m}")
  endforeach()
  foreach(m ${A_NOMATCH})
    list(APPEND expect_args --nomatch "${m}")
  endforeach()
  foreach(m ${A_JSON_CHECK})
    list(APPEND expect_args --json-check "${m}")
  endforeach()
  add_test(NAME ${A_NAME}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc ${A_RC} ${expect_args} -- ${cmd}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS}"
                       ENVIRONMENT "WIDEEP_TEST_OUT=${CMAKE_BINARY_DIR}/test_out/${A_NAME}.jsonl;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endfunction()
