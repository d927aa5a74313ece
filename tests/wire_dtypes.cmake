# Wire dtypes (issue 12): --dispatch-dtype fp32|bf16|fp8 x --combine-dtype
# fp32|bf16 pass --check at its fp32 limit (1e-4: the reference quantizes its
# input as the wire does, and allows bf16 combine rows their rounding bound),
# with every balancer (rebalances included) on 2, 4 and 8 ranks; every run's
# bytes are whole rows of the named formats (check_json.py wire=D/C) and it
# allocates what `wideep mem` plans for them (memory).
# 24 runs, not 72: for np index i and balancer index j, the dtype pairs
# (2i + j) % 6 and (2i + j + 3) % 6, so that every balancer meets all six
# pairs over the three rank counts, and every rank count all six over the
# four balancers. The first pair of each runs on the default transport (auto:
# shm on one node), the second on --transport mpi: every balancer and rank
# count meets both, and so does every pair.
set(WIRE --backend mpi --experts 16 --tokens 32 --hidden 128 --ffn 64 --layers 2 --steps 6 --warmup 1
    --timeout-s 60 --quiet --workload zipf:1.2)
set(wire_pairs "fp32|fp32" "fp32|bf16" "bf16|fp32" "bf16|bf16" "fp8|fp32" "fp8|bf16")
set(i 0)
foreach(np 2 4 8)
  set(j 0)
  foreach(bal none eplb lplb waterfill)
    wideep_balancer_args(${bal} ${np} extra jcheck)
    math(EXPR a "(2 * ${i} + ${j}) % 6")
    math(EXPR b "(2 * ${i} + ${j} + 3) % 6")
    foreach(k ${a} ${b})
      set(transport)
      if(k EQUAL b)
        set(transport --transport mpi)
      endif()
      list(GET wire_pairs ${k} pair)
      string(REPLACE "|" ";" dc "${pair}")
      list(GET dc 0 dd)
      list(GET dc 1 cd)
      wideep_cli_test(NAME wire_${dd}_${cd}_np${np}_${bal} NP ${np}
        ARGS run ${WIRE} --balancer ${bal} ${extra} ${transport} --dispatch-dtype ${dd} --combine-dtype ${cd} --check --json @OUT@
        MATCH "check: passed .*limit 0.0001" JSON_CHECK wire=${dd}/${cd} memory ${jcheck})
    endforeach()
    math(EXPR j "${j} + 1")
  endforeach()
  math(EXPR i "${i} + 1")
endforeach()
# The device configuration on the host (bf16 compute) with an fp8 wire: its own limit.
wideep_cli_test(NAME wire_fp8_bf16_np4_bf16_compute NP 4 LABELS devpath
  ARGS run ${WIRE} --dtype bf16 --balancer eplb,lplb --redundant 8 --eplb-interval 2 --eplb-window 2
       --dispatch-dtype fp8 --combine-dtype bf16 --check --json @OUT@
  MATCH "check: passed .*limit 0.0312" JSON_CHECK wire=fp8/bf16 dtype=bf16 memory rebalanced)
# `auto` is the run's dtype.
wideep_cli_test(NAME wire_auto_is_the_run_dtype NP 2
  ARGS run ${WIRE} --dtype bf16 --json @OUT@ NOMATCH "error" JSON_CHECK wire=bf16/bf16)
# Faults on fp8 rows: a NaN code, corrupted codes, a dropped pair fail the check
# (the scale stays intact: the check sees the fault, not a lucky rescale).
foreach(f nan corrupt drop)
  wideep_cli_test(NAME wire_fp8_fault_${f} NP 2 RC 1
    ARGS run ${WIRE} --dispatch-dtype fp8 --combine-dtype bf16 --check --inject ${f}:1:2
    MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+")
endforeach()
# Bad wire dtypes: exit 2 before any communication, the option named once.
wideep_bad_input_tests(PREFIX bad_wire NP 2 ONCE BASE run ${WIRE} ENTRIES
  "combine_fp8|--combine-dtype fp8|--combine-dtype fp8: combined rows are sums"
  "fp8_hidden_200|--dispatch-dtype fp8 --hidden 200|--dispatch-dtype fp8 scales each 128 channels: --hidden 200"
  "dispatch_unknown|--dispatch-dtype foo|--dispatch-dtype 'foo': unknown dtype"
  "combine_unknown|--combine-dtype fp16|--combine-dtype 'fp16': unknown dtype")
