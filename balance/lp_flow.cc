// Dinic max-flow with reusable arrays for the LPLB solver (balance/lp_flow.h).
// Deterministic: edges are scanned in insertion order.
#include "balance/lp_flow.h"

#include <algorithm>

namespace wideep {
namespace detail {

void MaxFlow::reset(int num_nodes) {
  n_ = num_nodes;
  from_.clear();
  to_.clear();
  cap_.clear();
}

int MaxFlow::add_edge(int from, int to) {
  const int id = static_cast<int>(to_.size());
  from_.push_back(from);
  to_.push_back(to);
  from_.push_back(to);
  to_.push_back(from);
  cap_.push_back(0);
  cap_.push_back(0);
  return id;
}

void MaxFlow::finalize() {
  adj_start_.assign(n_ + 1, 0);
  for (int f : from_) ++adj_start_[f + 1];
  for (int v = 0; v < n_; ++v) adj_start_[v + 1] += adj_start_[v];
  adj_.resize(from_.size());
  it_.assign(n_, 0);
  for (int id = 0; id < static_cast<int>(from_.size()); ++id) adj_[adj_start_[from_[id]] + it_[from_[id]]++] = id;
  level_.assign(n_, -1);
  queue_.resize(n_);
}

bool MaxFlow::bfs(int source, int sink) {
  std::fill(level_.begin(), level_.end(), -1);
  int head = 0, tail = 0;
  queue_[tail++] = source;
  level_[source] = 0;
  while (head < tail) {
    const int v = queue_[head++];
    // Nodes at or past the sink's level cannot be on a shortest path.
    if (level_[sink] >= 0 && level_[v] >= level_[sink]) break;
    for (int k = adj_start_[v]; k < adj_start_[v + 1]; ++k) {
      const int id = adj_[k];
      const int w = to_[id];
      if (cap_[id] > 0 && level_[w] < 0) {
        level_[w] = level_[v] + 1;
        queue_[tail++] = w;
      }
    }
  }
  return level_[sink] >= 0;
}

int64_t MaxFlow::dfs(int v, int sink, int64_t limit) {
  if (v == sink) return limit;
  int64_t pushed = 0;
  for (int& k = it_[v]; k < adj_start_[v + 1]; ++k) {
    const int id = adj_[k];
    const int w = to_[id];
    if (cap_[id] <= 0 || level_[w] != level_[v] + 1) continue;
    const int64_t got = dfs(w, sink, std::min(limit - pushed, cap_[id]));
    if (got > 0) {
      push(id, got);
      pushed += got;
      if (pushed == limit) return pushed;  // keep the arc: it may have capacity left
    }
  }
  return pushed;
}

int64_t MaxFlow::augment(int source, int sink) {
  int64_t total = 0;
  while (bfs(source, sink)) {
    for (int v = 0; v < n_; ++v) it_[v] = adj_start_[v];
    total += dfs(source, sink, kInf);
  }
  return total;  // the last bfs left level_ marking the source side of a min cut
}

}  // namespace detail
}  // namespace wideep
