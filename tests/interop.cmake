# Interoperability with SGLang and vLLM (issue 14): every import of
# launch/wideep_import.py and every export (`wideep plan --format`,
# `wideep run --dump-counts`) round-trips exactly (tests/interop_roundtrip.py
# builds the dumps with torch and JSON); --waterfill-mode; the `wideep sim`
# option split; the --baseline output; and bad input (exit 2, naming the
# field or option) for each new option and import.
set(INTEROP /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/interop_roundtrip.py $<TARGET_FILE:wideep>)
string(JOIN " " INTEROP_MPI ${WIDEEP_MPIRUN_BAD_INPUT} -np 2)  # one argument: the script splits it; every case ends by itself
set(INTEROP_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1")
# The round trips need torch (Debian python3-torch, installed by launch/setup.sh):
# without it they skip (exit 77) rather than pass.
foreach(c stat_pt_none stat_json_none stat_pt_eplb_lplb stat_json_waterfill dump_window per_pass per_token
          location plan_export plot
          bad_stat_no_field bad_stat_2d bad_stat_float bad_stat_negative bad_stat_all_zero bad_per_pass_shape
          bad_per_pass_no_map bad_per_token_id bad_per_token_dup bad_location_no_field
          bad_location_missing_expert bad_location_negative bad_location_ragged bad_vllm_no_map bad_vllm_logcnt
          bad_vllm_log2phy bad_not_json bad_not_pt)
  add_test(NAME interop_${c} COMMAND ${INTEROP} ${INTEROP_MPI} ${c})
  set_tests_properties(interop_${c} PROPERTIES TIMEOUT 120 LABELS "interop;mpi" ENVIRONMENT "${INTEROP_ENV}"
                       SKIP_RETURN_CODE 77)
endforeach()

set(IB --backend mpi --experts 16 --topk 4 --tokens 64 --hidden 16 --ffn 32 --steps 3 --warmup 1 --quiet --timeout-s 30)
# SGLang's waterfill passes --check (and so does the exact one), on 4 ranks with
# 64+ tokens per rank (smaller batches stay local, as in SGLang).
foreach(mode exact sglang sglang-static)
  wideep_cli_test(NAME interop_waterfill_${mode}_check NP 4 LABELS interop
    ARGS run ${IB} --balancer waterfill --shared-experts 1 --waterfill-mode ${mode} --workload zipf:1.5 --check
    MATCH "check: passed")
endforeach()
wideep_cli_test(NAME interop_waterfill_sglang_lplb_check NP 4 LABELS interop
  ARGS run ${IB} --balancer lplb,waterfill --redundant 4 --shared-experts 1 --waterfill-mode sglang --check
  MATCH "check: passed")
# The simulator draws the same shared-expert ranks as the run: equal balancedness per step.
add_test(NAME interop_waterfill_sglang_sim_equals_run
  COMMAND /usr/bin/python3 ${CMAKE_SOURCE_DIR}/tests/compare_balancedness.py $<TARGET_FILE:wideep>
          ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json 4
          --experts 16 --topk 4 --tokens 64 --hidden 16 --ffn 32 --steps 4 --warmup 1
          --balancer waterfill --shared-experts 1 --waterfill-mode sglang)
set_tests_properties(interop_waterfill_sglang_sim_equals_run PROPERTIES TIMEOUT 120 LABELS "interop;mpi;sim"
                     ENVIRONMENT "${INTEROP_ENV}")

# --baseline implies the barrier, and the output says what the ratio compares.
wideep_cli_test(NAME interop_baseline_says_what_it_compares NP 2 LABELS interop
  ARGS run --backend mpi --experts 16 --topk 4 --tokens 32 --hidden 16 --ffn 32 --steps 3 --warmup 1 --baseline
       --timeout-s 30 --json @OUT@
  MATCH "exchange \\(dispatch\\+combine after a barrier\\) p50 [0-9.]+ us vs raw all-to-allv of the same bytes p50 [0-9.]+ us: ratio [0-9.]+; wait for the slowest rank \\(timed apart\\) p50 [0-9.]+ us"
  NOMATCH "dispatch\\+combine p50 [0-9.]+ us vs raw"
  JSON_CHECK baseline)

# `wideep sim --help` lists only what the simulator honours; run-only options exit 2 by name.
wideep_cli_test(NAME interop_sim_help_honest LABELS interop;sim ARGS sim --help
  MATCH "^ +--ranks" "^ +--waterfill-mode" "^ +--balancer"
  NOMATCH "^ +--backend" "^ +--dtype" "^ +--check( |$)" "^ +--check-every" "^ +--baseline" "^ +--inject" "^ +--timeout-s"
          "^ +--phase-barrier" "^ +--dump-counts")
wideep_cli_test(NAME interop_run_help_lists_run_options LABELS interop ARGS run --help
  MATCH "^ +--backend" "^ +--check-every" "^ +--phase-barrier" "^ +--dump-counts" "^ +--waterfill-mode")
set(ISB sim --ranks 4 --profile ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json --experts 16 --topk 4 --tokens 32 --steps 1 --warmup 1)
foreach(entry "dtype|--dtype fp32" "check_every|--check-every 2" "timeout|--timeout-s 5" "phase_barrier|--phase-barrier"
              "dump_counts|--dump-counts x.json" "backend|--backend mpi" "check|--check" "baseline|--baseline")
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 args)
  separate_arguments(args)
  list(GET args 0 opt)
  wideep_cli_test(NAME interop_sim_rejects_${name} RC 2 LABELS interop;sim ARGS ${ISB} ${args}
    ONCE "error: ${opt} has no meaning for wideep sim" NOMATCH "step p50")
