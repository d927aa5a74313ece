# Balancers in the step loop (issue 4): every balancer and combination with
# --check on zipf and drift workloads, rebalances mid-run, 1 and 2 layers,
# shared experts 0 and 1; exact LP loads every step; weight exchange bytes;
# corrupted transfers detected; bad input rejected.
set(BSMALL --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 8 --warmup 1 --timeout-s 30 --quiet
    --eplb-interval 3 --eplb-window 4)

set(combos "eplb" "lplb" "eplb,lplb" "eplb,waterfill" "lplb,waterfill" "eplb,lplb,waterfill" "waterfill")
foreach(np 4 8)
  math(EXPR red "${np} * 2")
  foreach(combo ${combos})
    foreach(wl zipf:1.2 drift:1.2:3)
      string(REPLACE "," "_" cname ${combo})
      string(REPLACE ":" "_" wname ${wl})
      set(shared 0)
      if(combo MATCHES "waterfill")
        set(shared 1)
      endif()
      # Alternate layer count and shared experts over the matrix to cover both.
      set(layers 2)
      if(wl MATCHES "drift")
        set(layers 1)
      endif()
      set(checks optimal)
      if(combo MATCHES "eplb")
        list(APPEND checks rebalanced)
      endif()
      wideep_cli_test(NAME bal_np${np}_${cname}_${wname} NP ${np}
        ARGS run ${BSMALL} --balancer ${combo} --workload ${wl} --layers ${layers}
             --redundant ${red} --shared-experts ${shared} --check --json @OUT@
        MATCH "check: passed" JSON_CHECK ${checks})
    endforeach()
  endforeach()
endforeach()

# Shared experts with a balancer that does not move them, and lplb over topologies.
wideep_cli_test(NAME bal_np4_eplb_lplb_shared1_L2 NP 4
  ARGS run ${BSMALL} --balancer eplb,lplb --redundant 8 --shared-experts 1 --layers 2 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK optimal rebalanced)
foreach(topo ring cube torus:2x4 full)
  string(REPLACE ":" "_" tname ${topo})
  set(red 16)
  if(topo STREQUAL ring)
    set(red 8)
  elseif(topo STREQUAL full)
    set(red 56)
  endif()
  wideep_cli_test(NAME bal_np8_lplb_${tname} NP 8
    ARGS run ${BSMALL} --balancer eplb,lplb --topology ${topo} --redundant ${red} --eplb-keep-within 0 --check --json @OUT@
    MATCH "check: passed" JSON_CHECK optimal rebalanced)
endforeach()

# The first placement from a `wideep plan` file.
wideep_cli_test(NAME bal_np4_init_placement NP 4
  ARGS run ${BSMALL} --balancer lplb --redundant 8 --layers 2
       --init-placement ${CMAKE_SOURCE_DIR}/tests/data/placement_4r_40s.json --check --json @OUT@
  MATCH "check: passed" JSON_CHECK optimal)

# A corrupted weight transfer is caught by the checksum, naming the slot.
wideep_cli_test(NAME bal_corrupt_weights_detected NP 4 RC 1
  ARGS run ${BSMALL} --balancer eplb --redundant 8 --inject corrupt-weights:2
  MATCH "rank 2: .*layer [0-9]+ slot [0-9]+ .*checksum mismatch")

set(bal_bad
  "redundant_not_divisible|--balancer eplb --redundant 6|--redundant 6 = 38 physical slots do not divide among 4 ranks"
  "topology_rank_count|--balancer lplb --topology cube --redundant 8|--topology"
  "topology_needs_lplb|--balancer eplb --topology ring --redundant 4|--topology lays out LPLB copies"
  "waterfill_no_shared|--balancer waterfill|--shared-experts >= 1"
  "init_placement_shape|--balancer lplb --redundant 4 --init-placement ${CMAKE_SOURCE_DIR}/tests/data/placement_4r_40s.json|--init-placement .* slots, the run has 36"
  "init_placement_missing|--init-placement /nonexistent/p.json|--init-placement /nonexistent/p.json: cannot open"
  "topology_file_bad|--balancer lplb --redundant 4 --topology file:${CMAKE_SOURCE_DIR}/tests/data/trace_malformed.json|--topology file:")
wideep_bad_input_tests(PREFIX bal_bad NP 4 BASE run ${BSMALL} ENTRIES ${bal_bad})
