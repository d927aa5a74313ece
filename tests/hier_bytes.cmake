# Hierarchical dispatch's bytes counted against values worked out by hand
# (issue 24): a sender's own-node pairs go straight from it to their ranks
# (it is its own node's forwarder), never through another rank of the node.
# Run and sim follow the same plan, so their identity cannot see an extra hop;
# these numbers can.
#
# 4 ranks as 2 nodes of 2 ({0,1}, {2,3}), E 8, top-2, balancer none: expert e
# on rank e/2. T 2 per rank; tests/data/hier_bytes_4r.json routes global token
# g = 2*rank + t (source rank: experts -> ranks):
#   r0: g0 {2,3}->{1,1}   g1 {4,6}->{2,3}
#   r1: g2 {0,5}->{0,2}   g3 {2,7}->{1,3}
#   r2: g4 {4,6}->{2,3}   g5 {0,1}->{0,0}
#   r3: g6 {4,5}->{2,2}   g7 {2,6}->{1,3}
# Stage 1 (one row per token and remote node, to the forwarder with the
# sender's local index; own-node pairs stay on the sender): 0->2 (g1),
# 1->3 (g2, g3), 2->0 (g5), 3->1 (g7) = 5 rows, all cross-node.
# Stage 2 (each forwarder: one row per forwarded token and other rank of its
# node holding its pairs): f0: g0->1; f1: g2->0 (g3, g7 stay on 1);
# f2: g1->3, g4->3; f3: g2->2, g6->2 (g3, g7 stay on 3) = 6 rows, intra-node.
# fp32 rows of H 16, 2 pairs: 64 + 4*2 + 4*2 = 80 B; combine rows 16*4 = 64 B,
# one back per row sent. Dispatch 11*80 = 880 B (400 cross-node, 480 intra),
# combine 11*64 = 704 B (320 cross-node).
# Routing own-node pairs through the node's first rank instead adds 4 intra-node
# rows (r1: g2, g3 via 0, g3 back to 1, one fewer from 1; r3: g6 and g7 via 2,
# g7 back to 3, one fewer from 3): 1200 B, 800 intra-node (mutant
# hier_own_node_via_forwarder).
wideep_cli_test(NAME hier_bytes_by_hand_np4 NP 4 LABELS modes
  ARGS run --backend mpi --experts 8 --topk 2 --tokens 2 --hidden 16 --ffn 16 --layers 1 --steps 1 --warmup 0
       --workload trace:${CMAKE_SOURCE_DIR}/tests/data/hier_bytes_4r.json --dispatch-mode hierarchical
       --gpus-per-node 2 --check --json @OUT@
  MATCH "check: passed" JSON_CHECK bytes=880/400/704/320)