endforeach()

# Bad values of the new options: exit 2, one message naming the option, on every rank alike.
wideep_bad_input_tests(PREFIX interop_bad NP 4 ONCE BASE run ${IB} ENTRIES
  "waterfill_mode_unknown|--balancer waterfill --shared-experts 1 --waterfill-mode greedy|--waterfill-mode 'greedy': unknown mode"
  "waterfill_mode_without_waterfill|--waterfill-mode sglang|--waterfill-mode sglang .*needs --balancer with waterfill"
  "dump_counts_unwritable|--dump-counts /nonexistent/dir/c.json|--dump-counts /nonexistent/dir/c.json: cannot open for writing"
  "exact_trace_infeasible|--experts 4 --topk 2 --tokens 4 --layers 1 --warmup 0 --steps 1 --workload trace:${CMAKE_SOURCE_DIR}/tests/data/trace_counts_exact_infeasible.json|gives expert 0 17 picks, more than the 16 tokens")
wideep_cli_test(NAME interop_bad_plan_format RC 2 LABELS interop;plan
  ARGS plan --loads ${CMAKE_SOURCE_DIR}/tests/data/plan_readme.json --replicas 16 --gpus 8 --format deepseek
  ONCE "error: --format 'deepseek': unknown format")
wideep_cli_test(NAME interop_bad_sim_waterfill_mode RC 2 LABELS interop;sim
  ARGS ${ISB} --waterfill-mode fast ONCE "error: --waterfill-mode 'fast': unknown mode")
add_test(NAME interop_bad_import_kind
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "invalid choice: 'sglang-foo'" --
          /usr/bin/python3 ${CMAKE_SOURCE_DIR}/launch/wideep_import.py sglang-foo x.pt --out y.json)
add_test(NAME interop_bad_import_no_out
  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/expect.sh --rc 2 --match "the following arguments are required: --out" --
          /usr/bin/python3 ${CMAKE_SOURCE_DIR}/launch/wideep_import.py vllm x.json)
set_tests_properties(interop_bad_import_kind interop_bad_import_no_out PROPERTIES LABELS interop TIMEOUT 60)
