// The wire row layout of both backends, dtype names, bf16 rounding, and the
// fp8 (e4m3) conversion and per-128-channel scaling of the dispatch rows: all
// 256 codes round-trip, ties go to even, large values saturate, NaN stays NaN,
// every float of a sweep lands on the nearest code (a brute-force oracle) and,
// where the build has CUDA, on the code CUDA's own conversion gives.
#include "kernels/wire_row.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/check.h"
#include "kernels/row_bodies.h"

#ifdef WIDEEP_HAVE_CUDA
#include <cuda_fp8.h>
#endif

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
  EXPECT_EQ(parse_dtype("fp8", "--dispatch-dtype", true), DType::kFP8);
  EXPECT_STREQ(dtype_name(DType::kFP8), "fp8");
  EXPECT_EQ(resolve_wire_dtype("auto", DType::kBF16, "--combine-dtype", false), DType::kBF16);
  EXPECT_EQ(resolve_wire_dtype("fp8", DType::kBF16, "--dispatch-dtype", true), DType::kFP8);
  EXPECT_THROW(resolve_wire_dtype("fp8", DType::kF32, "--combine-dtype", false), UsageError);
  EXPECT_THROW(resolve_wire_dtype("foo", DType::kF32, "--dispatch-dtype", true), UsageError);
}

// The row sizes of the wire formats, worked out by hand from the layout.
TEST(WireRow, Fp8RowLayoutAndBytesAgainstFp32) {
  // H 2048, P 8: fp8 x 2048 B | 16 scales 64 B | slots 32 B | weights 32 B = 2176 B;
  // fp32 x 8192 B | 64 B = 8256 B; bf16 4096 + 64 = 4160 B.
  const WireRow f8 = wire_row(2048, 8, DType::kFP8);
  EXPECT_EQ(f8.x_bytes, 2048u);
  EXPECT_EQ(f8.scale_offset, 2048u);
  EXPECT_EQ(f8.scale_bytes, 64u);
  EXPECT_EQ(f8.slot_offset, 2112u);
  EXPECT_EQ(f8.weight_offset, 2144u);
  EXPECT_EQ(f8.row_bytes, 2176u);
  EXPECT_EQ(wire_row(2048, 8, DType::kF32).row_bytes, 8256u);
  EXPECT_EQ(wire_row(2048, 8, DType::kBF16).row_bytes, 4160u);
  // DeepSeek-V3, top-8: 7168 + 56 scales (224 B) + 64 = 7456 B against 28736 B.
  EXPECT_EQ(wire_row(7168, 8, DType::kFP8).row_bytes, 7456u);
  EXPECT_EQ(wire_row(7168, 8, DType::kF32).row_bytes, 28736u);
  // Nine pairs, H 128: 128 | one scale padded to 16 | 36 | 36 | pad: 224 B.
  EXPECT_EQ(wire_row(128, 9, DType::kFP8).row_bytes, 224u);
  // A partial last group still has its scale (H 200: two groups).
  EXPECT_EQ(wire_row(200, 1, DType::kFP8).scale_bytes, 16u);
  EXPECT_EQ(fp8_groups(200), 2);
  for (DType d : {DType::kF32, DType::kBF16}) EXPECT_EQ(wire_row(2048, 8, d).scale_bytes, 0u);
  EXPECT_EQ(dtype_bytes(DType::kFP8), 1u);
}

