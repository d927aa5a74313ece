// What the roofline measurement (kernels/roofline_bench.h, `wideep roofline`)
// counts: the bytes each memory-bound kernel of one layer must move on one
// rank, the FLOPs of the expert FFN, and the synthetic routing it runs with.
// Pure host arithmetic, unit-tested on the CPU (roofline_model_test.cc).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/wire_row.h"

namespace wideep {

// One layer of one rank: T tokens, K routed pairs each (no shared experts),
// S local expert slots, R ranks (the roofline runs R = 1: every token sends
// one row, to itself, and all T*K pairs are local).
struct RooflineShape {
  int tokens = 0, topk = 0, hidden = 0, ffn = 0, slots = 0, ranks = 1;
  DType compute = DType::kBF16;   // activations, grouped x/h/y
  DType dispatch = DType::kFP8;   // x in the dispatch rows
  DType combine = DType::kBF16;   // the combine rows
  int64_t rows() const { return tokens; }  // send rows = received rows at R = 1
  int64_t pairs() const { return static_cast<int64_t>(tokens) * topk;  }
};

// "Bytes moved" by one kernel: what it must read from and write to device
// memory at least, each array element once (re-reads served by cache and
// the scratch a kernel re-reads are not counted). A D2D copy of moved()/2
// bytes moves the same bytes (it reads and writes each), so
// copy time / kernel time is the kernel's bandwidth over the copy's.
struct KernelBytes {
  std::string name;
  int64_t read = 0, written = 0;
  int64_t moved() const { return read + written; }
};

// The memory-bound kernels of one layer, in launch order (kernels/device_api.h):
// quantize, layout, pack, count, permute, silu, unpermute_combine (the
// un-permute is fused into the partial combine), final_combine.
std::vector<KernelBytes> roofline_kernel_bytes(const RooflineShape& s);

// FLOPs of the expert FFN over all pairs: x·W1 [pairs x H]·[H x F] and
// SiLU(h)·W2 [pairs x F]·[F x H], 2 FLOPs per multiply-add: 4 * pairs * H * F.
double ffn_flops(const RooflineShape& s);

// The dense GEMM of the same FLOPs that the grouped one is compared with:
// C [m x n] = A [m x k] · B [k x n] with m = pairs, n = 2F, k = H.
struct DenseGemmShape {
  int64_t m = 0, n = 0, k = 0;
};
DenseGemmShape dense_equivalent(const RooflineShape& s);

// Uniform routing: token t's K distinct experts of [0, E) and positive gate
// weights summing to 1, from (seed, t) alone (splitmix64), ids [T*K], w [T*K].
void roofline_routing(int T, int K, int E, uint64_t seed, int32_t* ids, float* weights);

}  // namespace wideep
