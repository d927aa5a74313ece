// The expert weights a rank holds: for every layer, its local routed slots
// (from the placement) and the shared experts, W1 [H x F] then W2 [F x H] per
// slot, fp32, contiguous: the master copy, the unit of an EPLB weight transfer.
// With a bf16 compute dtype the store also keeps a mirror of every slot in the
// compute dtype for the GEMMs. Writing a slot (a transfer's destination, a
// copy, a fault) marks its mirror stale; w1()/w2() refresh a stale mirror
// before handing it out, so a slot only sent from is never refreshed.
// HostExpertStore keeps everything in host memory (the host kernel backend;
// its bf16 mirror holds the bf16 values widened to fp32, which OpenBLAS
// reads), DeviceExpertStore in GPU memory (kernels/device_expert_store.h).
// Checksums of the master let a rank verify every slot after an exchange.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/placement.h"
#include "kernels/wire_row.h"

namespace wideep {

class ExpertStore {
 public:
  virtual ~ExpertStore() = default;

  // Generates the weights of every local slot of `rank` from the placements.
  virtual void fill(const std::vector<Placement>& placement, int rank) = 0;
  // Both matrices of a slot (host or device memory): a transfer's source
  // reads here, a destination writes there (which marks the slot stale).
  virtual const void* slot_read(int layer, int slot) = 0;
  void* slot_write(int layer, int slot) {
    mark_stale(layer, slot);
    return master_data(layer, slot);
  }
  virtual void copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) = 0;
  // Exchanges the masters of (layer, slot) here and in `other` (a store of
  // the same shape and memory kind, e.g. the EPLB staging store) without
  // moving a byte: each now holds the other's weights; both slots are marked
  // stale. What an asynchronous switch does instead of copying staged weights in.
  void swap_slot(int layer, int slot, ExpertStore& other);
  virtual uint64_t checksum(int layer, int slot) = 0;
  virtual void flip_byte(int layer, int slot, size_t byte) = 0;  // fault injection

  // The GEMM operands of a slot in the compute dtype (refreshed when stale).
  const void* w1(int layer, int slot);
  const void* w2(int layer, int slot);
  DType compute_dtype() const { return compute_; }
  // Mirror refreshes since construction (tests: a send must not cause one).
  int64_t mirror_refreshes() const { return refreshes_; }

  size_t slot_bytes() const { return 2 * matrix_elems_ * sizeof(float); }
  size_t matrix_elems() const { return matrix_elems_; }
  int slots_per_layer() const { return slots_; }
  virtual int64_t held_bytes() const = 0;  // master and mirror

  // Checksum of (layer, logical expert)'s weights as the generator makes them.
  static uint64_t expected_checksum(uint64_t seed, int layer, int expert, int hidden, int ffn);
  // hash_bytes (common/hash.h) over the float bit patterns: any flipped bit changes it.
  static uint64_t checksum_words(const float* p, size_t n);

 protected:
  void set_shape(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed, DType compute);
  // Points every slot's master at base + offset(layer, slot) (after set_shape).
  void set_masters(float* base);
  // The master of (layer, slot): where the slot's block lies now (swap_slot moves it).
  float* master_ptr(int layer, int slot) const { return master_[static_cast<size_t>(layer) * slots_ + slot]; }
  // The logical expert of local slot s (shared expert j is expert E + j).
  int expert_of_slot(const std::vector<Placement>& placement, int rank, int layer, int slot) const;
  size_t offset(int layer, int slot) const {
    return (static_cast<size_t>(layer) * slots_ + slot) * 2 * matrix_elems_;
  }
  void mark_stale(int layer, int slot) { stale_[static_cast<size_t>(layer) * slots_ + slot] = 1; }
  void mark_all_stale() { std::fill(stale_.begin(), stale_.end(), 1); }
  bool has_mirror() const { return compute_ != DType::kF32; }

  void* master_data(int layer, int slot) { return master_ptr(layer, slot); }
  // Enqueues master -> mirror of one slot (only with has_mirror()).
  virtual void refresh_mirror(int layer, int slot) = 0;
  // Element `elem` of the slot's mirror (W1 at 0, W2 at matrix_elems()).
  virtual const void* mirror_data(int layer, int slot, size_t elem) = 0;

  int layers_ = 0, slots_ = 0, routed_slots_ = 0, shared_ = 0, hidden_ = 0, ffn_ = 0;
  uint64_t seed_ = 0;
  size_t matrix_elems_ = 0;
  DType compute_ = DType::kF32;

 private:
  const void* operand(int layer, int slot, size_t elem);
  std::vector<char> stale_;      // [layer * slots] mirror older than the master
  std::vector<float*> master_;   // [layer * slots] where each slot's fp32 block lies
  int64_t refreshes_ = 0;
};

class HostExpertStore final : public ExpertStore {
 public:
  // Allocates layers x (slots_per_rank + shared) slots once (and the mirror).
  HostExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed,
                  DType compute = DType::kF32);

  void fill(const std::vector<Placement>& placement, int rank) override;
  const void* slot_read(int layer, int slot) override { return master_ptr(layer, slot); }
  void copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) override;
  uint64_t checksum(int layer, int slot) override;
  void flip_byte(int layer, int slot, size_t byte) override;
  int64_t held_bytes() const override {
    return static_cast<int64_t>((data_.capacity() + mirror_.capacity()) * sizeof(float));
  }

 private:
  void refresh_mirror(int layer, int slot) override;
  const void* mirror_data(int layer, int slot, size_t elem) override {
    return &mirror_[offset(layer, slot) + elem];
  }

  std::vector<float> data_;
  std::vector<float> mirror_;  // bf16 values widened to fp32 (compute bf16 only)
};

}  // namespace wideep
