# Bad input of `wideep run`, `sim`, `plan` and `lp` (issue 8; the table in
# docs/reliability.md): every class not already covered by run.cmake,
# balancers.cmake, plan_cli.cmake, lp_cli.cmake and sim.cmake. Each answer is
# exit 2 with one message naming the option or file: under mpirun -np 4 the
# message appears exactly once (only rank 0 prints; every rank reaches the same
# verdict), mpirun exits 2, and no rank reached a wait (no timeout message).
set(BAD ${CMAKE_SOURCE_DIR}/tests/data/bad)
# A JSON file nested 100,000 deep (a parser that recursed would overflow its stack).
string(REPEAT "[" 100000 open_brackets)
string(REPEAT "]" 100000 close_brackets)
file(WRITE ${CMAKE_BINARY_DIR}/test_data/deep.json "${open_brackets}${close_brackets}")
set(DEEP ${CMAKE_BINARY_DIR}/test_data/deep.json)

set(RB --backend mpi --experts 32 --tokens 32 --hidden 32 --ffn 64 --steps 1 --warmup 1 --quiet --timeout-s 5)
# name|extra options|the one message (regex)
wideep_bad_input_tests(PREFIX bad_run NP 4 ONCE BASE run ${RB} ENTRIES
  # Options: each one's bad values.
  "backend_unknown|--backend tcp|--backend 'tcp': unknown backend"
  "dtype_unknown|--dtype fp8|--dtype 'fp8': unknown dtype"
  "check_every_zero|--check --check-every 0|--check-every must be positive"
  "experts_not_a_number|--experts abc|--experts"
  "experts_zero|--experts 0|--experts must be positive"
  "experts_huge|--experts 2097152|--experts is larger than 2\\^20"
  "topk_zero|--topk 0|--topk must be positive"
  "topk_overflow|--topk 99999999999|--topk"
  "ffn_zero|--ffn 0|--ffn must be positive"
  "tokens_negative|--tokens -1|--tokens must be positive"
  "steps_zero|--steps 0|--steps must be positive"
  "steps_huge|--steps 20000000|--steps/--warmup larger than 10\\^7"
  "warmup_negative|--warmup -1|--warmup must be >= 0"
  "seed_not_a_number|--seed abc|--seed"
  "hidden_ffn_huge|--hidden 100000 --ffn 100000|--hidden x --ffn is larger than 2\\^28"
  "tokens_hidden_huge|--tokens 2000000 --hidden 256|--tokens x --hidden is larger than 2\\^28"
  "layers_huge|--layers 100000|--layers is larger than 4096"
  "weights_too_big|--layers 4000 --hidden 4096 --ffn 8192|the run's memory plan needs .* of host memory per rank .* largest buffers: expert weights"
  "shared_negative|--shared-experts -1|--shared-experts must be >= 0"
  "shared_huge|--shared-experts 17|--shared-experts larger than 16"
  "redundant_negative|--redundant -4|--redundant must be >= 0"
  "redundant_huge|--redundant 2147483644|--redundant is larger than 2\\^20"
  "gpus_per_node_split|--gpus-per-node 3|--gpus-per-node 3 does not divide 4 ranks"
  "groups_split|--groups 3|--groups 3 does not divide --experts 32"
  "eplb_window_zero|--eplb-window 0|--eplb-window must be positive"
  "eplb_window_huge|--eplb-window 2000000|--eplb-window is larger than 10\\^6"
  "eplb_interval_zero|--eplb-interval 0|--eplb-interval must be positive"
  "timeout_zero|--timeout-s 0|--timeout-s must be positive"
  "timeout_not_a_number|--timeout-s abc|--timeout-s"
  "json_unwritable|--json /nonexistent/dir/out.jsonl|--json /nonexistent/dir/out.jsonl: cannot open for writing"
  "workload_hot_frac|--workload hot:2|--workload hot:FRAC needs 0 < FRAC <= 1"
  "workload_hot_nan|--workload hot:abc|--workload hot:FRAC: 'abc' is not a number"
  "workload_drift_period|--workload drift:1.2|--workload 'drift:1.2': expected drift:S:PERIOD"
  "workload_drift_zero|--workload drift:1.2:0|--workload drift:S:PERIOD needs a whole PERIOD >= 1"
  "workload_zipf_negative|--workload zipf:-1|--workload zipf:S needs 0 <= S <= 10"
  "workload_zipf_inf|--workload zipf:inf|--workload zipf:S: 'inf' is not a number"
  "workload_uniform_arg|--workload uniform:3|--workload 'uniform:3': expected uniform"
  "workload_trace_no_file|--workload trace:|--workload trace:FILE needs a file"
  "balancer_none_combined|--balancer none,eplb|'none' cannot be combined"
  "balancer_empty_item|--balancer eplb,,lplb|unknown balancer ''"
  "inject_unknown|--inject bogus:1:2|--inject 'bogus:1:2': unknown fault"
  "inject_missing_step|--inject drop:1|--inject 'drop:1': expected drop:RANK:STEP"
  "inject_rank_word|--inject drop:x:1|--inject 'drop:x:1': 'x' is not a whole number"
  "inject_rank_negative|--inject die:-1:2|--inject 'die:-1:2': '-1' is not a whole number"
  "inject_slow_negative|--inject slow:1:-5|--inject 'slow:1:-5': '-5' is not a whole number"
  "inject_weights_extra|--inject corrupt-weights:1:2|expected corrupt-weights:RANK"
  "inject_hold_zero|--inject hold-wave:1:0|--inject 'hold-wave:1:0': STEPS must be in"
  # Topologies: unknown, bad shape, rank counts they cannot serve, files with bad edges.
  "topology_unknown|--balancer lplb --redundant 8 --topology mesh|--topology mesh: unknown topology"
  "topology_torus_shape|--balancer lplb --redundant 8 --topology torus:0x4|--topology torus:0x4: expected torus:MxN"
  "topology_torus_ranks|--balancer lplb --redundant 8 --topology torus:2x4|--topology torus:2x4: needs a rank count that is a multiple of 8, got 4"
  "topology_hypercube_ranks|--balancer lplb --redundant 16 --topology hypercube|--topology hypercube: needs a rank count that is a multiple of 16, got 4"
  "topology_redundant_mismatch|--balancer lplb --redundant 8 --topology ring|--topology ring puts 1 redundant slot.* needs --redundant 4"
  "topology_file_missing|--balancer lplb --redundant 4 --topology file:/nonexistent/r2o.json|--topology file: ?/nonexistent/r2o.json: cannot open"
  "topology_file_truncated|--balancer lplb --redundant 4 --topology file:${BAD}/topo_truncated.json|topo_truncated.json: not valid JSON"
  "topology_file_deep|--balancer lplb --redundant 4 --topology file:${DEEP}|deep.json: needs \"r2o\""
  "topology_file_no_key|--balancer lplb --redundant 4 --topology file:${BAD}/topo_no_key.json|topo_no_key.json: needs \"r2o\""
  "topology_file_not_matrix|--balancer lplb --redundant 4 --topology file:${BAD}/topo_not_matrix.json|topo_not_matrix.json: \"r2o\" row 0 is not a list"
  "topology_file_empty|--balancer lplb --redundant 4 --topology file:${BAD}/topo_empty.json|topo_empty.json: r2o must be a non-empty matrix"
  "topology_file_edge_range|--balancer lplb --redundant 4 --topology file:${BAD}/topo_bad_edge.json|topo_bad_edge.json: r2o row 2 names rank 7, outside"
  "topology_file_edge_negative|--balancer lplb --redundant 4 --topology file:${BAD}/topo_negative_edge.json|topo_negative_edge.json: r2o row 2 names rank -1"
  "topology_file_self_edge|--balancer lplb --redundant 4 --topology file:${BAD}/topo_self_edge.json|topo_self_edge.json: r2o row 1 copies its own rank"
  "topology_file_ragged|--balancer lplb --redundant 4 --topology file:${BAD}/topo_ragged.json|topo_ragged.json: r2o row 1 has 1 entries, row 0 has 2"
  "topology_file_ranks|--balancer lplb --redundant 4 --topology file:${BAD}/topo_three_rows.json|topo_three_rows.json: r2o has 3 rows.*the rank count 4 is not a multiple"
  # Placement files of the wrong shape or content (4 ranks, 8 experts + 4 redundant, 1 layer).
  "placement_truncated|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_truncated.json|place_truncated.json: not valid JSON"
  "placement_deep|--experts 8 --redundant 4 --layers 1 --init-placement ${DEEP}|deep.json: needs \"phy2log\""
  "placement_no_key|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_no_key.json|place_no_key.json: needs \"phy2log\""
  "placement_no_layers|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_no_layers.json|place_no_layers.json: has 0 layers, the run has 1"
  "placement_layers|--experts 8 --redundant 4 --layers 2 --init-placement ${BAD}/place_ok.json|place_ok.json: has 1 layers, the run has 2"
  "placement_short|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_short.json|place_short.json: layer 0 has 11 slots, the run has 12"
  "placement_shape|--experts 8 --redundant 8 --layers 1 --init-placement ${BAD}/place_ok.json|place_ok.json: layer 0 has 12 slots, the run has 16"
  "placement_id_range|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_id_range.json|place_id_range.json layer 0: slot 11 holds expert 12, outside"
  "placement_negative|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_negative.json|place_negative.json layer 0: slot 11 holds expert -1"
  "placement_missing_expert|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_missing_expert.json|place_missing_expert.json layer 0: expert 7 has no physical slot"
  "placement_float|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_float.json|place_float.json: \"phy2log\" row 0: 0.5 is not a whole number"
  "placement_string|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_string.json|place_string.json: \"phy2log\" row 0: \"0\" is not a whole number"
  # Trace files: malformed, truncated, huge numbers, deep, and of the wrong shape (4 experts, top-2, 1 layer, 2 steps).
  "trace_truncated|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_truncated.json|trace_truncated.json: not valid JSON"
  "trace_empty|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_empty.json|trace_empty.json: not valid JSON"
  "trace_deep|--experts 4 --topk 2 --layers 1 --workload trace:${DEEP}|deep.json: the top level must be an object"
  "trace_array|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_array.json|trace_array.json: the top level must be an object"
  "trace_kind|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_kind.json|trace_kind.json: \"kind\" must be \"topk\" or \"counts\""
  "trace_no_steps|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_no_steps.json|trace_no_steps.json: malformed trace"
  "trace_experts|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_wrong_experts.json|trace_wrong_experts.json: trace has 8 experts, --experts is 4"
  "trace_topk|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_wrong_topk.json|trace_wrong_topk.json: trace has topk 3, --topk is 2"
  "trace_layers|--experts 4 --topk 2 --layers 2 --workload trace:${BAD}/trace_ok.json|trace_ok.json: trace has 1 layers, --layers is 2"
  "trace_steps|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_one_step.json|trace_one_step.json: trace has 1 steps, the run needs 2"
  "trace_id_range|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_id_range.json|trace_id_range.json: step 0: expert id 9 is outside \\[0, 3\\]"
  "trace_id_float|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_id_float.json|trace_id_float.json: step 0: expert id must be a whole number"
  "trace_dup_id|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_dup_id.json|trace_dup_id.json: step 0: a token names expert 1 twice"
  "trace_short_token|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_short_token.json|trace_short_token.json: step 0 layer 0: every token needs 2 expert ids"
  "trace_empty_layer|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_empty_layer.json|trace_empty_layer.json: step 0 layer 0 is empty"
  "trace_counts_negative|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_counts_negative.json|trace_counts_negative.json: count in step 0 -5 is outside"
  "trace_counts_length|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_counts_len.json|trace_counts_len.json: step 0 layer 0 needs 4 counts"
  "trace_counts_huge|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_counts_huge.json|trace_counts_huge.json: count in step 0 must be a whole number"
  "trace_counts_too_few|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_counts_zero.json|trace_counts_zero.json: step 0 layer 0 has fewer than --topk experts with a positive count")

