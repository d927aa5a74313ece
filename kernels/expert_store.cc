// Shape, checksums and the host implementation of a rank's expert weights.
#include "kernels/expert_store.h"

#include <cstring>

#include "common/hash.h"
#include "kernels/expert_cpu.h"

namespace wideep {

uint64_t ExpertStore::checksum_words(const float* p, size_t n) { return hash_bytes(0, p, n * sizeof(float)); }

void ExpertStore::set_shape(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed) {
  layers_ = layers;
  routed_slots_ = slots_per_rank;
  shared_ = shared;
  slots_ = slots_per_rank + shared;
  hidden_ = hidden;
  ffn_ = ffn;
  seed_ = seed;
  matrix_elems_ = static_cast<size_t>(hidden) * ffn;
}

int ExpertStore::expert_of_slot(const std::vector<Placement>& placement, int rank, int layer,
                                int slot) const {
  return slot < routed_slots_ ? placement[layer].phy2log[rank * routed_slots_ + slot]
                              : placement[layer].num_logical + (slot - routed_slots_);
}

uint64_t ExpertStore::expected_checksum(uint64_t seed, int layer, int expert, int hidden, int ffn) {
  std::vector<float> w(2 * static_cast<size_t>(hidden) * ffn);
  generate_expert_weights(seed, layer, expert, hidden, ffn, w.data(), w.data() + w.size() / 2);
  return checksum_words(w.data(), w.size());
}

HostExpertStore::HostExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn,
                                 uint64_t seed) {
  set_shape(layers, slots_per_rank, shared, hidden, ffn, seed);
  data_.assign(static_cast<size_t>(layers) * slots_ * 2 * matrix_elems_, 0.0f);
}

void HostExpertStore::fill(const std::vector<Placement>& placement, int rank) {
  for (int l = 0; l < layers_; ++l)
    for (int s = 0; s < slots_; ++s)
      generate_expert_weights(seed_, l, expert_of_slot(placement, rank, l, s), hidden_, ffn_,
                              w1(l, s), w2(l, s));
}

void HostExpertStore::copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) {
  std::memcpy(slot_data(layer, dst_slot), src.slot_data(layer, src_slot), slot_bytes());
}

uint64_t HostExpertStore::checksum(int layer, int slot) {
  return checksum_words(&data_[offset(layer, slot)], 2 * matrix_elems_);
}

void HostExpertStore::flip_byte(int layer, int slot, size_t byte) {
  reinterpret_cast<unsigned char*>(slot_data(layer, slot))[byte] ^= 0x10;
}

}  // namespace wideep
