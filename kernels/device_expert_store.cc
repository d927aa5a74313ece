// Device implementation of a rank's expert weights (kernels/device_expert_store.h).
#ifdef WIDEEP_HAVE_CUDA
#include "kernels/device_expert_store.h"

#include <cmath>
#include <string>

#include "common/check.h"
#include "kernels/device_api.h"

namespace wideep {

DeviceExpertStore::DeviceExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn,
                                     uint64_t seed, DType compute, void* stream, double timeout_s)
    : stream_(stream), timeout_s_(timeout_s) {
  set_shape(layers, slots_per_rank, shared, hidden, ffn, seed, compute);
  const size_t elems = static_cast<size_t>(layers) * slots_ * 2 * matrix_elems_;
  data_.allocate(elems * sizeof(float));
  set_masters(data_.as<float>());
  if (has_mirror()) mirror_.allocate(elems * 2);
  host_.assign(2 * matrix_elems_, 0.0f);
}

void DeviceExpertStore::wait(const char* what) {
  dev::stream_wait(stream_, timeout_s_, std::string("expert store: ") + what);
}

void DeviceExpertStore::refresh_mirror(int layer, int slot) {
  dev::launch_to_bf16(master(layer, slot), mirror_.as<uint16_t>() + offset(layer, slot),
                      static_cast<int64_t>(2 * matrix_elems_), stream_);
}

void DeviceExpertStore::fill(const std::vector<Placement>& placement, int rank) {
  // Scales computed here, on the host, exactly as generate_expert_weights does.
  const float s1 = 1.0f / std::sqrt(static_cast<float>(hidden_));
  const float s2 = 1.0f / std::sqrt(static_cast<float>(ffn_));
  for (int l = 0; l < layers_; ++l)
    for (int s = 0; s < slots_; ++s)
      dev::launch_expert_weights(master(l, s), seed_, l, expert_of_slot(placement, rank, l, s), hidden_, ffn_, s1,
                                 s2, stream_);
  mark_all_stale();
  wait("fill");
}

void DeviceExpertStore::copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) {
  dev::copy_async(slot_write(layer, dst_slot), src.slot_read(layer, src_slot), slot_bytes(), stream_);
  wait("copy_slot");
}

uint64_t DeviceExpertStore::checksum(int layer, int slot) {
  dev::copy_async(host_.data(), master(layer, slot), slot_bytes(), stream_);
  wait("checksum");
  return checksum_words(host_.data(), host_.size());
}

void DeviceExpertStore::flip_byte(int layer, int slot, size_t byte) {
  unsigned char* p = static_cast<unsigned char*>(slot_write(layer, slot)) + byte;
  unsigned char b = 0;
  dev::copy_async(&b, p, 1, stream_);
  wait("flip_byte");
  b ^= 0x10;
  dev::copy_async(p, &b, 1, stream_);
  wait("flip_byte");
}

}  // namespace wideep
#endif  // WIDEEP_HAVE_CUDA
