// Support for kernels/' tests (not part of the library): one rank's layer
// step through a KernelBackend alone, the exchange replaced by a local copy
// (the rank is its own only peer), so that the host and CUDA backends run the
// very same calls, and a naive fp64 reference of its output.
//
// Fixed setup: token t picks experts (t*3 + k*5) % E for k < K with gate
// weights (k+1)/10, plus `shared` shared experts (weight 1); the rank holds
// every expert in its slots (slot e = expert e; shared expert j = slot E+j).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "kernels/expert_store.h"
#include "kernels/kernel_backend.h"

namespace wideep {

struct StepSetup {
  int tokens = 24, topk = 3, experts = 8, shared = 1, hidden = 40, ffn = 24;
  DType dtype = DType::kF32;            // compute
  std::optional<DType> dispatch, combine;  // wire dtypes; unset: dtype
  uint64_t seed = 5;
  int step = 2, layer = 1;
  bool pair_rows = false;  // low-latency: one single-pair row per (token, pair)
};

KernelShape step_shape(const StepSetup& s);
// A host store holding every expert of the setup in its slot.
std::vector<Placement> one_rank_placement(const StepSetup& s);

// Copies host bytes into the backend's memory kind (the test's "exchange").
using CopyIn = std::function<void(void* dst, const void* src, size_t bytes)>;

// Runs the step on `k` with weights from `store`; returns out [T x H].
// *pairs: pairs the experts processed. `corrupt_row` >= 0 writes slot S into
// pair 0 of that received row and of the last one first (count_slots must
// name the first). *problems (if given): the GEMM list the step ran.
std::vector<float> run_one_rank_step(const StepSetup& s, KernelBackend& k, ExpertStore& store, const CopyIn& copy_in,
                                     int64_t* pairs, int corrupt_row = -1, int32_t* bad_row = nullptr,
                                     FfnProblems* problems_out = nullptr);

// The same step in hierarchical mode on one node of one rank: `stage1` (a
// flat shape) sends each token to itself with slot codes (rank 0's slot code
// is the slot), `fwd` (KernelShape::forwarder, tokens >= T) forwards the
// received rows as its tokens (read_received_meta, forward_tokens), runs the
// experts and sums them; stage1 takes the sums as its combine rows
// (output_rows, set_expert_rows) and combines. Returns out [T x H].
std::vector<float> run_forwarded_step(const StepSetup& s, KernelBackend& stage1, KernelBackend& fwd,
                                      ExpertStore& store, const CopyIn& copy_in, int64_t* pairs);

// The exact output of the setup in fp64 from fp32 weights and activations;
// with wire_input, the activations as the experts receive them (rounded to
// the compute dtype, through the dispatch dtype: kernels/row_bodies.h
// wire_roundtrip), so that only the arithmetic after dispatch differs.
std::vector<double> reference_step(const StepSetup& s, bool wire_input = false);

}  // namespace wideep
