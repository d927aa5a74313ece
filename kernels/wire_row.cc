// Names and byte layout of the wire formats (kernels/wire_row.h).
#include "kernels/wire_row.h"

#include "common/check.h"

namespace wideep {

const char* dtype_name(DType d) {
  switch (d) {
    case DType::kF32: return "fp32";
    case DType::kBF16: return "bf16";
    case DType::kFP8: return "fp8";
  }
  return "?";
}

DType parse_dtype(const std::string& text, const char* what, bool allow_fp8) {
  if (text == "fp32" || text == "f32") return DType::kF32;
  if (text == "bf16") return DType::kBF16;
  if (allow_fp8 && text == "fp8") return DType::kFP8;
  throw UsageError(std::string(what) + " '" + text + "': unknown dtype (fp32, bf16" + (allow_fp8 ? ", fp8)" : ")"));
}

DType resolve_wire_dtype(const std::string& text, DType run, const char* what, bool allow_fp8) {
  return text == "auto" || text.empty() ? run : parse_dtype(text, what, allow_fp8);
}

WireRow wire_row(int hidden, int pairs_per_token, DType dtype) {
  WireRow w;
  w.dtype = dtype;
  w.x_bytes = round_up16(static_cast<size_t>(hidden) * dtype_bytes(dtype));
  w.scale_offset = w.x_bytes;
  w.scale_bytes = dtype == DType::kFP8 ? round_up16(4u * static_cast<size_t>(fp8_groups(hidden))) : 0;
  w.slot_offset = w.scale_offset + w.scale_bytes;
  w.weight_offset = w.slot_offset + 4u * static_cast<size_t>(pairs_per_token);
  w.row_bytes = round_up16(w.weight_offset + 4u * static_cast<size_t>(pairs_per_token));
  return w;
}

}  // namespace wideep
