// Tests of the expert weight store's checksums: every byte of a slot (W1 and
// W2, first to last) is covered, so a weight transfer that corrupts any part of
// a slot fails verification; fill/copy_slot/flip_byte against expected_checksum.
#include "kernels/expert_store.h"

#include <gtest/gtest.h>

#include <vector>

#include "kernels/expert_cpu.h"

namespace wideep {
namespace {

// 1 layer, 2 ranks x 2 slots of 3 experts, no shared expert; H 4, F 6: a slot
// is 2 x 24 floats = 192 bytes, small enough to flip every byte.
constexpr int kH = 4, kF = 6;

// Built by hand: the kernels' tests do not link balance/ (fill reads phy2log only).
std::vector<Placement> tiny_placement() {
  Placement p;
  p.num_ranks = 2;
  p.num_logical = 3;
  p.slots_per_rank = 2;
  p.phy2log = {0, 1, 2, 0};
  return {p};
}

TEST(ExpertStore, FillMatchesExpectedChecksum) {
  HostExpertStore store(1, 2, 0, kH, kF, 11);
  store.fill(tiny_placement(), 1);  // rank 1 holds experts 2 and 0
  EXPECT_EQ(store.checksum(0, 0), ExpertStore::expected_checksum(11, 0, 2, kH, kF));
  EXPECT_EQ(store.checksum(0, 1), ExpertStore::expected_checksum(11, 0, 0, kH, kF));
  EXPECT_NE(store.checksum(0, 0), store.checksum(0, 1));
}

// The checksum covers the whole slot: flipping any one byte, in W1 or in W2,
// changes it (the hash of a quarter, or of W1 alone, misses most of these).
TEST(ExpertStore, ChecksumChangesWithEveryByteOfTheSlot) {
  HostExpertStore store(1, 2, 0, kH, kF, 11);
  store.fill(tiny_placement(), 0);
  const size_t bytes = store.slot_bytes();
  ASSERT_EQ(bytes, 2u * kH * kF * sizeof(float));
  const uint64_t clean = store.checksum(0, 1);
  for (size_t b = 0; b < bytes; ++b) {
    store.flip_byte(0, 1, b);
    EXPECT_NE(store.checksum(0, 1), clean) << "byte " << b << " of " << bytes << " is not covered";
    store.flip_byte(0, 1, b);  // the same flip again restores it
    ASSERT_EQ(store.checksum(0, 1), clean);
  }
  // The four bytes named by issue 15, explicitly: first and last of W1 and of W2.
  const size_t w2 = bytes / 2;
  for (size_t b : {size_t{0}, w2 - 1, w2, bytes - 1}) {
    store.flip_byte(0, 1, b);
    EXPECT_NE(store.checksum(0, 1), clean) << "byte " << b;
    store.flip_byte(0, 1, b);
  }
  // A change in one slot leaves the other slot's checksum alone.
  const uint64_t other = store.checksum(0, 0);
  store.flip_byte(0, 1, bytes - 1);
  EXPECT_EQ(store.checksum(0, 0), other);
}

// checksum_words hashes n floats, all of them: the last float matters.
TEST(ExpertStore, ChecksumWordsCoversAllWords) {
  std::vector<float> w(10, 1.0f);
  const uint64_t a = ExpertStore::checksum_words(w.data(), w.size());
  w.back() = 2.0f;
  EXPECT_NE(ExpertStore::checksum_words(w.data(), w.size()), a);
  w.back() = 1.0f;
  EXPECT_EQ(ExpertStore::checksum_words(w.data(), w.size()), a);
}

TEST(ExpertStore, CopySlotCarriesTheWholeSlot) {
  HostExpertStore a(1, 2, 0, kH, kF, 11), b(1, 2, 0, kH, kF, 11);
  a.fill(tiny_placement(), 0);  // experts 0, 1
  b.fill(tiny_placement(), 1);  // experts 2, 0
  a.flip_byte(0, 1, a.slot_bytes() - 1);  // the last byte of W2 travels too
  const uint64_t want = a.checksum(0, 1);
  b.copy_slot(0, 0, a, 1);
  EXPECT_EQ(b.checksum(0, 0), want);
  EXPECT_NE(b.checksum(0, 0), ExpertStore::expected_checksum(11, 0, 1, kH, kF));
}

// A swap moves no byte but exchanges the slots' weights between the stores;
// the other slots stay; the bf16 mirror follows the new master.
TEST(ExpertStore, SwapSlotExchangesWeightsAndRefreshesTheMirror) {
  HostExpertStore store(1, 2, 0, kH, kF, 11, DType::kBF16), staging(1, 2, 0, kH, kF, 11);
  store.fill(tiny_placement(), 1);    // experts 2, 0
  staging.fill(tiny_placement(), 0);  // experts 0, 1
  const void* before = store.slot_read(0, 1);
  store.w1(0, 1);  // the mirror of expert 0
  store.swap_slot(0, 1, staging);
  EXPECT_EQ(store.checksum(0, 1), ExpertStore::expected_checksum(11, 0, 1, kH, kF));
  EXPECT_EQ(staging.checksum(0, 1), ExpertStore::expected_checksum(11, 0, 0, kH, kF));
  EXPECT_EQ(store.checksum(0, 0), ExpertStore::expected_checksum(11, 0, 2, kH, kF));
  EXPECT_EQ(staging.slot_read(0, 1), before) << "no byte moved: the block changed hands";
  const float* w1 = static_cast<const float*>(store.w1(0, 1));
  const float* master = static_cast<const float*>(store.slot_read(0, 1));
  for (int i = 0; i < kH * kF; ++i) ASSERT_EQ(w1[i], round_bf16(master[i])) << i;
  store.swap_slot(0, 1, staging);  // and back
  EXPECT_EQ(store.checksum(0, 1), ExpertStore::expected_checksum(11, 0, 0, kH, kF));
}

}  // namespace
}  // namespace wideep
