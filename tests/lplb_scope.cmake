# --lplb-scope node|global and --lplb-auto on|off (issue 32) on real ranks: 8
# ranks as 2 nodes of 4, every balancer combination with lplb, --check every
# step. Under WIDEEP_LPLB_EXCHANGE=matrix every rank knows every node's plan, so
# each rank's realised load is compared with the plan on every step (lplb=
# check: 8 ranks x 2 layers planned, 0 mismatches); the node scope's own
# exchange (counts inside the node only) is checked for correct tokens.
set(LSMALL --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 6 --warmup 1 --timeout-s 30 --quiet
    --eplb-interval 3 --eplb-window 3 --layers 2 --redundant 16 --gpus-per-node 4 --workload noise:0.7)
foreach(combo "lplb" "eplb,lplb" "lplb,waterfill" "eplb,lplb,waterfill")
  string(REPLACE "," "_" cname ${combo})
  set(shared 0)
  if(combo MATCHES "waterfill")
    set(shared 1)
  endif()
  foreach(scope node global)
    foreach(auto on off)
      wideep_cli_test(NAME lplb_np8_${cname}_${scope}_${auto} NP 8 ENV WIDEEP_LPLB_EXCHANGE=matrix
        ARGS run ${LSMALL} --balancer ${combo} --shared-experts ${shared} --lplb-scope ${scope} --lplb-auto ${auto}
             --check --json @OUT@
        MATCH "check: passed" JSON_CHECK lplb=${scope}:${auto}:16)
    endforeach()
  endforeach()
endforeach()
# The node scope's own exchange: only the node's counts; a rank cannot know the
# other nodes' plans (load_planned 0), the tokens are checked.
foreach(auto on off)
  wideep_cli_test(NAME lplb_np8_eplb_lplb_node_exchange_${auto} NP 8
    ARGS run ${LSMALL} --balancer eplb,lplb --lplb-scope node --lplb-auto ${auto} --check --json @OUT@
    MATCH "check: passed" JSON_CHECK lplb=node:${auto}:0)
endforeach()
# EplbManager hands each re-plan to the routers' forecast: its time is in the
# rebalance lines (the choices it makes are compared with the sim's in
# sim_consistency_8ranks*).
wideep_cli_test(NAME lplb_np8_forecast_ran NP 8
  ARGS run ${LSMALL} --balancer eplb,lplb --json @OUT@ JSON_CHECK forecast=ran)
set(lplb_bad
  "scope_unknown|--balancer lplb --redundant 4 --lplb-scope nodes|--lplb-scope 'nodes': unknown scope"
  "auto_unknown|--balancer lplb --redundant 4 --lplb-auto maybe|--lplb-auto 'maybe': unknown value"
  "scope_needs_lplb|--balancer eplb --redundant 4 --lplb-scope node|--lplb-scope shapes LPLB's per-step solve: it needs --balancer with lplb"
  "auto_needs_lplb|--lplb-auto off|--lplb-auto shapes LPLB's per-step solve: it needs --balancer with lplb"
  "noise_sigma|--workload noise:5|--workload noise:SIGMA needs 0 <= SIGMA <= 4"
  "noise_form|--workload noise|--workload 'noise': expected noise:SIGMA")
wideep_bad_input_tests(PREFIX lplb_bad NP 4 ONCE BASE run ${LSMALL} ENTRIES ${lplb_bad})
wideep_bad_input_tests(PREFIX lplb_bad_sim BASE sim --profile ${CMAKE_SOURCE_DIR}/launch/profiles/h100_nvlink_8x.json --ranks 8 --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 2
  --warmup 1 --quiet ENTRIES
  "scope_unknown|--balancer lplb --redundant 8 --lplb-scope all|--lplb-scope 'all': unknown scope")
