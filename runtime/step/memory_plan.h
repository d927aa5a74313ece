// The per-rank memory plan of a run: every buffer the step pipeline, its
// kernel backend and its expert stores allocate, by name, with its bytes and
// memory kind, for the options and rank count given; and the initial receive
// capacity the pipeline starts with. `wideep mem` prints it; `wideep run`
// checks it against the memory it can have before allocating anything, and
// reports what it actually allocated (host_bytes, device_bytes) for comparison.
//
// Receive-side buffers are sized by what a step receives, not by the worst
// case (R*T rows): the plan starts them at 1.25x the balanced expectation
// (T*min(R,P) rows, T*P pairs), and a step that receives more grows them
// outside the timed region (LayerStats::grown_bytes).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/wire_row.h"
#include "runtime/io/config.h"

namespace wideep {

struct PlannedBuffer {
  std::string name;
  bool device = false;
  int64_t bytes = 0;
  bool pipeline = true;  // held by the pipeline (what a run reports as host_bytes, device_bytes)
};

struct MemoryPlan {
  std::vector<PlannedBuffer> buffers;
  int64_t recv_rows_capacity = 0;
  int64_t pairs_capacity = 0;
  int64_t max_send_rows = 0;
  // --dispatch-mode hierarchical: the stage-2 backend's (the forwarder's) initial capacities.
  int64_t fwd_recv_rows_capacity = 0;
  int64_t fwd_pairs_capacity = 0;

  int64_t host_bytes() const;
  int64_t device_bytes() const;
  int64_t pipeline_bytes(bool device) const;  // the buffers with `pipeline` set
  // "name 1.2 GiB, name 0.8 GiB, ..." of the n largest buffers of one kind.
  std::string largest(bool device, int n) const;
};

// cfg validated for num_ranks; device: the CUDA backend (else the host one);
// dtype: the compute dtype (the wire dtypes are cfg's --dispatch-dtype and
// --combine-dtype, `auto` being this one).
MemoryPlan plan_memory(const RunConfig& cfg, int num_ranks, bool device, DType dtype);

// Whether low-latency dispatch sends header rows into fixed regions (no
// counts round): the host backend on the MPI transport (runtime/step/ll_plan.h;
// --transport auto as planned_transport, runtime/io/config.h).
bool ll_header_rows_used(const RunConfig& cfg, bool device);

// Initial receive capacities: 1.25x the balanced expectation, at most the worst case.
int64_t planned_recv_rows(int ranks, int tokens, int pairs);
int64_t planned_pairs(int ranks, int tokens, int pairs);

// Host memory this process can have (MemAvailable of /proc/meminfo, bytes; -1 unknown).
int64_t host_memory_available();

// Throws UsageError naming the largest buffers when `ranks_here` ranks of this
// plan do not fit in `available` bytes of the given kind (skipped when available < 0).
void check_plan_fits(const MemoryPlan& plan, bool device, int ranks_here, int64_t available);

std::string format_bytes(int64_t bytes);

}  // namespace wideep
