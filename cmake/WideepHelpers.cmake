# One helper per kind of target so that every layer is built and tested alike:
# sources are the *.cc (and *.cu) files of the folder; *_test.cc are GoogleTest
# units beside the code, *_bench.cc Google Benchmark programs, *_fuzz.cc libFuzzer targets,
# *_testing.cc support code the tests and benchmarks share (never in the library).

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

# wideep_unit_tests(NAME <exe> LIBS <deps...>): all *_test.cc of the folder in one
# GoogleTest binary, each TEST registered with CTest under the label "unit".
function(wideep_unit_tests)
  cmake_parse_arguments(A "" "NAME" "LIBS" ${ARGN})
  if(NOT WIDEEP_BUILD_TESTS)
    return()
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  if(NOT srcs)
    return()
  endif()
  add_executable(${A_NAME} ${srcs})
  target_link_libraries(${A_NAME} PRIVATE ${A_LIBS} GTest::gtest GTest::gtest_main)
  gtest_discover_tests(${A_NAME} PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
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
