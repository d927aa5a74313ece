// Buffer-by-buffer memory plan of a run (runtime/memory_plan.h). The sizes
// mirror the allocations of kernels/host_kernels.cc, kernels/cuda_kernels.cc,
// the expert stores and runtime/moe_pipeline.cc; runtime tests compare a run's
// reported allocation with this plan.
#include "runtime/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <fmt/core.h>

#include "common/check.h"
#include "kernels/gemm_problems.h"

namespace wideep {

int64_t planned_recv_rows(int R, int T, int P) {
  const int64_t balanced = static_cast<int64_t>(T) * std::min(R, P);
  return std::min<int64_t>(static_cast<int64_t>(R) * T, (balanced * 5 + 3) / 4);
}

int64_t planned_pairs(int R, int T, int P) {
  const int64_t balanced = static_cast<int64_t>(T) * P;
  return std::min<int64_t>(static_cast<int64_t>(R) * T * P, (balanced * 5 + 3) / 4);
}

int64_t MemoryPlan::host_bytes() const {
  int64_t n = 0;
  for (const PlannedBuffer& b : buffers) n += b.device ? 0 : b.bytes;
  return n;
}

int64_t MemoryPlan::device_bytes() const {
  int64_t n = 0;
  for (const PlannedBuffer& b : buffers) n += b.device ? b.bytes : 0;
  return n;
}

int64_t MemoryPlan::pipeline_bytes(bool device) const {
  int64_t n = 0;
  for (const PlannedBuffer& b : buffers) n += b.device == device && b.pipeline ? b.bytes : 0;
  return n;
}

std::string format_bytes(int64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.2f} GiB", b / (1024.0 * 1024 * 1024));
  if (b >= 1024.0 * 1024) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
  if (b >= 1024.0) return fmt::format("{:.1f} KiB", b / 1024.0);
  return fmt::format("{} B", bytes);
}

std::string MemoryPlan::largest(bool device, int n) const {
  std::vector<PlannedBuffer> mine;
  for (const PlannedBuffer& b : buffers)
    if (b.device == device) mine.push_back(b);
  std::stable_sort(mine.begin(), mine.end(), [](const PlannedBuffer& a, const PlannedBuffer& b) { return a.bytes > b.bytes; });
  std::string s;
  for (int i = 0; i < n && i < static_cast<int>(mine.size()); ++i)
    s += (i ? ", " : "") + mine[i].name + " " + format_bytes(mine[i].bytes);
  return s;
}

