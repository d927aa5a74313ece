# What a run reports about itself (issue 29): the EPLB policy that ran (auto
# never falls off the one-group-per-node cliff), the steady state beside the
# whole run, the resolved configuration with argv and commit, per-rank loads
# and bytes, SGLang/vLLM placement round trips without a conversion step,
# move-aware re-plans, the warning for LPLB without copies, and compare.sh's
# options column. tests/report_checks.py holds the cases and their arithmetic.
set(REPORT_MPI "${MPIEXEC_EXECUTABLE} --allow-run-as-root --oversubscribe --mca btl self,vader -np")
foreach(c auto_policy_64 steady config per_rank roundtrip_sglang roundtrip_vllm keep lplb_no_copies compare_options)
  add_test(NAME report_${c}
           COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/report_checks.py $<TARGET_FILE:wideep> ${REPORT_MPI} ${c}
           WORKING_DIRECTORY ${CMAKE_BINARY_DIR})
  set_tests_properties(report_${c} PROPERTIES TIMEOUT 180 LABELS "report;mpi"
    ENVIRONMENT "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
endforeach()
set_tests_properties(report_auto_policy_64 report_keep PROPERTIES LABELS "report;sim")
# Bad values of the new options: exit 2, one message naming the option.
set(REPORT_BAD --backend mpi --experts 16 --topk 4 --tokens 16 --hidden 16 --ffn 32 --steps 1 --warmup 0 --timeout-s 5)
wideep_bad_input_tests(PREFIX bad_report NP 2 ONCE BASE run ${REPORT_BAD} ENTRIES
  "policy_unknown|--balancer eplb --eplb-policy greedy|--eplb-policy 'greedy': unknown policy"
  "keep_range|--balancer eplb --eplb-keep-within 2|--eplb-keep-within must be in"
  "dump_placement_format|--dump-placement-format json|--dump-placement-format 'json': unknown format"
  "dump_placement_unwritable|--dump-placement /nonexistent/dir/p.json|--dump-placement /nonexistent/dir/p.json: cannot open for writing"
  "init_placement_no_map|--init-placement ${CMAKE_SOURCE_DIR}/tests/data/plan_readme.json|needs \"phy2log\" \\(wideep plan\\) or \"physical_to_logical_map\"")
