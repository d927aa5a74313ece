# One helper per kind of target so that every layer is built and tested alike:
# sources are the *.cc (and *.cu) files of the folder; *_test.cc are GoogleTest
# units beside the code, *_bench.cc Google Benchmark programs, *_fuzz.cc libFuzzer targets,
# *_testing.cc support code the tests and benchmarks share (never in the library).

# The environment every test of the sanitizer build runs with (issue 24):
# hwloc's PCI plugin (hwloc_pci.so, loaded by wideep's own topology discovery
# and by Open MPI's) made LeakSanitizer's tracer crash at exit on some
# machines, after every assertion had passed. hwloc 2.x skips a plugin named in
# HWLOC_PLUGINS_BLACKLIST; mpirun passes the variable on to its ranks. What
# this excludes, and which tests say so: docs/reliability.md "Sanitizers".
set(WIDEEP_SANITIZE_TEST_ENV "")
if(WIDEEP_SANITIZE)
  set(WIDEEP_SANITIZE_TEST_ENV "HWLOC_PLUGINS_BLACKLIST=hwloc_pci")
endif()

# wideep_sanitize_tests(): gives every test registered so far by add_test in
# the calling directory WIDEEP_SANITIZE_TEST_ENV (nothing outside the sanitizer
# build). tests/CMakeLists.txt calls it last; the CTest test
# sanitize_env_on_every_test checks that none was missed.
function(wideep_sanitize_tests)
  if(NOT WIDEEP_SANITIZE_TEST_ENV)
    return()
  endif()
  get_property(tests DIRECTORY PROPERTY TESTS)
  foreach(t ${tests})
    set_property(TEST ${t} APPEND PROPERTY ENVIRONMENT ${WIDEEP_SANITIZE_TEST_ENV})
  endforeach()
endfunction()

# wideep_layer(NAME <lib> [CUDA] LIBS <deps...>)
function(wideep_layer)
  cmake_parse_arguments(A "CUDA" "NAME" "LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER srcs EXCLUDE REGEX "_(test|bench|fuzz|testing)\\.cc$")
  if(A_CUDA AND WIDEEP_HAVE_CUDA)
    file(GLOB cu CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cu)
    list(APPEND srcs ${cu})
  endif()
  add_library(${A_NAME} STATIC ${srcs})
  target_link_libraries(${A_NAME} PUBLIC ${A_LIBS})
  set_target_properties(${A_NAME} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# wideep_testing(NAME <lib> LIBS <deps...>): the *_testing.cc of the folder, a
# library for its tests and benchmarks only.
function(wideep_testing)
  cmake_parse_arguments(A "" "NAME" "LIBS" ${ARGN})
  if(NOT WIDEEP_BUILD_TESTS AND NOT WIDEEP_BUILD_BENCH)
    return()
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_testing.cc)
  add_library(${A_NAME} STATIC ${srcs})
  target_link_libraries(${A_NAME} PUBLIC ${A_LIBS})
endfunction()

# wideep_unit_tests(NAME <exe> [DIRS <subfolders...>] LIBS <deps...>): all
# *_test.cc of the folder (or of the named subfolders) in one GoogleTest
# binary, each TEST registered with CTest under the label "unit" (with
# WIDEEP_SANITIZE_TEST_ENV in the sanitizer build).
function(wideep_unit_tests)
  cmake_parse_arguments(A "" "NAME" "DIRS;LIBS" ${ARGN})
  if(NOT WIDEEP_BUILD_TESTS)
    return()
  endif()
  set(globs ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(A_DIRS)
    list(TRANSFORM A_DIRS PREPEND ${CMAKE_CURRENT_SOURCE_DIR}/ OUTPUT_VARIABLE dirs)
    list(TRANSFORM dirs APPEND /*_test.cc OUTPUT_VARIABLE globs)
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${globs})
  if(NOT srcs)
    return()
  endif()
  add_executable(${A_NAME} ${srcs})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS} GTest::gtest GTest::gtest_main)
  set(env)
  if(WIDEEP_SANITIZE_TEST_ENV)
    set(env ENVIRONMENT ${WIDEEP_SANITIZE_TEST_ENV})
  endif()
  gtest_discover_tests(${A_NAME} PROPERTIES LABELS unit ${env} DISCOVERY_TIMEOUT 60)
endfunction()

# wideep_benchmarks(NAME <exe> LIBS <deps...>): all *_bench.cc of the folder in one program.
function(wideep_benchmarks)
  cmake_parse_arguments(A "" "NAME" "LIBS" ${ARGN})
  if(NOT WIDEEP_BUILD_BENCH)
    return()
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_bench.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${A_NAME} ${srcs})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS} benchmark::benchmark benchmark::benchmark_main)
endfunction()
