# --transport shm (issue 12; comm/shm_transport.h): intra-node rows through
# MPI-3 shared memory must move the very bytes --transport mpi moves, on one
# node and on "2 nodes of 4" (--gpus-per-node 4: the halves exchange by MPI),
# with rebalances and two-batch overlap; every wait names the missing peer.
set(SHM_SMALL --backend mpi --experts 32 --topk 4 --tokens 64 --hidden 64 --ffn 64 --steps 4 --warmup 1 --quiet --check)
set(SHM_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")

# One `wideep run` with --transport mpi, then shm: identical JSON lines (every
# step's output checksum, bytes, placements; timings aside), --check passing.
function(shm_compare_test name np)
  add_test(NAME ${name} COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_transports.py --
           ${WIDEEP_MPIRUN} -np ${np} $<TARGET_FILE:wideep> run ${SHM_SMALL} ${ARGN} --json @OUT@
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 240 LABELS "shm;mpi" ENVIRONMENT "${SHM_ENV}")
endfunction()
shm_compare_test(shm_vs_mpi_np2 2)
shm_compare_test(shm_vs_mpi_np4_eplb_lplb 4 --balancer eplb,lplb --redundant 8 --eplb-interval 2 --eplb-window 2)
shm_compare_test(shm_vs_mpi_np4_tbo 4 --overlap tbo --layers 2)
shm_compare_test(shm_vs_mpi_np8 8 --balancer eplb --redundant 8 --eplb-interval 2 --eplb-window 2)
shm_compare_test(shm_vs_mpi_np8_2nodes 8 --gpus-per-node 4 --balancer eplb --groups 2 --redundant 8
                 --eplb-interval 2 --eplb-window 2)
# Hierarchical dispatch forwards inside the node by the blocking all-to-allvs (through shm).
shm_compare_test(shm_vs_mpi_np8_hierarchical_fp8 8 --gpus-per-node 4 --dispatch-mode hierarchical
                 --dispatch-dtype fp8 --combine-dtype bf16 --hidden 128)

# The transport alone (tests/shm_transport_ranks.cc): bytes, gathered rows and
# overlapped exchanges against the MPI backend's, over rounds that grow the
# windows; then a rank that never comes: the others time out naming it.
add_executable(shm_transport_ranks ${CMAKE_CURRENT_SOURCE_DIR}/shm_transport_ranks.cc)
target_link_libraries(shm_transport_ranks PRIVATE wideep_comm)
function(shm_ranks_test name np)
  cmake_parse_arguments(A "" "RC" "ARGS;MATCH" ${ARGN})
  if(NOT DEFINED A_RC)
    set(A_RC 0)
  endif()
  set(expect_args)
  foreach(m ${A_MATCH})
    list(APPEND expect_args --match "${m}")
  endforeach()
  add_test(NAME ${name}
           COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc ${A_RC} --within 60 ${expect_args} --
                   ${WIDEEP_MPIRUN} -np ${np} $<TARGET_FILE:shm_transport_ranks> ${A_ARGS}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT 120 LABELS "shm;mpi" ENVIRONMENT "${SHM_ENV}")
endfunction()
shm_ranks_test(shm_transport_np4 4 ARGS --ranks-per-node 4
               MATCH "4 ranks, 4 per node \\(3 node peers on rank 0\\)" "window growths [1-9][0-9]*" "receive buffer moved [1-9][0-9]* times, [1-9][0-9]* bytes read in place" "#wrong 0$")
shm_ranks_test(shm_transport_np8_2nodes 8 ARGS --ranks-per-node 4
               MATCH "8 ranks, 4 per node \\(3 node peers on rank 0\\)" "window growths [1-9][0-9]*" "receive buffer moved [1-9][0-9]* times, [1-9][0-9]* bytes read in place" "#wrong 0$")
shm_ranks_test(shm_transport_np3_odd 3 ARGS --ranks-per-node 2
               MATCH "3 ranks, 2 per node \\(1 node peers on rank 0\\)" "#wrong 0$")
shm_ranks_test(shm_transport_stall_times_out 4 RC 3 ARGS --ranks-per-node 4 --stall 2 --timeout-s 3
               MATCH "rank 2: skipping the shm exchange of round 1"
                     "rank [013]: timeout after 3 s in shared-memory all-to-allv in step 1 layer 0 phase bytes; not completed: rank 2 \\(same node\\) never announced this exchange")

# --transport auto, the default (issue 24): shared memory where some node
# holds two ranks or more (the communicator counts them: MPI_Comm_split_type
# shared, then --gpus-per-node consecutive ranks), MPI where every node holds
# one; the header and the summary name the transport that ran.
set(SHM_AUTO --backend mpi --experts 24 --topk 4 --tokens 32 --hidden 32 --ffn 32 --steps 2 --warmup 1 --check
    --json @OUT@)
foreach(case "np2_one_node|2|8|shm" "np2_one_rank_per_node|2|1|mpi" "np4_two_nodes_of_2|4|2|shm"
             "np1|1|8|mpi")
  string(REPLACE "|" ";" parts "${case}")
  list(GET parts 0 cname)
  list(GET parts 1 np)
  list(GET parts 2 gpn)
  list(GET parts 3 want)
  wideep_cli_test(NAME shm_auto_${cname}_is_${want} NP ${np} ENV ${SHM_ENV} LABELS shm
    ARGS run ${SHM_AUTO} --gpus-per-node ${gpn}
    MATCH "# wideep run: ${np} ranks, backend mpi fp32, transport ${want}, balancer" "check: passed"
    JSON_CHECK transport=${want})
endforeach()
# Given explicitly, mpi is what runs on one node too.
wideep_cli_test(NAME shm_explicit_mpi_on_one_node NP 2 ENV ${SHM_ENV} LABELS shm
  ARGS run ${SHM_AUTO} --transport mpi
  MATCH "transport mpi, balancer" "check: passed" JSON_CHECK transport=mpi)

# Bad input of --transport: exit 2 before any communication, one message.
wideep_bad_input_tests(PREFIX bad_run NP 4 ONCE
  BASE run --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 1 --warmup 1 --quiet --timeout-s 5 ENTRIES
  "transport_unknown|--transport foo|--transport 'foo': unknown transport \\(auto, mpi, shm\\)"
  "transport_shm_nccl|--transport shm --backend nccl|--transport shm .*needs --backend mpi")

# A corrupted send row is still caught when node peers take its token part by
# reference: the corrupted copy lies in a shared buffer, and the row's record
# must point there (not at the intact activations).
wideep_cli_test(NAME shm_corrupt_row_by_reference_caught NP 4 RC 1 ENV ${SHM_ENV}
  ARGS run ${SHM_SMALL} --transport shm --timeout-s 30 --inject corrupt:2:2
  MATCH "rank 2: check failed at step 2 layer 0 token [0-9]+" "check: FAILED" LABELS shm)
