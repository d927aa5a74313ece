// The expert weights of a rank in GPU memory (the NCCL path): the same slots as
// HostExpertStore (W1 [H x F] then W2 [F x H] per slot, fp32, contiguous), but
// generated on the device by the det_values.h rule, so checksums equal
// ExpertStore::expected_checksum. With a bf16 compute dtype it also keeps a
// bf16 mirror of every slot for the GEMMs. slot_data() hands out writable
// memory (the EPLB exchange receives into it directly), so it marks the slot
// stale; w1()/w2() refresh a stale mirror on the stream before returning it.
// Every call waits for its own work on the store's stream (with the timeout)
// before it returns, except w1()/w2(), which only enqueue. Not thread-safe.
// Defined only with CUDA.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/device_buffer.h"
#include "kernels/device_layout.h"
#include "kernels/expert_store.h"

namespace wideep {

class DeviceExpertStore final : public ExpertStore {
 public:
  // Allocates layers x (slots_per_rank + shared) slots once (and the mirror).
  DeviceExpertStore(int layers, int slots_per_rank, int shared, int hidden, int ffn, uint64_t seed,
                    DType compute, void* stream, double timeout_s);

  void fill(const std::vector<Placement>& placement, int rank) override;
  void* slot_data(int layer, int slot) override;  // device memory; marks the mirror stale
  // src.slot_data() may be device or host memory (cudaMemcpyDefault).
  void copy_slot(int layer, int dst_slot, ExpertStore& src, int src_slot) override;
  uint64_t checksum(int layer, int slot) override;  // copies the slot back to the host
  void flip_byte(int layer, int slot, size_t byte) override;

  // The GEMM operands of a slot in the compute dtype (device memory).
  const void* w1(int layer, int slot);
  const void* w2(int layer, int slot);
  DType compute_dtype() const { return compute_; }

 private:
  float* master(int layer, int slot) { return data_.as<float>() + offset(layer, slot); }
  void refresh_mirror(int layer, int slot);
  void refresh_if_stale(int layer, int slot);
  void wait(const char* what);

  DType compute_;
  void* stream_;
  double timeout_s_;
  dev::DeviceBuffer data_;    // fp32 master
  dev::DeviceBuffer mirror_;  // bf16 copy (compute == kBF16 only)
  std::vector<float> host_;   // one slot, for checksums
  std::vector<char> stale_;   // [layer * slots] mirror older than the master
};

}  // namespace wideep
