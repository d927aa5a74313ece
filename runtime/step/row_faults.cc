// Dispatch faults applied to one wire row (runtime/step/row_faults.h).
#include "runtime/step/row_faults.h"

#include <algorithm>
#include <cstring>
#include <limits>

namespace wideep {

namespace {
const Fault::Kind kRowKinds[] = {Fault::Kind::kDrop, Fault::Kind::kDup, Fault::Kind::kMisroute,
                                 Fault::Kind::kCorrupt, Fault::Kind::kNan};
}  // namespace

bool has_row_fault(const std::vector<Fault>& faults, int rank, int step) {
  for (Fault::Kind k : kRowKinds)
    if (find_fault(faults, k, rank, step)) return true;
  return false;
}

bool apply_row_faults(const std::vector<Fault>& faults, int rank, int step, const RowFaultShape& s,
                      unsigned char* row) {
  int32_t* slots = reinterpret_cast<int32_t*>(row + s.wire.slot_offset);
  float* weights = reinterpret_cast<float*>(row + s.wire.weight_offset);
  int victim = 0;
  while (victim < s.pairs && slots[victim] < 0) ++victim;
  if (victim == s.pairs) return false;
  bool changed = false;
  if (find_fault(faults, Fault::Kind::kDrop, rank, step)) {
    slots[victim] = -1;
    changed = true;
  }
  if (find_fault(faults, Fault::Kind::kMisroute, rank, step)) {
    slots[victim] = (slots[victim] + 1) % s.slots;
    changed = true;
  }
  if (find_fault(faults, Fault::Kind::kDup, rank, step)) {
    for (int p = 0; p < s.pairs; ++p)
      if (slots[p] < 0) {
        slots[p] = slots[victim];
        weights[p] = weights[victim];
        changed = true;
        break;
      }
  }
  // x's dtype is the row's (the dispatch dtype), whatever the compute dtype.
  const DType x_dtype = s.wire.dtype;
  if (find_fault(faults, Fault::Kind::kCorrupt, rank, step)) {
    // The first bytes of x (fp8: 16 quantized values; their scale is intact).
    const size_t n = std::min<size_t>(16, static_cast<size_t>(s.hidden) * dtype_bytes(x_dtype));
    for (size_t b = 0; b < n; ++b) row[b] ^= 0x5A;
    changed = true;
  }
  if (find_fault(faults, Fault::Kind::kNan, rank, step)) {
    // The first activation becomes a quiet NaN in the wire dtype.
    const float nan = std::numeric_limits<float>::quiet_NaN();
    if (x_dtype == DType::kF32) {
      std::memcpy(row, &nan, sizeof nan);
    } else if (x_dtype == DType::kBF16) {
      const uint16_t b = float_to_bf16(nan);
      std::memcpy(row, &b, sizeof b);
    } else {
      row[0] = float_to_e4m3(nan);  // e4m3's NaN code: dequantized, NaN whatever the scale
    }
    changed = true;
  }
  return changed;
}

}  // namespace wideep
