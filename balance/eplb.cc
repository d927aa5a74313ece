// EPLB placement of replicated experts: the `deepseek` policy reproduces DeepSeek
// EPLB's rebalance_experts (float32 arithmetic, its tie rules); the `wideep`
// policy's search lives in eplb_wideep.cc. Also balanced_packing, max_gpu_load
// and align_to_previous. Pure, deterministic.
#include "balance/eplb.h"
#include "balance/eplb_policies.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>

#include "common/check.h"

namespace wideep {

EplbPolicy parse_eplb_policy(const std::string& name, const std::string& option) {
  if (name == "deepseek") return EplbPolicy::kDeepseek;
  if (name == "wideep") return EplbPolicy::kWideep;
  throw UsageError(option + ": unknown EPLB policy '" + name + "' (deepseek|wideep)");
}

namespace {

// ---------------------------------------------------------------------------
// Input checks: every impossible shape is a UsageError naming the option.

void check_input(const EplbInput& in) {
  const std::string n = std::to_string(in.num_logical);
  if (in.num_layers <= 0 || in.num_logical <= 0)
    throw UsageError("--loads: need at least one layer and one expert");
  if (in.weight.size() != static_cast<size_t>(in.num_layers) * in.num_logical)
    throw UsageError("--loads: " + std::to_string(in.weight.size()) + " loads, expected layers*experts = " +
                     std::to_string(static_cast<size_t>(in.num_layers) * in.num_logical));
  for (size_t i = 0; i < in.weight.size(); ++i) {
    if (!std::isfinite(in.weight[i]) || in.weight[i] < 0)
      throw UsageError("--loads: load of layer " + std::to_string(i / in.num_logical) + " expert " +
                       std::to_string(i % in.num_logical) + " is negative or not finite");
  }
  if (in.num_gpus <= 0) throw UsageError("--gpus must be positive");
  if (in.num_nodes <= 0) throw UsageError("--nodes must be positive");
  if (in.num_groups <= 0) throw UsageError("--groups must be positive");
  if (in.num_replicas < in.num_logical)
    throw UsageError("--replicas " + std::to_string(in.num_replicas) +
                     " is less than the number of experts " + n);
  if (in.num_replicas % in.num_gpus != 0)
    throw UsageError("--replicas " + std::to_string(in.num_replicas) + " is not a multiple of --gpus " +
                     std::to_string(in.num_gpus));
  if (in.num_gpus % in.num_nodes != 0)
    throw UsageError("--gpus " + std::to_string(in.num_gpus) + " is not a multiple of --nodes " +
                     std::to_string(in.num_nodes));
  // DeepSeek applies the group structure only in its hierarchical case.
  if (in.num_groups % in.num_nodes == 0 && in.num_logical % in.num_groups != 0)
    throw UsageError("--groups " + std::to_string(in.num_groups) + " does not divide the " + n +
                     " experts");
}

// ---------------------------------------------------------------------------
// balanced_packing. Order: weight descending, ties by the lowest index (a
// stable sort; torch's CPU sort keeps equal keys in index order). Each item
// goes to the lightest pack that is not full, ties to the lowest pack index
// (Python's min). T = float reproduces DeepSeek, whose sums are float32.

template <typename T>
void pack_greedy(const T* weight, int n, int num_packs, int* pack_index, int* rank_in_pack,
                 std::vector<int>& order, std::vector<T>& pack_weight, std::vector<int>& pack_items) {
  const int per_pack = n / num_packs;
  if (per_pack == 1) {  // DeepSeek's shortcut: item i is pack i (not the greedy order).
    for (int i = 0; i < n; ++i) pack_index[i] = i, rank_in_pack[i] = 0;
    return;
  }
  order.resize(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return weight[a] > weight[b]; });
  pack_weight.assign(num_packs, T(0));
  pack_items.assign(num_packs, 0);
  for (int item : order) {
    int best = -1;
    for (int p = 0; p < num_packs; ++p) {
      if (pack_items[p] < per_pack && (best < 0 || pack_weight[p] < pack_weight[best])) best = p;
    }
    pack_index[item] = best;
    rank_in_pack[item] = pack_items[best]++;
    pack_weight[best] += weight[item];
  }
}

// ---------------------------------------------------------------------------
// DeepSeek policy, one layer. Hierarchical: groups -> nodes, replication within
// each node, replicas -> GPUs of the node. The global policy is the same with
// one group and one node. All arithmetic in float32 like the reference.

struct DeepseekScratch {
  std::vector<int> order, pack_items, gpack, grank, log2mlog, mlog2log, phy2mlog, mcnt, ppack, prank;
  std::vector<float> pack_weight, group_tokens, node_w, phy_tokens;
};

void deepseek_layer(const double* weight_in, int num_logical, int num_replicas, int num_groups,
                    int num_nodes, int num_gpus, DeepseekScratch& s, int* phy2log) {
  const int group_size = num_logical / num_groups;
  const int groups_per_node = num_groups / num_nodes;
  const int slots_per_gpu = num_replicas / num_gpus;
  const int log_per_node = num_logical / num_nodes;
  const int phy_per_node = num_replicas / num_nodes;

  // Step 1: pack groups onto nodes by their summed load.
  s.group_tokens.assign(num_groups, 0.f);
  for (int g = 0; g < num_groups; ++g) {
    for (int i = 0; i < group_size; ++i)
      s.group_tokens[g] += static_cast<float>(weight_in[g * group_size + i]);
  }
  s.gpack.resize(num_groups);
  s.grank.resize(num_groups);
  pack_greedy<float>(s.group_tokens.data(), num_groups, num_nodes, s.gpack.data(), s.grank.data(),
                     s.order, s.pack_weight, s.pack_items);
  s.log2mlog.resize(num_logical);
  s.mlog2log.resize(num_logical);
  for (int e = 0; e < num_logical; ++e) {
    const int g = e / group_size;
    const int mlog = (s.gpack[g] * groups_per_node + s.grank[g]) * group_size + e % group_size;
    s.log2mlog[e] = mlog;
    s.mlog2log[mlog] = e;
  }

  s.node_w.resize(log_per_node);
  s.phy2mlog.resize(phy_per_node);
  s.mcnt.resize(log_per_node);
  s.phy_tokens.resize(phy_per_node);
  s.ppack.resize(phy_per_node);
  s.prank.resize(phy_per_node);
  for (int node = 0; node < num_nodes; ++node) {
    const int mbase = node * log_per_node;
    for (int i = 0; i < log_per_node; ++i)
      s.node_w[i] = static_cast<float>(weight_in[s.mlog2log[mbase + i]]);
    // Step 2: each redundant slot goes to the expert of largest weight/count (first on ties).
    for (int i = 0; i < log_per_node; ++i) s.phy2mlog[i] = i, s.mcnt[i] = 1;
    for (int i = log_per_node; i < phy_per_node; ++i) {
      int best = 0;
      float best_v = s.node_w[0] / static_cast<float>(s.mcnt[0]);
      for (int j = 1; j < log_per_node; ++j) {
        const float v = s.node_w[j] / static_cast<float>(s.mcnt[j]);
        if (v > best_v) best = j, best_v = v;
      }
      s.phy2mlog[i] = best;
      ++s.mcnt[best];
    }
    // Step 3: pack the node's replicas onto its GPUs by per-copy load.
    for (int i = 0; i < phy_per_node; ++i) {
      const int m = s.phy2mlog[i];
      s.phy_tokens[i] = s.node_w[m] / static_cast<float>(s.mcnt[m]);
    }
    pack_greedy<float>(s.phy_tokens.data(), phy_per_node, num_gpus / num_nodes, s.ppack.data(),
                       s.prank.data(), s.order, s.pack_weight, s.pack_items);
    for (int i = 0; i < phy_per_node; ++i) {
      const int pphy = s.ppack[i] * slots_per_gpu + s.prank[i];
      phy2log[node * phy_per_node + pphy] = s.mlog2log[mbase + s.phy2mlog[i]];
    }
  }
}

}  // namespace

