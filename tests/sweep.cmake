# launch/sweep.py (issue 29 item 7): a 2x2 grid of `wideep sim` checked row by
# row against the points and a direct sim of two of them, drawn to a PNG; and
# its bad input (exit 2, one message naming the option, before any point runs).
add_test(NAME sweep_grid_csv_and_plot
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/sweep_check.py $<TARGET_FILE:wideep>
          ${CMAKE_BINARY_DIR}/test_out/sweep)
set_tests_properties(sweep_grid_csv_and_plot PROPERTIES TIMEOUT 60 LABELS sim)
set(SWEEP ${CMAKE_SOURCE_DIR}/launch/sweep.py --build $<TARGET_FILE_DIR:wideep> --out ${CMAKE_BINARY_DIR}/test_out/sweep_bad/s.csv)
add_test(NAME sweep_bad_no_ranks
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "--ranks: required" -- ${SWEEP} --tokens 8,16)
add_test(NAME sweep_bad_own_option
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "--json: the sweep sets it" --
          ${SWEEP} --ranks 8 --json x.jsonl)
add_test(NAME sweep_bad_plot_column
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "--plot p51: not a column" --
          ${SWEEP} --plot p51 --x ranks --ranks 8,16)
# 16 experts on 6 ranks: the sim refuses the point, the sweep stops there with its status.
add_test(NAME sweep_bad_point
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "point 2/2 \\(ranks=6\\) failed with exit 2"
          --match "do not divide among 6 ranks" -- ${SWEEP} --ranks 8,6 --experts 16 --topk 2 --tokens 8 --hidden 16 --ffn 16 --layers 1 --steps 2)
set_tests_properties(sweep_bad_no_ranks sweep_bad_own_option sweep_bad_plot_column sweep_bad_point
  PROPERTIES TIMEOUT 30 LABELS sim)
# The LPLB study's --repeat (issue 32): at least one run per configuration,
# rejected before any point runs (nothing is written under --out).
add_test(NAME lplb_study_bad_repeat
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "--repeat 0: needs at least 1 run" --
          /usr/bin/python3 ${CMAKE_SOURCE_DIR}/launch/studies/lplb_study.py --repeat 0
          --build $<TARGET_FILE_DIR:wideep> --out ${CMAKE_BINARY_DIR}/test_out/lplb_study_bad)
set_tests_properties(lplb_study_bad_repeat PROPERTIES TIMEOUT 30 LABELS sim)
