# The device path's configuration run on the CPU (issue 17; DESIGN.md "Runner"):
# the one step pipeline with the host kernel backend and --dtype bf16 — bf16
# wire rows, bf16 rounding wherever the device stores bf16, bf16 weight mirrors
# refreshed after EPLB moves, receive buffers sized by the memory plan and
# grown by the steps — under mpirun -np 1, 2, 4, 8, for every balancer, with
# rebalances mid-run, every step checked against the reference within the
# bf16 bound (2^-5 of the output's scale: runtime/step/moe_pipeline.cc check_limit).
# Label: devpath. What only a GPU can show runs in launch/gpu_run.sh.
# --transport mpi: NCCL moves whole rows, as the MPI transport does (with
# --backend nccl, --transport auto is mpi); shm's rows read in place are not
# the device path's.
set(DEVPATH --backend mpi --transport mpi --dtype bf16 --experts 32 --tokens 32 --hidden 64 --ffn 64 --layers 2 --steps 8
    --warmup 1 --timeout-s 60 --quiet --eplb-interval 3 --eplb-window 3)
foreach(np 1 2 4 8)
  math(EXPR red "${np} * 2")
  foreach(bal none eplb lplb eplb,lplb eplb,waterfill)
    string(REPLACE "," "_" bname ${bal})
    set(extra --redundant ${red})
    set(checks dtype=bf16 memory)
    if(bal MATCHES "waterfill")
      list(APPEND extra --shared-experts 1)
    endif()
    if(bal MATCHES "lplb|waterfill")
      list(APPEND checks optimal)
    endif()
    if(bal MATCHES "eplb")
      list(APPEND checks rebalanced)
      list(APPEND extra --eplb-keep-within 0)  # re-plans move weights even where they gain little (1 rank)
    endif()
    wideep_cli_test(NAME devpath_np${np}_${bname} NP ${np} LABELS devpath
      ARGS run ${DEVPATH} --balancer ${bal} ${extra} --check --json @OUT@
      MATCH "check: passed .*limit 0.0312 for bf16" JSON_CHECK ${checks})
  endforeach()
endforeach()

# A hot expert: one rank receives far more than the plan's balanced capacity,
# so its buffers grow in the step (outside the phase times) and it still checks.
wideep_cli_test(NAME devpath_np4_hot_grows NP 4 LABELS devpath
  ARGS run ${DEVPATH} --workload hot:0.9 --check --json @OUT@
  MATCH "check: passed")
# More ranks than pairs per token (R > P): the balanced receive capacity is
# below the worst case, so the hot rank's rows grow after the counts round.
wideep_cli_test(NAME devpath_np8_topk2_hot_grows NP 8 LABELS devpath
  ARGS run ${DEVPATH} --topk 2 --workload hot:0.9 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK memory)
# Faults on the device configuration: the row-fault function on bf16 rows.
foreach(fault drop misroute corrupt nan)
  wideep_cli_test(NAME devpath_np2_fault_${fault} NP 2 RC 1 LABELS devpath
    ARGS run ${DEVPATH} --check --inject ${fault}:1:2
    MATCH "rank 1: check failed at step 2 layer 0 token [0-9]+")
endforeach()
