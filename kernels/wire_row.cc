// Names and byte layout of the wire formats (kernels/wire_row.h).
#include "kernels/wire_row.h"

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

}  // namespace wideep
