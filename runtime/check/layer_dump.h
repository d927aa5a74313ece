// --dump-layer FILE (test-only, with --check): rank 0 writes one layer of the
// first checked step as one JSON object: the run's shape, dtypes and seed,
// the reference's input (x as the experts receive it), top-k ids and gate
// weights, the reference output and the run's output. launch/torch_moe_ref.py
// recomputes the layer in PyTorch from it (the expert weights from
// kernels/det_values.h's formula) to show that it computes what wideep does.
#pragma once

#include <string>

#include "kernels/wire_row.h"
#include "runtime/io/config.h"
#include "runtime/check/reference.h"

namespace wideep {

// Bad input before any communication: --dump-layer without --check, or a
// file that cannot be written (exit 2, naming the option).
void probe_dump_layer(const RunConfig& cfg);

// Writes cfg.dump_layer (truncating). `out` [T x H]: the run's output of the
// layer that `ref` last compared.
void write_layer_dump(const RunConfig& cfg, DType compute, DType dispatch, DType combine, int step, int layer,
                      const Reference& ref, const float* out);

}  // namespace wideep
