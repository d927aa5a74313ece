// Dispatch faults applied to one wire row: each changes exactly what it
// promises (the victim is the first pair naming a slot), in every wire dtype
// (fp8 rows included: the faults follow the row's dtype, not the compute one).
#include "runtime/step/row_faults.h"

#include <gtest/gtest.h>

#include "kernels/row_bodies.h"

#include <cmath>
#include <cstring>
#include <vector>

namespace wideep {
namespace {

struct Row {
  RowFaultShape shape;
  std::vector<unsigned char> bytes;
  int32_t* slots() { return reinterpret_cast<int32_t*>(bytes.data() + shape.wire.slot_offset); }
  float* weights() { return reinterpret_cast<float*>(bytes.data() + shape.wire.weight_offset); }
};

// H 8, P 4, 6 slots: pairs {-1, 3, 5, -1} with weights {0, .5, .25, 0}, x = 1..8.
Row make_row(DType d) {
  Row r;
  r.shape.wire = wire_row(8, 4, d);
  r.shape.dtype = d == DType::kFP8 ? DType::kF32 : d;  // the compute dtype: never fp8
  r.shape.hidden = 8;
  r.shape.pairs = 4;
  r.shape.slots = 6;
  r.bytes.assign(r.shape.wire.row_bytes, 0);
  float x[8];
  for (int c = 0; c < 8; ++c) x[c] = 1.0f + c;
  write_token_part(x, 8, r.shape.wire, r.bytes.data());
  const int32_t s[] = {-1, 3, 5, -1};
  const float w[] = {0, 0.5f, 0.25f, 0};
  std::memcpy(r.slots(), s, sizeof s);
  std::memcpy(r.weights(), w, sizeof w);
  return r;
}

std::vector<Fault> one(Fault::Kind k) { return {Fault{k, 1, 2}}; }

TEST(RowFaults, EachFaultChangesWhatItPromises) {
  for (DType d : {DType::kF32, DType::kBF16, DType::kFP8}) {
    Row r = make_row(d);
    EXPECT_NEAR(wire_x_value(r.bytes.data(), r.shape.wire, 7), 8.0f, 0.25f);  // the row is what it seems
    EXPECT_TRUE(apply_row_faults(one(Fault::Kind::kDrop), 1, 2, r.shape, r.bytes.data()));
    EXPECT_EQ(r.slots()[1], -1);
    EXPECT_EQ(r.slots()[2], 5);

    r = make_row(d);
    apply_row_faults(one(Fault::Kind::kMisroute), 1, 2, r.shape, r.bytes.data());
    EXPECT_EQ(r.slots()[1], 4);

    r = make_row(d);
    apply_row_faults(one(Fault::Kind::kDup), 1, 2, r.shape, r.bytes.data());
    EXPECT_EQ(r.slots()[0], 3);
    EXPECT_EQ(r.weights()[0], 0.5f);

    r = make_row(d);
    const std::vector<unsigned char> before = r.bytes;
    apply_row_faults(one(Fault::Kind::kCorrupt), 1, 2, r.shape, r.bytes.data());
    const size_t n = std::min<size_t>(16, 8 * dtype_bytes(d));
    for (size_t b = 0; b < r.bytes.size(); ++b) EXPECT_EQ(r.bytes[b], b < n ? before[b] ^ 0x5A : before[b]);

    r = make_row(d);
    apply_row_faults(one(Fault::Kind::kNan), 1, 2, r.shape, r.bytes.data());
    EXPECT_TRUE(std::isnan(wire_x_value(r.bytes.data(), r.shape.wire, 0))) << dtype_name(d);
    EXPECT_FALSE(std::isnan(wire_x_value(r.bytes.data(), r.shape.wire, 1))) << dtype_name(d);
  }
}

TEST(RowFaults, OtherRankStepOrRowWithoutPairsIsLeftAlone) {
  Row r = make_row(DType::kF32);
  const std::vector<unsigned char> before = r.bytes;
  EXPECT_FALSE(has_row_fault(one(Fault::Kind::kDrop), 0, 2));
  EXPECT_FALSE(has_row_fault(one(Fault::Kind::kDrop), 1, 3));
  EXPECT_TRUE(has_row_fault(one(Fault::Kind::kNan), 1, 2));
  EXPECT_FALSE(has_row_fault({Fault{Fault::Kind::kSlow, 1, -1}}, 1, 2));
  EXPECT_FALSE(apply_row_faults(one(Fault::Kind::kDrop), 0, 2, r.shape, r.bytes.data()));
  EXPECT_EQ(r.bytes, before);
  for (int p = 0; p < 4; ++p) r.slots()[p] = -1;
  EXPECT_FALSE(apply_row_faults(one(Fault::Kind::kCorrupt), 1, 2, r.shape, r.bytes.data()));
}

}  // namespace
}  // namespace wideep
