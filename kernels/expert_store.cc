// Shape, checksums, stale-marking of compute mirrors, and the host
// implementation of a rank's expert weights (kernels/expert_store.h).
#include "kernels/expert_store.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "common/hash.h"
#include "kernels/expert_cpu.h"

namespace wideep {

uint64_t ExpertStore::checksum_words(const float* p, size_t n) { return hash_bytes(0, p, n * sizeof(float)); }

void ExpertStore::set_shape(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed,
                            DType compute) {
  layers_ = layers;
  routed_slots_ = slots_per_rank;
  shared_ = shared;
  slots_ = slots_per_rank + shared;
  hidden_ = hidden;
  ffn_ = ffn;
  seed_ = seed;
  compute_ = compute;
  matrix_elems_ = static_cast<size_t>(hidden) * ffn;
  stale_.assign(static_cast<size_t>(layers) * slots_, 1);
}

int ExpertStore::expert_of_slot(const std::vector<Placement>& placement, int rank, int layer,
                                int slot) const {
  return slot < routed_slots_ ? placement[layer].phy2log[rank * routed_slots_ + slot]
                              : placement[layer].num_logical + (slot - routed_slots_);
}

void ExpertStore::set_masters(float* base) {
  master_.resize(static_cast<size_t>(layers_) * slots_);
  for (int l = 0; l < layers_; ++l)
    for (int s = 0; s < slots_; ++s) master_[static_cast<size_t>(l) * slots_ + s] = base + offset(l, s);
}

void ExpertStore::swap_slot(int layer, int slot, ExpertStore& other) {
  WIDEEP_ASSERT(other.layers_ == layers_ && other.slots_ == slots_ && other.matrix_elems_ == matrix_elems_,
                "swap_slot between stores of different shapes");
  const size_t i = static_cast<size_t>(layer) * slots_ + slot;
  std::swap(master_[i], other.master_[i]);
  mark_stale(layer, slot);
  other.mark_stale(layer, slot);
}

const void* ExpertStore::operand(int layer, int slot, size_t elem) {
  if (!has_mirror()) return static_cast<const float*>(master_data(layer, slot)) + elem;
  char& stale = stale_[static_cast<size_t>(layer) * slots_ + slot];
  if (stale) {
    refresh_mirror(layer, slot);
    ++refreshes_;
    stale = 0;
  }
  return mirror_data(layer, slot, elem);
}

const void* ExpertStore::w1(int layer, int slot) { return operand(layer, slot, 0); }
const void* ExpertStore::w2(int layer, int slot) { return operand(layer, slot, matrix_elems_); }

uint64_t ExpertStore::expected_checksum(uint64_t seed, int layer, int expert, int hidden, int ffn) {
  std::vector<float> w(2 * static_cast<size_t>(hidden) * ffn);
  generate_expert_weights(seed, layer, expert, hidden, ffn, w.data(), w.data() + w.size() / 2);
  return checksum_words(w.data(), w.size());
}

HostExpertStore::HostExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn,
                                 uint64_t seed, DType compute) {
  set_shape(layers, slots_per_rank, shared, hidden, ffn, seed, compute);
  data_.assign(static_cast<size_t>(layers) * slots_ * 2 * matrix_elems_, 0.0f);
  set_masters(data_.data());
  if (has_mirror()) mirror_.assign(data_.size(), 0.0f);
}

void HostExpertStore::fill(const std::vector<Placement>& placement, int rank) {
  for (int l = 0; l < layers_; ++l)
    for (int s = 0; s < slots_; ++s) {
      float* w = master_ptr(l, s);
      generate_expert_weights(seed_, l, expert_of_slot(placement, rank, l, s), hidden_, ffn_, w,
                              w + matrix_elems_);
    }
  mark_all_stale();
}

void HostExpertStore::copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) {
  std::memcpy(slot_write(layer, dst_slot), src.slot_read(layer, src_slot), slot_bytes());
}

uint64_t HostExpertStore::checksum(int layer, int slot) {
  return checksum_words(master_ptr(layer, slot), 2 * matrix_elems_);
}

void HostExpertStore::flip_byte(int layer, int slot, size_t byte) {
  static_cast<unsigned char*>(slot_write(layer, slot))[byte] ^= 0x10;
}

void HostExpertStore::refresh_mirror(int layer, int slot) {
  const size_t o = offset(layer, slot), n = 2 * matrix_elems_;
  const float* w = master_ptr(layer, slot);
  for (size_t i = 0; i < n; ++i) mirror_[o + i] = round_bf16(w[i]);
}

}  // namespace wideep
