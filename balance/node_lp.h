// Node-scoped LPLB (--lplb-scope node, DeepSeek LPLB's groups) and the step-time
// test of the automatic mode (--lplb-auto). A node (ranks_per_node consecutive
// ranks) serves its own tokens of every expert with a copy on the node with those
// copies, split by the node's own LP (balance/lp.h on the node's slots and the
// node's counts: exact within the node); its tokens of an expert with no copy on
// the node follow the fixed rule. Inputs: the node's [n x E] counts, what one
// intra-node exchange gives every rank of it, so a solve costs O(node), not O(R).
// Pure and deterministic: every rank of a node computes the same plan.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "balance/lp.h"
#include "balance/placement.h"
#include "balance/token_split.h"

namespace wideep {

// The step-time model the automatic mode predicts with (docs/usage-lp.md,
// "The step as the objective"), the simulator's cost model in per-pair form:
// one local expert with n > 0 pairs takes
//   launch_us + max(ceil(n / tile_tokens) * tile_us, floor_us) + n * pair_us,
// and a pair that crosses nodes costs cross_pair_us of link time (dispatch and
// combine rows) where one inside a node costs same_pair_us.
struct LplbCostModel {
  int tile_tokens = 1;
  double tile_us = 0, floor_us = 0, launch_us = 0, pair_us = 0;
  double cross_pair_us = 0, same_pair_us = 0;
  // Predicted solve + split time: fixed_us + slot_us per slot in the LP's scope,
  // and the counts exchange's time (what a skipped layer-step saves besides).
  double solve_fixed_us = 0, solve_slot_us = 0, exchange_us = 0;
  double expert_us(double pairs) const;  // one local expert (0 for no pairs)
  // A plan "pays" (the schedule plans the next step too) where its predicted
  // gain is this many times exchange + solve: the pair-based gains are upper
  // estimates (a node sees only its own share of the step; docs/usage-lp.md),
  // and below 3x the LP lost to the fixed rule in the study at T = 128.
  static constexpr double kPayFactor = 3;
};

// Rows per pair of the exchange: a token sends one row per destination rank,
// so its K pairs on R ranks make about R (1 - (1 - 1/R)^K) rows (uniform picks).
// The models scale their pair costs by it.
double rows_per_pair(int num_ranks, int topk);

// A built-in model for `wideep run` (no profile there): H100 SXM with FP8 experts
// of the run's shape and rows of row_bytes (dispatch + combine), the figures of
// launch/profiles/h100_nvlink_8x.json.
LplbCostModel default_lplb_cost(int hidden, int ffn, int64_t row_bytes);

// The automatic mode for --lplb-scope global: the predicted gain (us) of the
// LP's copy_tokens [P] over the fixed rule's expected split (count / copies
// per copy), the largest rank's time under each, as the sim charges it: per
// local copy the tile-rounded, weight-read-bound expert time (expert_us), plus
// the exchange's slower link class of max(sent, received) pairs. Pairs a copy
// takes from its own rank (slot_rank [P]: the fixed rule keeps own / c, the
// plan's split min(quota, own)) cross no link; those of its node (slot_node
// [P], with 1 < ranks_per_node < R) cross NVLink, the rest the network.
// pairs_per_rank: the pairs each rank sends (T x K). With copy_tokens null,
// an estimate from above, without a solve: the plan's largest rank is taken
// as the mean rank's expert time plus the least link time any plan can leave
// (every own pair kept). slot_rank / slot_node null: no pair is kept.
double lplb_global_gain_us(const Placement& p, const int64_t* counts, const int64_t* copy_tokens,
                           const LplbCostModel& m, int ranks_per_node, const int64_t* slot_rank = nullptr,
                           int64_t pairs_per_rank = 0, const int64_t* slot_node = nullptr);

// What every rank holds after the global counts exchange, as the automatic
// mode's decision reads it (the arguments of lplb_global_gain_us).
struct LplbGlobalView {
  const int64_t* counts = nullptr;     // [E]
  const int64_t* slot_rank = nullptr;  // [P] may be null
  const int64_t* slot_node = nullptr;  // [P] may be null
  int64_t pairs_per_rank = 0;
  int ranks_per_node = 0;
};
// The automatic mode's global decision (TokenRouter and ClusterRouter alike).
// copy_tokens null: the estimate without a solve; `use`: solve (the estimate
// beats the solve's cost). Else `use`: serve the plan (predicted faster).
// paid: the gain beats kPayFactor x (solve + exchange), so the next step plans
// too; far: the gain does not cover one probe (solve + exchange), so the
// gate may probe less often (LplbGate::record).
struct LplbVerdict {
  bool use = false, paid = false, far = false;
  double gain_us = 0;
};
LplbVerdict lplb_global_verdict(const Placement& p, const LplbGlobalView& v, const int64_t* copy_tokens,
                                const LplbCostModel& m);
// The rules on a gain (us) for an LP over `slots` slots: use (solved: > 0;
// estimate: > the solve's cost), paid and far as above.
LplbVerdict lplb_verdict_of(double gain_us, const LplbCostModel& m, int slots, bool solved);

// What a forecast (balance/lplb_forecast.h) tells the gate of a placement
// (kNone: no forecast): kPlan (paid), plan from its first step; kQuiet (far),
// probe only every LplbGate::kMaxProbeEvery steps; kProbe, probe every
// LplbGate::kProbeEvery steps. The order is the rebalance line's (plan, probe, quiet).
enum class LplbForecast { kNone, kPlan, kProbe, kQuiet };
inline LplbForecast lplb_forecast_of(const LplbVerdict& v) {
  return v.paid ? LplbForecast::kPlan : v.far ? LplbForecast::kQuiet : LplbForecast::kProbe;
}

// The automatic mode's schedule, per layer (identical on every rank that
// sees the same plans): a layer whose last plan paid plans again at its next
// step; one whose plan did not pay follows the fixed rule, without exchanging
// counts or solving, and tries again at the next step that is a multiple of
// probe_every (the same steps on every node and layer). A probe whose gain
// was far below its cost (LplbVerdict::far) doubles the layer's probe
// interval, up to kMaxProbeEvery; any probe that is not far resets it. The
// intervals are probe_every x 2^k, so the probes of layers and nodes still
// fall on common steps. Safe under drift: the gain is looked at again within
// kMaxProbeEvery steps, and doubling needs the gain below one probe's cost,
// a third of what planning on needs (kPayFactor), so a gain that grows is
// met first by a reset to probe_every, one interval late at most; and a new
// placement (an EPLB re-plan, which changes the gain at once) resets it too
// (see()). A forecast (expect(), balance/lplb_forecast.h: EPLB's re-plan
// drawn into synthetic steps) decides at once for its placement: paid, plan
// from its first step; far, probe only every kMaxProbeEvery steps; else the
// schedule above from probe_every. Calls are
// numbered per router: call c is layer c % layers of step c / layers.
class LplbGate {
 public:
  static constexpr int kProbeEvery = 8, kMaxProbeEvery = 64;
  void init(int layers, int probe_every = kProbeEvery);
  // Before want(): a pending forecast takes effect once its placement is the
  // one served; a layer whose interval grew goes back to probe_every when its
  // placement is not the one it grew under (O(P), only while pending or grown).
  void see(int64_t call, const Placement& p);
  // The forecast of `layer` on the placement whose placement_key is `key`.
  void expect(int layer, uint64_t key, LplbForecast f);
  bool want(int64_t call) const;      // exchange counts and plan this layer-step?
  // What the plan (or the estimate) of call `call` predicted, on placement p.
  void record(int64_t call, bool paid, bool far = false, const Placement* p = nullptr);
  int probe_every(int layer) const { return every_[layer]; }
 private:
  int L_ = 1, base_ = kProbeEvery;
  std::vector<uint8_t> on_;   // [L] the last plan paid
  std::vector<int> every_;    // [L] the layer's probe interval (steps)
  std::vector<uint64_t> key_; // [L] placement_key of the placement it grew under
  std::vector<LplbForecast> pend_;  // [L] the forecast waiting for its placement (kNone: none)
  std::vector<uint64_t> pend_key_;  // [L] the placement the forecast is for
};

// A hash of p's phy2log (FNV-1a): tells a re-planned placement from the last.
uint64_t placement_key(const Placement& p);

// One node's plan. Keeps its sub-placements (one per MoE layer of a run) and an
// LpSolver between calls.
class NodeLp {
 public:
  // shared_per_rank: each rank's shared-expert pairs, the LP's fixed base load;
  // pairs_per_rank: the routed pairs each rank sends (T x K; -1: summed from the
  // counts, a pass over the node's n x E counts that the prediction then pays).
  void init(int ranks_per_node, int64_t shared_per_rank, int64_t pairs_per_rank = -1);

