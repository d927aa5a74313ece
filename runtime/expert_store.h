// The expert weights a rank holds: for every layer, its local routed slots
// (from the placement) and the shared experts, W1 [H x F] and W2 [F x H] each,
// in one contiguous allocation. Checksums of the demanded weights let a rank
// verify every slot after an EPLB weight exchange.
#pragma once

#include <cstdint>
#include <vector>

#include "balance/placement.h"

namespace wideep {

class ExpertStore {
 public:
  // Allocates layers x (slots_per_rank + shared) slots once.
  void init(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed);

  // Generates the weights of every local slot of `rank` from the placements.
  void fill(const std::vector<Placement>& placement, int rank);

  float* w1(int layer, int slot) { return &data_[offset(layer, slot)]; }
  float* w2(int layer, int slot) { return &data_[offset(layer, slot) + matrix_elems_]; }
  // Both matrices of a slot, contiguous: the unit of a weight transfer.
  float* slot_data(int layer, int slot) { return &data_[offset(layer, slot)]; }
  size_t slot_bytes() const { return 2 * matrix_elems_ * sizeof(float); }
  int slots_per_layer() const { return slots_; }

  // Checksum of the weights of (layer, logical expert) as the generator makes them.
  static uint64_t expected_checksum(uint64_t seed, int layer, int expert, int hidden, int ffn);
  uint64_t checksum(int layer, int slot) const;

  void swap(ExpertStore& other) { data_.swap(other.data_); }

 private:
  size_t offset(int layer, int slot) const {
    return (static_cast<size_t>(layer) * slots_ + slot) * 2 * matrix_elems_;
  }
  int layers_ = 0, slots_ = 0, routed_slots_ = 0, shared_ = 0, hidden_ = 0, ffn_ = 0;
  uint64_t seed_ = 0;
  size_t matrix_elems_ = 0;
  std::vector<float> data_;
};

}  // namespace wideep