std::vector<Placement> rebalance_deepseek(const EplbInput& in) {
  const bool hierarchical = in.num_groups % in.num_nodes == 0;
  const int groups = hierarchical ? in.num_groups : 1;
  const int nodes = hierarchical ? in.num_nodes : 1;
  DeepseekScratch scratch;
  std::vector<int> phy2log(in.num_replicas);
  std::vector<Placement> out;
  out.reserve(in.num_layers);
  for (int l = 0; l < in.num_layers; ++l) {
    deepseek_layer(&in.weight[static_cast<size_t>(l) * in.num_logical], in.num_logical,
                   in.num_replicas, groups, nodes, in.num_gpus, scratch, phy2log.data());
    out.push_back(Placement::from_phy2log(in.num_gpus, in.num_logical, phy2log, "eplb deepseek"));
  }
  return out;
}


std::vector<Placement> rebalance_experts(const EplbInput& in, EplbPolicy policy) {
  check_input(in);
  return policy == EplbPolicy::kDeepseek ? rebalance_deepseek(in) : rebalance_wideep(in);
}

void balanced_packing(const double* weight, int n, int num_packs, int* pack_index,
                      int* rank_in_pack) {
  if (n <= 0 || num_packs <= 0 || n % num_packs != 0)
    throw UsageError("balanced_packing: " + std::to_string(n) + " items do not divide into " +
                     std::to_string(num_packs) + " packs");
  std::vector<int> order, pack_items;
  std::vector<double> pack_weight;
  pack_greedy<double>(weight, n, num_packs, pack_index, rank_in_pack, order, pack_weight, pack_items);
}