  // Plans node `node` of p (ranks [node*n, min(R, node*n + n))) from
  // node_counts [n_node x E] (rank node*n + i at i*E). With `cost` (automatic
  // mode) the whole node follows the fixed rule, unsolved, when an upper bound
  // of the plan's predicted gain is below the solve's cost, or, solved, when
  // the plan is predicted no faster; returns whether the LP plan is used.
  // paid(): the plan's gain beat exchange + solve (LplbGate::record).
  // fixed_only: the fixed rule for every pair (the automatic mode's skip
  // without counts; node_counts may then be null).
  bool plan(const Placement& p, int node, const int64_t* node_counts, const LplbCostModel* cost,
            bool fixed_only = false);

  // The copy of each of `rank`'s pairs (rank in the planned node): ids
  // [T*K] logical experts; slot_of_pair [T*K] global physical slots.
  void split(const Placement& p, int rank, const int32_t* ids, int num_tokens, int topk, int32_t* slot_of_pair);

  // Adds the planned node's pairs to routed_load [R] (all ranks: where they run).
  void add_routed_loads(const Placement& p, int64_t* routed_load) const;

  bool used() const { return used_; }
  bool paid() const { return paid_; }
  // The gain (bound or plan) did not cover exchange + solve (LplbVerdict::far).
  bool far() const { return far_; }
  // Of the node's sub-problem: node-local ranks and slots (copy_tokens per node slot).
  const LpResult& result() const { return lp_; }
  double predicted_gain_us() const { return gain_us_; }
  const LpStats& stats() const { return solver_.stats(); }