TEST(E4m3, AllCodesRoundTripAndDecodeAsSpecified) {
  for (int q = 0; q < 256; ++q) {
    const float f = e4m3_to_float(static_cast<uint8_t>(q));
    if ((q & 0x7f) == 0x7f) {
      EXPECT_TRUE(std::isnan(f)) << q;
      EXPECT_EQ(float_to_e4m3(f), 0x7f) << q;
      continue;
    }
    EXPECT_EQ(float_to_e4m3(f), q) << "code " << q << " decodes to " << f;
    EXPECT_EQ(std::signbit(f), q >= 0x80) << q;
  }
  EXPECT_EQ(e4m3_to_float(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_float(0x38), 1.0f);
  EXPECT_EQ(e4m3_to_float(0x08), std::ldexp(1.0f, -6));   // smallest normal
  EXPECT_EQ(e4m3_to_float(0x07), 7 * std::ldexp(1.0f, -9));  // largest subnormal
  EXPECT_EQ(e4m3_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_to_float(0xb9), -1.125f);
  // Codes 0..0x7e decode in increasing order (the oracle below relies on it).
  for (int q = 1; q <= 0x7e; ++q) EXPECT_LT(e4m3_to_float(q - 1), e4m3_to_float(q));
}

TEST(E4m3, RoundsToNearestEvenAndSaturates) {
  // 1 + 2^-4 lies halfway between 1 (mantissa 000) and 1.125 (001): even wins.
  EXPECT_EQ(float_to_e4m3(1.0625f), 0x38);
  EXPECT_EQ(float_to_e4m3(std::nextafter(1.0625f, 2.0f)), 0x39);
  // 1.1875 is halfway between 1.125 (001) and 1.25 (010): up, to even.
  EXPECT_EQ(float_to_e4m3(1.1875f), 0x3a);
  // Subnormals: 2^-10 is half the smallest (to 0, even); 1.5 * 2^-9 goes to 2 * 2^-9.
  EXPECT_EQ(float_to_e4m3(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(float_to_e4m3(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(float_to_e4m3(1.5f * std::ldexp(1.0f, -9)), 0x02);
  EXPECT_EQ(float_to_e4m3(-2.5f * std::ldexp(1.0f, -9)), 0x82);
  // 7.5 * 2^-9 is halfway between the largest subnormal and the smallest normal (0x08, even).
  EXPECT_EQ(float_to_e4m3(7.5f * std::ldexp(1.0f, -9)), 0x08);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::denorm_min()), 0x00);
  EXPECT_EQ(float_to_e4m3(-0.0f), 0x80);
  // Saturation: 448 is the largest finite value; beyond, and infinities, give +-448.
  EXPECT_EQ(float_to_e4m3(448.0f), 0x7e);
  EXPECT_EQ(float_to_e4m3(440.0f), 0x7e);  // 432 < 440 < 448: nearest is 448
  EXPECT_EQ(float_to_e4m3(424.0f), 0x7d);  // 416 < 424 < 432: nearest is 416 (0x7d)
  EXPECT_EQ(float_to_e4m3(464.0f), 0x7e);
  EXPECT_EQ(float_to_e4m3(1e30f), 0x7e);
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::infinity()), 0x7e);
  EXPECT_EQ(float_to_e4m3(-std::numeric_limits<float>::infinity()), 0xfe);
  EXPECT_EQ(float_to_e4m3(-1000.0f), 0xfe);
  // NaN stays NaN (0x7f, either sign of the input).
  EXPECT_EQ(float_to_e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7f);
  EXPECT_EQ(float_to_e4m3(-std::numeric_limits<float>::quiet_NaN()), 0x7f);
  EXPECT_TRUE(std::isnan(e4m3_to_float(0xff)));
}

// The nearest e4m3 code to f by search over the decoded values (ties: the
// even code), saturating at 448: an oracle independent of the bit tricks.
uint8_t nearest_e4m3(float f) {
  static std::vector<float> values = [] {
    std::vector<float> v;
    for (int q = 0; q <= 0x7e; ++q) v.push_back(e4m3_to_float(q));
    return v;
  }();
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  const float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  const auto hi = std::lower_bound(values.begin(), values.end(), a);
  const int q_hi = static_cast<int>(hi - values.begin());
  if (*hi == a || q_hi == 0) return sign | q_hi;
  const int q_lo = q_hi - 1;
  const double d_lo = a - static_cast<double>(values[q_lo]), d_hi = static_cast<double>(*hi) - a;
  const int q = d_lo < d_hi ? q_lo : (d_hi < d_lo ? q_hi : (q_lo % 2 == 0 ? q_lo : q_hi));
  return sign | q;
}

TEST(E4m3, EveryFloatOfASweepGoesToTheNearestCode) {
  // Every 997th bit pattern of the finite floats (about 4.3 million), both signs.
  int64_t wrong = 0;
  for (uint64_t u = 0; u < 0x100000000ull; u += 997) {
    const uint32_t bits = static_cast<uint32_t>(u);
    float f;
    std::memcpy(&f, &bits, 4);
    if (std::isnan(f)) continue;
    wrong += float_to_e4m3(f) != nearest_e4m3(f);
  }
  EXPECT_EQ(wrong, 0);
}

#ifdef WIDEEP_HAVE_CUDA
// CUDA's own conversion (its host path: the device's cvt.rn.satfinite gives the same).
TEST(E4m3, MatchesCudaSatfiniteConversion) {
  int64_t wrong = 0;
  for (uint64_t u = 0; u < 0x100000000ull; u += 1009) {
    const uint32_t bits = static_cast<uint32_t>(u);
    float f;
    std::memcpy(&f, &bits, 4);
    wrong += float_to_e4m3(f) != __nv_cvt_float_to_fp8(f, __NV_SATFINITE, __NV_E4M3);
  }
  EXPECT_EQ(wrong, 0);
  for (int q = 0; q < 256; ++q) {
    const __half_raw h = __nv_cvt_fp8_to_halfraw(static_cast<__nv_fp8_storage_t>(q), __NV_E4M3);
    const float want = __half2float(__half(h));
    const float got = e4m3_to_float(static_cast<uint8_t>(q));
    if (std::isnan(want)) EXPECT_TRUE(std::isnan(got)) << q;
    else EXPECT_EQ(got, want) << q;
  }
}
#endif

// Per-128-channel scaling: each group's amax maps to 448, a zero group has
// scale 1, padding is zero, and each value comes back within e4m3's precision.
TEST(Fp8Rows, ScalesEach128ChannelsByTheirAmax) {
  const int H = 384, P = 2;
  const WireRow wr = wire_row(H, P, DType::kFP8);
  std::vector<float> x(H, 0.0f);
  for (int c = 0; c < 128; ++c) x[c] = std::sin(0.37f * c) * 3.5f;  // group 0
  x[77] = -7.0f;                                                     // its amax (negative)
  for (int c = 256; c < H; ++c) x[c] = 1e-3f * (c - 300);           // group 2: small values
  std::vector<unsigned char> part(wr.slot_offset, 0xcc);
  write_token_part(x.data(), H, wr, part.data());
  const float* scale = reinterpret_cast<const float*>(part.data() + wr.scale_offset);
  EXPECT_EQ(scale[0], 7.0f / 448.0f);
  EXPECT_EQ(scale[1], 1.0f);  // all zero
  EXPECT_EQ(scale[2], x[H - 1] / 448.0f);  // x[383] = 0.083 is the largest magnitude there
  EXPECT_EQ(part[77], 0xfe);  // -amax is -448 in scaled units
  for (size_t b = wr.scale_offset + 12; b < wr.slot_offset; ++b) EXPECT_EQ(part[b], 0) << b;
  for (int c = 128; c < 256; ++c) EXPECT_EQ(part[c], 0);
  for (int c = 0; c < H; ++c) {
    const float got = wire_x_value(part.data(), wr, c);
    const float s = scale[c / 128];
    // Normal range: relative error <= 2^-4; below it (|x| < 2^-6 * scale) absolute <= 2^-10 * scale.
    EXPECT_LE(std::fabs(got - x[c]), std::max(std::fabs(x[c]) / 16, s * std::ldexp(1.0f, -10))) << c;
    EXPECT_EQ(got, fp8_dequantize(fp8_quantize(x[c], s), s)) << c;
  }
  // bf16 and fp32 rows: plain conversions, no scales.
  for (DType d : {DType::kF32, DType::kBF16}) {
    const WireRow w = wire_row(H, P, d);
    std::vector<unsigned char> p(w.slot_offset);
    write_token_part(x.data(), H, w, p.data());
    for (int c = 0; c < H; ++c) EXPECT_EQ(wire_x_value(p.data(), w, c), d == DType::kF32 ? x[c] : round_bf16(x[c]));
  }
}

// What the reference takes as its input: compute rounding, wire, compute rounding.
TEST(Fp8Rows, WireRoundtripIsWhatTheReceiverStores) {
  const int H = 256;
  std::vector<float> x(H), out(H);
  for (int c = 0; c < H; ++c) x[c] = std::cos(0.11f * c) * (1 + c % 7);
  for (DType compute : {DType::kF32, DType::kBF16}) {
    const WireRow wr = wire_row(H, 4, DType::kFP8);
    std::vector<unsigned char> scratch(wr.slot_offset), row(wr.slot_offset);
    wire_roundtrip(x.data(), H, compute, wr, scratch.data(), out.data());
    // By hand: round to compute, quantize, dequantize, round to compute.
    std::vector<float> xc(H);
    for (int c = 0; c < H; ++c) xc[c] = compute == DType::kBF16 ? round_bf16(x[c]) : x[c];
    write_token_part(xc.data(), H, wr, row.data());
    int differ = 0;
    for (int c = 0; c < H; ++c) {
      const float v = wire_x_value(row.data(), wr, c);
      differ += out[c] != (compute == DType::kBF16 ? round_bf16(v) : v);
    }
    EXPECT_EQ(differ, 0);
    // And it really quantized: most values moved.
    int moved = 0;
    for (int c = 0; c < H; ++c) moved += out[c] != xc[c];
    EXPECT_GT(moved, H / 2);
  }
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
