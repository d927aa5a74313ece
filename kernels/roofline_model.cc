// Byte counts, FLOPs and routing of the roofline measurement (kernels/roofline_model.h).
#include "kernels/roofline_model.h"

#include "common/check.h"
#include "kernels/det_values.h"

namespace wideep {

std::vector<KernelBytes> roofline_kernel_bytes(const RooflineShape& s) {
  WIDEEP_ASSERT(s.tokens > 0 && s.topk > 0 && s.hidden > 0 && s.ffn > 0 && s.slots > 0 && s.ranks == 1,
                "roofline shape: positive sizes, one rank");
  const int64_t T = s.tokens, K = s.topk, H = s.hidden, F = s.ffn, S = s.slots, R = s.ranks;
  const int64_t rows = s.rows(), pairs = s.pairs(), i4 = 4;
  const int64_t c = static_cast<int64_t>(dtype_bytes(s.compute));
  const WireRow wr = wire_row(s.hidden, s.topk, s.dispatch);
  const int64_t token_part = static_cast<int64_t>(wr.slot_offset);  // x on the wire + padding + fp8 scales
  const int64_t row_bytes = static_cast<int64_t>(wr.row_bytes);
  const int64_t ret_row = static_cast<int64_t>(return_row_bytes(s.hidden, s.combine));
  const int64_t comb = static_cast<int64_t>(dtype_bytes(s.combine));
  std::vector<KernelBytes> k;
  // quantize (launch_wire_tokens): x [T x H] compute in; the token parts [T x token_part] out.
  k.push_back({"quantize", T * H * c, T * token_part});
  // layout (launch_dispatch_layout): pair_dest [T*K] in; rank_rows [R], rank_row_offset
  // [R+1], row_token and row_rank [rows], token_row [R*T] (written once, its re-reads
  // not counted), token_rows [T*K] out.
  k.push_back({"layout", T * K * i4, (R + (R + 1) + 2 * rows + R * T + T * K) * i4});
  // pack (launch_pack_rows): per row its token part, its token's K dest, slot and
  // weight, its row_token and row_rank in; the whole wire row out.
  k.push_back({"pack", rows * (token_part + 3 * K * i4 + 2 * i4), rows * row_bytes});
  // count (launch_count_slots): each received row's slot[K] in; count [S] and first bad out.
  k.push_back({"count", rows * K * i4, (S + 1) * i4});
  // permute (launch_group_by_slot): each received row's token part and slot[K] once,
  // slot_offset [S+1] in; grouped x [pairs x H] compute and pair_pos [rows*K] out.
  k.push_back({"permute", rows * (token_part + K * i4) + (S + 1) * i4, pairs * H * c + rows * K * i4});
  // silu (launch_silu): h [pairs x F] compute in place.
  k.push_back({"silu", pairs * F * c, pairs * F * c});
  // unpermute_combine (launch_combine_partial): y [pairs x H] compute, pair_pos and
  // w [rows*K] in; one combine row (H values padded to 16 B) per received row out.
  k.push_back({"unpermute_combine", pairs * H * c + 2 * rows * K * i4, rows * ret_row});
  // final_combine (launch_final_combine): token_rows [T*K] and the H values of each
  // returned row in; out [T x H] fp32.
  k.push_back({"final_combine", T * K * i4 + rows * H * comb, T * H * 4});
  return k;
}

double ffn_flops(const RooflineShape& s) {
  return 4.0 * static_cast<double>(s.pairs()) * s.hidden * s.ffn;
}

DenseGemmShape dense_equivalent(const RooflineShape& s) { return {s.pairs(), 2 * int64_t{s.ffn}, s.hidden}; }

void roofline_routing(int T, int K, int E, uint64_t seed, int32_t* ids, float* weights) {
  WIDEEP_ASSERT(K >= 1 && K <= E, "roofline routing: 1 <= K <= E");
  for (int t = 0; t < T; ++t) {
    int32_t* id = ids + static_cast<size_t>(t) * K;
    float* w = weights + static_cast<size_t>(t) * K;
    uint64_t h = mix_key(seed, 0xB00ull + static_cast<uint64_t>(t));
    float sum = 0.0f;
    for (int k = 0; k < K; ++k) {
      for (;;) {  // the next hash value not already taken (K <= E: terminates)
        h = splitmix64(h);
        const int32_t e = static_cast<int32_t>(h % static_cast<uint64_t>(E));
        bool taken = false;
        for (int j = 0; j < k; ++j) taken = taken || id[j] == e;
        if (!taken) {
          id[k] = e;
          break;
        }
      }
      w[k] = 0.5f + 0.5f * (unit_float(splitmix64(h ^ 0x5Aull)) + 1.0f);  // in [0.5, 1.5)
      sum += w[k];
    }
    for (int k = 0; k < K; ++k) w[k] /= sum;
  }
}

}  // namespace wideep
