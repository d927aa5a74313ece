// Sizes of the device path's buffers and wire rows (host only).
#include "kernels/device_layout.h"

#include <algorithm>
#include <climits>

#include "common/check.h"

namespace wideep {

const char* dtype_name(DType d) { return d == DType::kF32 ? "fp32" : "bf16"; }

DType parse_dtype(const std::string& text, const char* what) {
  if (text == "fp32" || text == "f32") return DType::kF32;
  if (text == "bf16") return DType::kBF16;
  throw UsageError(std::string(what) + " '" + text + "': unknown dtype (fp32, bf16)");
}

WireRow wire_row(int hidden, int pairs_per_token, DType dtype) {
  WireRow w;
  w.x_bytes = round_up16(static_cast<size_t>(hidden) * dtype_bytes(dtype));
  w.slot_offset = w.x_bytes;
  w.weight_offset = w.slot_offset + 4u * static_cast<size_t>(pairs_per_token);
  w.row_bytes = round_up16(w.weight_offset + 4u * static_cast<size_t>(pairs_per_token));
  return w;
}

DevicePlan::DevicePlan(int r, int t, int p, int h, int f, int s, int e, int k, DType d)
    : ranks(r), tokens(t), pairs(p), hidden(h), ffn(f), slots(s), experts(e), topk(k), dtype(d) {
  if (r < 1 || t < 0 || p < 1 || h < 1 || f < 1 || s < 1 || e < 1 || k < 1 || k > p)
    throw UsageError("device buffers: impossible shape (ranks " + std::to_string(r) + ", tokens " +
                     std::to_string(t) + ", pairs " + std::to_string(p) + ")");
  row = wire_row(h, p, d);
  return_row = return_row_bytes(h, d);
  max_send_rows = static_cast<int64_t>(t) * std::min(r, p);
  max_recv_rows = static_cast<int64_t>(r) * t;
  max_pairs = max_recv_rows * p;
  // Kernels index rows, pairs and elements of one pair row with int32; element
  // offsets (pairs * hidden) are computed in size_t.
  if (max_pairs > INT_MAX || static_cast<int64_t>(t) * r > INT_MAX)
    throw UsageError("--tokens " + std::to_string(t) + " x ranks " + std::to_string(r) + " x pairs " +
                     std::to_string(p) + ": the device receive bound exceeds 2^31 pairs");
}

size_t DevicePlan::total_bytes() const {
  const size_t T = tokens, TP = static_cast<size_t>(tokens) * pairs;
  const size_t index_bytes = T * topk * 8                 // ids + gate weights
                             + TP * 12                    // pair dest, slot, weight
                             + static_cast<size_t>(experts) * 8   // counts
                             + (2u * ranks + 1) * 4       // rank rows, offsets
                             + static_cast<size_t>(max_send_rows) * 8  // row token, row rank
                             + T * ranks * 4              // token_row
                             + static_cast<size_t>(max_pairs) * 8     // pair_pos, pair_row
                             + (2u * slots + 2) * 4 + 16; // slot counts, offsets, error word
  return x_bytes() + out_bytes() + send_bytes() + recv_bytes() + expert_rows_bytes() +
         returned_rows_bytes() + grouped_x_bytes() + grouped_h_bytes() + grouped_y_bytes() +
         index_bytes;
}

}  // namespace wideep
