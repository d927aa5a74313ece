// The expert weights a rank holds: for every layer, its local routed slots
// (from the placement) and the shared experts, W1 [H x F] then W2 [F x H] per
// slot, contiguous. ExpertStore is the interface the EPLB manager moves weights
// through; HostExpertStore keeps them in host memory (the MPI path), a device
// store keeps them in GPU memory (the NCCL path). Checksums of the demanded
// weights let a rank verify every slot after an exchange.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/placement.h"

namespace wideep {

class ExpertStore {
 public:
  virtual ~ExpertStore() = default;

  // Generates the weights of every local slot of `rank` from the placements.
  virtual void fill(const std::vector<Placement>& placement, int rank) = 0;
  // Both matrices of a slot, contiguous: the unit of a weight transfer (host or device memory).
  virtual void* slot_data(int layer, int slot) = 0;
  virtual void copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) = 0;
  virtual uint64_t checksum(int layer, int slot) = 0;
  virtual void flip_byte(int layer, int slot, size_t byte) = 0;  // fault injection

  size_t slot_bytes() const { return 2 * matrix_elems_ * sizeof(float); }
  int slots_per_layer() const { return slots_; }

  // Checksum of (layer, logical expert)'s weights as the generator makes them.
  static uint64_t expected_checksum(uint64_t seed, int layer, int expert, int hidden, int ffn);
  // hash_bytes (common/hash.h) over the float bit patterns: any flipped bit changes it.
  static uint64_t checksum_words(const float* p, size_t n);

 protected:
  void set_shape(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed);
  // The logical expert of local slot s (shared expert j is expert E + j).
  int expert_of_slot(const std::vector<Placement>& placement, int rank, int layer, int slot) const;
  size_t offset(int layer, int slot) const {
    return (static_cast<size_t>(layer) * slots_ + slot) * 2 * matrix_elems_;
  }

  int layers_ = 0, slots_ = 0, routed_slots_ = 0, shared_ = 0, hidden_ = 0, ffn_ = 0;
  uint64_t seed_ = 0;
  size_t matrix_elems_ = 0;
};

class HostExpertStore final : public ExpertStore {
 public:
  // Allocates layers x (slots_per_rank + shared) slots once.
  HostExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed);

  void fill(const std::vector<Placement>& placement, int rank) override;
  void* slot_data(int layer, int slot) override { return &data_[offset(layer, slot)]; }
  void copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) override;
  uint64_t checksum(int layer, int slot) override;
  void flip_byte(int layer, int slot, size_t byte) override;

  float* w1(int layer, int slot) { return &data_[offset(layer, slot)]; }
  float* w2(int layer, int slot) { return &data_[offset(layer, slot) + matrix_elems_]; }

 private:
  std::vector<float> data_;
};

}  // namespace wideep
