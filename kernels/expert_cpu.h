// CPU expert path of a rank: un-permute received wire rows into per-local-slot
// contiguous blocks, run each slot's FFN (x·W1 -> SiLU -> ·W2) with OpenBLAS
// sgemm, weight-sum each row's expert outputs (partial combine on the expert
// rank), and the final combine of returned rows into token outputs.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/dispatch_layout.h"

namespace wideep {

// Single-threaded BLAS: ranks are processes, one per core.
void cpu_kernels_init();

// Deterministic weights of one logical expert (kernels/det_values.h):
// w1 [hidden x ffn], w2 [ffn x hidden], row-major.
void generate_expert_weights(uint64_t seed, int layer, int expert, int hidden, int ffn, float* w1,
                             float* w2);

// y [rows x hidden] = SiLU(x·W1)·W2; h is scratch of rows x ffn.
void expert_ffn_cpu(const float* x, int rows, int hidden, int ffn, const float* w1,
                    const float* w2, float* h, float* y);

// Received rows grouped by local slot (routed slots then shared experts).
struct ExpertBatches {
  int num_slots = 0, hidden = 0, ffn = 0, pairs_per_token = 0;
  std::vector<int32_t> slot_pairs;   // [num_slots] pairs per slot this step
  std::vector<int32_t> slot_offset;  // [num_slots + 1]
  std::vector<int32_t> pair_row;     // [pairs] received row of each grouped pair
  std::vector<float> pair_weight;    // [pairs]
  std::vector<float> x_grouped;      // [pairs x hidden]
  std::vector<float> h_scratch;      // [h_rows x ffn], one slot's FFN at a time
  int32_t h_rows = 0;
  std::vector<float> y_grouped;      // [pairs x hidden]
  int32_t total_pairs = 0;

  // Reserves for max_rows received rows (worst case), once.
  void init(int num_slots, int max_rows, int pairs_per_token, int hidden, int ffn);
};

// Un-permute: throws Error(kRemote) naming the row when a wire row names a slot
// outside [0, num_slots) (a corrupted or misrouted row).
void group_rows_by_slot(const unsigned char* recv_buf, int rows, ExpertBatches* b);

// Runs every slot's FFN; w1[s], w2[s] are the weights of local slot s.
void run_local_experts(ExpertBatches* b, const std::vector<const float*>& w1,
                       const std::vector<const float*>& w2);

// out_rows [rows x hidden] = sum over the row's pairs of weight * expert output.
void combine_partial(const ExpertBatches& b, int rows, float* out_rows);

// out [T x hidden] = sum of the returned rows of each token (rows in layout order,
// contiguous). Allocates: for tests and references, not for a step loop.
void combine_rows(const DispatchLayout& layout, const float* returned_rows, int hidden,
                  float* out);

// The same with each rank's block of rows wherever it lies: row i of rank r's
// block at rank_rows[r] + (i - rank_row_offset[r]) * hidden (a rank's own rows
// can then be read where its experts wrote them, with no copy). One pass per
// token: its rows summed in rank order; a token with no row gets zeros.
void combine_rows(const DispatchLayout& layout, const float* const* rank_rows, int hidden, float* out);

}  // namespace wideep
