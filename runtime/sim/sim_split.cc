// All-rank replay of the exact split (balance/token_split.cc): each expert's
// fill is computed once and written for every rank's tokens.
#include "runtime/sim/sim_split.h"

#include <algorithm>

#include "common/check.h"

namespace wideep {

void AllRankSplit::fill(int r, int64_t begin, int64_t n, int slot) {
  int32_t* out = &flat_[off_[static_cast<size_t>(r) * E_ + cur_e_] + begin];
  std::fill(out, out + n, slot);
}

// Copies [k0, k1) fill a token sequence in order; rank r's remaining tokens
// occupy [offset, offset + len) of it (balance's map_window, for every rank).
void AllRankSplit::window(int r, int k0, int k1, int64_t offset, int64_t len) {
  int64_t cum = 0;
  for (int k = k0; k < k1; ++k) {
    const int64_t lo = std::max(cum, offset), hi = std::min(cum + rem_[k], offset + len);
    if (hi > lo) fill(r, used_[r] + lo - offset, hi - lo, cp_[k]);
    cum += rem_[k];
  }
}

void AllRankSplit::split_expert(int e) {
  const Placement& p = *p_;
  const int n = p.logcnt[e];
  cp_ = p.copies(e);
  cur_e_ = e;
  auto count = [&](int r) { return counts_[static_cast<size_t>(r) * E_ + e]; };
  auto left = [&](int r) { return count(r) - used_[r]; };
  std::fill(used_.begin(), used_.end(), 0);
  // 1. Each copy takes tokens of its own rank.
  for (int k = 0; k < n; ++k) {
    const int r = p.rank_of_slot(cp_[k]);
    const int64_t t = std::min(rem_[k], left(r));
    if (t <= 0) continue;
    fill(r, used_[r], t, cp_[k]);
    used_[r] += t;
    rem_[k] -= t;
  }
  // 2. The copies of a node (contiguous in slot order) take the node's tokens.
  if (rpn_ > 0 && rpn_ < R_) {
    for (int k0 = 0; k0 < n;) {
      const int node = p.rank_of_slot(cp_[k0]) / rpn_;
      int k1 = k0;
      int64_t quota = 0;
      while (k1 < n && p.rank_of_slot(cp_[k1]) / rpn_ == node) quota += rem_[k1++];
      const int lo = node * rpn_, hi = std::min(R_, lo + rpn_);
      int64_t offset = 0;
      for (int r = lo; r < hi && offset < quota; ++r) {
        const int64_t len = left(r), take = std::min(len, quota - offset);
        window(r, k0, k1, offset, len);
        used_[r] += take;
        offset += len;
      }
      int64_t consumed = std::min(offset, quota);
      for (int k = k0; k < k1 && consumed > 0; ++k) {
        const int64_t t = std::min(consumed, rem_[k]);
        rem_[k] -= t;
        consumed -= t;
      }
      k0 = k1;
    }
  }
  // 3. The remaining tokens, in rank order, fill the remaining quotas in slot order.
  int64_t offset = 0;
  for (int r = 0; r < R_; ++r) {
    const int64_t len = left(r);
    if (len == 0) continue;
    window(r, 0, n, offset, len);
    offset += len;
  }
  int64_t quota = 0;
  for (int k = 0; k < n; ++k) quota += rem_[k];
  WIDEEP_ASSERT(quota == offset, "AllRankSplit: copy quotas do not cover the expert's tokens");
}

void AllRankSplit::run(const Placement& p, const int64_t* rank_counts, const int64_t* copy_tokens,
                       int ranks_per_node, const int32_t* ids, int num_tokens, int topk,
                       int32_t* slot_of_pair) {
  p_ = &p;
  counts_ = rank_counts;
  R_ = p.num_ranks;
  E_ = p.num_logical;
  rpn_ = ranks_per_node;
  const int64_t tk = static_cast<int64_t>(num_tokens) * topk;
  off_.resize(static_cast<size_t>(R_) * E_);
  used_.assign(R_, 0);
  rem_.resize(std::max(p.max_copies, 1));
  flat_.assign(static_cast<size_t>(R_) * tk, -1);
  for (int r = 0; r < R_; ++r) {
    int64_t at = r * tk;
    for (int e = 0; e < E_; ++e) {
      off_[static_cast<size_t>(r) * E_ + e] = at;
      at += rank_counts[static_cast<size_t>(r) * E_ + e];
    }
    WIDEEP_ASSERT(at == (r + 1) * tk, "AllRankSplit: rank_counts disagree with the token count");
  }
  for (int e = 0; e < E_; ++e) {
    const int n = p.logcnt[e];
    if (n == 1) {
      cur_e_ = e;
      for (int r = 0; r < R_; ++r) fill(r, 0, rank_counts[static_cast<size_t>(r) * E_ + e], p.copies(e)[0]);
      continue;
    }
    bool any = false;
    for (int r = 0; r < R_ && !any; ++r) any = rank_counts[static_cast<size_t>(r) * E_ + e] > 0;
    if (!any) continue;
    WIDEEP_ASSERT(n > 0, "AllRankSplit: a token picks an expert with no copy");
    for (int k = 0; k < n; ++k) rem_[k] = copy_tokens[p.copies(e)[k]];
    split_expert(e);
  }
  next_.resize(E_);
  for (int r = 0; r < R_; ++r) {
    std::copy(&off_[static_cast<size_t>(r) * E_], &off_[static_cast<size_t>(r) * E_] + E_, next_.begin());
    const int32_t* in = ids + r * tk;
    int32_t* out = slot_of_pair + r * tk;
    for (int64_t i = 0; i < tk; ++i) out[i] = flat_[next_[in[i]]++];
  }
}

}  // namespace wideep
