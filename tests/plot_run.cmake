# launch/plot_run.py's options (issue 24: -o is --out, as plotting tools take
# it): parsed alike everywhere; drawn with -o by the project's Python (issue 29
# item 5: no skip where the python3 on PATH lacks matplotlib).
foreach(mode parse draw)
  add_test(NAME plot_run_short_out_${mode}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/plot_run_out.sh ${mode} $<TARGET_FILE:wideep> ${CMAKE_BINARY_DIR}/test_out/plot_run)
  set_tests_properties(plot_run_short_out_${mode} PROPERTIES TIMEOUT 60 LABELS interop
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()
