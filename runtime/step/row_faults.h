// The dispatch faults of --inject (runtime/check/inject.h) applied to one wire row
// in host memory, for both kernel backends: the pipeline reads the row from
// its backend, changes it here, and writes it back (the row is then sent from
// the changed copy; the activations stay intact, so the reference does not
// see the fault). The victim is the row's first pair that names a slot.
#pragma once

#include <vector>

#include "kernels/wire_row.h"
#include "runtime/check/inject.h"

namespace wideep {

struct RowFaultShape {
  WireRow wire;               // the dispatch row; its dtype is the one faults write
  DType dtype = DType::kF32;  // the compute dtype (unused: faults follow wire.dtype)
  int hidden = 0, pairs = 0, slots = 0;  // slots: local slots of the destination (routed + shared)
};

// Whether any dispatch fault (drop, dup, misroute, corrupt, nan) hits (rank, step).
bool has_row_fault(const std::vector<Fault>& faults, int rank, int step);

// Applies every dispatch fault of (rank, step) to `row`; returns whether it changed.
bool apply_row_faults(const std::vector<Fault>& faults, int rank, int step, const RowFaultShape& shape,
                      unsigned char* row);

}  // namespace wideep
