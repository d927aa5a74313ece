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
# --repeat N --perturb FRAC: consecutive instances, warm start timed against cold
# solves of the same instances (the command asserts they give the same copies).
wideep_cli_test(NAME lp_perturb ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_optimal_random.json --json
  --repeat 40 --perturb 0.1
  MATCH "\"lp_warm_kept\":(0\\.[0-9]+|1\\.0)" "\"cold_solve_us\":" "\"solve_us\":" "\"components\":1")
wideep_cli_test(NAME lp_perturb_rank_counts ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_rank_counts.json
  --repeat 20 --perturb 0.3 --ranks-per-node 1
  MATCH "warm median [0-9.]+ us, cold median [0-9.]+ us, warm start kept [0-9]+ %")
set(lp_bad_opts
  "repeat_zero|--repeat 0|--repeat: Value 0 not in range"
  "repeat_text|--repeat many|--repeat"
  "perturb_negative|--perturb -0.1|--perturb: Value -0.1 not in range"
  "perturb_above_one|--perturb 1.5|--perturb: Value 1.5 not in range"
  "perturb_text|--perturb lots|--perturb")
foreach(entry ${lp_bad_opts})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 opt)
  list(GET parts 2 msg)
  separate_arguments(opt)
  wideep_cli_test(NAME lp_bad_${name} RC 2 ARGS lp --input ${CMAKE_SOURCE_DIR}/tests/data/lp_good.json --json ${opt}
    MATCH "error: ${msg}" NOMATCH "max_load")
endforeach()
# The O(E + P) counts exchange (forced: at 8 ranks the R x E allgather is the
# smaller one and `auto` takes it), one node and two nodes of 4 ranks (the
# node step: per-slot node counts and the node scan), with waterfill moving
# shared experts, and over a topology's placement: realised loads equal the
# plan on every step and the outputs pass --check.
set(LPX --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1 --timeout-s 30 --quiet)
foreach(mode scan matrix)
  wideep_cli_test(NAME lp_exchange_${mode}_np8_two_nodes NP 8 ENV WIDEEP_LPLB_EXCHANGE=${mode}
    ARGS run ${LPX} --balancer eplb,lplb --redundant 16 --gpus-per-node 4 --eplb-interval 3 --eplb-window 4 --layers 2
         --workload zipf:1.2 --check --json @OUT@
    MATCH "check: passed" JSON_CHECK optimal rebalanced)
endforeach()
wideep_cli_test(NAME lp_exchange_scan_np8_one_node NP 8 ENV WIDEEP_LPLB_EXCHANGE=scan
  ARGS run ${LPX} --balancer lplb --redundant 8 --workload drift:1.2:3 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK optimal)
wideep_cli_test(NAME lp_exchange_scan_np8_waterfill NP 8 ENV WIDEEP_LPLB_EXCHANGE=scan
  ARGS run ${LPX} --balancer eplb,lplb,waterfill --shared-experts 1 --redundant 16 --gpus-per-node 2
       --eplb-interval 3 --workload zipf:1.2 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK optimal)
wideep_cli_test(NAME lp_exchange_scan_np8_cube NP 8 ENV WIDEEP_LPLB_EXCHANGE=scan
  ARGS run ${LPX} --balancer lplb --topology cube --redundant 16 --gpus-per-node 2 --workload drift:1.2:3
       --check --json @OUT@
  MATCH "check: passed" JSON_CHECK optimal)