MemoryPlan plan_memory(const RunConfig& cfg, int R, bool device, DType dtype) {
  MemoryPlan plan;
  const int64_t T = cfg.tokens, K = cfg.topk, P = cfg.pairs_per_token(), H = cfg.hidden, F = cfg.ffn;
  const int64_t E = cfg.experts, L = cfg.layers;
  const int64_t S = cfg.slots_per_rank + cfg.shared_experts;
  const int64_t eb = static_cast<int64_t>(dtype_bytes(dtype));
  // Rows in the wire dtypes (--dispatch-dtype, --combine-dtype; auto: the run's).
  const DType dispatch = resolve_wire_dtype(cfg.dispatch_dtype, dtype, "--dispatch-dtype", true);
  const DType combine = resolve_wire_dtype(cfg.combine_dtype, dtype, "--combine-dtype", false);
  const WireRow wr = wire_row(cfg.hidden, cfg.pairs_per_token(), dispatch);
  const int64_t rb = static_cast<int64_t>(wr.row_bytes);
  const int64_t rrb = static_cast<int64_t>(return_row_bytes(cfg.hidden, combine));
  // A send row's bytes taken from its token: x as computed, or its wire form.
  const bool convert = dispatch != dtype;
  const int64_t token_bytes = convert ? static_cast<int64_t>(wr.slot_offset) : H * eb;
  const int64_t max_send = T * std::min<int64_t>(R, P);
  const int64_t rows = planned_recv_rows(R, cfg.tokens, cfg.pairs_per_token());
  const int64_t pairs = planned_pairs(R, cfg.tokens, cfg.pairs_per_token());
  plan.recv_rows_capacity = rows;
  plan.pairs_capacity = pairs;
  plan.max_send_rows = max_send;
  auto add = [&](const char* name, bool dev, int64_t bytes) { plan.buffers.push_back({name, dev, bytes, true}); };
  const int64_t ge = device ? eb : 4;  // grouped buffers: dtype on the device, fp32 on the host

  // The pipeline's own host arrays (runtime/moe_pipeline.cc).
  add("routing: ids, gate weights [T x K]", false, T * K * 8);
  add("pair arrays: dest, slot, weight [T x P]", false, T * P * 12);
  add("counts, exchange plan, slot offsets, GEMM list", false,
      E * 8 + R * 8 * 15 + (R + 1) * 4 + S * 4 + (S + 1) * 4 + 2 * S * 8 +
          4 * S * static_cast<int64_t>(sizeof(GemmProblem)) + rb);  // the GEMM list and its pieces

  // The kernel backend (kernels/host_kernels.cc, kernels/cuda_kernels.cc).
  add("activations x [T x H]", device, T * H * eb);
  if (convert) add("x in the dispatch dtype [T x token part]", device, T * token_bytes);
  add("input view, fp32 [T x H]", false, T * H * 4);
  add("outputs, fp32 [T x H]", device, T * H * 4);
  if (device) add("output view, fp32 [T x H]", false, T * H * 4);
  add("layout: rank rows, offsets, send-row tokens and ranks, token rows", device,
      R * 4 + (R + 1) * 4 + max_send * 8 + T * P * 4 + (device ? T * R * 4 : 0));
  if (device) {
    add("pair arrays on the device [T x P]", true, T * P * 12);
    add("send rows [T*min(R,P) x row]", true, max_send * rb);
    add("slot counts, offsets, cursor, error", true, (3 * S + 2) * 4);
    add("GEMM pointer arrays", true, 6 * std::max<int64_t>(S, 1) * 8);
    add("pinned staging: offsets, slot counts and offsets, pair arrays, a send row", false,
        (R + 1) * 4 + 2 * (S + 1) * 4 + 3 * T * P * 4 + rb);
    add("pinned GEMM pointer arrays", false, 6 * std::max<int64_t>(S, 1) * 8);
  } else {
    add("send row tails and segments", false, max_send * (rb - token_bytes) + max_send * 2 * 8 + rb);
    if (cfg.baseline) add("packed send rows (--baseline)", false, max_send * rb);
    add("slot cursor", false, S * 4);
  }
  add("receive rows [capacity x row]", device, rows * rb);
  add("pair positions [capacity x P]", device, rows * P * 4);
  add("grouped x [pairs x H]", device, pairs * H * ge);
  add("grouped h [pairs x F]", device, pairs * F * ge);
  add("grouped y [pairs x H]", device, pairs * H * ge);
  add("expert rows (combine send) [capacity x H]", device, rows * rrb);
  add("returned rows (combine receive) [T*min(R,P) x H]", device, max_send * rrb);

  // Expert weights (kernels/expert_store.h, kernels/device_expert_store.h).
  const int64_t slot_elems = 2 * H * F;
  add("expert weights, fp32 [L x S x (W1 + W2)]", device, L * S * slot_elems * 4);
  if (dtype != DType::kF32) add("expert weight mirror (compute dtype)", device, L * S * slot_elems * (device ? eb : 4));
  if (cfg.balancers.eplb) add("EPLB staging of received weights, fp32", device, L * S * slot_elems * 4);
  // Outside the pipeline: the EPLB manager's window and the --check reference
  // (at most every expert's weights: it generates those its tokens use).
  if (cfg.balancers.eplb)
    plan.buffers.push_back({"EPLB window of counts", false, static_cast<int64_t>(cfg.eplb_window) * L * E * 8, false});
  if (cfg.check)
    plan.buffers.push_back(
        {"--check reference: expert weights, fp32", false, L * (E + cfg.shared_experts) * slot_elems * 4, false});
  return plan;
}

int64_t host_memory_available() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  int64_t kb = 0;
  while (in >> key) {
    if (key == "MemAvailable:" && in >> kb) return kb * 1024;
    in.ignore(1 << 12, '\n');
  }
  return -1;
}

void check_plan_fits(const MemoryPlan& plan, bool device, int ranks_here, int64_t available) {
  if (available < 0) return;
  const int64_t need = (device ? plan.device_bytes() : plan.host_bytes()) * std::max(ranks_here, 1);
  if (need <= available) return;
  throw UsageError(fmt::format(
      "the run's memory plan needs {} of {} memory per rank ({} rank{} here: {}), but {} is available; "
      "largest buffers: {} (see `wideep mem` with the same options)",
      format_bytes(need / std::max(ranks_here, 1)), device ? "device" : "host", ranks_here, ranks_here == 1 ? "" : "s",
      format_bytes(need), format_bytes(available), plan.largest(device, 3)));
}

}  // namespace wideep
