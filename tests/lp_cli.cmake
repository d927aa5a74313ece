# wideep lp: the exact LPLB solve from a JSON file; good inputs print the
# contract fields, bad ones exit 2 with a message naming --input.
wideep_cli_test(NAME lp_json ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_good.json --json --repeat 3
  MATCH "\"max_load\":8" "\"lp_opt\":8\\.0" "\"copy_tokens\":\\[2,6,4,4\\]" "\"rank_loads\":\\[8,8\\]" "\"solve_us\":")
wideep_cli_test(NAME lp_rank_counts ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_rank_counts.json --json --ranks-per-node 1
  MATCH "\"max_load\":5" "\"lp_opt\":4\\.666666" "\"copy_tokens\":\\[5,")
wideep_cli_test(NAME lp_text ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_good.json
  MATCH "lp_opt 8\\.000000  max_load 8" NOMATCH "error")
wideep_cli_test(NAME lp_missing_file RC 2 ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_does_not_exist.json --json
  MATCH "--input FILE: cannot open")
foreach(bad divide expert negative nocopy missing malformed rank_counts counts_len)
  wideep_cli_test(NAME lp_bad_${bad} RC 2 ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_bad_${bad}.json --json
    MATCH "error: --input FILE: " NOMATCH "max_load")
endforeach()
