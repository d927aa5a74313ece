# wideep_cli_test(NAME n [NP ranks] [RC status] [TIMEOUT s] [GPU] ARGS args... [MATCH regex...] [NOMATCH regex...] [LABELS l...])
# Runs build/wideep ARGS (under mpirun -np NP when NP is given) through tests/expect.sh,
# which asserts the exit status and that the output matches every MATCH regex
# (grep -E) and no NOMATCH regex. "@OUT@" in ARGS is the test's JSON lines file;
# JSON_CHECK names checks of tests/check_json.py to run on it afterwards.
# WITHIN s fails the test when the command takes longer than s seconds (faults:
# nothing hangs); ENV adds VAR=value pairs to the test's environment; ONCE
# regexes must match exactly one line of the output.
# Open MPI's defaults otherwise, single copy through CMA included (turning it
# off made large messages 4.5x slower, issue 12); where a container forbids
# process_vm_readv, export OMPI_MCA_btl_vader_single_copy_mechanism=none.
set(WIDEEP_MPIRUN ${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe
    --mca btl self,vader CACHE INTERNAL "")
# For runs every rank of which ends by itself with exit 2 (bad input): Open MPI
# 4.1 otherwise sleeps 1 s (2 s at -np 1) after a non-zero exit before it
# SIGKILLs ranks that are already gone, which was ~1.5 s of each of ~170 such
# tests. Not for fault tests: a 0 here SIGKILLs survivors mid-way through
# their SIGTERM report.
set(WIDEEP_MPIRUN_BAD_INPUT ${WIDEEP_MPIRUN} --mca odls_base_sigkill_timeout 0 CACHE INTERNAL "")
function(wideep_cli_test)
  cmake_parse_arguments(A "GPU" "NAME;NP;RC;TIMEOUT;WITHIN" "ARGS;MATCH;NOMATCH;LABELS;JSON_CHECK;ENV;ONCE" ${ARGN})
  if(NOT DEFINED A_RC)
    set(A_RC 0)
  endif()
  if(NOT DEFINED A_TIMEOUT)
    set(A_TIMEOUT 120)
  endif()
  set(cmd $<TARGET_FILE:wideep> ${A_ARGS})
  if(DEFINED A_NP AND A_RC STREQUAL "2")
    set(cmd ${WIDEEP_MPIRUN_BAD_INPUT} -np ${A_NP} ${cmd})
    list(APPEND A_LABELS mpi)
  elseif(DEFINED A_NP)
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
  foreach(m ${A_ONCE})
    list(APPEND expect_args --once "${m}")
  endforeach()
  if(DEFINED A_WITHIN)
    list(APPEND expect_args --within ${A_WITHIN})
  endif()
  set(skip_prefix)
  if(A_GPU)
    set(skip_prefix bash ${CMAKE_SOURCE_DIR}/tests/gpu_or_skip.sh ${WIDEEP_HAVE_CUDA})
    list(APPEND A_LABELS gpu)
  endif()
  add_test(NAME ${A_NAME}
           COMMAND ${skip_prefix} bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc ${A_RC} ${expect_args} -- ${cmd}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  if(A_GPU)
    set_tests_properties(${A_NAME} PROPERTIES SKIP_RETURN_CODE 77)
  endif()
  set(env "WIDEEP_TEST_OUT=${CMAKE_BINARY_DIR}/test_out/${A_NAME}.jsonl;OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
  list(APPEND env ${A_ENV})
  set_tests_properties(${A_NAME} PROPERTIES TIMEOUT ${A_TIMEOUT} LABELS "${A_LABELS}" ENVIRONMENT "${env}")
endfunction()

# wideep_bad_input_tests(PREFIX p NP n [ONCE] BASE args... ENTRIES "name|args|message regex" ...)
# One test per entry: exit 2, the message, and no table (nothing ran). ONCE:
# the message "error: ..." on exactly one line (every rank reaches the verdict,
# one prints it), within 60 s, and no rank reached a wait (no timeout, no kill).
# The run arguments a balancer of the --check matrices needs on NP ranks
# (EPLB re-planning every 2 steps, 2 redundant slots per rank for EPLB and
# LPLB, a shared expert for waterfill) into ARGS_VAR, and the JSON check that
# proves it acted (EPLB: rebalanced) into CHECK_VAR.
function(wideep_balancer_args bal np args_var check_var)
  math(EXPR red "${np} * 2")
  set(args)
  set(check)
  if(bal STREQUAL "eplb")
    set(args --redundant ${red} --eplb-interval 2 --eplb-window 2)
    set(check rebalanced)
  elseif(bal STREQUAL "lplb")
    set(args --redundant ${red})
  elseif(bal STREQUAL "waterfill")
    set(args --shared-experts 1)
  endif()
  set(${args_var} ${args} PARENT_SCOPE)
  set(${check_var} ${check} PARENT_SCOPE)
endfunction()

function(wideep_bad_input_tests)
  cmake_parse_arguments(A "ONCE" "PREFIX;NP" "BASE;ENTRIES" ${ARGN})
  foreach(entry ${A_ENTRIES})
    string(REPLACE "|" ";" parts "${entry}")
    list(GET parts 0 name)
    list(GET parts 1 args)
    list(GET parts 2 msg)
    separate_arguments(args)
    if(A_ONCE)
      wideep_cli_test(NAME ${A_PREFIX}_${name} NP ${A_NP} RC 2 WITHIN 60 ARGS ${A_BASE} ${args}
                      ONCE "error: .*${msg}" NOMATCH "step p50" "timeout after" "terminated by signal")
    else()
      wideep_cli_test(NAME ${A_PREFIX}_${name} NP ${A_NP} RC 2 ARGS ${A_BASE} ${args} MATCH "${msg}"
                      NOMATCH "step p50")
    endif()
  endforeach()
endfunction()
