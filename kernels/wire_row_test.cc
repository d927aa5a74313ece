// The wire row layout of both backends, dtype names and bf16 rounding.
#include "kernels/wire_row.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/check.h"

namespace wideep {
namespace {

TEST(WireRow, Fp32RowLayout) {
  // H a multiple of 4 and P even: no padding, | x[H] | slot[P] | w[P] |.
  for (int h : {4, 64, 256, 7168})
    for (int p : {2, 8, 10}) {
      const WireRow w = wire_row(h, p, DType::kF32);
      EXPECT_EQ(w.row_bytes, 4u * (h + 2 * p)) << h << " " << p;
      EXPECT_EQ(w.slot_offset, 4u * h);
      EXPECT_EQ(w.weight_offset, 4u * h + 4u * p);
    }
  // Nine pairs (top-8 and a shared expert): the tail pads to 16 bytes.
  EXPECT_EQ(wire_row(32, 9, DType::kF32).row_bytes, 208u);
}

TEST(WireRow, RowsAreSixteenByteAligned) {
  for (DType d : {DType::kF32, DType::kBF16})
    for (int h : {1, 3, 7, 255, 7168})
      for (int p : {1, 3, 9}) {
        const WireRow w = wire_row(h, p, d);
        EXPECT_EQ(w.row_bytes % 16, 0u);
        EXPECT_EQ(w.slot_offset % 16, 0u);
        EXPECT_GE(w.slot_offset, static_cast<size_t>(h) * dtype_bytes(d));
        EXPECT_GE(w.row_bytes, w.weight_offset + 4u * p);
        EXPECT_EQ(return_row_bytes(h, d) % 16, 0u);
      }
  // bf16 halves the activation part: DeepSeek-V3 shape, top-8.
  EXPECT_EQ(wire_row(7168, 8, DType::kBF16).row_bytes, 7168u * 2 + 64);
}

TEST(WireRow, ParseDtype) {
  EXPECT_EQ(parse_dtype("bf16", "x"), DType::kBF16);
  EXPECT_EQ(parse_dtype("fp32", "x"), DType::kF32);
  EXPECT_THROW(parse_dtype("fp8", "--dtype"), UsageError);
}

TEST(WireRow, Bf16RoundsToNearestEven) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(bf16_to_float(float_to_bf16(1.0f)), 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(float_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 and 1 + 2^-6: ties to even (1 + 2^-6).
  EXPECT_EQ(float_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_TRUE(std::isnan(bf16_to_float(float_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  EXPECT_EQ(bf16_to_float(float_to_bf16(-2.5f)), -2.5f);
}

}  // namespace
}  // namespace wideep
