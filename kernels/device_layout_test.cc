// Host-side sizing of the device path (always runs, no GPU needed): wire rows,
// the worst-case receive bound and the overflow checks of DevicePlan.
#include "kernels/device_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/check.h"
#include "kernels/dispatch_layout.h"

namespace wideep {
namespace {

TEST(DeviceLayout, Fp32WireRowEqualsCpuRow) {
  // H a multiple of 4 and P even: the device row is the CPU row byte for byte.
  for (int h : {4, 64, 256, 7168})
    for (int p : {2, 8, 10}) {
      const WireRow w = wire_row(h, p, DType::kF32);
      EXPECT_EQ(w.row_bytes, row_bytes(h, p)) << h << " " << p;
      EXPECT_EQ(w.slot_offset, 4u * h);
      EXPECT_EQ(w.weight_offset, 4u * h + 4u * p);
    }
}

TEST(DeviceLayout, RowsAreSixteenByteAligned) {
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

TEST(DeviceLayout, WorstCaseBounds) {
  // 8 ranks, 256 tokens, 8 routed + 1 shared pairs.
  DevicePlan p(8, 256, 9, 256, 512, 9, 64, 8, DType::kBF16);
  EXPECT_EQ(p.max_send_rows, 256 * 8);       // T * min(R, P)
  EXPECT_EQ(p.max_recv_rows, 8 * 256);       // R * T
  EXPECT_EQ(p.max_pairs, 8 * 256 * 9);       // R * T * P
  // Fewer ranks than pairs: a token goes to each rank at most once.
  DevicePlan q(2, 100, 8, 64, 64, 4, 8, 8, DType::kF32);
  EXPECT_EQ(q.max_send_rows, 200);
  EXPECT_EQ(q.max_recv_rows, 200);
  EXPECT_EQ(q.send_bytes(), 200 * row_bytes(64, 8));
  EXPECT_EQ(q.returned_rows_bytes(), 200u * 64 * 4);
  EXPECT_EQ(q.grouped_h_bytes(), 1600u * 64 * 4);
  EXPECT_GT(q.total_bytes(), q.recv_bytes() + q.send_bytes() + q.grouped_x_bytes());
}

TEST(DeviceLayout, ZeroTokensIsAValidShape) {
  DevicePlan p(4, 0, 8, 64, 64, 4, 16, 8, DType::kF32);
  EXPECT_EQ(p.max_send_rows, 0);
  EXPECT_EQ(p.max_recv_rows, 0);
  EXPECT_EQ(p.send_bytes(), 0u);
}

TEST(DeviceLayout, RejectsOverflowAndBadShapes) {
  EXPECT_THROW(DevicePlan(1024, 1 << 20, 16, 64, 64, 4, 64, 8, DType::kBF16), UsageError);
  EXPECT_THROW(DevicePlan(0, 16, 8, 64, 64, 4, 64, 8, DType::kBF16), UsageError);
  EXPECT_THROW(DevicePlan(2, 16, 4, 64, 64, 4, 64, 8, DType::kBF16), UsageError);  // topk > pairs
}

TEST(DeviceLayout, ParseDtype) {
  EXPECT_EQ(parse_dtype("bf16", "x"), DType::kBF16);
  EXPECT_EQ(parse_dtype("fp32", "x"), DType::kF32);
  EXPECT_THROW(parse_dtype("fp8", "--dtype"), UsageError);
}

TEST(DeviceLayout, Bf16RoundsToNearestEven) {
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
