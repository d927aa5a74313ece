// Allocation, generation and checksums of a rank's expert weights.
#include "runtime/expert_store.h"

#include <cstring>

#include "kernels/expert_cpu.h"

namespace wideep {
namespace {
// FNV-1a over the bit patterns, 8 bytes at a time: any flipped bit changes it.
uint64_t fnv_words(const float* p, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &p[i], 4);
    h = (h ^ bits) * 0x100000001b3ull;
  }
  return h;
}
}  // namespace

void ExpertStore::init(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed) {
  layers_ = layers;
  routed_slots_ = slots_per_rank;
  shared_ = shared;
  slots_ = slots_per_rank + shared;
  hidden_ = hidden;
  ffn_ = ffn;
  seed_ = seed;
  matrix_elems_ = static_cast<size_t>(hidden) * ffn;
  data_.assign(static_cast<size_t>(layers) * slots_ * 2 * matrix_elems_, 0.0f);
}

void ExpertStore::fill(const std::vector<Placement>& placement, int rank) {
  for (int l = 0; l < layers_; ++l) {
    for (int s = 0; s < slots_; ++s) {
      // Shared expert j is logical expert E + j of the layer.
      const int expert = s < routed_slots_ ? placement[l].phy2log[rank * routed_slots_ + s]
                                           : placement[l].num_logical + (s - routed_slots_);
      generate_expert_weights(seed_, l, expert, hidden_, ffn_, w1(l, s), w2(l, s));
    }
  }
}

uint64_t ExpertStore::expected_checksum(uint64_t seed, int layer, int expert, int hidden, int ffn) {
  std::vector<float> w(2 * static_cast<size_t>(hidden) * ffn);
  generate_expert_weights(seed, layer, expert, hidden, ffn, w.data(), w.data() + w.size() / 2);
  return fnv_words(w.data(), w.size());
}

uint64_t ExpertStore::checksum(int layer, int slot) const {
  return fnv_words(&data_[offset(layer, slot)], 2 * matrix_elems_);
}

}  // namespace wideep