 private:
  // The node's sub-problem over only the m experts it holds (local ids 0..m-1
  // in expert order): every per-plan pass is O(n x m + slots), not O(n x E).
  struct Sub {
    std::vector<int> key;        // the node's phy2log, and the node's first rank
    Placement p;                 // the node's slots as a placement of n ranks over the m local experts
    std::vector<int> experts;    // [m] the logical id of each local expert
    std::vector<int> local_of;   // [E] local id of e, -1 where the node holds no copy
    std::vector<int> global_c;   // [m] copies in the whole placement
    std::vector<int> nodes_with; // [m] nodes holding a copy
    std::vector<double> here_share;  // [m] share of the expert's copies on this node
    uint64_t used = 0;
  };
  Sub& sub_for(const Placement& p, int lo, int n);
  void predict(const Placement& p, const LplbCostModel& m, bool with_lp);

  int rpn_ = 0;
  int64_t shared_ = 0, pairs_per_rank_ = -1;
  int lo_ = 0, n_ = 0;
  const int64_t* rows_ = nullptr;
  bool used_ = false, paid_ = false, far_ = false;
  double gain_us_ = 0;
  std::vector<Sub> subs_;
  uint64_t tick_ = 0;
  Sub* cur_ = nullptr;
  std::vector<int64_t> node_cnt_, counts_, base_, slot_rank_, before_, mine_;
  SplitTable table_;                       // the node split's table of this rank (local experts)
  std::vector<int32_t> cursor_, limit_;      // [m] the split table's read position and end per local expert
  std::vector<int32_t> seen_;                // [E] the fixed rule's cursors
  std::vector<int> no_local_;                // [E] all -1: no expert served by a plan
  std::vector<double> send_;  // [n * 3] per node rank: pairs, kept in the node (fixed rule, plan)
  LpSolver solver_;
  LpResult lp_;
};

// The per-step LPLB mode of a router (TokenRouter on each rank, ClusterRouter
// in the sim, which must decide alike): the scope, the automatic gate of each
// node (or the one global gate) and each node's LP.
struct LplbMode {
  bool node_scope = false, automatic = false;
  LplbCostModel cost;
  std::vector<std::unique_ptr<NodeLp>> node_lps;  // [nodes] under node scope
  std::vector<LplbGate> gates;                    // [nodes] under node scope, else [1]
  int64_t calls = 0;                              // lplb layer-steps so far

  // lplb: the balancer list has lplb; R ranks of rpn per node (rpn <= 0 or
  // >= R: one node); shared_per_rank: NodeLp::init's base load; cost: the
  // automatic mode's model, null for off.
  void configure(bool lplb, int R, int rpn, int64_t shared_per_rank, bool node_scope, const LplbCostModel* cost,
                 int layers, int64_t pairs_per_rank = -1);
  // The gate of `rank`'s node (node scope) or the global one.
  LplbGate& gate_of(int rank, int R, int rpn) {
    const int n = rpn > 0 && rpn < R ? rpn : R;
    return gates[node_scope ? rank / n : 0];
  }
};

}  // namespace wideep
