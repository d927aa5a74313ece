// RouterCore: the shape fields and shared scratch of TokenRouter and ClusterRouter.
#include "runtime/step/router_core.h"

namespace wideep {

void RouterCore::init_core(const RouterShape& shape, int pair_ranks, bool shared_move_always) {
  R_ = shape.ranks;
  T_ = shape.tokens;
  K_ = shape.topk;
  S_ = shape.shared;
  E_ = shape.logical;
  rpn_ = shape.ranks_per_node;
  lplb_ = shape.lplb;
  waterfill_ = shape.waterfill != kWaterfillOff;
  waterfill_mode_ = shape.waterfill;
  assign_calls_ = 0;
  if (waterfill_ && waterfill_mode_ != kWaterfillExact) sglang_.init(R_, T_, K_, S_);
  slot_of_pair_.assign(static_cast<size_t>(pair_ranks) * T_ * K_, 0);
  lp_.init(R_, E_, static_cast<int64_t>(T_) * S_, waterfill_, rpn_);
  routed_load_.assign(R_, 0);
  shared_pairs_.assign(R_, static_cast<int64_t>(T_) * S_);
  shared_move_.assign(shared_move_always || waterfill_ ? static_cast<size_t>(R_) * R_ : 0, 0);
  seen_.assign(E_, 0);
}

LplbForecast RouterCore::expect_lplb(int layer, const Placement& p, const double* popularity) {
  if (!lplb_) return LplbForecast::kNone;
  return lplb_expect(lm_, layer, p, popularity, static_cast<int64_t>(T_) * K_, rpn_, &lp_, &forecast_);
}

}  // namespace wideep
