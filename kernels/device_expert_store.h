// The expert weights of a rank in GPU memory (the CUDA backend): the same
// slots as HostExpertStore (W1 [H x F] then W2 [F x H] per slot, fp32,
// contiguous), generated on the device by the det_values.h rule, so checksums
// equal ExpertStore::expected_checksum; with a bf16 compute dtype, a bf16
// mirror of every slot for the GEMMs, refreshed only when a slot was written
// (kernels/expert_store.h). Every call waits for its own work on the store's
// stream (with the timeout) before it returns, except w1()/w2(), which only
// enqueue a refresh. Not thread-safe. Defined only with CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/device_buffer.h"
#include "kernels/expert_store.h"

namespace wideep {

class DeviceExpertStore final : public ExpertStore {
 public:
  // Allocates layers x (slots_per_rank + shared) slots once (and the mirror).
  DeviceExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed,
                    DType compute, void* stream, double timeout_s);

  void fill(const std::vector<Placement>& placement, int rank) override;
  const void* slot_read(int layer, int slot) override { return master(layer, slot); }
  // src.slot_read() may be device or host memory (cudaMemcpyDefault).
  void copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) override;
  uint64_t checksum(int layer, int slot) override;  // copies the slot back to the host
  void flip_byte(int layer, int slot, size_t byte) override;
  int64_t held_bytes() const override { return static_cast<int64_t>(data_.bytes() + mirror_.bytes()); }

 private:
  float* master(int layer, int slot) { return master_ptr(layer, slot); }
  void refresh_mirror(int layer, int slot) override;
  const void* mirror_data(int layer, int slot, size_t elem) override {
    return mirror_.as<uint16_t>() + offset(layer, slot) + elem;
  }
  void wait(const char* what);

  void* stream_;
  double timeout_s_;
  dev::DeviceBuffer data_;    // fp32 master
  dev::DeviceBuffer mirror_;  // bf16 copy (compute == kBF16 only)
  std::vector<float> host_;   // one slot, for checksums
};

}  // namespace wideep
