// Stage routing of hierarchical dispatch (runtime/step/hier_plan.h).
#include "runtime/step/hier_plan.h"

namespace wideep {

void hier_stage1(const int32_t* pair_dest, const int32_t* pair_slot, int64_t n, int rank, int rpn, int S,
                 int32_t* dest1, int32_t* code1) {
  const int own = rank / rpn;
  for (int64_t i = 0; i < n; ++i) {
    const int node = pair_dest[i] / rpn;
    dest1[i] = node == own ? rank : hier_forwarder(node, rank, rpn);
    code1[i] = (pair_dest[i] % rpn) * S + pair_slot[i];
  }
}

int32_t hier_stage2(const int32_t* codes, int V, int P, int rank, int rpn, int S, int32_t* dest2, int32_t* slot2) {
  const int base = rank / rpn * rpn;
  int32_t bad = -1;
  for (int v = 0; v < V; ++v)
    for (int p = 0; p < P; ++p) {
      const int64_t i = static_cast<int64_t>(v) * P + p;
      const int32_t c = codes[i];
      if (c < 0 || c >= rpn * S) {
        if (c != -1 && bad < 0) bad = v;
        dest2[i] = slot2[i] = -1;
        continue;
      }
      dest2[i] = base + c / S;
      slot2[i] = c % S;
    }
  return bad;
}

}  // namespace wideep