double max_gpu_load(const Placement& p, const double* weight) {
  // Summed in ascending order per rank, so equal multisets give equal loads bit for bit.
  std::vector<double> copy(p.slots_per_rank);
  double peak = 0;
  for (int r = 0; r < p.num_ranks; ++r) {
    for (int i = 0; i < p.slots_per_rank; ++i) {
      const int e = p.phy2log[r * p.slots_per_rank + i];
      copy[i] = weight[e] / p.logcnt[e];
    }
    std::sort(copy.begin(), copy.end());
    double sum = 0;
    for (double x : copy) sum += x;
    peak = std::max(peak, sum);
  }
  return peak;
}

Placement align_to_previous(const Placement& old, const Placement& fresh) {
  if (old.num_ranks != fresh.num_ranks || old.slots_per_rank != fresh.slots_per_rank ||
      old.num_logical != fresh.num_logical || old.phy2log.size() != fresh.phy2log.size())
    throw UsageError("align_to_previous: old and new placements differ in shape");
  const int S = fresh.slots_per_rank;
  std::vector<int> out(fresh.phy2log.size(), -1);
  std::vector<int> pending(fresh.num_logical, 0);  // copies of e still to seat on this rank
  for (int r = 0; r < fresh.num_ranks; ++r) {
    const int base = r * S;
    for (int i = 0; i < S; ++i) ++pending[fresh.phy2log[base + i]];
    // Experts the rank already held keep their old slot.
    for (int i = 0; i < S; ++i) {
      const int e = old.phy2log[base + i];
      if (pending[e] > 0) out[base + i] = e, --pending[e];
    }
    // The others fill the free slots in their order in `fresh`.
    int free_slot = 0;
    for (int i = 0; i < S; ++i) {
      const int e = fresh.phy2log[base + i];
      if (pending[e] == 0) continue;
      --pending[e];
      while (out[base + free_slot] >= 0) ++free_slot;
      out[base + free_slot] = e;
    }
  }
  return Placement::from_phy2log(fresh.num_ranks, fresh.num_logical, out, "aligned placement");
}

}  // namespace wideep
