// Buffer-by-buffer memory plan of a run (runtime/step/memory_plan.h). The sizes
// mirror the allocations of kernels/host_kernels.cc, kernels/cuda_kernels.cc,
// the expert stores and runtime/step/moe_pipeline.cc; runtime tests compare a run's
// reported allocation with this plan.
#include "runtime/step/memory_plan.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <fmt/core.h>

#include "common/check.h"
#include "kernels/gemm_problems.h"
#include "runtime/step/ll_plan.h"
#include "runtime/check/reference.h"

namespace wideep {

int64_t planned_recv_rows(int R, int T, int P) {
  const int64_t balanced = static_cast<int64_t>(T) * std::min(R, P);
  return std::min<int64_t>(static_cast<int64_t>(R) * T, (balanced * 5 + 3) / 4);
}

int64_t planned_pairs(int R, int T, int P) {
  const int64_t balanced = static_cast<int64_t>(T) * P;
  return std::min<int64_t>(static_cast<int64_t>(R) * T * P, (balanced * 5 + 3) / 4);
}

bool ll_header_rows_used(const RunConfig& cfg, bool device) {
  return cfg.dispatch_mode == "low-latency" && !device && planned_transport(cfg, "mpi") != "shm";
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
  const int64_t rrb = static_cast<int64_t>(return_row_bytes(cfg.hidden, combine));
  // A send row's bytes taken from its token: x as computed, or its wire form.
  const bool convert = dispatch != dtype;
  int64_t rows = planned_recv_rows(R, cfg.tokens, cfg.pairs_per_token());
  int64_t pairs = planned_pairs(R, cfg.tokens, cfg.pairs_per_token());
  const int nodes = R / cfg.ranks_per_node();
  if (cfg.dispatch_mode == "hierarchical") {
    // Stage 1 receives at most T rows from each node's rank of this local
    // index (its own included) and groups nothing; the forwarder receives
    // what a flat rank would.
    plan.fwd_recv_rows_capacity = rows;
    plan.fwd_pairs_capacity = pairs;
    rows = planned_recv_rows(nodes, cfg.tokens, cfg.pairs_per_token());
    pairs = 0;
  } else if (cfg.dispatch_mode == "low-latency") {
    if (cfg.ll_max_tokens > 0 && cfg.ll_max_tokens < R)
      throw UsageError(fmt::format("--ll-max-tokens {0} is split into one region per source rank: {0} / {1} ranks "
                                   "leaves 0 rows per (slot, source); give at least {1}",
                                   cfg.ll_max_tokens, R));
    if (ll_header_rows_used(cfg, device)) {
      // Every source's whole region (a header row and S regions), fixed.
      const int64_t cap = cfg.ll_max_tokens > 0 ? cfg.ll_max_tokens : T * R;
      rows = R * (1 + S * ll_region_rows(cap, R, cfg.tokens));
    } else {
      rows = planned_recv_rows(R, cfg.tokens * cfg.pairs_per_token(), 1);
    }
  }
  plan.recv_rows_capacity = rows;
  plan.pairs_capacity = pairs;
  const bool ll = cfg.dispatch_mode == "low-latency", hier = cfg.dispatch_mode == "hierarchical";
  const bool ll_headers = ll_header_rows_used(cfg, device);
  // Low-latency rows carry one pair each: T*P units of one pair.
  const int64_t row_pairs = ll ? 1 : P, fanout = ll ? P : 1;
  const WireRow wr_mode = wire_row(cfg.hidden, static_cast<int>(row_pairs), dispatch);
  plan.max_send_rows = T * fanout * std::min<int64_t>(R, row_pairs);
  const int64_t ge = device ? eb : 4;  // grouped buffers: dtype on the device, fp32 on the host
  std::string tag;  // which backend or micro-batch a buffer belongs to ("" for the first)
  auto add = [&](const std::string& name, bool dev, int64_t bytes) {
    plan.buffers.push_back({name + tag, dev, bytes, true});
  };
  // One micro-batch of Tb tokens (--overlap tbo: two).
  const int64_t T0 = cfg.overlap == "tbo" ? cfg.tbo_first_tokens() : T;
  const std::vector<int64_t> batches = cfg.overlap == "tbo" ? std::vector<int64_t>{T0, T - T0} : std::vector<int64_t>{T};

  // The kernel backend (kernels/host_kernels.cc, kernels/cuda_kernels.cc) of
  // Tb tokens; fwd: a hierarchical forwarder (tokens are received rows).
  auto add_backend = [&](int64_t Tb, bool fwd, int64_t rows_b, int64_t pairs_b) {
    const int64_t rp = fwd ? P : row_pairs, fo = fwd ? 1 : fanout;
    const WireRow w = wire_row(cfg.hidden, static_cast<int>(rp), dispatch);
    const int64_t rbb = static_cast<int64_t>(w.row_bytes);
    const int64_t tb = convert || fwd ? static_cast<int64_t>(w.slot_offset) : H * eb;
    const int64_t ms = Tb * fo * std::min<int64_t>(R, rp);
    if (!fwd) {
      add("activations x [T x H]", device, Tb * H * eb);
      if (convert) add("x in the dispatch dtype [T x token part]", device, Tb * tb);
      add("input view, fp32 [T x H]", false, Tb * H * 4);
    }
    add("outputs, fp32 [T x H]", device, Tb * H * 4);
    if (device) add("output view, fp32 [T x H]", false, Tb * H * 4);
    add("layout: rank rows, offsets, send-row tokens and ranks, token rows", device,
        R * 4 + (R + 1) * 4 + ms * 8 + Tb * P * 4 + (device ? Tb * fo * R * 4 : 0));
    if (device) {
      add("pair arrays on the device [T x P]", true, Tb * P * 12);
      add("send rows [T*min(R,P) x row]", true, ms * rbb);
      add("slot counts, offsets, cursor, error", true, (3 * S + 2) * 4);
      add("GEMM pointer arrays", true, 6 * std::max<int64_t>(S, 1) * 8);
      add("pinned staging: offsets, slot counts and offsets, pair arrays, a send row", false,
          (R + 1) * 4 + 2 * (S + 1) * 4 + 3 * Tb * P * 4 + rbb);
      add("pinned GEMM pointer arrays", false, 6 * std::max<int64_t>(S, 1) * 8);
    } else {
      // A record per send row: its token part's reference (8 bytes) and its
      // tail, 16-byte aligned (kernels/host_kernels.h).
      add("send row records (reference, tail) and segments", false,
          ms * ((8 + (rbb - tb) + 15) / 16 * 16) + ms * 2 * 8 + rbb);
      if (cfg.baseline) add("packed send rows (--baseline)", false, ms * rbb);
      add("slot cursor", false, S * 4);
    }
    add("receive rows [capacity x row]", device, rows_b * rbb);
    add("pair positions [capacity x P]", device, rows_b * rp * 4);
    add("grouped x [pairs x H]", device, pairs_b * H * ge);
    add("grouped h [pairs x F]", device, pairs_b * F * ge);
    add("grouped y [pairs x H]", device, pairs_b * H * ge);
    add("expert rows (combine send) [capacity x H]", device, rows_b * rrb);
    add("returned rows (combine receive) [T*min(R,P) x H]", device, ms * rrb);
  };

  for (size_t m = 0; m < batches.size(); ++m) {
    const int64_t Tb = batches[m];
    tag = m == 0 ? "" : " (micro-batch 2)";
    // The pipeline's own host arrays (runtime/step/moe_pipeline.cc).
    add("routing: ids, gate weights [T x K]", false, Tb * K * 8);
    add("pair arrays: dest, slot, weight [T x P]", false, Tb * P * 12);
    add("counts, exchange plan, slot offsets, GEMM list", false,
        E * 8 + R * 8 * 15 + (R + 1) * 4 + S * 4 + (S + 1) * 4 + 2 * S * 8 +
            4 * S * static_cast<int64_t>(sizeof(GemmProblem)) + static_cast<int64_t>(wr_mode.row_bytes));
    if (hier) {
      const int64_t V = Tb * nodes;
      add("hierarchical: stage-1 pair arrays, forwarded pairs, stage-2 plan", false,
          Tb * P * 8 + V * P * 16 + R * 8 * 12 + (R + 1) * 4 + R * 8 * 3);
    }
    if (ll) {
      add("low-latency: rows per (destination, slot)", false, R * S * 8);
      if (ll_headers)
        add("low-latency: header rows, gather, regions", false,
            R * 8 * 8 + R * static_cast<int64_t>(wr_mode.row_bytes) + (Tb * P + R) * 2 * 8 + R * 8);
    }
    add_backend(Tb, false, rows, pairs);
    if (hier) {
      tag = m == 0 ? " (forwarder)" : " (forwarder, micro-batch 2)";
      add_backend(Tb * nodes, true, plan.fwd_recv_rows_capacity, plan.fwd_pairs_capacity);
    }
  }
  tag = "";
  if (batches.size() == 2)
    add("--overlap tbo: the micro-batches' joined host views", false, T * H * 8 + T * K * 8 + E * 8);

  // Expert weights (kernels/expert_store.h, kernels/device_expert_store.h).
  const int64_t slot_elems = 2 * H * F;
  add("expert weights, fp32 [L x S x (W1 + W2)]", device, L * S * slot_elems * 4);
  if (dtype != DType::kF32) add("expert weight mirror (compute dtype)", device, L * S * slot_elems * (device ? eb : 4));
  if (cfg.balancers.eplb) add("EPLB staging of received weights, fp32", device, L * S * slot_elems * 4);
  // Outside the pipeline: the EPLB manager's window and the --check reference
  // (runtime/check/reference.h): a few experts' weights, regenerated when needed,
  // and one layer's inputs and outputs of this rank's tokens.
  if (cfg.balancers.eplb)
    plan.buffers.push_back({"EPLB window of counts", false, static_cast<int64_t>(cfg.eplb_window) * L * E * 8, false});
  if (cfg.check) {
    plan.buffers.push_back({"--check reference: weight cache, fp32 [slots x (W1 + W2)]", false,
                            reference_cache_slots(cfg) * slot_elems * 4, false});
    const bool allowance = dtype == DType::kF32 && combine == DType::kBF16;  // Reference::combine_allowance()
    plan.buffers.push_back({"--check reference: one layer's tokens [T x (4H + F)]", false,
                            T * (4 * H + F) * 4 + T * K * 8 + T * 8 + (allowance ? T * H * 8 : 0), false});
  }
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