# The good files above do run (so the bad ones fail for the reason named).
wideep_cli_test(NAME bad_input_controls_trace_ok NP 4
  ARGS run ${RB} --experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_ok.json --check MATCH "check: passed")
wideep_cli_test(NAME bad_input_controls_counts_ok NP 4
  ARGS run ${RB} --experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_counts_ok.json --check MATCH "check: passed")
wideep_cli_test(NAME bad_input_controls_placement_ok NP 4
  ARGS run ${RB} --experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_ok.json --check MATCH "check: passed")
wideep_cli_test(NAME bad_input_controls_topology_ok NP 4
  ARGS run ${RB} --balancer lplb --redundant 4 --topology file:${BAD}/topo_ok.json --check MATCH "check: passed")

# `wideep sim` shares run's readers; one test per file class and a rank count it cannot serve.
set(SB sim --ranks 4 --profile ${CMAKE_SOURCE_DIR}/launch/profiles/cpu_here.json --experts 32 --tokens 32 --steps 1 --warmup 1)
foreach(entry
    "trace|--experts 4 --topk 2 --layers 1 --workload trace:${BAD}/trace_id_range.json|trace_id_range.json: step 0: expert id 9"
    "placement|--experts 8 --redundant 4 --layers 1 --init-placement ${BAD}/place_missing_expert.json|place_missing_expert.json layer 0: expert 7 has no physical slot"
    "topology_file|--balancer lplb --redundant 4 --topology file:${BAD}/topo_bad_edge.json|topo_bad_edge.json: r2o row 2 names rank 7"
    "topology_ranks|--balancer lplb --redundant 8 --topology torus:2x4|--topology torus:2x4: needs a rank count that is a multiple of 8"
    "inject|--inject die:1:1|--inject has no meaning for wideep sim"
    "deep_json|--experts 8 --redundant 4 --layers 1 --init-placement ${DEEP}|deep.json: needs \"phy2log\"")
  string(REPLACE "|" ";" parts "${entry}")
  list(GET parts 0 name)
  list(GET parts 1 args)
  list(GET parts 2 msg)
  separate_arguments(args)
  wideep_cli_test(NAME bad_sim_${name} RC 2 LABELS sim ARGS ${SB} ${args} ONCE "error: .*${msg}")
endforeach()

# `wideep plan` and `wideep lp`: truncated and deeply nested JSON (the other classes are in plan_cli/lp_cli).
wideep_cli_test(NAME bad_plan_truncated RC 2 LABELS plan
  ARGS plan --loads ${BAD}/trace_truncated.json --replicas 16 --gpus 8 ONCE "error: --loads .*trace_truncated.json: not valid JSON")
wideep_cli_test(NAME bad_plan_deep RC 2 LABELS plan
  ARGS plan --loads ${DEEP} --replicas 16 --gpus 8 ONCE "error: --loads .*deep.json")
wideep_cli_test(NAME bad_lp_truncated RC 2 LABELS lp
  ARGS lp --input ${BAD}/trace_truncated.json --json ONCE "error: --input")
wideep_cli_test(NAME bad_lp_deep RC 2 LABELS lp
  ARGS lp --input ${DEEP} --json ONCE "error: --input")
