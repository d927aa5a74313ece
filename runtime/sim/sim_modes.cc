// Rows per link class of flat, hierarchical and low-latency dispatch/combine
// (the rules of DESIGN.md "Data path", as the run counts them), and their
// phase times from the cost model's link classes.
#include "runtime/sim/sim_modes.h"

#include <algorithm>

#include "common/check.h"
#include "kernels/wire_row.h"

namespace wideep {

DispatchMode parse_dispatch_mode(const std::string& text) {
  if (text == "flat") return DispatchMode::kFlat;
  if (text == "hierarchical") return DispatchMode::kHierarchical;
  if (text == "low-latency") return DispatchMode::kLowLatency;
  throw UsageError("--dispatch-mode '" + text + "': unknown mode (flat, hierarchical, low-latency)");
}

WireSizes wire_sizes(int hidden, int pairs_per_token, const std::string& dispatch_dtype,
                     const std::string& combine_dtype) {
  // `auto` is the run's --dtype, which the sim has not (a run option): the
  // host path's fp32.
  const DType dd = resolve_wire_dtype(dispatch_dtype, DType::kF32, "--dispatch-dtype", /*allow_fp8=*/true);
  const DType cd = resolve_wire_dtype(combine_dtype, DType::kF32, "--combine-dtype", /*allow_fp8=*/false);
  WireSizes w;
  w.row = static_cast<int64_t>(wire_row(hidden, pairs_per_token, dd).row_bytes);
  w.ll_row = static_cast<int64_t>(wire_row(hidden, 1, dd).row_bytes);
  w.ret = static_cast<int64_t>(return_row_bytes(hidden, cd));
  return w;
}

void ModeTraffic::reset(int ranks, int local_slots, bool ll) {
  dispatch.assign(ranks, RankTraffic{});
  combine.assign(ranks, RankTraffic{});
  reduce_rows.assign(ranks, 0);
  ll_slot_rows.assign(ll ? static_cast<size_t>(ranks) * local_slots : 0, 0);
  ll_source_max.assign(ll_slot_rows.size(), 0);
  ll_tokens = 0;
  dispatch_bytes = combine_bytes = dispatch_bytes_cross = combine_bytes_cross = 0;
}

namespace {

// One row `bytes` from a to b (dispatch) and its return row b to a (combine).
struct Adder {
  ModeTraffic* t;
  int rpn;
  void row(int a, int b, int64_t bytes, int64_t ret) const {
    const LinkKind k = a / rpn == b / rpn ? kSameNode : kCrossNode;
    t->dispatch[a].send[k] += bytes;
    t->dispatch[b].recv[k] += bytes;
    t->combine[b].send[k] += ret;
    t->combine[a].recv[k] += ret;
    t->dispatch_bytes += bytes;
    t->combine_bytes += ret;
    if (k == kCrossNode) {
      t->dispatch_bytes_cross += bytes;
      t->combine_bytes_cross += ret;
    }
  }
};

}  // namespace

void add_mode_traffic(DispatchMode mode, int ranks, int rpn, int tokens, int pairs, int local_slots,
                      const int32_t* pair_dest, const int32_t* pair_slot, int t0, int t1, const WireSizes& w,
                      ModeTraffic* out) {
  WIDEEP_ASSERT(0 <= t0 && t0 <= t1 && t1 <= tokens, "token range out of bounds");
  WIDEEP_ASSERT(rpn >= 1 && ranks % rpn == 0, "ranks per node must divide the ranks");
  const Adder add{out, rpn};
  std::vector<int32_t> dest_ranks(static_cast<size_t>(pairs));  // distinct, in order of first use
  std::vector<int64_t> from_source;  // low-latency: rows of the current source per (rank, slot)
  std::vector<size_t> touched;
  if (mode == DispatchMode::kLowLatency) {
    from_source.assign(out->ll_slot_rows.size(), 0);
    out->ll_tokens = std::max(out->ll_tokens, t1 - t0);
  }
  for (int s = 0; s < ranks; ++s) {
    const int own_node = s / rpn, local = s % rpn;
    for (size_t i : touched) {
      out->ll_source_max[i] = std::max(out->ll_source_max[i], from_source[i]);
      from_source[i] = 0;
    }
    touched.clear();
    for (int t = t0; t < t1; ++t) {
      const size_t base = (static_cast<size_t>(s) * tokens + t) * pairs;
      const int32_t* dest = pair_dest + base;
      if (mode == DispatchMode::kLowLatency) {
        // One row per pair whose expert lives on another rank, into that
        // rank's buffer of the pair's local slot; every pair's output is summed.
        for (int p = 0; p < pairs; ++p) {
          if (dest[p] == s) continue;
          add.row(s, dest[p], w.ll_row, w.ret);
          const size_t at = static_cast<size_t>(dest[p]) * local_slots + pair_slot[base + p];
          ++out->ll_slot_rows[at];
          if (from_source[at]++ == 0) touched.push_back(at);
        }
        out->reduce_rows[s] += pairs;
        continue;
      }
      int n_dest = 0;
      for (int p = 0; p < pairs; ++p)
        if (std::find(dest_ranks.begin(), dest_ranks.begin() + n_dest, dest[p]) == dest_ranks.begin() + n_dest)
          dest_ranks[n_dest++] = dest[p];
      if (mode == DispatchMode::kFlat) {
        for (int i = 0; i < n_dest; ++i)
          if (dest_ranks[i] != s) add.row(s, dest_ranks[i], w.row, w.ret);
        out->reduce_rows[s] += n_dest;
        continue;
      }
      // Hierarchical: one row per destination node to the forwarder with this
      // rank's local index there (cross-node; for the own node, the source
      // itself), which forwards one row to each other destination rank of its
      // node (intra-node). Combine: each returns to the forwarder, which sums
      // its node's rows and returns one row per remote node.
      std::sort(dest_ranks.begin(), dest_ranks.begin() + n_dest);  // ranks of a node are adjacent
      for (int i = 0; i < n_dest;) {
        const int node = dest_ranks[i] / rpn;
        int j = i;
        while (j < n_dest && dest_ranks[j] / rpn == node) ++j;
        const int fwd = node == own_node ? s : node * rpn + local;
        if (fwd != s) {
          add.row(s, fwd, w.row, w.ret);
          ++out->reduce_rows[s];
        }
        for (int k = i; k < j; ++k)
          if (dest_ranks[k] != fwd) add.row(fwd, dest_ranks[k], w.row, w.ret);
        out->reduce_rows[fwd] += j - i;
        i = j;
      }
    }
  }
  for (size_t at : touched) out->ll_source_max[at] = std::max(out->ll_source_max[at], from_source[at]);
}

PipeStage hop_stage(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds, LinkKind k) {
  const LinkClass& cls = k == kSameNode ? p.same_node : p.cross_node;
  const bool present = k == kSameNode ? links.same : links.cross;
  if (!present && t.send[k] == 0 && t.recv[k] == 0) return {};
  return {rounds * cls.latency_us, std::max(t.send[k], t.recv[k]) / (cls.gbps * 1e3)};
}

double hop_us(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds, LinkKind k) {
  const PipeStage s = hop_stage(p, links, t, rounds, k);
  return s.latency_us + s.busy_us;
}

double counts_round_us(const ModeCostInputs& in) {
  const int rpn = std::max(1, std::min(in.rpn, in.ranks));
  RankTraffic t;
  t.send[kSameNode] = t.recv[kSameNode] = 8 * static_cast<int64_t>(rpn - 1);
  t.send[kCrossNode] = t.recv[kCrossNode] = 8 * static_cast<int64_t>(in.ranks - rpn);
  return exchange_us(*in.profile, in.links, t, in.profile->counts_rounds);
}

namespace {
int data_rounds(const SimProfile& p) { return std::max(0, p.dispatch_rounds - p.counts_rounds); }

// The two hops chunk by chunk, `first` class then the other; chunks of the
// cross-node payload (the RDMA stream DeepEP cuts into chunks).
// `sums_us`: the row sums as a third stage (combine: DeepEP's forwarders sum
// each NVLink chunk into the RDMA chunk they send, its receivers sum each RDMA
// chunk as it lands, in the same kernel as the transfers); 0 for dispatch.
double pipelined_hops(const SimProfile& p, const LinkSet& links, const RankTraffic& t, int rounds, LinkKind first,
                      double sums_us) {
  const LinkKind second = first == kCrossNode ? kSameNode : kCrossNode;
  const int64_t chunks = pipeline_chunks(std::max(t.send[kCrossNode], t.recv[kCrossNode]), p.pipeline_chunk_bytes);
  return pipelined_us(hop_stage(p, links, t, rounds, first), hop_stage(p, links, t, rounds, second),
                      PipeStage{0, sums_us}, chunks);
}
}  // namespace

PhaseSections dispatch_sections(DispatchMode mode, const ModeCostInputs& in, const RankTraffic& t) {
  const SimProfile& p = *in.profile;
  PhaseSections s;
  switch (mode) {
    case DispatchMode::kFlat:
      s.us[0] = in.fixed_us + counts_round_us(in) + exchange_us(p, in.links, t, data_rounds(p));
      break;
    case DispatchMode::kHierarchical:
      if (p.pipeline_chunk_bytes > 0) {
        s.us[0] = in.fixed_us + counts_round_us(in) + pipelined_hops(p, in.links, t, data_rounds(p), kCrossNode, 0);
      } else {
        s.us[0] = in.fixed_us + counts_round_us(in) + hop_us(p, in.links, t, data_rounds(p), kCrossNode);
        s.us[1] = hop_us(p, in.links, t, data_rounds(p), kSameNode);
      }
      break;
    case DispatchMode::kLowLatency:
      s.us[0] = in.fixed_us + exchange_us(p, in.links, t, data_rounds(p));
      break;
  }
  return s;
}

PhaseSections combine_sections(DispatchMode mode, const ModeCostInputs& in, const RankTraffic& t,
                               int64_t reduce_rows) {
  const SimProfile& p = *in.profile;
  const double sums_us = reduce_rows * p.combine_ns_per_row * 1e-3 * in.compute_scale;
  PhaseSections s;
  if (mode == DispatchMode::kHierarchical && p.pipeline_chunk_bytes > 0) {
    s.us[0] = in.fixed_us + pipelined_hops(p, in.links, t, p.combine_rounds, kSameNode, sums_us);
  } else if (mode == DispatchMode::kHierarchical) {
    s.us[0] = in.fixed_us + hop_us(p, in.links, t, p.combine_rounds, kSameNode);
    s.us[1] = hop_us(p, in.links, t, p.combine_rounds, kCrossNode) + sums_us;
  } else {
    s.us[0] = in.fixed_us + exchange_us(p, in.links, t, p.combine_rounds) + sums_us;
  }
  return s;
}

}  // namespace wideep
