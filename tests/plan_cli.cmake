# `wideep plan` command-line tests: DeepSeek's README example reproduced by
# --policy deepseek, the wideep policy and the topology path, and one test per
# class of bad input (exit status 2, message naming the option or file).
# Regexes are bracket arguments; their [ ] stay balanced so that CMake's list
# splitting (which does not split inside square brackets) keeps them apart.
set(PLAN_DATA ${CMAKE_SOURCE_DIR}/tests/data)
set(PLAN_README --loads ${PLAN_DATA}/plan_readme.json --replicas 16 --groups 4 --nodes 2 --gpus 8)

wideep_cli_test(NAME plan_deepseek_readme LABELS plan
  ARGS plan ${PLAN_README} --policy deepseek --json
  MATCH [=["phy2log":\[\[5,6,5,7,8,4,3,4,10,9,10,2,0,1,11,1\],\[7,10,6,8,6,11,8,9,2,4,5,1,5,0,3,1\]\]]=]
        [=["logcnt":\[\[1,2,1,1,2,2,1,1,1,1,2,1\],\[1,2,1,1,1,2,2,1,2,1,1,1\]\]]=]
        [=["max_gpu_load":\[156\.0,179\.5\]]=]
        [=["balancedness":\{"mean":]=])
# wideep on the same input: lower max GPU loads (136 and 172 vs 156 and 179.5).
wideep_cli_test(NAME plan_wideep_readme LABELS plan
  ARGS plan ${PLAN_README} --json
  MATCH [=["policy":"wideep"]=] [=["max_gpu_load":\[136\.0,172\.0\]]=] [=["log2phy":...[0-9]]=])
wideep_cli_test(NAME plan_table LABELS plan
  ARGS plan ${PLAN_README} --policy deepseek
  MATCH "policy deepseek, 2 layers, 12 experts -> 16 slots on 8 GPUs" "mean balancedness 0\\.81")
wideep_cli_test(NAME plan_topology_ring LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --gpus 4 --topology ring --json
  MATCH [=["policy":"topology:ring"]=] [=["replicas":16]=])
wideep_cli_test(NAME plan_topology_file LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --gpus 4 --topology file:${PLAN_DATA}/plan_r2o_ring4.json --json
  MATCH [=["replicas":16]=])
wideep_cli_test(NAME plan_help LABELS plan ARGS plan --help MATCH "--loads" "--policy")

# Bad input: exit status 2 and a message naming the option or file.
wideep_cli_test(NAME plan_bad_missing_file RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/no_such_file.json --replicas 16 --gpus 8 MATCH "--loads .*no_such_file.json: cannot open")
wideep_cli_test(NAME plan_bad_malformed RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_malformed.json --replicas 16 --gpus 8 MATCH "--loads .*plan_malformed.json: not valid JSON")
wideep_cli_test(NAME plan_bad_no_loads_key RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_noloads.json --replicas 16 --gpus 8 MATCH "--loads .*plan_noloads.json: needs")
wideep_cli_test(NAME plan_bad_ragged RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_ragged.json --replicas 16 --gpus 8 MATCH "--loads .*ragged rows")
wideep_cli_test(NAME plan_bad_negative RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_negative.json --replicas 16 --gpus 8 MATCH "--loads .*expert 5: load -165 is negative")
wideep_cli_test(NAME plan_bad_not_number RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_nonnumber.json --replicas 16 --gpus 8 MATCH "--loads .*expert 2: not a number")
wideep_cli_test(NAME plan_bad_replicas_lt_experts RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --replicas 8 --gpus 8 MATCH "--replicas 8 is less than the number of experts 12")
wideep_cli_test(NAME plan_bad_replicas_not_multiple RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --replicas 20 --gpus 8 MATCH "--replicas 20 is not a multiple of --gpus 8")
wideep_cli_test(NAME plan_bad_nodes RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --replicas 16 --gpus 8 --nodes 3 MATCH "--nodes 3")
wideep_cli_test(NAME plan_bad_groups RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --replicas 16 --gpus 8 --groups 8 --nodes 2 MATCH "--groups 8 does not divide")
wideep_cli_test(NAME plan_bad_policy RC 2 LABELS plan
  ARGS plan ${PLAN_README} --policy greedy MATCH "--policy: unknown EPLB policy 'greedy'")
wideep_cli_test(NAME plan_bad_no_replicas RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --gpus 8 MATCH "--replicas is required")
wideep_cli_test(NAME plan_bad_no_loads_option RC 2 LABELS plan
  ARGS plan --replicas 16 --gpus 8 MATCH "--loads is required")
wideep_cli_test(NAME plan_bad_unknown_option RC 2 LABELS plan
  ARGS plan ${PLAN_README} --bogus MATCH "--bogus")
wideep_cli_test(NAME plan_bad_topology RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --gpus 4 --topology cube MATCH "--topology cube")
wideep_cli_test(NAME plan_bad_topology_file RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --gpus 4 --topology file:${PLAN_DATA}/plan_r2o_bad.json
  MATCH "--topology file:.*plan_r2o_bad.json: r2o row 2 names rank 7")
wideep_cli_test(NAME plan_bad_topology_replicas RC 2 LABELS plan
  ARGS plan --loads ${PLAN_DATA}/plan_readme.json --gpus 4 --topology ring --replicas 12
  MATCH "--replicas 12 does not match --topology ring")
