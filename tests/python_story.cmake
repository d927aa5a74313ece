# The project's one Python (issue 29 item 5, docs/python.md "One Python"): the
# launch/*.py that README.md and docs/*.md name start, and the documented
# commands run, with a python3 first on PATH that fails ("foreign python") and
# typed as `python3 launch/...` with a python3 that has no numpy.
foreach(mode starts commands)
  add_test(NAME python_story_${mode}
    COMMAND bash ${CMAKE_SOURCE_DIR}/tests/python_story.sh ${mode} $<TARGET_FILE:wideep>
            ${CMAKE_BINARY_DIR}/test_out/python_story_${mode})
  set_tests_properties(python_story_${mode} PROPERTIES TIMEOUT 60 LABELS interop
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1")
endforeach()
