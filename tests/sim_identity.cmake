# Run/sim byte identity (issue 12): at 8 ranks as 2 nodes of 4, `mpirun -np 8
# wideep run` and `wideep sim --ranks 8` report identical dispatch/combine bytes
# per link class (remote, cross-node) on every step and in the summary, for
# every dispatch mode and wire dtype (tests/sim_identity.py; it also checks that
# both sides report the mode and dtypes asked for).
set(SIM_IDENTITY_SHAPE --gpus-per-node 4 --experts 32 --topk 4 --tokens 32 --hidden 128 --ffn 128 --layers 2
    --steps 3 --warmup 1 --balancer eplb,lplb --redundant 8 --eplb-interval 2 --seed 5)
# NAME|options
set(sim_identity_cases
  "flat_fp32|--dispatch-mode flat"
  "flat_bf16|--dispatch-dtype bf16 --combine-dtype bf16"
  "flat_fp8_bf16|--dispatch-dtype fp8 --combine-dtype bf16"
  "flat_fp8_fp32|--dispatch-dtype fp8 --combine-dtype fp32"
  "flat_groups_fp8|--groups 4 --topk-groups 2 --dispatch-dtype fp8 --combine-dtype bf16"
  "flat_tbo_waterfill|--overlap tbo --tbo-split 0.4 --dispatch-dtype fp8 --combine-dtype bf16 --balancer eplb,lplb,waterfill --shared-experts 1"
  "hierarchical_fp32|--dispatch-mode hierarchical"
  "hierarchical_fp8_bf16|--dispatch-mode hierarchical --dispatch-dtype fp8 --combine-dtype bf16"
  "low_latency_fp32|--dispatch-mode low-latency"
  "low_latency_fp8_bf16|--dispatch-mode low-latency --dispatch-dtype fp8 --combine-dtype bf16"
  "low_latency_bf16_waterfill|--dispatch-mode low-latency --dispatch-dtype bf16 --combine-dtype bf16 --balancer eplb,lplb,waterfill --shared-experts 1")
foreach(entry ${sim_identity_cases})
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 opts)
  separate_arguments(opts UNIX_COMMAND "${opts}")
  add_test(NAME sim_identity_${name}
    COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/sim_identity.py $<TARGET_FILE:wideep>
            ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json 8 ${SIM_IDENTITY_SHAPE} ${opts})
  set_tests_properties(sim_identity_${name} PROPERTIES TIMEOUT 180 LABELS "sim;mpi"
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endforeach()
