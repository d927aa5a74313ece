# `wideep sim`'s progress line (issue 29 item 8): drawn and erased on a
# terminal, absent where stderr is a pipe or with --quiet, the table unchanged
# (tests/sim_progress.py); and `sim --help` says what `auto` wire dtypes are
# in the sim (fp32, runtime/sim/sim_modes.cc), not the run's --dtype.
foreach(c pty pipe quiet)
  add_test(NAME sim_progress_${c}
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/sim_progress.py $<TARGET_FILE:wideep> ${c}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(sim_progress_${c} PROPERTIES TIMEOUT 60 LABELS sim)
endforeach()
wideep_cli_test(NAME sim_help_auto_dtype LABELS sim ARGS sim --help
  MATCH "--dispatch-dtype.*auto \\(fp32: the sim has no --dtype" "--combine-dtype.*auto \\(fp32: the sim has no --dtype"
  NOMATCH "the run's --dtype")
