# Issue 26: launch/torch_moe_ref.py (the PyTorch layer of the roofline stage)
# computes what wideep computes: on the CPU it recomputes a layer that
# `wideep run --check --dump-layer` wrote and agrees with the reference and
# the run's output; a changed routing makes it fail. Seconds each.
foreach(c agrees detects)
  add_test(NAME torch_ref_${c}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/torch_ref_check.sh $<TARGET_FILE:wideep> ${c})
  set_tests_properties(torch_ref_${c} PROPERTIES TIMEOUT 60 LABELS "roofline" SKIP_RETURN_CODE 77
                       ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()
