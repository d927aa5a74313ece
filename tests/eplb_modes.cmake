# How EPLB moves weights (issue 16, first part): chunked moves (SGLang's N layers
# per step; a layer switches placement at a step boundary once its weights
# arrived and passed their checksums, the others serve with the old one),
# re-plans skipped for too small a predicted gain, and the stall a user would
# see (gaps between step completions, rebalances included) on every run.
# --check holds on every step across every switch.
# --eplb-keep-within 0: every re-plan moves what it plans (these tests are of the moves, not of the keep)
set(EMODES --backend mpi --experts 32 --tokens 32 --hidden 64 --ffn 64 --layers 4 --steps 12 --warmup 1
    --timeout-s 60 --quiet --eplb-interval 4 --eplb-window 4 --eplb-keep-within 0)
# The same for asynchronous moves (transfers in the background while the
# steps go on; each chunk's layers switch at a step boundary once every
# rank's part arrived): every balancer with eplb, on 2, 4 and 8 ranks.
foreach(np 2 4 8)
  math(EXPR red "${np} * 2")
  foreach(bal eplb eplb,lplb eplb,waterfill)
    string(REPLACE "," "_" bname ${bal})
    set(extra --redundant ${red})
    if(bal MATCHES "waterfill")
      list(APPEND extra --shared-experts 1)
    endif()
    foreach(mode "chunked1|--eplb-layers-per-chunk 1|chunked=4" "async|--eplb-async|async")
      string(REPLACE "|" ";" m "${mode}")
      list(GET m 0 mname)
      list(GET m 1 margs)
      list(GET m 2 mcheck)
      separate_arguments(margs)
      wideep_cli_test(NAME eplb_${mname}_np${np}_${bname} NP ${np}
        ARGS run ${EMODES} --balancer ${bal} ${extra} ${margs} --check --json @OUT@
        MATCH "check: passed" JSON_CHECK ${mcheck} stall)
    endforeach()
  endforeach()
endforeach()
# Two layers per step, in the device configuration (bf16 mirrors refreshed as layers switch).
wideep_cli_test(NAME eplb_chunked2_np4_bf16 NP 4 LABELS devpath
  ARGS run ${EMODES} --dtype bf16 --balancer eplb,lplb --redundant 8 --eplb-layers-per-chunk 2 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK chunked=2 stall memory)
# A uniform load gains little from a re-plan: every one is skipped, nothing moves.
# (The first placement, slot i holding expert i % 32, gives ranks 0 and 3 the
# 8 copied experts' halves: predicted 8/10 = 0.8 of balance, so the first
# re-plan gains about 0.2 and the floor sits above it.)
wideep_cli_test(NAME eplb_min_gain_skips NP 4
  ARGS run ${EMODES} --workload uniform --balancer eplb --redundant 8 --eplb-min-gain 0.3 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK skipped stall)
# A skewed one gains more than the floor: re-plans go ahead.
wideep_cli_test(NAME eplb_min_gain_moves NP 4
  ARGS run ${EMODES} --workload zipf:1.5 --balancer eplb --redundant 8 --eplb-min-gain 0.01 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK rebalanced stall)
# A corrupted weight in a chunk fails its checksum.
wideep_cli_test(NAME eplb_chunked_corrupt_weights NP 2 RC 1
  ARGS run ${EMODES} --balancer eplb --redundant 4 --eplb-layers-per-chunk 1 --inject corrupt-weights:1
  MATCH "checksum mismatch")
set(bad_modes
  "chunk_negative|--balancer eplb --eplb-layers-per-chunk -1|--eplb-layers-per-chunk must be >= 0"
  "chunk_without_eplb|--balancer lplb --redundant 4 --eplb-layers-per-chunk 1|they need --balancer with eplb"
  "chunk_interval_short|--balancer eplb --eplb-layers-per-chunk 1 --eplb-interval 2|--eplb-interval must be at least that"
  "min_gain_range|--balancer eplb --eplb-min-gain 1.5|--eplb-min-gain must be in"
  "min_gain_not_number|--balancer eplb --eplb-min-gain x|--eplb-min-gain")
wideep_bad_input_tests(PREFIX bad_eplb_mode NP 2 ONCE BASE run ${EMODES} ENTRIES ${bad_modes})
# wideep sim models the EPLB modes (tests/sim.cmake: sim_eplb_*).
wideep_cli_test(NAME eplb_async_chunked1_np4_bf16 NP 4 LABELS devpath
  ARGS run ${EMODES} --dtype bf16 --balancer eplb,lplb --redundant 8 --eplb-async --eplb-layers-per-chunk 1
       --check --json @OUT@
  MATCH "check: passed" JSON_CHECK async stall memory)
wideep_cli_test(NAME eplb_async_corrupt_weights NP 2 RC 1
  ARGS run ${EMODES} --balancer eplb --redundant 4 --eplb-async --inject corrupt-weights:1:w2
  MATCH "checksum mismatch")
# A background wave that arrives late (issue 24): rank 1 posts its wave 3 step
# boundaries late (--inject hold-wave:1:3), so neither rank has it before the
# 4th boundary after the re-plan's: the layers keep the old placement until
# then (--check holds on every step; steps_to_complete >= 5 where it is 2
# unheld), and a corrupted late wave still fails its checksum. Switching once
# the last wave is posted, before it arrived (mutant eplb_async_switch_before_arrival),
# fails both: the first with "check failed" at the step after the early switch.
set(EHOLD ${EMODES} --steps 8 --timeout-s 30 --balancer eplb --redundant 4 --eplb-async --inject hold-wave:1:3)
wideep_cli_test(NAME eplb_async_late_wave_waits NP 2 WITHIN 60
  ARGS run ${EHOLD} --check --json @OUT@
  MATCH "check: passed" JSON_CHECK async_held=3)
wideep_cli_test(NAME eplb_async_late_wave_corrupt NP 2 RC 1 WITHIN 60
  ARGS run ${EHOLD} --inject corrupt-weights:1:w2
  MATCH "checksum mismatch")
wideep_bad_input_tests(PREFIX bad_eplb_async NP 2 ONCE BASE run ${EMODES} ENTRIES
  "without_eplb|--balancer lplb --redundant 4 --eplb-async|they need --balancer with eplb")
wideep_bad_input_tests(PREFIX bad_eplb_hold NP 2 ONCE BASE run ${EMODES} ENTRIES
  "sync|--balancer eplb --redundant 4 --inject hold-wave:1:2|--inject hold-wave holds a background weight wave: it needs --eplb-async")
