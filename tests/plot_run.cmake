# launch/plot_run.py's options (issue 24: -o is --out, as plotting tools take
# it): parsed alike everywhere; drawn with -o where matplotlib is installed
# (CTest SKIP elsewhere, never a pass).
foreach(mode parse draw)
  add_test(NAME plot_run_short_out_${mode}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/plot_run_out.sh ${mode} $<TARGET_FILE:wideep> ${CMAKE_BINARY_DIR}/test_out/plot_run)
  set_tests_properties(plot_run_short_out_${mode} PROPERTIES TIMEOUT 60 LABELS interop SKIP_RETURN_CODE 77
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()
