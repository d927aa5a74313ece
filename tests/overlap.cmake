# Two-batch overlap (issue 16): each layer's tokens in two micro-batches, one's
# exchange in flight while the other's experts run. --check holds on every
# step for every balancer, with EPLB re-plans (synchronous and asynchronous)
# on 2, 4 and 8 ranks; the summary reports the time hidden.
set(TBO --backend mpi --experts 32 --tokens 48 --hidden 64 --ffn 64 --layers 2 --steps 8 --warmup 1
    --timeout-s 60 --quiet --eplb-interval 3 --eplb-window 3 --overlap tbo)
foreach(np 2 4 8)
  math(EXPR red "${np} * 2")
  foreach(bal none eplb lplb eplb,lplb eplb,waterfill)
    string(REPLACE "," "_" bname ${bal})
    set(extra)
    if(bal MATCHES "lplb|eplb")
      list(APPEND extra --redundant ${red})
    endif()
    if(bal MATCHES "waterfill")
      list(APPEND extra --shared-experts 1)
    endif()
    wideep_cli_test(NAME tbo_np${np}_${bname} NP ${np}
      ARGS run ${TBO} --balancer ${bal} ${extra} --check --json @OUT@
      MATCH "check: passed" JSON_CHECK tbo)
  endforeach()
  wideep_cli_test(NAME tbo_async_np${np} NP ${np}
    ARGS run ${TBO} --balancer eplb,lplb --redundant ${red} --eplb-async --eplb-layers-per-chunk 1 --check
         --json @OUT@
    MATCH "check: passed" JSON_CHECK async)
endforeach()
# An uneven split, and the device configuration on the CPU (bf16), faults still caught.
wideep_cli_test(NAME tbo_split_np4 NP 4 ARGS run ${TBO} --tbo-split 0.25 --balancer lplb --redundant 8 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK tbo)
wideep_cli_test(NAME tbo_bf16_np4 NP 4 LABELS devpath
  ARGS run ${TBO} --dtype bf16 --balancer eplb,lplb --redundant 8 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK tbo)
wideep_cli_test(NAME tbo_corrupt_caught NP 2 RC 1
  ARGS run ${TBO} --check --inject corrupt:1:3
  MATCH "rank 1: check failed at step 3 layer 0" "check: FAILED")
set(bad_tbo
  "overlap_unknown|--overlap dbo|--overlap 'dbo': unknown overlap"
  "split_range|--overlap tbo --tbo-split 1.0|--tbo-split must be in .0, 1."
  "split_without_tbo|--tbo-split 0.3|it needs --overlap tbo"
  "tbo_one_token|--overlap tbo --tokens 1|it needs --tokens >= 2"
  "tbo_phase_barrier|--overlap tbo --phase-barrier|would separate the phases it overlaps"
  "tbo_baseline|--overlap tbo --baseline|would separate the phases it overlaps")
wideep_bad_input_tests(PREFIX bad_tbo NP 2 ONCE BASE run --backend mpi --experts 32 --tokens 48 --hidden 64 --ffn 64
  --steps 2 ENTRIES ${bad_tbo})
